"""The one interface every reranker implements."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ..types import Hit

__all__ = ["Reranker"]


@runtime_checkable
class Reranker(Protocol):
    """Returns ``hits`` reordered best first (at most ``k`` when given), with ``score`` set to the reranker's score
    and ``ranks["first_stage"]`` to the rank it had before; the retrievers' ranks stay in ``ranks``."""

    def rerank(self, query: str, hits: list[Hit], *, k: int | None = None) -> list[Hit]: ...
