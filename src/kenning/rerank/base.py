"""The one interface every reranker implements."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ..types import Hit, Usage

__all__ = ["Reranker", "MeteredReranker", "Reranked", "rerank_with_usage", "reordered"]


@runtime_checkable
class Reranker(Protocol):
    """Returns ``hits`` reordered best first (at most ``k`` when given), with ``score`` set to the reranker's score
    and ``ranks["first_stage"]`` to the rank it had before; the retrievers' ranks stay in ``ranks``."""

    def rerank(self, query: str, hits: list[Hit], *, k: int | None = None) -> list[Hit]: ...


@dataclass(frozen=True, slots=True)
class Reranked:
    """One rerank call: the hits in their new order, the tokens it spent and notes on what degraded."""

    hits: tuple[Hit, ...]
    usage: Usage = Usage()
    notes: tuple[str, ...] = ()


@runtime_checkable
class MeteredReranker(Protocol):
    """A reranker that spends tokens (an LLM) and says, with each result, what that call spent."""

    def rerank_with_usage(self, query: str, hits: list[Hit], *, k: int | None = None) -> Reranked: ...


def rerank_with_usage(reranker: Reranker, query: str, hits: list[Hit], *, k: int | None = None) -> Reranked:
    """``reranker.rerank`` with what the call spent: a :class:`MeteredReranker` reports it, any other spent nothing.

    Nothing is read back from the reranker afterwards, so one reranker may serve many threads at once.
    """
    if isinstance(reranker, MeteredReranker):
        return reranker.rerank_with_usage(query, hits, k=k)
    return Reranked(tuple(reranker.rerank(query, hits, k=k)))


def reordered(hits: list[Hit], order: Sequence[int], scores: Sequence[float], *, k: int | None = None) -> list[Hit]:
    """``hits`` in ``order`` (indexes into ``hits``, best first; the first ``k`` when given), as the Protocol says:
    each with its reranker score from ``scores`` (by index), its new rank, and ``ranks["first_stage"]``."""
    if k is not None:
        order = order[:k]
    return [
        dataclasses.replace(
            hits[i], rank=new, score=float(scores[i]), ranks={**hits[i].ranks, "first_stage": hits[i].rank}
        )
        for new, i in enumerate(order, start=1)
    ]
