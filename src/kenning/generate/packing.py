"""Context packing: choose which retrieved chunks fit the prompt's token budget, and in what order.

Models attend best to the start and the end of a long context and worst to its middle ("lost in the middle",
Liu et al., 2023), so the best chunk goes first, the second best last, and the weakest in the middle.

>>> lost_in_the_middle_order([1, 2, 3, 4, 5])
[1, 3, 5, 4, 2]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from ..chunking import get_tokenizer
from ..types import Citation, Hit

__all__ = ["pack", "lost_in_the_middle_order", "citations_for"]

T = TypeVar("T")


def lost_in_the_middle_order(items: Sequence[T]) -> list[T]:
    """Best-first ``items`` rearranged so ranks 1, 3, 5… lead and …6, 4, 2 close."""
    head = list(items[0::2])
    tail = list(items[1::2])
    return head + tail[::-1]


def pack(hits: Sequence[Hit], *, budget_tokens: int = 3000, tokenizer: str = "cl100k_base") -> list[Hit]:
    """The best hits that fit ``budget_tokens`` together, in lost-in-the-middle order.

    Hits are taken best first; one that would overflow the budget is skipped (a smaller one after it may still
    fit), so the most relevant evidence is never dropped for a less relevant one.
    """
    tok = get_tokenizer(tokenizer)
    chosen: list[Hit] = []
    used = 0
    for hit in hits:
        n = tok.count(hit.text) + 12  # the "[n] title › heading" line around each source
        if used + n > budget_tokens:
            continue
        chosen.append(hit)
        used += n
    return lost_in_the_middle_order(chosen)


def citations_for(packed: Sequence[Hit], cited: set[int] | None = None) -> tuple[Citation, ...]:
    """Numbered citations (1-based, in prompt order) for the packed sources; ``cited`` marks the ones used."""
    return tuple(
        Citation(
            number=i,
            chunk_id=h.chunk_id,
            source=h.source,
            title=h.title,
            heading_path=h.heading_path,
            text=h.text,
            cited=cited is None or i in cited,
            rank=h.rank,
            doc_id=h.doc_id,
            start=h.start,
            end=h.end,
        )
        for i, h in enumerate(packed, start=1)
    )
