"""The guard: score retrieval on the held-out pairs, before and after, and adopt a model only if it wins.

Each validation pair is a query whose one relevant chunk is the chunk it was made from. A query made from a chunk's
own sentence (or title) would be found by its copy, which no model can improve on; so the guard searches a
*held-out index* (:class:`HeldOut`): the published snapshot with each validation chunk replaced by the pair's
positive text (the chunk without the query's sentence or title), in BM25 and in the vectors of the embedder under
test. Every mode is scored per query (nDCG@10, recall@10, MRR@10) with kenning's metrics, and a candidate is compared with what it would replace by
a paired randomization test on the same queries (:func:`kenning.evaluate.stats.paired_test`). "Wins" means a higher
mean with p < ``alpha``; anything else keeps the current model, and the decision says why.

>>> Decision(True, "better").adopt
True
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InputError
from ..evaluate.metrics import RunScores, evaluate_run
from ..evaluate.stats import bootstrap_ci, paired_test
from ..index.collection import Collection
from ..index.dense import DenseIndex
from ..index.lexical import LexicalIndex
from ..index.snapshot import Snapshot
from ..providers.embedders import Embedder
from ..rerank import Reranker
from ..retrieve import Searcher, hit_from_row
from .pairs import Pair

__all__ = ["Decision", "HeldOut", "held_out", "evaluate_pairs", "decide", "summarize", "METRICS", "RERANK"]

METRICS = ("ndcg@10", "recall@10", "mrr@10")
RERANK = "hybrid+rerank"
_HARDEST_FIRST = {"llm": 0, "cloze": 1, "heading": 2, "title": 3}  # titles are easy: their words head the chunk


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether to adopt, why, and the paired comparisons the decision rests on."""

    adopt: bool
    reason: str
    comparisons: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class HeldOut:
    """A snapshot whose validation chunks hold their pairs' positive texts (see the module doc)."""

    snapshot: Snapshot
    pairs: tuple[Pair, ...]  # one per chunk
    texts: dict[int, str]  # row id → the text that stands for it


def held_out(
    collection: Collection, pairs: Sequence[Pair], embedder: Embedder, *, vectors: Snapshot | None = None
) -> HeldOut:
    """The held-out index for ``pairs`` with ``embedder``'s vectors (``vectors``: a snapshot holding them for the
    other chunks; default the published one)."""
    snap = vectors or collection.snapshot()
    if snap is None:
        raise InputError(f"collection {collection.name!r} has no published snapshot; index documents first")
    by_chunk: dict[str, Pair] = {}
    for p in sorted(pairs, key=lambda p: _HARDEST_FIRST.get(p.source, 0)):  # one query per chunk, the hardest kind
        by_chunk.setdefault(p.chunk_id, p)
    rows = collection.catalog.chunk_rows(list(by_chunk), by="chunk_id")
    position_of = {int(r): i for i, r in enumerate(snap.rowids.tolist())}
    texts = dict(collection.catalog.chunk_texts())
    replaced: dict[int, str] = {}
    kept: list[Pair] = []
    for chunk_id, pair in by_chunk.items():
        row = rows.get(chunk_id)
        if row is not None and row.id in position_of:
            replaced[row.id] = pair.positive
            kept.append(pair)
    corpus = [replaced.get(int(r), texts.get(int(r), "")) for r in snap.rowids.tolist()]
    matrix = np.array(snap.dense.vectors, dtype=np.float32, copy=True)
    ids = list(replaced)
    if ids:
        matrix[[position_of[r] for r in ids]] = embedder.embed([replaced[r] for r in ids])
    lexical = LexicalIndex.build(corpus, collection.lexical)
    return HeldOut(dataclasses.replace(snap, lexical=lexical, dense=DenseIndex(matrix)), tuple(kept), replaced)


def evaluate_pairs(
    collection: Collection,
    searcher: Searcher,
    held: HeldOut,
    *,
    modes: Sequence[str] = ("bm25", "dense", "hybrid"),
    reranker: Reranker | None = None,
    rerank_depth: int = 30,
    k: int = 10,
    progress: Callable[[str, int, int | None], None] | None = None,
) -> dict[str, RunScores]:
    """Per-query scores of each mode (``hybrid+rerank`` needs ``reranker``) on the held-out index."""
    snap = held.snapshot
    pairs = held.pairs
    qrels = {f"v{i}": {p.chunk_id: 1} for i, p in enumerate(pairs)}
    queries = [p.query for p in pairs]
    chunk_of_row = {row.id: row.chunk_id for row in collection.catalog.iter_chunks()}
    out: dict[str, RunScores] = {}
    for mode in modes:
        base = "hybrid" if mode == RERANK else mode
        depth = max(k, rerank_depth) if mode == RERANK else k
        run: dict[str, dict[str, float]] = {}
        for start in range(0, len(queries), 64):
            rankings = searcher.rank_many(queries[start : start + 64], mode=base, k=depth, snapshot=snap)
            for i, ranking in enumerate(rankings, start=start):
                rowids = snap.rowids[ranking.positions].tolist() if snap is not None else []
                if mode == RERANK and reranker is not None and rowids:
                    rows = collection.catalog.chunk_rows(rowids)
                    hits = [
                        dataclasses.replace(hit_from_row(rows[r], n, 0.0), text=held.texts.get(r, rows[r].text))
                        for n, r in enumerate(rowids, 1)
                        if r in rows
                    ]
                    ranked = [h.chunk_id for h in reranker.rerank(queries[i], hits, k=k)]
                else:
                    ranked = [chunk_of_row[r] for r in rowids[:k] if r in chunk_of_row]
                run[f"v{i}"] = {cid: 1.0 / n for n, cid in enumerate(ranked, 1)}
            if progress:
                progress(f"scoring {mode}", min(start + 64, len(queries)), len(queries))
        out[mode] = evaluate_run(run, qrels, metrics=METRICS)
    return out


def summarize(scores: dict[str, RunScores], *, seed: int = 0) -> dict[str, Any]:
    """Mean and 95% bootstrap interval of each metric, per mode."""
    out: dict[str, Any] = {}
    for mode, s in scores.items():
        out[mode] = {}
        for metric in METRICS:
            ci = bootstrap_ci(s, metric, resamples=2000, seed=seed)
            out[mode][metric] = {"mean": round(ci.mean, 4), "low": round(ci.low, 4), "high": round(ci.high, 4)}
    return out


def compare(before: RunScores, after: RunScores, metric: str = "ndcg@10", *, seed: int = 0) -> dict[str, Any]:
    c = paired_test(before, after, metric, seed=seed)
    return {
        "metric": metric,
        "before": round(c.mean_baseline, 4),
        "after": round(c.mean_candidate, 4),
        "diff": round(c.diff, 4),
        "low": round(c.low, 4),
        "high": round(c.high, 4),
        "p_value": round(c.p_value, 5),
        "better": c.better,
        "worse": c.worse,
        "tied": c.tied,
        "n": c.n,
    }


def decide(
    before: dict[str, RunScores],
    after: dict[str, RunScores],
    *,
    primary: Sequence[str],
    guarded: Sequence[str] = (),
    alpha: float = 0.05,
    metric: str = "ndcg@10",
    seed: int = 0,
    what: str = "model",
) -> Decision:
    """Adopt when some ``primary`` mode is significantly better and no ``guarded`` mode is significantly worse."""
    comparisons = {m: compare(before[m], after[m], metric, seed=seed) for m in (*primary, *guarded) if m in after}
    wins = [m for m in primary if m in comparisons and comparisons[m]["diff"] > 0 and comparisons[m]["p_value"] < alpha]
    losses = [m for m, c in comparisons.items() if c["diff"] < 0 and c["p_value"] < alpha]
    if losses:
        worst = ", ".join(f"{m} {comparisons[m]['diff']:+.3f} (p={comparisons[m]['p_value']:.3g})" for m in losses)
        return Decision(False, f"the new {what} is worse on the held-out queries: {worst}", comparisons)
    if not wins:
        shown = ", ".join(
            f"{m} {comparisons[m]['diff']:+.3f} (p={comparisons[m]['p_value']:.3g})"
            for m in primary
            if m in comparisons
        )
        return Decision(False, f"the new {what} is not significantly better (p < {alpha}): {shown}", comparisons)
    shown = ", ".join(f"{m} {comparisons[m]['diff']:+.3f} (p={comparisons[m]['p_value']:.3g})" for m in wins)
    return Decision(True, f"the new {what} wins on the held-out queries: {shown}", comparisons)
