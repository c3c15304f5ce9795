"""GraphRAG: the entity-graph build, its content-keyed cache, failures kept partial, local and global search citing
chunks, and the build estimate — against the fake OpenAI wire server answering each prompt by its content, and
(slow) the packaged 0.5B model on a few tiny chunks."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from kenning.errors import ConfigError, IndexError_
from kenning.graph.graphrag import PROMPTS, estimate_graphrag_build, prompt_named
from kenning.graph.graphrag.prompts import EXTRACT, GLEAN, LOCAL, MAP, MERGE, REDUCE, REPORT
from kenning.index import graph_tables

from .llm_servers import OPENAI, FakeLLMServer, Recorded, Reply, llm_server  # noqa: F401 - llm_server is a fixture

_NAME = re.compile(r"\b[A-Z][A-Za-z]{2,}(?: [A-Z][A-Za-z]{2,})?\b")


def _body(text: str) -> Reply:
    """An OpenAI chat completion without usage: kenning counts the tokens itself (exactly what the estimate counts)."""
    return Reply(
        body={
            "id": "c",
            "object": "chat.completion",
            "model": OPENAI.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        }
    )


def _document(user: str) -> str:
    return user.split("<document>\n", 1)[1].split("\n</document>", 1)[0]


class Script:
    """Answers each GraphRAG prompt from its content: capitalised words are the entities, neighbours are related."""

    def __init__(self) -> None:
        self.malformed: set[str] = set()  # a chunk holding one of these words gets broken JSON, every time
        self.seen: list[str] = []

    def __call__(self, req: Recorded) -> Reply:
        system, user = req.body["messages"][0]["content"], req.body["messages"][-1]["content"]
        if "That was not valid JSON" in user:
            user = req.body["messages"][1]["content"]
        kind = self.kind(system, user)
        self.seen.append(kind)
        if kind in (EXTRACT.id, GLEAN.id):
            text = _document(user)
            if any(w in text for w in self.malformed):
                return _body('{"entities": [{"name": "oops"')
            if kind == GLEAN.id:
                return _body('{"entities": [], "relationships": []}')
            names = list(dict.fromkeys(_NAME.findall(text)))[:6]
            ents = [{"name": n, "type": "thing", "description": f"{n}: {text[:40]}"} for n in names]
            rels = [
                {"source": a, "target": b, "description": f"{a} goes with {b}.", "strength": 6}
                for a, b in zip(names, names[1:], strict=False)
            ]
            return _body(json.dumps({"entities": ents, "relationships": rels}))
        if kind == MERGE.id:
            name = user.split("\n", 1)[0].removeprefix("Entity: ")
            return _body(json.dumps({"description": f"{name}, merged."}))
        if kind == REPORT.id:
            first = _document(user).split("\n", 1)[0].removeprefix("- ").split(" (")[0]
            report = {
                "title": f"About {first}",
                "summary": f"A community around {first}.",
                "rating": 7,
                "findings": [{"summary": f"{first} matters", "explanation": "It is central."}],
            }
            return _body(json.dumps(report))
        if kind == MAP.id:
            return _body(
                json.dumps({"points": [{"description": "VACUUM reclaims storage.", "score": 80, "report": 1}]})
            )
        if kind == REDUCE.id:
            return _body("VACUUM reclaims storage occupied by dead tuples [1].")
        return _body("VACUUM FULL rewrites the entire contents of the table [1].")

    @staticmethod
    def kind(system: str, user: str) -> str:
        if "Already found:" in user:
            return GLEAN.id
        if user.startswith("Text:"):
            return EXTRACT.id
        if user.startswith("Entity:"):
            return MERGE.id
        if "Write a report" in user:
            return REPORT.id
        if user.startswith("Reports:"):
            return MAP.id
        if user.startswith("Points:"):
            return REDUCE.id
        return LOCAL.id


@pytest.fixture
def engine(engine, small_corpus: Path):
    """The small indexed corpus plus a page naming VACUUM and PostgreSQL again (entities seen in two chunks)."""
    (small_corpus / "postgres" / "autovacuum.md").write_text(
        "# Autovacuum\n\nThe Autovacuum daemon runs VACUUM and ANALYZE automatically in PostgreSQL.\n", encoding="utf-8"
    )
    engine.index([small_corpus])
    return engine


@pytest.fixture
def fake(llm_server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch):  # noqa: F811
    monkeypatch.setenv(OPENAI.key_env, "sk-test")
    script = Script()
    llm_server.responder = script
    with OPENAI.make(llm_server) as llm:
        yield llm, script


def _extracts(build) -> int:
    return build.stats["per_prompt"].get(EXTRACT.id, {}).get("paid", 0)


def test_prompts_are_visible_and_versioned() -> None:
    assert [p.id for p in PROMPTS] == [f"graphrag.{n}@1" for n in ("extract", "glean", "merge", "report", "map",
                                                                  "reduce", "local")]  # fmt: skip
    assert prompt_named("graphrag.report") is REPORT and prompt_named("graphrag.map@1") is MAP
    with pytest.raises(KeyError, match="known: graphrag.extract@1"):
        prompt_named("graphrag.nope")


def test_build_makes_a_graph_with_provenance_and_a_second_build_pays_nothing(engine, fake) -> None:
    llm, script = fake
    build = engine.build_graphrag(llm=llm)
    stats = build.stats
    catalog = engine.collection().catalog
    chunk_ids = {r.chunk_id for r in catalog.iter_chunks()}
    nodes, edges = graph_tables.nodes(catalog, "entity"), graph_tables.edges(catalog, "entity")
    comms = graph_tables.communities(catalog, "entity")
    assert stats["chunks"] == len(chunk_ids) and stats["failures"] == 0
    assert nodes and edges and comms and stats["reports"] >= 1
    assert all(n.chunk_ids and set(n.chunk_ids) <= chunk_ids for n in nodes)
    assert all(e.chunk_ids and set(e.chunk_ids) <= chunk_ids and e.a < e.b for e in edges)
    vacuum = next(n for n in nodes if n.name == "VACUUM")
    assert vacuum.description == "VACUUM, merged." and len(vacuum.chunk_ids) >= 2  # several descriptions: merged
    reported = [c for c in comms if c.report]
    assert all(c.report["findings"] and c.title.startswith("About") and c.chunk_ids for c in reported)
    assert stats["calls_paid"] == len(script.seen) and stats["calls_cached"] == 0
    assert stats["prompt_tokens"] > 0 and stats["completion_tokens"] > 0
    assert set(stats["per_prompt"]) == {EXTRACT.id, MERGE.id, REPORT.id}

    again = engine.build_graphrag(llm=llm)
    assert again.stats["calls_paid"] == 0 and again.stats["calls_cached"] == stats["calls_paid"]
    assert again.stats["prompt_tokens"] == 0 and len(script.seen) == stats["calls_paid"]
    assert [n.name for n in graph_tables.nodes(catalog, "entity")] == [n.name for n in nodes]


def test_changing_one_document_repays_only_its_chunks(engine, fake, small_corpus: Path) -> None:
    llm, _ = fake
    first = engine.build_graphrag(llm=llm)
    (small_corpus / "notes" / "garden.txt").write_text(
        "Tomatoes and Basil grow well together in the Summer garden.\n", encoding="utf-8"
    )
    engine.index([small_corpus])
    catalog = engine.collection().catalog
    changed = [r for r in catalog.iter_chunks() if r.text.startswith("Tomatoes and Basil")]
    second = engine.build_graphrag(llm=llm)
    assert _extracts(second) == len(changed) == 1
    assert second.stats["calls_cached"] >= first.stats["per_prompt"][EXTRACT.id]["paid"] - 1
    assert second.stats["calls_paid"] < first.stats["calls_paid"]
    basil = next(n for n in graph_tables.nodes(catalog, "entity") if n.name == "Basil")
    assert basil.chunk_ids == (changed[0].chunk_id,)


def test_malformed_json_keeps_a_partial_graph_and_a_rerun_retries_it(engine, fake) -> None:
    llm, script = fake
    script.malformed = {"Tomatoes"}
    build = engine.build_graphrag(llm=llm)
    catalog = engine.collection().catalog
    bad = next(r.chunk_id for r in catalog.iter_chunks() if "Tomatoes" in r.text)
    assert build.stats["failures"] == 1 and build.stats["chunks_failed"] == 1
    assert build.stats["failed"][0]["prompt"] == EXTRACT.id and build.stats["failed"][0]["item"] == bad
    nodes = graph_tables.nodes(catalog, "entity")
    assert nodes and not any(bad in n.chunk_ids for n in nodes)  # the rest of the graph is kept
    script.malformed = set()
    again = engine.build_graphrag(llm=llm)
    assert _extracts(again) == 1 and again.stats["failures"] == 0  # only the failed chunk is paid for again
    assert any(bad in n.chunk_ids for n in graph_tables.nodes(catalog, "entity"))


def test_local_and_global_search_cite_chunks(engine, fake) -> None:
    llm, _ = fake
    with pytest.raises(IndexError_, match="kenning graph build --graphrag --llm"):
        engine.graphrag_draft("What does VACUUM FULL do?", scope="local", llm=llm)
    engine.build_graphrag(llm=llm)
    chunk_ids = {r.chunk_id for r in engine.collection().catalog.iter_chunks()}
    local = engine.graphrag_draft("What does VACUUM FULL do?", scope="local", llm=llm)
    assert local.mode == "llm" and local.cited == {1} and local.text.endswith("[1].")
    assert local.packed and {h.chunk_id for h in local.packed} <= chunk_ids
    assert "VACUUM" in local.packed[0].text and local.usage.prompt_tokens > 0
    glob = engine.graphrag_draft("What are the main themes?", scope="global", llm=llm)
    assert glob.cited and all(1 <= n <= len(glob.packed) for n in glob.cited)
    assert {h.chunk_id for h in glob.packed} <= chunk_ids and "VACUUM" in glob.packed[0].text
    assert re.search(r"\[\d+\]", glob.text) and not glob.invalid
    with pytest.raises(ConfigError, match="scope must be one of local, global"):
        engine.graphrag_draft("x", scope="nope", llm=llm)  # type: ignore[arg-type]


def test_no_model_configured_says_how_to_configure_one(engine) -> None:
    with pytest.raises(ConfigError, match=r"--llm local.*\[llm\]"):
        engine.build_graphrag()


def test_estimate_counts_the_exact_extraction_prompt_tokens(engine, fake) -> None:
    llm, _ = fake
    before = engine.graphrag_estimate(model=llm.name)
    build = engine.build_graphrag(llm=llm)
    per = build.stats["per_prompt"]
    got = {name: (calls, prompt) for name, calls, prompt, _ in before.per_prompt}
    assert got[EXTRACT.id] == (per[EXTRACT.id]["calls"], per[EXTRACT.id]["prompt_tokens"])
    assert any("assumed" in a for a in before.assumptions) and before.cost_usd is not None
    # calibrated by the build it measured, the estimate of building the same collection from scratch is close
    catalog = engine.collection().catalog
    chunks = [(r.chunk_id, r.text) for r in catalog.iter_chunks()]
    calibrated = estimate_graphrag_build(chunks, model=llm.name, config=engine.config.graph, history=build.stats)
    actual = build.stats["prompt_tokens"] + build.stats["completion_tokens"]
    assert abs(calibrated.total_tokens - actual) <= 0.25 * actual
    assert calibrated.calls == build.stats["calls_paid"]
    # everything cached: nothing to pay
    cached = engine.graphrag_estimate(model=llm.name)
    assert cached.calls == 0 and cached.cached_calls == build.stats["chunks"]


def _small_model_available() -> bool:
    from kenning.providers.llm.local import local_generator_available

    return local_generator_available("qwen2.5-0.5b")


@pytest.mark.slow
@pytest.mark.skipif(not _small_model_available() and not os.environ.get("CI"), reason="kenning[local-small] missing")
def test_real_local_model_builds_a_small_graph(home: Path, tmp_path: Path, embedder) -> None:
    from kenning import Engine
    from kenning.providers.llm.local import LocalLLM

    corpus = tmp_path / "tiny"
    corpus.mkdir()
    (corpus / "a.md").write_text("# VACUUM\n\nPostgreSQL VACUUM reclaims storage held by dead tuples.\n")
    (corpus / "b.md").write_text("# Docker\n\nDocker Compose starts the containers a YAML file describes.\n")
    eng = Engine(home, embedder=embedder)
    eng.index([corpus])
    llm = LocalLLM("qwen2.5-0.5b")
    build = eng.build_graphrag(llm=llm)
    assert build.stats["chunks"] == 2 and build.stats["entities"] >= 1
    assert build.stats["calls_paid"] >= 2 and build.stats["prompt_tokens"] > 0
    again = eng.build_graphrag(llm=llm).stats  # pays again only for chunks whose extraction failed (never cached)
    assert again["per_prompt"].get(EXTRACT.id, {}).get("paid", 0) == build.stats["chunks_failed"]
    eng.close()
