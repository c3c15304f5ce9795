"""bench/global_questions.py's pieces on tiny inputs: the gold structure parsed from a synthetic manual and folder
tree, an answer scored against it (only topics whose cited chunk backs a SUPPORT verdict count), the summaries, the
judge's two-order win rate, and the real archives' structure (every Part found, nearly every page mapped)."""

from __future__ import annotations

import doctest
import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from kenning.types import Answer, Citation, Verdict

from .llm_servers import OPENAI, Reply, llm_server  # noqa: F401 - llm_server is a fixture

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.fixture(scope="module")
def bench() -> Iterator[tuple[ModuleType, ModuleType]]:
    """``(_structure, global_questions)`` imported from bench/ (scripts there import each other by plain name)."""
    sys.path.insert(0, str(BENCH))
    try:
        yield importlib.import_module("_structure"), importlib.import_module("global_questions")
    finally:
        sys.path.remove(str(BENCH))


def _page(title: str, up: str | None) -> str:
    nav = f'<a accesskey="u" href="{up}" title="x">Up</a>' if up else ""
    return f'<html><div class="navheader"><table><tr><td>{nav}</td></tr></table></div><h1>{title}</h1></html>'


INDEX = (
    '<html><div class="toc"><dl class="toc">'
    '<dt><span class="preface"><a href="preface.html">Preface</a></span></dt>'
    '<dd><dl><dt><span class="sect1"><a href="intro.html">1. What Is It?</a></span></dt></dl></dd>'
    '<dt><span class="part"><a href="tutorial.html">I. <span class="x">Tutorial</span></a></span></dt>'
    '<dd><dl><dt><span class="chapter"><a href="start.html">1. Getting Started</a></span></dt></dl></dd>'
    '<dt><span class="part"><a href="reference.html">II. Reference</a></span></dt>'
    "</dl></div></html>"
)
MANUAL = {
    "html/index.html": INDEX,
    "html/preface.html": _page("Preface", "index.html"),
    "html/intro.html": _page("What is it", "preface.html"),
    "html/tutorial.html": _page("Tutorial", "index.html"),
    "html/start.html": _page("Getting started", "tutorial.html"),
    "html/start-install.html": _page("Installing", "start.html#anchor"),
    "html/reference.html": _page("Reference", "index.html"),
    "html/sql-select.html": _page("SELECT", "reference.html"),
    "html/loop-a.html": _page("A", "loop-b.html"),  # a cycle of Up links ends, unmapped
    "html/loop-b.html": _page("B", "loop-a.html"),
    "html/orphan.html": _page("Legal notice", None),
}


def test_postgres_parts_and_pages(bench) -> None:
    structure, _ = bench
    gold = structure.parse_postgres(MANUAL)
    assert gold.topics == ("I. Tutorial", "II. Reference")  # Parts only, nested markup in the title flattened
    assert gold.topic_of_source("/c/pg.tar.gz!/html/start-install.html") == "I. Tutorial"  # two Ups, anchor dropped
    assert gold.topic_of_source("/c/pg.tar.gz!/html/sql-select.html") == "II. Reference"
    assert gold.topic_of_source("/c/pg.tar.gz!/html/intro.html") is None  # the Preface is not a Part
    assert gold.topic_of_source("/c/pg.tar.gz!/html/nowhere.html") is None
    assert gold.unmapped == ("html/loop-a.html", "html/loop-b.html", "html/orphan.html")
    cov = gold.coverage()
    assert (cov["documents"], cov["in_a_topic"], cov["unmapped"]) == (11, 5, 3)
    assert cov["per_topic"] == {"I. Tutorial": 3, "II. Reference": 2}


def test_folders_and_gzipped_members(bench) -> None:
    structure, _ = bench
    gold = structure.parse_folders(
        "docker", ["docker-doc/README.md", "docker-doc/extend/config.md", "docker-doc/reference/commandline/run.md"]
    )
    assert gold.topics == ("extend", "reference")
    assert gold.topic_of_source("/d/docker.tar.gz!/docker-doc/extend/config.md.gz") == "extend"
    assert gold.topic_of_source("/d/docker.tar.gz!/docker-doc/README.md") is None
    with pytest.raises(ValueError, match="unknown corpus 'nope'; known: postgres, python, docker"):
        structure.load_structure("nope")


def _citation(n: int, chunk: str, source: str, *, cited: bool = True) -> Citation:
    return Citation(number=n, chunk_id=chunk, source=source, title="", heading_path=(), text="t", cited=cited)


def test_a_topic_counts_only_with_a_supported_claim_on_a_cited_chunk(bench) -> None:
    structure, _ = bench
    gold = structure.parse_postgres(MANUAL)
    arc = "/c/pg.tar.gz!/html/"
    answer = Answer(
        question="What are the main topics?",
        text="x",
        citations=(
            _citation(1, "c1", arc + "start.html"),  # Tutorial, SUPPORT → covered
            _citation(2, "c2", arc + "sql-select.html"),  # Reference, only PARTIAL → cited, not covered
            _citation(3, "c3", arc + "intro.html"),  # Preface: no topic
            _citation(4, "c4", arc + "start-install.html", cited=False),  # shown, not cited: ignored
        ),
        verdicts=(
            Verdict("a", "SUPPORT", "e", "c1", "r"),
            Verdict("b", "PARTIAL", "e", "c2", "r"),
            Verdict("c", "SUPPORT", "e", "c3", "r"),
            Verdict("d", "SUPPORT", "e", "c4", "r"),
            Verdict("e", "NOT_SUPPORTED", "e", "c1", "r"),
        ),
        mode="extractive",
        model="",
        answerable=True,
    )
    cov = structure.score_answer(answer, gold.topic_of_source)
    assert cov.topics_supported == ("I. Tutorial",)
    assert cov.topics_cited == ("I. Tutorial", "II. Reference")
    assert (cov.claims, cov.supported_claims, cov.cited_chunks) == (5, 3, 3)
    assert cov.share_supported == pytest.approx(0.6)


def test_summaries_and_paired_comparison(bench) -> None:
    _, gq = bench
    rows = [
        {"topics_supported": ["a"], "topics_cited": ["a", "b"], "claims": 2, "supported_claims": 1,
         "answerable": True, "seconds": 2.0},
        {"question": "q2", "error": "ConfigError: mode must be one of …"},
    ]  # fmt: skip
    s = gq.summarise(rows)
    assert (s["questions"], s["errors"], s["topics_supported"], s["topics_cited"]) == (2, 1, 0.5, 1.0)
    assert (s["share_supported"], s["answerable"], s["distinct_topics_over_all_questions"]) == (0.5, 1.0, 1)
    p = gq.paired(rows, [{"topics_supported": ["a", "b", "c"]}, {"topics_supported": []}])
    assert (p["differences"], p["wins"], p["ties"], p["losses"]) == ([2, 0], 1, 1, 0)


def test_win_rate_cancels_position_bias(bench) -> None:
    _, gq = bench
    assert gq.win_rate([("AB", "A"), ("BA", "A")]) == 0.5  # always picks the first answer
    assert gq.win_rate([("AB", "B"), ("BA", "A")]) == 1.0  # prefers the second system in both orders
    assert gq.win_rate([("AB", "tie"), ("BA", "tie")]) == 0.5


def test_judge_asks_for_json_and_reads_the_winners(bench, llm_server, monkeypatch) -> None:  # noqa: F811
    _, gq = bench
    monkeypatch.setenv(OPENAI.key_env, "sk-test")
    good = '{"reason": "B lists more parts.", "comprehensiveness": "B", "diversity": "B", "empowerment": "tie", '
    good += '"directness": "A"}'
    llm_server.reply(OPENAI.ok(good), OPENAI.ok("no json here"), OPENAI.ok('{"reason": "x"}'), OPENAI.ok("nor here"))
    with OPENAI.make(llm_server) as llm:
        assert gq.judge_once(llm, "What are the main topics?", "one", "two") == {
            "comprehensiveness": "B", "diversity": "B", "empowerment": "tie", "directness": "A"
        }  # fmt: skip
        assert set(gq.judge_once(llm, "What are the main topics?", "one", "two").values()) == {"tie"}  # malformed
    prompt = llm_server.requests[0].body["messages"][0]["content"]
    assert "- diversity: How varied" in prompt and "Answer A:\none" in prompt and "Answer B:\ntwo" in prompt


def test_bench_doctests(bench) -> None:
    for module in bench:
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
        assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {module.__name__}"


def test_real_archives(bench, shared_data) -> None:
    structure, _ = bench
    pg = structure.load_structure("postgres")
    assert len(pg.topics) == 8 and pg.topics[0] == "I. Tutorial" and pg.topics[-1] == "VIII. Appendixes"
    cov = pg.coverage()
    assert cov["documents"] == 1169 and cov["in_a_topic"] >= 1150 and cov["unmapped"] <= 2
    py = structure.load_structure("python")
    assert {"tutorial", "library", "reference", "c-api", "howto", "faq"} <= set(py.topics)
    assert py.coverage()["documents"] == 497


def test_an_extractive_answer_is_scored_by_its_folders(bench, engine, small_corpus) -> None:
    structure, gq = bench
    members = [str(p) for p in sorted(small_corpus.rglob("*")) if p.is_file()]
    gold = structure.parse_folders("small", members, depth=len(small_corpus.parts))
    assert gold.topics == ("docker", "notes", "postgres")
    assert gq.source_coverage(engine, gold) == {"indexed_sources": 5, "in_a_topic": 5, "unknown": 0}
    answer = gq.SYSTEMS["hybrid"](engine, "What does VACUUM FULL do to a table?")
    cov = structure.score_answer(answer, gold.topic_of_source)
    assert answer.mode == "extractive" and cov.claims >= 1
    assert "postgres" in cov.topics_supported and set(cov.topics_supported) <= set(cov.topics_cited)
