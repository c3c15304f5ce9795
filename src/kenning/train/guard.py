"""The guard: score retrieval on the held-out pairs, before and after, and adopt a model only if it wins.

Each validation pair is a query whose one relevant chunk is the chunk it was made from. A query made from a chunk's
own sentence (or title) would be found by its copy, which no model can improve on; so the guard searches a
*held-out index* (:class:`HeldOut`): the published chunks with each validation chunk replaced by the pair's
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
from ..index.catalog import ChunkRow
from ..index.dense import DenseIndex
from ..index.lexical import LexicalIndex
from ..providers.embedders import Embedder
from ..rerank import Reranker
from ..retrieve import Filters, Searcher, hit_from_row
from ..store.base import Manifest, Scored, Store, StoreCatalog
from .pairs import Pair

__all__ = [
    "Decision",
    "HeldOut",
    "HeldOutStore",
    "held_out",
    "evaluate_pairs",
    "decide",
    "summarize",
    "METRICS",
    "RERANK",
]

METRICS = ("ndcg@10", "recall@10", "mrr@10")
RERANK = "hybrid+rerank"
_HARDEST_FIRST = {"llm": 0, "cloze": 1, "heading": 2, "title": 3}  # titles are easy: their words head the chunk


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether to adopt, why, and the paired comparisons the decision rests on."""

    adopt: bool
    reason: str
    comparisons: dict[str, dict[str, Any]] = field(default_factory=dict)


class HeldOutStore:
    """What a :class:`~kenning.retrieve.Searcher` reads of a :class:`~kenning.store.Store`, in memory: another
    store's published chunks, in its order, with some chunks' texts and vectors replaced, searched by BM25 with the
    same settings and exactly (no ANN) by vector. Rows come from that store, each replaced chunk's text swapped in."""

    def __init__(self, base: Store, ids: Sequence[str], texts: Sequence[str], vectors: np.ndarray, replaced: dict):
        self.base = base
        self.ids = list(ids)
        self.replaced: dict[str, str] = dict(replaced)
        self.lexical = LexicalIndex.build(list(texts), base.info.lexical)
        self.dense = DenseIndex(vectors)
        self._position = {c: i for i, c in enumerate(self.ids)}

    @property
    def name(self) -> str:
        return self.base.name

    @property
    def info(self) -> Manifest:
        return self.base.info

    @property
    def catalog(self) -> StoreCatalog:
        return self.base.catalog

    def lexical_search(self, query: str, k: int, filters: Filters | None = None) -> Scored:
        return self._scored(*self.lexical.search(query, k, self._mask(filters)))

    def dense_search(self, vector: np.ndarray, k: int, filters: Filters | None = None) -> Scored:
        return self._scored(*self.dense.search(vector, k, self._mask(filters)))

    def fetch(self, chunk_ids: Sequence[str]) -> dict[str, ChunkRow]:
        rows = self.base.fetch([c for c in chunk_ids if c in self._position])
        return {c: dataclasses.replace(r, text=self.replaced[c]) if c in self.replaced else r for c, r in rows.items()}

    def tokens(self, text: str) -> list[str]:
        return self.lexical.tokens(text)

    def term_weights(self, query: str) -> dict[str, float]:
        return self.lexical.idf(query)

    def _mask(self, filters: Filters | None) -> np.ndarray | None:
        if not filters:
            return None
        allowed = set(self.base.chunk_ids(filters))
        return np.fromiter((c in allowed for c in self.ids), dtype=bool, count=len(self.ids))

    def _scored(self, positions: np.ndarray, scores: np.ndarray) -> Scored:
        return Scored(tuple(self.ids[p] for p in positions.tolist()), tuple(float(x) for x in scores.tolist()))


@dataclass(frozen=True, slots=True)
class HeldOut:
    """A store whose validation chunks hold their pairs' positive texts (see the module doc)."""

    store: HeldOutStore
    pairs: tuple[Pair, ...]  # one per chunk
    texts: dict[str, str]  # chunk id → the text that stands for it


def held_out(
    store: Store,
    pairs: Sequence[Pair],
    embedder: Embedder,
    *,
    vectors: Callable[[Sequence[str]], np.ndarray] | None = None,
) -> HeldOut:
    """The held-out index for ``pairs`` with ``embedder``'s vectors (``vectors``: the vectors of chunk ids under
    that embedder, for the chunks not replaced; default the store's own)."""
    ids = store.chunk_ids()
    if not ids:
        raise InputError(f"collection {store.name!r} has no published chunks; index documents first")
    by_chunk: dict[str, Pair] = {}
    for p in sorted(pairs, key=lambda p: _HARDEST_FIRST.get(p.source, 0)):  # one query per chunk, the hardest kind
        by_chunk.setdefault(p.chunk_id, p)
    position = {c: i for i, c in enumerate(ids)}
    replaced = {c: p.positive for c, p in by_chunk.items() if c in position}
    kept = [p for c, p in by_chunk.items() if c in position]
    texts = dict(store.catalog.chunk_texts())
    corpus = [replaced.get(c, texts.get(c, "")) for c in ids]
    matrix = np.array((vectors or store.vectors)(ids), dtype=np.float32, copy=True)
    if replaced:
        matrix[[position[c] for c in replaced]] = embedder.embed(list(replaced.values()))
    return HeldOut(HeldOutStore(store, ids, corpus, matrix, replaced), tuple(kept), replaced)


def evaluate_pairs(
    searcher: Searcher,
    held: HeldOut,
    *,
    modes: Sequence[str] = ("bm25", "dense", "hybrid"),
    reranker: Reranker | None = None,
    rerank_depth: int = 30,
    k: int = 10,
    progress: Callable[[str, int, int | None], None] | None = None,
) -> dict[str, RunScores]:
    """Per-query scores of each mode (``hybrid+rerank`` needs ``reranker``) on the held-out index, searched with
    ``searcher``'s embedder and settings."""
    held_searcher = Searcher(held.store, searcher.embedder, searcher.config)  # type: ignore[arg-type]
    pairs = held.pairs
    qrels = {f"v{i}": {p.chunk_id: 1} for i, p in enumerate(pairs)}
    queries = [p.query for p in pairs]
    out: dict[str, RunScores] = {}
    for mode in modes:
        base = "hybrid" if mode == RERANK else mode
        depth = max(k, rerank_depth) if mode == RERANK else k
        run: dict[str, dict[str, float]] = {}
        for start in range(0, len(queries), 64):
            rankings = held_searcher.rank_many(queries[start : start + 64], mode=base, k=depth)
            for i, ranking in enumerate(rankings, start=start):
                if mode == RERANK and reranker is not None and ranking.ids:
                    rows = held.store.fetch(ranking.ids)
                    hits = [hit_from_row(rows[c], n, 0.0) for n, c in enumerate(ranking.ids, 1) if c in rows]
                    ranked = [h.chunk_id for h in reranker.rerank(queries[i], hits, k=k)]
                else:
                    ranked = list(ranking.ids[:k])
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
