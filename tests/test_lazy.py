"""LazyGraphRAG through the Engine and the CLI: a whole-corpus question spreads over the themes, a question about one
thing stays with it, every answer cites chunks and goes through the verifier, and the budget bounds the tests."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from kenning.errors import ConfigError, IndexError_
from kenning.graph.lazy import FixedTest, lazy_search
from kenning.graph.types import Community

from .cli_run import one_line_error, run_cli
from .conftest import write_corpus

VACUUM = [
    "The autovacuum daemon removes dead tuples from tables.",
    "Dead tuples are found with the visibility map.",
    "The visibility map lets vacuum freeze skip pages.",
    "Vacuum freeze protects tables against transaction wraparound.",
]
REPLICATION = [
    "Streaming replication sends the write-ahead log to a standby server.",
    "A standby server can keep a replication slot on the primary.",
    "The replication slot keeps write-ahead log segments until the standby has them.",
    "A hot standby server answers read-only queries during streaming replication.",
]
TOPICS = {"vacuum": VACUUM, "replication": REPLICATION}


def themed_corpus(root: Path) -> Path:
    """Six documents per theme, each three of its theme's four sentences (so every concept pair recurs)."""
    files = {}
    for name, sentences in TOPICS.items():
        for i, combo in enumerate(itertools.combinations(range(4), 3)):
            files[f"{name}-{i}.md"] = f"# {name.title()} note {i}\n\n" + " ".join(sentences[j] for j in combo) + "\n"
        files[f"{name}-all.md"] = f"# {name.title()}\n\n" + " ".join(sentences) + "\n"
    return write_corpus(root, files)


@pytest.fixture
def graph_engine(home: Path, tmp_path: Path, embedder):
    from kenning import Engine

    # a tiny corpus: every concept is in a third of the chunks, more than the default max_df keeps
    home.mkdir(parents=True, exist_ok=True)
    (home / "kenning.toml").write_text("[graph]\nmax_df = 0.6\n")
    eng = Engine(home, embedder=embedder)
    eng.index([themed_corpus(tmp_path / "themes")])
    eng.build_graph()
    yield eng
    eng.close()


def _theme(engine, chunk_id: str) -> str:
    hit = engine.fetch_chunk(chunk_id)
    return Path(hit.source).name.split("-")[0]


def test_whole_corpus_question_covers_every_theme_with_supported_cited_claims(graph_engine) -> None:
    info = graph_engine.graph_info()
    assert info.built and not info.stale and info.communities and info.communities[0] >= 2
    answer = graph_engine.ask("What are the main themes of these documents?", mode="lazy", llm=False)
    assert answer.answerable
    cited = {c.chunk_id for c in answer.citations if c.cited}
    assert {_theme(graph_engine, c) for c in cited} == {"vacuum", "replication"}
    assert answer.verdicts and all(v.label == "SUPPORT" for v in answer.verdicts)
    assert {v.source_id for v in answer.verdicts} <= cited
    assert any("whole collection" in n for n in answer.notes)
    # flat retrieval on the same question abstains or cites fewer themes
    flat = graph_engine.ask("What are the main themes of these documents?", llm=False)
    flat_themes = {_theme(graph_engine, c.chunk_id) for c in flat.citations if c.cited}
    assert not flat.answerable or len(flat_themes) < 2


def test_question_about_one_theme_stays_with_it(graph_engine) -> None:
    found = graph_engine.lazy_search("How does the replication slot keep write-ahead log for a standby server?")
    assert not found.corpus and found.result.tests <= graph_engine.config.graph.budget
    assert found.result.found
    assert {_theme(graph_engine, f.chunk_id) for f in found.result.found} == {"replication"}
    answer = graph_engine.ask("How does a replication slot keep write-ahead log?", mode="lazy", llm=False)
    assert answer.citations and all(_theme(graph_engine, c.chunk_id) == "replication" for c in answer.citations)
    assert any(v.label == "SUPPORT" for v in answer.verdicts)


def test_search_mode_lazy_keeps_the_hybrid_order_for_a_local_question(graph_engine) -> None:
    query = "visibility map and dead tuples"
    hits = graph_engine.search(query, mode="lazy", k=5)
    assert len(hits) == 5 and [h.rank for h in hits] == [1, 2, 3, 4, 5]
    hybrid = graph_engine.search(query, mode="hybrid", k=5, rerank=False)
    assert [h.chunk_id for h in hits] == [h.chunk_id for h in hybrid]
    themes = graph_engine.search("What are the main themes of these documents?", mode="lazy", k=4)
    assert {_theme(graph_engine, h.chunk_id) for h in themes} == {"vacuum", "replication"}
    with pytest.raises(ConfigError, match="lazy"):
        graph_engine.search("x", mode="graph")


def test_budget_bounds_the_tests_and_zero_says_so(graph_engine) -> None:
    assert graph_engine.lazy_search("dead tuples", budget=3).result.tests <= 3
    empty = graph_engine.lazy_search("dead tuples", budget=0)
    assert empty.result.tests == 0 and any("budget is 0" in n for n in empty.notes)
    graph_engine.config = graph_engine.config.model_copy(
        update={"graph": graph_engine.config.graph.model_copy(update={"budget": 0})}
    )
    answer = graph_engine.ask("dead tuples?", mode="lazy", llm=False)
    assert not answer.answerable and not answer.verdicts
    with pytest.raises(ConfigError, match="budget"):
        graph_engine.lazy_search("dead tuples", budget=-1)


def test_no_graph_is_a_clear_error(engine) -> None:
    with pytest.raises(IndexError_, match="kenning graph build"):
        engine.ask("What are the main themes?", mode="lazy", llm=False)


def test_global_without_graphrag_reports_falls_back_to_lazy(graph_engine) -> None:
    answer = graph_engine.ask("What are the main themes of these documents?", mode="global", llm=False)
    assert answer.answerable and any("answered with LazyGraphRAG" in n for n in answer.notes)


def test_lazy_search_deepens_and_stops_within_budget() -> None:
    top = Community("concept", 0, 0, None, "t", (0,), ("a", "b", "c"))
    kid = Community("concept", 1, 1, 0, "k", (0,), ("b", "c"))
    other = Community("concept", 2, 0, None, "o", (1,), ("x", "y"))
    test = FixedTest({"a": 0.9, "b": 0.85, "c": 0.1, "x": 0.2, "y": 0.1})
    result = lazy_search(["a", "x", "b"], [top, kid, other], test, budget=4, margin=0.1)
    assert result.tests == 4 and result.deepened == (0,)
    assert [f.chunk_id for f in result.found] == ["a", "b"]
    # the unrelated community failed twice and left; nothing was tested twice
    assert len({t.chunk_id for t in result.tested}) == result.tests


def test_cli_ask_and_search_lazy(graph_engine, home: Path) -> None:
    code, out, err = run_cli(
        "ask", "What are the main themes of these documents?", "--mode", "lazy", "--home", str(home), "--json"
    )
    assert code == 0, err
    data = json.loads(out)
    assert data["answerable"] and data["verdicts"]
    code, out, err = run_cli("search", "standby server", "--mode", "lazy", "--home", str(home), "-k", "3")
    assert code == 0, err
    code, out, err = run_cli("ask", "themes?", "--mode", "lazy", "--home", str(home), "-c", "nope")
    assert code != 0 and one_line_error(err)


def test_http_and_mcp_doors_take_the_lazy_modes(graph_engine, home: Path) -> None:
    import anyio
    import httpx

    from kenning.serve import Engines
    from kenning.serve.app import ServerSettings, create_app
    from kenning.serve.mcp import build_server

    from .http_servers import running

    question = "What are the main themes of these documents?"
    with running(create_app(ServerSettings(home=home))) as url, httpx.Client(base_url=url, timeout=120) as http:
        answer = http.post("/api/collections/default/ask", json={"question": question, "mode": "lazy"}).json()
        assert answer["answerable"] and answer["verdicts"], answer
        hits = http.post("/api/collections/default/search", json={"query": "standby", "mode": "lazy", "k": 2}).json()
        assert len(hits["hits"]) == 2
        bad = http.post("/api/collections/default/ask", json={"question": question, "mode": "graph"})
        assert bad.status_code == 422

    async def ask() -> dict:
        result = await build_server(Engines(home)).call_tool("ask", {"question": question, "scope": "corpus"})
        return result.structured_content if hasattr(result, "structured_content") else result[1]

    out = anyio.run(ask)
    themes = {_theme(graph_engine, c["chunk_id"]) for c in out["citations"] if c["cited"]}
    assert themes == {"vacuum", "replication"}
