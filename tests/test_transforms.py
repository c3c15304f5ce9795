"""Query transforms (HyDE, multi-query) and the LLM reranker, against a local OpenAI-format server.

The server answers with scripted replies, so each test knows exactly what "the model" said and checks what kenning
did with it: which text was embedded, which results were fused, how candidates were reordered, and that a broken or
silent model leaves the search working with a note.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kenning import Engine
from kenning.cli import app
from kenning.config import KenningConfig
from kenning.errors import ConfigError
from kenning.rerank import LLMReranker
from kenning.retrieve.transforms import HYDE_PROMPT, TRANSFORMS, plan_query
from kenning.types import Hit

from .conftest import write_corpus
from .llm_servers import OPENAI, FakeLLMServer, llm_server, openai_client  # noqa: F401 - llm_server is a fixture

KEY_ENV = OPENAI.key_env

# Plain dense search ranks the garden note first for this question (it shares "tomatoes"); the hypothetical answer
# speaks of blossom end rot and calcium, as the answering passage does. Measured with the packaged MiniLM.
TOMATO_CORPUS = {
    "garden.txt": "Tomatoes need full sun, regular watering and support from stakes or cages as they grow.\n",
    "rot.txt": (
        "Blossom end rot is caused by a calcium deficiency, usually because uneven watering stops the plant from "
        "taking up calcium.\n"
    ),
    "cooking.txt": "A good risotto needs arborio rice, warm stock added slowly, and constant stirring.\n",
}
TOMATO_Q = "Why do my tomatoes have black bottoms?"
TOMATO_HYDE = (
    "Black patches on the bottom of tomatoes are blossom end rot, a calcium deficiency caused by irregular watering."
)


def _llm_stage(server: FakeLLMServer) -> dict[str, object]:
    return {
        "provider": "openai",
        "model": OPENAI.model,
        "base_url": server.url + "/v1",
        "api_key_env": KEY_ENV,
        "max_retries": 0,
        "timeout": 5.0,
    }


@pytest.fixture
def llm(llm_server, monkeypatch):  # noqa: F811 - the fixture above
    yield from openai_client(llm_server, monkeypatch, max_retries=0, timeout=5.0)


@pytest.fixture
def hyde_home(home: Path, llm_server, monkeypatch) -> Path:  # noqa: F811
    """A home whose kenning.toml points [llm] at the test server (its key set) and turns HyDE on for "garden" alone."""
    monkeypatch.setenv(KEY_ENV, "sk-test")
    home.mkdir(parents=True)
    (home / "kenning.toml").write_text(
        "[llm]\n"
        + "".join(f"{key} = {json.dumps(value)}\n" for key, value in _llm_stage(llm_server).items())
        + '\n[collections.garden.retrieval]\ntransform = "hyde"\n',
        encoding="utf-8",
    )
    return home


def _engine(home: Path, server: FakeLLMServer, embedder, name: str = "default", **retrieval: object) -> Engine:
    cfg = KenningConfig.load(home, llm=_llm_stage(server), retrieval=dict(retrieval))
    return Engine(home, collection=name, config=cfg, embedder=embedder)


@pytest.fixture
def tomatoes(home: Path, tmp_path: Path, embedder, llm, llm_server):  # noqa: F811
    eng = _engine(home, llm_server, embedder, "garden")
    eng.index([write_corpus(tmp_path / "garden", TOMATO_CORPUS)])
    yield eng
    eng.close()


def _sources(hits: list[Hit]) -> list[str]:
    return [Path(h.source).name for h in hits]


def _hits(n: int, long_text: str = "") -> list[Hit]:
    return [
        Hit(i, 1.0 / i, f"d{i}::0", f"d{i}", long_text or f"passage number {i}", f"d{i}.txt", "text", "", (), 0, 1)
        for i in range(1, n + 1)
    ]


# -- transforms ---------------------------------------------------------------------------------------------------


def test_hyde_embeds_the_models_passage_and_finds_the_answer_plain_search_misses(tomatoes, llm, llm_server) -> None:  # noqa: F811
    assert _sources(tomatoes.search(TOMATO_Q, mode="dense", k=2))[0] == "garden.txt"

    llm_server.reply(OPENAI.ok(TOMATO_HYDE + "\n", prompt_tokens=50, completion_tokens=25))
    plan = plan_query("hyde", TOMATO_Q, llm, mode="dense")
    assert plan.embed == (f"{TOMATO_Q}\n\n{TOMATO_HYDE}",) and plan.queries == (TOMATO_Q,)  # BM25 keeps the question
    assert plan.usage.calls == 1 and plan.usage.total_tokens == 75 and not plan.notes
    assert llm_server.requests[-1].body["messages"][-1]["content"] == HYDE_PROMPT.format(question=TOMATO_Q)

    llm_server.reply(OPENAI.ok(TOMATO_HYDE, prompt_tokens=50, completion_tokens=25))
    hits, usage, notes = tomatoes.search_with_usage(TOMATO_Q, mode="dense", k=2, transform="hyde")
    assert _sources(hits)[0] == "rot.txt" and usage.total_tokens == 75 and notes == []

    # bm25 mode: nothing is embedded, so HyDE is skipped without calling the model
    n = len(llm_server.requests)
    _, usage, notes = tomatoes.search_with_usage(TOMATO_Q, mode="bm25", transform="hyde")
    assert len(llm_server.requests) == n and usage.calls == 0 and "bm25" in notes[0]


def test_multi_query_fuses_in_a_chunk_only_a_rewrite_finds(tomatoes, llm_server) -> None:  # noqa: F811
    question = "creamy Italian dish"  # no word of it is in the corpus: BM25 alone finds nothing
    assert tomatoes.search(question, mode="bm25") == []
    rewrites = {"queries": ["risotto recipe", "Creamy Italian dish", "arborio rice cooked in stock", "extra"]}
    llm_server.reply(OPENAI.ok(json.dumps(rewrites)))
    hits, usage, notes = tomatoes.search_with_usage(question, mode="bm25", k=3, transform="multi")
    assert _sources(hits) == ["cooking.txt"] and usage.calls == 1 and notes == []
    assert set(hits[0].ranks) == {"bm25", "rewrite1", "rewrite2"}  # the repeat of the question was dropped
    assert "in 3 different ways" in llm_server.requests[-1].body["messages"][-1]["content"]

    # hybrid: the question's own results stay, the rewrites' are fused in
    llm_server.reply(OPENAI.ok(json.dumps({"queries": ["blossom end rot calcium"]})))
    hits, _, _ = tomatoes.search_with_usage(TOMATO_Q, k=3, transform="multi")
    assert {"garden.txt", "rot.txt"} <= set(_sources(hits)) and "rewrite1" in hits[0].ranks


def test_a_failing_or_garbled_model_degrades_to_the_plain_query(tomatoes, llm, llm_server) -> None:  # noqa: F811
    plain = tomatoes.search(TOMATO_Q, k=3)
    llm_server.reply(OPENAI.error(500, "overloaded"))
    hits, usage, notes = tomatoes.search_with_usage(TOMATO_Q, k=3, transform="hyde")
    assert hits == plain and usage.calls == 0 and "hyde" in notes[0] and "as written" in notes[0]

    llm_server.reply(OPENAI.ok("Sure! Here are some ideas."), OPENAI.ok("still not json"))  # a retry, then give up
    hits, _, notes = tomatoes.search_with_usage(TOMATO_Q, k=3, transform="multi")
    assert hits == plain and "multi" in notes[0] and "valid JSON" in notes[0]

    llm_server.reply(OPENAI.ok("   "))
    plan = plan_query("hyde", TOMATO_Q, llm)
    assert plan.embed == (TOMATO_Q,) and plan.usage.calls == 1 and "empty" in plan.notes[0]


def test_an_unknown_transform_names_the_known_ones(tomatoes) -> None:
    with pytest.raises(ConfigError, match="none, hyde, multi"):
        plan_query("rag-fusion", "q")
    with pytest.raises(ConfigError, match="known: none, hyde, multi"):
        tomatoes.search("q", transform="rag-fusion")
    assert list(TRANSFORMS) == ["none", "hyde", "multi"]


def test_a_collections_own_settings_turn_hyde_on_for_it_alone(
    hyde_home: Path,
    small_corpus: Path,
    embedder,
    llm_server,  # noqa: F811
) -> None:
    for name in ("garden", "notes"):
        eng = Engine(hyde_home, collection=name, embedder=embedder)
        eng.index([small_corpus])
        eng.close()
    notes_engine = Engine(hyde_home, collection="notes", embedder=embedder)
    assert notes_engine.config.retrieval.transform == "none" and notes_engine.search("VACUUM FULL")
    assert llm_server.requests == []
    garden = Engine(hyde_home, collection="garden", embedder=embedder)
    llm_server.reply(OPENAI.ok("VACUUM FULL rewrites the table and takes an exclusive lock."))
    hits, usage, _ = garden.search_with_usage("what locks a table while it is rewritten?")
    assert usage.calls == 1 and len(llm_server.requests) == 1 and hits[0].source.endswith("vacuum.md")
    garden.close()
    notes_engine.close()


# -- LLM reranking ------------------------------------------------------------------------------------------------


def test_listwise_reranking_follows_the_models_list(llm, llm_server) -> None:  # noqa: F811
    reranker = LLMReranker(llm, style="listwise")
    llm_server.reply(OPENAI.ok('{"ranking": [3, 1, 99, 3, 0]}', prompt_tokens=100, completion_tokens=10))
    result = reranker.rerank_with_usage("which passage?", _hits(4), k=3)
    out = list(result.hits)
    assert [h.chunk_id for h in out] == ["d3::0", "d1::0", "d2::0"]  # unnamed ones keep their order after
    assert [h.ranks["first_stage"] for h in out] == [3, 1, 2] and [h.rank for h in out] == [1, 2, 3]
    assert [h.score for h in out] == [4.0, 3.0, 2.0]
    assert result.usage.total_tokens == 110 and result.notes == ()
    prompt = llm_server.requests[-1].body["messages"][-1]["content"]
    assert "[4]\n<document>\npassage number 4\n</document>" in prompt  # fenced: documents are data
    assert prompt.rstrip().endswith("Query: which passage?")

    llm_server.reply(OPENAI.ok("```json\n[2, 1]\n```"))  # a bare list, fenced: small models do that
    assert [h.chunk_id for h in reranker.rerank("q", _hits(3))] == ["d2::0", "d1::0", "d3::0"]
    assert not hasattr(reranker, "usage")  # what a call spent comes back with its result, never on the reranker


def test_listwise_passages_are_cut_to_fit_a_small_context(llm, llm_server) -> None:  # noqa: F811
    long_text = "word " * 3000
    llm_server.reply(OPENAI.ok('{"ranking": [1]}'))
    LLMReranker(llm, context_tokens=4096).rerank("q", _hits(30, long_text))
    prompt = llm_server.requests[-1].body["messages"][-1]["content"]
    from kenning.chunking.tokens import get_tokenizer

    assert get_tokenizer().count(prompt) < 4096 - 200  # leaves room for the reply
    with pytest.raises(ConfigError, match="listwise, pointwise"):
        LLMReranker(llm, style="pairwise")


def test_pointwise_reranking_sorts_by_grade_then_first_stage_rank(llm, llm_server) -> None:  # noqa: F811
    grades = [1, 3, 1, 2]
    llm_server.reply(*[OPENAI.ok(json.dumps({"relevance": g}), prompt_tokens=20, completion_tokens=5) for g in grades])
    reranker = LLMReranker(llm, style="pointwise")
    result = reranker.rerank_with_usage("q", _hits(4))
    out = list(result.hits)
    assert [h.chunk_id for h in out] == ["d2::0", "d4::0", "d1::0", "d3::0"]
    assert [h.score for h in out] == [3.0, 2.0, 1.0, 1.0] and result.usage.calls == 4
    assert (
        "Passage:\n<document>\npassage number 4\n</document>" in llm_server.requests[-1].body["messages"][-1]["content"]
    )


@pytest.mark.parametrize("style", ["listwise", "pointwise"])
def test_a_failing_or_garbled_reranker_keeps_the_first_stage_order(llm, llm_server, style: str) -> None:  # noqa: F811
    reranker = LLMReranker(llm, style=style)
    llm_server.reply(OPENAI.ok("I would put the second one first."), OPENAI.ok("{ranking: 2 1"))
    result = reranker.rerank_with_usage("q", _hits(3), k=2)
    out = list(result.hits)
    assert [h.chunk_id for h in out] == ["d1::0", "d2::0"] and [h.ranks["first_stage"] for h in out] == [1, 2]
    assert "kept the first-stage order" in result.notes[0]
    result = reranker.rerank_with_usage("q", _hits(3))  # nothing scripted: the server answers 418
    assert [h.chunk_id for h in result.hits] == ["d1::0", "d2::0", "d3::0"] and result.notes


def test_engine_reranks_with_the_llm_per_call_or_per_config(home: Path, tomatoes, embedder, llm_server) -> None:  # noqa: F811
    llm_server.reply(OPENAI.ok('{"ranking": [3, 2, 1]}'))
    hits, usage, notes = tomatoes.search_with_usage(TOMATO_Q, k=3, rerank="llm")
    assert [h.ranks["first_stage"] for h in hits] == [3, 2, 1] and usage.calls == 1 and notes == []
    assert "Query: " + TOMATO_Q in llm_server.requests[-1].body["messages"][-1]["content"]  # not a transformed one

    eng = _engine(home, llm_server, embedder, "garden", rerank="llm", llm_rerank="pointwise", rerank_depth=2)
    llm_server.reply(OPENAI.ok('{"relevance": 0}'), OPENAI.ok('{"relevance": 3}'))
    hits = eng.search(TOMATO_Q, k=1)
    assert len(llm_server.requests) == 3 and hits[0].ranks["first_stage"] == 2
    assert eng.search(TOMATO_Q, k=1, rerank=False)[0].ranks.get("first_stage") is None
    with pytest.raises(ConfigError, match="auto, none or llm"):
        eng.search(TOMATO_Q, rerank="cohere")
    eng.close()


# -- command line -------------------------------------------------------------------------------------------------


def test_cli_transform_and_rerank_flags_override_the_settings(
    hyde_home: Path,
    tmp_path: Path,
    embedder,
    llm_server,  # noqa: F811
) -> None:
    runner = CliRunner()

    def run(*args: str) -> dict:
        result = runner.invoke(app, [*args, "--home", str(hyde_home), "-c", "garden", "--json"], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    run("index", str(write_corpus(tmp_path / "garden", TOMATO_CORPUS)))
    llm_server.reply(OPENAI.ok(TOMATO_HYDE, prompt_tokens=40, completion_tokens=20))
    data = run("search", TOMATO_Q, "--mode", "dense", "-k", "2")  # the collection's own setting: HyDE
    assert Path(data["hits"][0]["source"]).name == "rot.txt" and data["usage"]["calls"] == 1
    data = run("search", TOMATO_Q, "--mode", "dense", "-k", "2", "--transform", "none")  # the flag wins
    assert Path(data["hits"][0]["source"]).name == "garden.txt" and data["usage"]["calls"] == 0
    assert len(llm_server.requests) == 1

    llm_server.reply(OPENAI.ok('{"ranking": [2, 1]}'))
    data = run("search", TOMATO_Q, "-k", "2", "--transform", "none", "--rerank", "llm")
    assert [h["ranks"]["first_stage"] for h in data["hits"]] == [2, 1] and data["notes"] == []
    data = run("search", TOMATO_Q, "-k", "2", "--transform", "none", "--no-rerank")
    assert not any("first_stage" in h["ranks"] for h in data["hits"]) and len(llm_server.requests) == 2

    llm_server.reply(OPENAI.ok(json.dumps({"queries": ["blossom end rot"]})), OPENAI.ok('{"ranking": [1]}'))
    answer = run("ask", TOMATO_Q, "--mode", "extractive", "--no-verify", "--transform", "multi", "--rerank", "llm")
    sent = [r.body["messages"][-1]["content"] for r in llm_server.requests[2:]]
    assert len(sent) == 2 and "different ways" in sent[0] and "Rank the passages" in sent[1]
    assert answer["citations"]

    result = runner.invoke(app, ["ask", "q", "--home", str(hyde_home), "-c", "garden", "--transform", "nope"])
    assert result.exit_code != 0 and "hyde" in str(result.exception)
