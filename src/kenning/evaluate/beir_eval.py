"""Evaluate a collection's retrieval on a BEIR dataset: per mode, nDCG@10, recall@10/100 and MRR@10, plus run files.

Chunks are ranked, then collapsed to documents by their best chunk (max-p), since BEIR judges documents. Run scores
are made strictly decreasing in kenning's rank order **in single precision**: trec_eval and pytrec_eval read scores
as 32-bit floats and break ties by document id, so two RRF sums 1e-9 apart would be a tie to them and could swap.
Each score is rounded to float32 and, where it would not fall below the one before, set to the next float32 below
it; then trec_eval and pytrec_eval score exactly the ranking kenning serves.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..retrieve import hit_from_row
from ..retrieve.searcher import Ranking
from .datasets import load_beir
from .metrics import evaluate_run
from .trec import write_trec_run

__all__ = ["evaluate_beir", "collapse_to_documents", "DEFAULT_METRICS"]

DEFAULT_METRICS = ("ndcg@10", "recall@10", "recall@100", "mrr@10")
RERANKED = "+rerank"  # "hybrid+rerank": the mode's top chunks reordered by the collection's reranker


def collapse_to_documents(
    positions: np.ndarray, scores: np.ndarray, doc_of_position: Sequence[Sequence[str]], depth: int
) -> dict[str, float]:
    """Rank documents by their best chunk; returns ``{doc: score}`` with scores strictly decreasing in rank order."""
    out: dict[str, float] = {}
    previous = np.float32(np.inf)
    below = np.float32(-np.inf)
    for pos, score in zip(positions.tolist(), scores.tolist(), strict=True):
        for doc in doc_of_position[pos]:
            if doc not in out:
                value = np.float32(score)
                if value >= previous:
                    value = np.nextafter(previous, below)
                out[doc] = float(value)
                previous = value
                if len(out) >= depth:
                    return out
    return out


def evaluate_beir(
    engine: Any,
    dataset: str | Path,
    *,
    split: str = "test",
    modes: Sequence[str] = ("bm25", "dense", "hybrid"),
    metrics: Sequence[str] = DEFAULT_METRICS,
    depth: int = 100,
    run_path: Path | None = None,
    progress: Callable[[str, int, int | None], None] | None = None,
) -> dict[str, Any]:
    """Search every query of ``split`` in each mode against ``engine``'s collection and score the rankings."""
    ds = load_beir(dataset, split)
    col = engine.collection()
    snap = col.snapshot()
    corpus = str(Path(ds.corpus_path).resolve())
    # catalog row → BEIR ids (more than one if identical documents were deduplicated)
    beir_ids: dict[str, list[str]] = {}
    for doc_id, sources in col.catalog.document_sources().items():
        ids = [s.rsplit("#", 1)[1] for s in sources if s.startswith(corpus + "#")]
        if ids:
            beir_ids[doc_id] = ids
    doc_of_row = dict(col.catalog.conn.execute("SELECT id, doc_id FROM chunks"))
    doc_of_position = [beir_ids.get(doc_of_row.get(int(r), ""), []) for r in snap.rowids.tolist()] if snap else []
    qids = list(ds.queries)
    texts = [ds.queries[q] for q in qids]
    searcher = engine.searcher()
    result: dict[str, Any] = {
        "dataset": ds.name,
        "split": split,
        "queries": len(qids),
        "collection": col.name,
        "documents": col.catalog.counts()[0],
        "chunks": col.catalog.counts()[1],
        "embedder": col.manifest["embedder"]["model"],
        "chunking": col.manifest["chunking"],
        "modes": {},
    }
    chunk_depth = depth * 2  # documents split into several chunks need more chunk hits to fill `depth` documents
    reranker = None
    if any(m.endswith(RERANKED) for m in modes):
        reranker = engine.reranker()
        if reranker is None:
            raise ConfigError(
                f"collection {col.name!r} has no reranker for mode {next(m for m in modes if m.endswith(RERANKED))!r}; "
                f"train one with: kenning tune --collection {col.name}"
            )
        result["reranker"] = (col.manifest.get("reranker") or {}).get("path")
        result["rerank_depth"] = engine.rerank_depth()
    for mode in modes:
        t0 = time.perf_counter()
        run: dict[str, dict[str, float]] = {}
        batch = 64
        base = mode.removesuffix(RERANKED)
        for start in range(0, len(qids), batch):
            rankings = searcher.rank_many(texts[start : start + batch], mode=base, k=chunk_depth, snapshot=snap)
            for qid, ranking in zip(qids[start : start + batch], rankings, strict=False):
                if base != mode:
                    ranking = _reranked(reranker, ds.queries[qid], ranking, col, snap, engine.rerank_depth())
                run[qid] = collapse_to_documents(ranking.positions, ranking.scores, doc_of_position, depth)
            if progress:
                progress(mode, min(start + batch, len(qids)), len(qids))
        seconds = time.perf_counter() - t0
        scores = evaluate_run(run, ds.qrels, metrics=tuple(metrics))
        result["modes"][mode] = {
            "metrics": {m: float(scores.mean[m]) for m in metrics},
            "ms_per_query": 1000 * seconds / max(1, len(qids)),
        }
        if run_path is not None:
            path = Path(run_path)
            if len(modes) > 1:
                path = path.with_name(f"{path.stem}.{mode}{path.suffix}")
            write_trec_run(run, path, tag=f"kenning-{mode}", depth=depth)
            result["modes"][mode]["run_file"] = str(path)
    return result


def _reranked(reranker: Any, query: str, ranking: Ranking, col: Any, snap: Any, depth: int) -> Ranking:
    """``ranking`` with its top ``depth`` chunks reordered by ``reranker``; the rest keep their order below them."""
    top = ranking.positions[:depth]
    rowids = snap.rowids[top].tolist()
    rows = col.catalog.chunk_rows(rowids)
    hits = [hit_from_row(rows[r], n, 0.0) for n, r in enumerate(rowids, 1) if r in rows]
    position_of = {rows[r].chunk_id: int(p) for p, r in zip(top.tolist(), rowids, strict=True) if r in rows}
    order = [position_of[h.chunk_id] for h in reranker.rerank(query, hits)]
    rest = [int(p) for p in ranking.positions[depth:].tolist()]
    positions = np.asarray(order + rest, dtype=np.int64)
    scores = np.arange(len(positions), 0, -1, dtype=np.float64)  # rank order; collapse keeps it
    return Ranking(positions, scores, ranking.ranks)
