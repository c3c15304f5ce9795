"""The one interface every reranker implements."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from ..types import Hit

__all__ = ["Reranker", "reordered"]


@runtime_checkable
class Reranker(Protocol):
    """Returns ``hits`` reordered best first (at most ``k`` when given), with ``score`` set to the reranker's score
    and ``ranks["first_stage"]`` to the rank it had before; the retrievers' ranks stay in ``ranks``."""

    def rerank(self, query: str, hits: list[Hit], *, k: int | None = None) -> list[Hit]: ...


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
