"""Span-level retrieval metrics: how much of the gold text the retrieved chunks cover, and how much else they bring.

Definitions follow brandonstarxel/chunking_evaluation (the Chroma "Evaluating Chunking Strategies" report), computed
on **character** ranges (their code works on character offsets although the report says "tokens"). For one query
with gold spans ``G`` and the top-k retrieved chunks ``C`` (ranges in the same document only intersect):

* ``I`` = the union of every non-empty intersection of a chunk with a gold span;
* **recall** = ``|I| / Σ|g|`` (gold spans summed, not unioned);
* **precision** = ``|I| / Σ|c|`` over *all* k retrieved chunks, summed, so overlapping chunks count twice and
  chunks from other documents count in full;
* **IoU** = ``|I| / (Σ|c| + |G not covered|)``;
* **precision Ω** (a property of the chunking, not the retriever) = ``|I*| / |union(C*) ∪ (G not covered)|`` where
  ``C*`` is every chunk of the collection that meets a gold span. As in the reference code a chunk that only
  touches a gold span (shares an end point) belongs to ``C*``.

Each measure is computed per query and averaged over queries (the reference reports the mean and standard deviation).
Two differences from the reference harness, both in how chunks are located rather than in the measures: kenning
knows each chunk's exact ``[start, end)`` in its document, where the reference searches the chunk's text in the
corpus (first occurrence, fuzzy fallback); and kenning's chunkers trim whitespace at chunk edges.

Two rank-aware measures are added for the sweep's summary and for eval sets that name documents instead of spans:
**hit** (1 if a top-k chunk overlaps a gold span by at least one character; for document gold: comes from a gold
document), **span_recall** (the share of gold spans, or gold documents, that a top-k chunk overlaps: recall@k of the
gold passages) and **rr** (1 / rank of the first such chunk, 0 if none).

>>> g = [Span("d", 10, 20)]
>>> m = span_metrics([Span("d", 0, 15), Span("d", 30, 40)], g)
>>> (m.recall, m.precision, round(m.iou, 4), m.hit, m.rr)
(0.5, 0.2, 0.1667, 1.0, 1.0)
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .qa import GoldSpan

__all__ = [
    "Span",
    "SpanQuery",
    "SpanMetrics",
    "SPAN_METRICS",
    "union_ranges",
    "span_metrics",
    "doc_metrics",
    "precision_omega",
    "ChunkIndex",
]

SPAN_METRICS = ("recall", "precision", "iou", "hit", "span_recall", "rr")
"""Per-query measures :func:`span_metrics` returns, in report order."""


@dataclass(frozen=True, slots=True, order=True)
class Span:
    """Characters ``[start, end)`` of document ``doc`` (a kenning ``doc_id`` once resolved)."""

    doc: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class SpanQuery:
    """One question with its gold spans (:class:`~kenning.evaluate.qa.GoldSpan`, the document named by doc id or
    source) or, failing those, its gold documents (doc ids or sources).

    ``group`` names a query set inside the eval set (the Chroma corpus id), so results can be split by it.
    """

    qid: str
    question: str
    spans: tuple[GoldSpan, ...] = ()
    docs: tuple[str, ...] = ()
    group: str = ""


@dataclass(frozen=True, slots=True)
class SpanMetrics:
    recall: float
    precision: float
    iou: float
    hit: float
    span_recall: float
    rr: float

    def as_dict(self) -> dict[str, float]:
        return {m: getattr(self, m) for m in SPAN_METRICS}


# ------------------------------------------------------------------------------------------------- range math


def union_ranges(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, merged ranges; touching ranges merge.

    >>> union_ranges([(5, 8), (0, 2), (2, 3), (7, 9)])
    [(0, 3), (5, 9)]
    """
    out: list[tuple[int, int]] = []
    for s, e in sorted(ranges):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def _length(ranges: Iterable[tuple[int, int]]) -> int:
    return sum(e - s for s, e in ranges)


def _subtract(ranges: list[tuple[int, int]], cut: tuple[int, int]) -> list[tuple[int, int]]:
    """``ranges`` minus the range ``cut`` (pieces of zero length are dropped)."""
    a, b = cut
    out = []
    for s, e in ranges:
        if e <= a or s >= b:
            out.append((s, e))
            continue
        if s < a:
            out.append((s, a))
        if e > b:
            out.append((b, e))
    return out


# ---------------------------------------------------------------------------------------------------- metrics


def span_metrics(retrieved: Sequence[Span], gold: Sequence[Span]) -> SpanMetrics:
    """The Chroma measures (and hit, span_recall, rr) of ``retrieved`` chunks, best first, against ``gold``.

    >>> span_metrics([Span("a", 0, 10)], [Span("a", 0, 10)]).as_dict()
    {'recall': 1.0, 'precision': 1.0, 'iou': 1.0, 'hit': 1.0, 'span_recall': 1.0, 'rr': 1.0}
    """
    inter: list[tuple[str, int, int]] = []
    uncovered: dict[int, list[tuple[int, int]]] = {i: [(g.start, g.end)] for i, g in enumerate(gold)}
    hit_gold: set[int] = set()
    first = 0
    for rank, c in enumerate(retrieved, 1):
        for i, g in enumerate(gold):
            if c.doc != g.doc:
                continue
            s, e = max(c.start, g.start), min(c.end, g.end)
            if s < e:
                inter.append((g.doc, s, e))
                uncovered[i] = _subtract(uncovered[i], (s, e))
                hit_gold.add(i)
                first = first or rank
    covered = 0
    for doc in {d for d, _, _ in inter}:
        covered += _length(union_ranges((s, e) for d, s, e in inter if d == doc))
    gold_len = sum(g.end - g.start for g in gold)
    chunk_len = sum(c.end - c.start for c in retrieved)
    missing = sum(_length(r) for r in uncovered.values())
    return SpanMetrics(
        recall=covered / gold_len if gold_len else 0.0,
        precision=covered / chunk_len if chunk_len else 0.0,
        iou=covered / (chunk_len + missing) if chunk_len + missing else 0.0,
        hit=1.0 if hit_gold else 0.0,
        span_recall=len(hit_gold) / len(gold) if gold else 0.0,
        rr=1.0 / first if first else 0.0,
    )


def doc_metrics(retrieved_docs: Sequence[str], gold_docs: Sequence[str]) -> SpanMetrics:
    """For gold named by document only: hit, span_recall (of the gold documents) and rr; the character measures
    (recall, precision, IoU) are undefined and reported as 0."""
    gold = set(gold_docs)
    first = next((r for r, d in enumerate(retrieved_docs, 1) if d in gold), 0)
    found = gold.intersection(retrieved_docs)
    return SpanMetrics(
        recall=0.0,
        precision=0.0,
        iou=0.0,
        hit=1.0 if found else 0.0,
        span_recall=len(found) / len(gold) if gold else 0.0,
        rr=1.0 / first if first else 0.0,
    )


class ChunkIndex:
    """Every chunk's range by document, sorted by start, for :func:`precision_omega`."""

    def __init__(self, chunks: Iterable[Span]) -> None:
        by_doc: dict[str, list[tuple[int, int]]] = {}
        for c in chunks:
            by_doc.setdefault(c.doc, []).append((c.start, c.end))
        self._starts: dict[str, list[int]] = {}
        self._ranges: dict[str, list[tuple[int, int]]] = {}
        self._max_len: dict[str, int] = {}
        for doc, ranges in by_doc.items():
            ranges.sort()
            self._ranges[doc] = ranges
            self._starts[doc] = [s for s, _ in ranges]
            self._max_len[doc] = max(e - s for s, e in ranges)

    def meeting(self, doc: str, start: int, end: int) -> list[tuple[int, int]]:
        """Chunks of ``doc`` that overlap or touch ``[start, end]``."""
        starts = self._starts.get(doc)
        if not starts:
            return []
        ranges = self._ranges[doc]
        lo = bisect.bisect_left(starts, start - self._max_len[doc])
        hi = bisect.bisect_right(starts, end)
        return [(s, e) for s, e in ranges[lo:hi] if max(s, start) <= min(e, end)]


def precision_omega(index: ChunkIndex, gold: Sequence[Span]) -> float:
    """Chroma's precision Ω: the precision of retrieving exactly the chunks that meet a gold span."""
    if not gold:
        return 0.0
    inter: dict[str, list[tuple[int, int]]] = {}
    chunks: dict[str, list[tuple[int, int]]] = {}
    uncovered: list[tuple[str, int, int]] = []
    for g in gold:
        rest = [(g.start, g.end)]
        for s, e in index.meeting(g.doc, g.start, g.end):
            a, b = max(s, g.start), min(e, g.end)
            inter.setdefault(g.doc, []).append((a, b))
            chunks.setdefault(g.doc, []).append((s, e))
            rest = _subtract(rest, (a, b))
        uncovered.extend((g.doc, s, e) for s, e in rest)
    numerator = sum(_length(union_ranges(r)) for r in inter.values())
    if not numerator:
        return 0.0
    denominator = 0
    for doc in set(chunks) | {d for d, _, _ in uncovered}:
        denominator += _length(union_ranges(chunks.get(doc, []) + [(s, e) for d, s, e in uncovered if d == doc]))
    return numerator / denominator
