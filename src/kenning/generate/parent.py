"""Parent-section expansion: the generator reads the section around each retrieved chunk, not just the chunk.

Small chunks retrieve precisely but read poorly: the sentence that answers may sit just before or after the chunk
that matched. With ``answer.parent = "section"``, each packed source is widened, after packing and before drafting,
to the smallest heading-bounded part of its document that holds the chunk (a document without headings: the whole
document), cut to ``answer.parent_tokens`` tokens centred on the chunk. The chunk is always kept whole and the window
grows outward one sentence (or heading, list item) at a time, on the side that has had less so far.

An expanded source is still a :class:`~kenning.types.Hit` with the chunk's id, and its ``text`` is exactly
``document.text[start:end]`` for its new offsets. Citations are made from the chunk itself (:func:`chunk_sources`),
so an answer cites the chunk and its exact offsets; only what the generator (and the verifier) read is wider.

>>> from kenning.types import Hit, Section
>>> text = "# A\\nOne. Two. Three. Four.\\n# B\\nFive."
>>> hit = Hit(1, 1.0, "d::0", "d", "Two.", "x.md", "markdown", "", ("A",), 9, 13)
>>> [h.text for h in expand_to_parents([hit], {"d": (text, (Section(1, "A", 0), Section(1, "B", 27)))})]
['# A\\nOne. Two. Three. Four.']
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from ..chunking import get_tokenizer
from ..chunking.split import sentence_spans, strip_span
from ..types import Hit, Section

__all__ = ["expand_to_parents", "parent_span", "chunk_sources"]

DocText = tuple[str, Sequence[Section]]
_CHARS_PER_TOKEN = 12  # generous: how far to look for sentences before counting tokens (a window never needs more)


def expand_to_parents(
    hits: Sequence[Hit],
    documents: Mapping[str, DocText],
    *,
    budget_tokens: int = 600,
    tokenizer: str = "cl100k_base",
) -> list[Hit]:
    """``hits`` widened to their parent sections (see the module docstring), in the same order.

    ``documents`` maps a doc_id to its ``(text, sections)``. A hit whose document is missing, or whose text is no
    longer the slice its offsets name, is passed through unchanged. A chunk at or over the budget stays as it is.
    """
    tok = get_tokenizer(tokenizer)
    out = []
    for hit in hits:
        doc = documents.get(hit.doc_id)
        if doc is None or doc[0][hit.start : hit.end] != hit.text:
            out.append(hit)
            continue
        text, sections = doc
        start, end = parent_span(text, sections, hit.start, hit.end, budget_tokens=budget_tokens, count=tok.count)
        if (start, end) == (hit.start, hit.end):
            out.append(hit)
        else:
            out.append(dataclasses.replace(hit, text=text[start:end], start=start, end=end))
    return out


def parent_span(
    text: str,
    sections: Sequence[Section],
    start: int,
    end: int,
    *,
    budget_tokens: int,
    count,  # noqa: ANN001 - Callable[[str], int], a tokenizer's count
) -> tuple[int, int]:
    """The ``(start, end)`` of the window around ``text[start:end]``: within its section, at most ``budget_tokens``."""
    lo, hi = _section_of(len(text), sections, start, end)
    used = count(text[start:end])
    if used >= budget_tokens:
        return start, end
    if count(text[lo:hi]) <= budget_tokens:
        return strip_span(text, lo, hi)
    reach = budget_tokens * _CHARS_PER_TOKEN
    left = sentence_spans(text, max(lo, start - reach), start)[::-1]  # nearest first
    right = sentence_spans(text, end, min(hi, end + reach))
    grown = {"left": 0, "right": 0}
    li = ri = 0
    while li < len(left) or ri < len(right):
        # The side that has grown less goes next, so the chunk stays near the middle of its window.
        side = "left" if ri >= len(right) or (li < len(left) and grown["left"] <= grown["right"]) else "right"
        a, b = left[li] if side == "left" else right[ri]
        cost = count(text[a:b])
        if used + cost > budget_tokens:
            if side == "left":
                li = len(left)  # this side is full; the other may still take a shorter sentence
            else:
                ri = len(right)
            continue
        used += cost
        grown[side] += cost
        if side == "left":
            start, li = a, li + 1
        else:
            end, ri = b, ri + 1
    return strip_span(text, start, end)


def chunk_sources(given: Sequence[Hit], chunks: Sequence[Hit]) -> list[Hit]:
    """``given`` (expanded, or passages cut from expanded sources) mapped back to the chunks they came from.

    Citations are built from these, so an answer cites the retrieved chunk and its exact offsets whatever the
    generator read. A source with no chunk of the same id in ``chunks`` is returned as it is.
    """
    by_id = {h.chunk_id: h for h in chunks}
    return [by_id.get(h.chunk_id, h) for h in given]


def _section_of(text_len: int, sections: Sequence[Section], start: int, end: int) -> tuple[int, int]:
    """The smallest heading-bounded span holding ``[start, end)``: a section with its subsections, or the text
    before the first heading; the whole text when there are no headings or the chunk crosses top-level sections."""
    ordered = sorted(sections, key=lambda s: s.start)
    best = (0, text_len)
    if ordered and end <= ordered[0].start:
        return 0, ordered[0].start
    for i, sec in enumerate(ordered):
        if sec.start > start:
            break
        # A section runs to the next heading of the same or a higher level.
        stop = next((s.start for s in ordered[i + 1 :] if s.level <= sec.level), text_len)
        if end <= stop and stop - sec.start <= best[1] - best[0]:
            best = (sec.start, stop)
    return best
