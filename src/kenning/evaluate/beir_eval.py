"""Evaluate a collection's retrieval on a BEIR dataset: per mode, nDCG@10, recall@10/100 and MRR@10, plus run files.

Chunks are ranked, then collapsed to documents by their best chunk (max-p), since BEIR judges documents. Run scores
are made strictly decreasing in kenning's rank order **in single precision**: trec_eval and pytrec_eval read scores
as 32-bit floats and break ties by document id, so two RRF sums 1e-9 apart would be a tie to them and could swap.
Each score is rounded to float32 and, where it would not fall below the one before, set to the next float32 below
it; then trec_eval and pytrec_eval score exactly the ranking kenning serves.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..retrieve import hit_from_row
from ..retrieve.searcher import Ranking
from ..store.base import Store
from .datasets import load_beir
from .metrics import evaluate_run
from .trec import write_trec_run

__all__ = ["evaluate_beir", "collapse_to_documents", "beir_docs_of_chunks", "DEFAULT_METRICS"]

DEFAULT_METRICS = ("ndcg@10", "recall@10", "recall@100", "mrr@10")
RERANKED = "+rerank"  # "hybrid+rerank": the mode's top chunks reordered by the collection's reranker


def collapse_to_documents(
    chunk_ids: Sequence[str], scores: Sequence[float], docs_of: Mapping[str, Sequence[str]], depth: int
) -> dict[str, float]:
    """Rank documents by their best chunk; returns ``{doc: score}`` with scores strictly decreasing in rank order.

    ``docs_of`` maps a chunk id to the documents it stands for (several when identical documents were deduplicated).
    """
    out: dict[str, float] = {}
    previous = np.float32(np.inf)
    below = np.float32(-np.inf)
    for chunk_id, score in zip(chunk_ids, scores, strict=True):
        for doc in docs_of.get(chunk_id, ()):
            if doc not in out:
                value = np.float32(score)
                if value >= previous:
                    value = np.nextafter(previous, below)
                out[doc] = float(value)
                previous = value
                if len(out) >= depth:
                    return out
    return out


def beir_docs_of_chunks(store: Store, corpus: str | Path) -> dict[str, list[str]]:
    """Chunk id → the BEIR document ids of ``corpus`` (a ``corpus.jsonl``) it stands for; built once per run."""
    prefix = str(Path(corpus).resolve()) + "#"
    beir_ids: dict[str, list[str]] = {}
    for doc_id, sources in store.catalog.document_sources().items():
        ids = [s.rsplit("#", 1)[1] for s in sources if s.startswith(prefix)]
        if ids:
            beir_ids[doc_id] = ids
    return {s.chunk_id: beir_ids[s.doc_id] for s in store.catalog.chunk_spans() if s.doc_id in beir_ids}


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
    docs_of = beir_docs_of_chunks(col, ds.corpus_path)
    qids = list(ds.queries)
    texts = [ds.queries[q] for q in qids]
    searcher = engine.searcher()
    manifest = col.refresh()
    n_docs, n_chunks = col.catalog.counts()
    col.counts()  # loads what the store publishes (a snapshot, a pool) before anything is timed
    result: dict[str, Any] = {
        "dataset": ds.name,
        "split": split,
        "queries": len(qids),
        "collection": col.name,
        "documents": n_docs,
        "chunks": n_chunks,
        "embedder": manifest["embedder"]["model"],
        "chunking": manifest["chunking"],
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
        result["reranker"] = (manifest.get("reranker") or {}).get("path")
        result["rerank_depth"] = engine.rerank_depth()
    for mode in modes:
        t0 = time.perf_counter()
        run: dict[str, dict[str, float]] = {}
        batch = 64
        base = mode.removesuffix(RERANKED)
        for start in range(0, len(qids), batch):
            rankings = searcher.rank_many(texts[start : start + batch], mode=base, k=chunk_depth)
            for qid, ranking in zip(qids[start : start + batch], rankings, strict=False):
                if base != mode:
                    ranking = _reranked(reranker, ds.queries[qid], ranking, col, engine.rerank_depth())
                run[qid] = collapse_to_documents(ranking.ids, ranking.scores, docs_of, depth)
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


def _reranked(reranker: Any, query: str, ranking: Ranking, store: Store, depth: int) -> Ranking:
    """``ranking`` with its top ``depth`` chunks reordered by ``reranker``; the rest keep their order below them."""
    top = ranking.ids[:depth]
    rows = store.fetch(top)
    hits = [hit_from_row(rows[c], n, 0.0) for n, c in enumerate(top, 1) if c in rows]
    ids = tuple(h.chunk_id for h in reranker.rerank(query, hits)) + ranking.ids[depth:]
    scores = tuple(float(s) for s in range(len(ids), 0, -1))  # rank order; collapse keeps it
    return Ranking(ids, scores, ranking.ranks)
