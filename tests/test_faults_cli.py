"""Issue 14, items 6 and 7: every mistake a user can make on the command line ends in one line on stderr and the
right exit code (2 for usage, 1 for everything else), never a traceback and never a silent success; and a fact-checker
that cannot be reached is reported as such instead of judging every claim NOT_SUPPORTED."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from kenning import Engine
from kenning.errors import ConfigError, InputError, ProviderError
from kenning.generate.prompts import NOT_IN_SOURCES_ANSWER
from kenning.types import Verdict
from kenning.verify.answering import Checked, apply_strip

from .cli_run import one_line_error, run_cli
from .llm_servers import OPENAI, closed_port_url, llm_server, openai_client  # noqa: F401 - llm_server is a fixture
from .test_cli import _tiny_beir


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One home with the small corpus indexed, shared by the read-only checks below."""
    from .conftest import SMALL_CORPUS, write_corpus

    root = tmp_path_factory.mktemp("faults")
    corpus = write_corpus(root / "corpus", SMALL_CORPUS)
    code, _, err = run_cli("index", str(corpus), "--home", str(root / "home"))
    assert code == 0, err
    return root / "home"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["search"], "Missing argument 'QUERY'"),
        (["search", "x", "--bogus"], "No such option: --bogus"),
        (["search", "x", "-k", "ten"], "Invalid value for '--k'"),
        (["bogus"], "No such command 'bogus'"),
        (["eval", "nope"], "No such command 'nope'"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(args: list[str], says: str) -> None:
    code, out, err = run_cli(*args)
    line = one_line_error(err)
    assert code == 2 and out == ""
    assert says.lower() in line.lower() and "--help" in line


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["search", "vacuum", "-k", "0"], "k must be between 1 and 10000; got 0"),
        (["search", "vacuum", "--mode", ""], "mode must be one of bm25, dense, hybrid, lazy; got ''"),
        (["search", ""], "the query is empty"),
        (["search", "   "], "the query is empty"),
        (["ask", "what does vacuum do", "-k", "0", "--mode", "extractive"], "k must be between 1 and 10000"),
        (["ask", "what does vacuum do", "--mode", ""], "answer mode must be auto, generate or extractive"),
        (["ask", "", "--mode", "extractive"], "the question is empty"),
    ],
)
def test_bad_values_are_errors_not_defaults(indexed: Path, args: list[str], says: str) -> None:
    code, out, err = run_cli(*args, "--home", str(indexed))
    assert code == 1 and out == "" and says in one_line_error(err)


def test_engine_refuses_k_0_empty_mode_and_empty_query(indexed: Path) -> None:
    eng = Engine(indexed)
    try:
        for bad in ({"k": 0}, {"k": -3}, {"mode": ""}, {"mode": "bm26"}):
            with pytest.raises(ConfigError):
                eng.search("vacuum", **bad)  # type: ignore[arg-type]
        with pytest.raises(ConfigError, match="the query is empty"):
            eng.search(" ")
        assert len(eng.search("vacuum", k=1)) == 1
    finally:
        eng.close()


def test_delete_answered_no_exits_1_and_keeps_the_collection(indexed: Path) -> None:
    code, _, err = run_cli("delete", "default", "--home", str(indexed), stdin="n\n")
    assert code == 1, err
    code, out, _ = run_cli("collections", "--home", str(indexed), "--json")
    assert code == 0 and [c["collection"] for c in json.loads(out)] == ["default"]


def test_verify_with_bad_lines_exits_1(tmp_path: Path) -> None:
    good = {"id": "a", "answer": "Water boils at 100 C.", "sources": [{"id": "s", "text": "Water boils at 100 C."}]}
    path = tmp_path / "answers.jsonl"
    path.write_text(json.dumps(good) + "\n{not json\n" + json.dumps({"id": "b"}) + "\n")
    code, out, err = run_cli("verify", str(path), "--verifier", "lexical", "--home", str(tmp_path / "home"))
    assert code == 1 and "2 bad lines" in err and "Traceback" not in err
    assert len(out.splitlines()) == 3  # still one output line per input line


def test_home_that_is_a_file_is_named(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.write_text("not a folder")
    for args in (["search", "x"], ["index", str(tmp_path)], ["collections"]):
        code, _, err = run_cli(*args, "--home", str(home))
        assert code == 1 and f"the index home {home} is a file, not a folder" in one_line_error(err)
    assert home.read_text() == "not a folder"


def test_index_of_a_missing_path_creates_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    missing = tmp_path / "nonexistent"
    code, _, err = run_cli("index", str(missing), "--home", str(home), "-c", "nx")
    assert code == 1 and f"no such file or folder: {missing}; nothing was indexed" in one_line_error(err)
    assert not (home / "collections" / "nx").exists()
    with pytest.raises(InputError, match="nothing was indexed"):
        Engine(home, collection="nx2").index([missing])
    assert not (home / "collections" / "nx2").exists()


def test_index_with_one_missing_path_exits_1_and_keeps_what_it_had(indexed: Path, tmp_path: Path) -> None:
    before = json.loads(run_cli("info", "--home", str(indexed), "--json")[1])["documents"]
    code, _, err = run_cli("index", str(tmp_path / "gone"), "--home", str(indexed))
    assert code == 1 and f"no such file or folder: {tmp_path / 'gone'}" in err and "Traceback" not in err
    assert json.loads(run_cli("info", "--home", str(indexed), "--json")[1])["documents"] == before


def test_failed_eval_beir_removes_the_collection_it_created(tmp_path: Path) -> None:
    ds = _tiny_beir(tmp_path / "tiny")
    home = str(tmp_path / "home")
    # fails after indexing: the fresh collection has no reranker for bm25+rerank
    code, _, err = run_cli("eval", "beir", str(ds), "--home", home, "--mode", "bm25+rerank")
    assert code == 1 and "has no reranker" in err and "Traceback" not in err
    assert "removed the collection 'beir-tiny' this run created" in err
    assert json.loads(run_cli("collections", "--home", home, "--json")[1]) == []
    # checked before anything is indexed: a missing split, an unknown mode
    (ds / "qrels" / "test.tsv").rename(ds / "qrels" / "dev.tsv")
    code, _, err = run_cli("eval", "beir", str(ds), "--home", home)
    assert code == 1 and "test" in one_line_error(err)
    code, _, err = run_cli("eval", "beir", str(ds), "--home", home, "--split", "dev", "--mode", "bm25,vector")
    assert code == 1 and "'vector'" in one_line_error(err)
    assert json.loads(run_cli("collections", "--home", home, "--json")[1]) == []


# -- an LLM that cannot be reached ---------------------------------------------------------------------------


@pytest.fixture
def llm(llm_server, monkeypatch):  # noqa: F811 - the fixture imported above
    yield from openai_client(llm_server, monkeypatch, max_retries=0, timeout=2.0)


def test_unreachable_llm_answer_is_checked_offline_not_all_not_supported(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(OPENAI.key_env, "sk-test")
    with OPENAI.make(closed_port_url(), max_retries=0, timeout=2.0) as down:
        engine._llm = down  # the configured model, which answers and (under auto) would fact-check
        for policy in ("annotate", "strip"):
            a = engine.ask("What does VACUUM FULL do?", policy=policy)
            assert any("the language model failed" in n for n in a.notes)
            assert a.answerable and a.text.strip() and a.text != NOT_IN_SOURCES_ANSWER
            assert a.verdicts and not any("fact-checker failed" in v.reasoning for v in a.verdicts)
            assert any(v.label == "SUPPORT" for v in a.verdicts) and a.verifier == "lexical"
        engine._llm = False


def test_failing_fact_checker_hands_over_or_fails_loudly(engine: Engine, llm, llm_server) -> None:  # noqa: F811
    probe = engine.ask("What does VACUUM FULL do?", llm=False, verify=False)
    n = next(c.number for c in probe.citations if c.source.endswith("vacuum.md"))
    draft = OPENAI.ok(f"VACUUM FULL rewrites the entire contents of the table into a new disk file [{n}].")
    garbage = [OPENAI.ok("no JSON here")] * 3
    llm_server.reply(draft, *garbage)
    a = engine.ask("What does VACUUM FULL do?", llm=llm, policy="strip")  # auto: the offline verifier takes over
    assert a.mode == "llm" and a.answerable and "rewrites the entire contents" in a.text
    assert a.verifier == "lexical" and a.verdicts and a.verdicts[0].label == "SUPPORT"
    assert any("fact-checker llm:" in note and "checked by lexical instead" in note for note in a.notes)
    llm_server.reply(draft, *garbage)
    with pytest.raises(ProviderError, match="no claim of the answer could be checked"):
        engine.ask("What does VACUUM FULL do?", llm=llm, verifier="llm")


def test_cli_ask_with_the_llm_verifier_unreachable_exits_1(indexed: Path) -> None:
    code, out, err = run_cli(
        "ask",
        "What does VACUUM FULL do?",
        "--home",
        str(indexed),
        "--llm",
        "openai:m",
        "--llm-base-url",
        closed_port_url(),
        "--verifier",
        "llm",
        "--json",
    )
    assert code == 1 and out == ""
    assert "no claim of the answer could be checked" in one_line_error(err)


def test_strip_never_leaves_an_empty_answer() -> None:
    from kenning.generate.answer import Draft

    text = "Tomatoes are blue [1]. Rice is square [1]."
    verdicts = (
        Verdict("Tomatoes are blue [1].", "NOT_SUPPORTED", "", "", "", 0, 22),
        Verdict("Rice is square [1].", "NOT_SUPPORTED", "", "", "", 23, 42),
    )
    draft = Draft(text=text, packed=(), cited=frozenset({1}), invalid=(), mode="llm", model="m")
    out, kept, notes = apply_strip("strip", Checked(draft, verdicts, draft.usage))
    assert out == NOT_IN_SOURCES_ANSWER and len(kept) == 2 and "every claim was unsupported" in notes[0]


def test_verify_with_an_unreachable_fact_checker_writes_no_verdicts_and_exits_1(tmp_path: Path) -> None:
    from .llm_servers import closed_port_url

    home = tmp_path / "home"
    home.mkdir()
    (home / "kenning.toml").write_text(
        f'[llm]\nprovider = "openai"\nmodel = "gpt-x"\nbase_url = "{closed_port_url()}"\n'
        'api_key_env = "KENNING_TEST_KEY"\nmax_retries = 0\ntimeout = 2\n',
        encoding="utf-8",
    )
    line = {
        "id": 7,
        "answer": "VACUUM FULL takes an exclusive lock.",
        "sources": [{"id": "a", "text": "VACUUM FULL locks."}],
    }
    infile = tmp_path / "answers.jsonl"
    infile.write_text(json.dumps(line) + "\n", encoding="utf-8")
    outfile = tmp_path / "verdicts.jsonl"
    os.environ["KENNING_TEST_KEY"] = "sk-test"
    try:
        code, _, err = run_cli("verify", str(infile), "--home", str(home), "--verifier", "llm", "--out", str(outfile))
    finally:
        del os.environ["KENNING_TEST_KEY"]
    assert code == 1 and "could not check" in err, err
    (row,) = [json.loads(x) for x in outfile.read_text().splitlines()]
    assert "claims" not in row and row["id"] == 7 and row["error"].startswith("not checked:")  # no placeholder verdicts
