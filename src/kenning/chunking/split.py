"""Splitting one span of text into token-bounded pieces: fixed windows and recursive separators.

Every piece is a ``(start, end)`` pair of character offsets into the text, so a chunk is always an exact slice of
its document.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from .tokens import TokenizedText

__all__ = ["fixed_windows", "recursive_spans", "merge_spans", "sentence_ends", "sentence_spans", "strip_span"]

# A sentence ends at . ! ? (optionally followed by closing quotes/brackets) before whitespace and a likely sentence
# start. Common abbreviations do not end sentences.
_SENTENCE_END = re.compile(r"""[.!?]["'”’)\]]*(?=\s+["'“‘(\[]?[A-Z0-9])""")
_ABBREVIATIONS = frozenset(
    "e.g i.e etc al fig figs eq eqs vs cf approx ca dr mr mrs ms prof st no vol pp ref refs sec resp".split()
)
_WORD_BEFORE = re.compile(r"([A-Za-z][A-Za-z.]*)$")


def sentence_ends(text: str, start: int, end: int) -> list[int]:
    """Offsets just after each sentence-ending punctuation inside ``text[start:end]``."""
    out = []
    for m in _SENTENCE_END.finditer(text, start, end):
        w = _WORD_BEFORE.search(text, max(start, m.start() - 12), m.start())
        if w and w.group(1).lower().rstrip(".") in _ABBREVIATIONS:
            continue
        if w and len(w.group(1)) == 1 and w.group(1).isupper():  # an initial, as in "J. Smith"
            continue
        out.append(m.end())
    return out


_BLANK_LINE = re.compile(r"\n[ \t]*\n\s*")
_NEWLINE = re.compile(r"\n")
_SPACE = re.compile(r"\s+")


def _cuts(text: str, start: int, end: int, level: int) -> list[int]:
    """Cut points strictly inside ``(start, end)`` for one separator level: blank lines, lines, sentences, words.

    A cut is placed after the separator, so the separator stays with the piece before it.
    """
    if level == 2:
        ends = sentence_ends(text, start, end)
        cuts = []
        for p in ends:
            while p < end and text[p].isspace():
                p += 1
            cuts.append(p)
    else:
        pattern = (_BLANK_LINE, _NEWLINE, None, _SPACE)[level]
        cuts = [m.end() for m in pattern.finditer(text, start, end)]
    return [c for c in cuts if start < c < end]


# A line break is a sentence break only around block starts: after a Markdown heading line and before a heading,
# list item, quote or table row. Hard-wrapped prose lines stay one sentence.
_BLOCK_START = re.compile(r"[ \t]*(#{1,6}\s|[-*+•]\s|\d{1,3}[.)]\s|>|\|)")
_HEADING_LINE = re.compile(r"[ \t]*#{1,6}\s")


def sentence_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """``(start, end)`` pairs that tile ``text[start:end]``, one per sentence, heading, list item or paragraph.

    Each cut sits after the whitespace that follows a sentence, so the pieces cover the text exactly.

    >>> t = "# Setup\\nInstall it. Then run it.\\n- one\\n- two\\n\\nDone."
    >>> [t[s:e] for s, e in sentence_spans(t, 0, len(t))]
    ['# Setup\\n', 'Install it. ', 'Then run it.\\n', '- one\\n', '- two\\n\\n', 'Done.']
    """
    cuts = {m.end() for m in _BLANK_LINE.finditer(text, start, end)}
    for p in sentence_ends(text, start, end):
        while p < end and text[p].isspace():
            p += 1
        cuts.add(p)
    line_start = start
    while True:
        nl = text.find("\n", line_start, end)
        if nl < 0:
            break
        nxt = nl + 1
        if _HEADING_LINE.match(text, line_start, nl + 1) or _BLOCK_START.match(text, nxt, end):
            cuts.add(nxt)
        line_start = nxt
    bounds = [start, *sorted(c for c in cuts if start < c < end), end]
    out: list[tuple[int, int]] = []
    for a, b in zip(bounds, bounds[1:], strict=False):
        if out and not text[a:b].strip():
            out[-1] = (out[-1][0], b)  # whitespace alone is no sentence: it stays with the one before
        elif out and not text[out[-1][0] : out[-1][1]].strip():
            out[-1] = (out[-1][0], b)  # leading whitespace joins the first real sentence
        else:
            out.append((a, b))
    return out if any(text[a:b].strip() for a, b in out) else []


_LEVELS = 4


def fixed_windows(tt: TokenizedText, start: int, end: int, size: int, overlap: int) -> list[tuple[int, int]]:
    """Windows of ``size`` tokens, each starting ``size - overlap`` tokens after the previous one."""
    spans = []
    s = start
    while s < end:
        e = min(end, tt.advance(s, size))
        if e <= s:
            e = end
        spans.append((s, e))
        if e >= end:
            break
        nxt = tt.advance(s, size - overlap)
        s = nxt if nxt > s else e
    return spans


def recursive_spans(tt: TokenizedText, start: int, end: int, size: int) -> list[tuple[int, int]]:
    """Pieces that tile ``[start, end)``, each at most ``size`` tokens where the separators allow.

    Splits at blank lines first, then line breaks, then sentence ends, then whitespace; only a single word longer
    than ``size`` tokens is cut at token boundaries.
    """
    out: list[tuple[int, int]] = []
    stack: list[tuple[int, int, int]] = [(start, end, 0)]
    while stack:
        s, e, level = stack.pop()
        if tt.count(s, e) <= size:
            out.append((s, e))
            continue
        if level >= _LEVELS:
            out.extend(fixed_windows(tt, s, e, size, 0))
            continue
        cuts = _cuts(tt.text, s, e, level)
        if not cuts:
            stack.append((s, e, level + 1))
            continue
        bounds = [s, *cuts, e]
        # Push in reverse so pieces come out in document order.
        for a, b in reversed(list(zip(bounds, bounds[1:], strict=False))):
            if b > a:
                stack.append((a, b, level + 1))
    return out


def merge_spans(tt: TokenizedText, pieces: list[tuple[int, int]], size: int, overlap: int) -> Iterator[tuple[int, int]]:
    """Greedily join consecutive pieces into chunks of at most ``size`` tokens.

    Each new chunk starts with the last pieces of the previous chunk that fit in ``overlap`` tokens, so neighbours
    share context without ever cutting a sentence that fits.
    """
    counts = [tt.count(a, b) for a, b in pieces]
    i = 0
    n = len(pieces)
    while i < n:
        j = i
        total = 0
        while j < n and (j == i or total + counts[j] <= size):
            total += counts[j]
            j += 1
        yield pieces[i][0], pieces[j - 1][1]
        if j >= n:
            break
        # Step back over trailing pieces that fit in the overlap budget, but always move forward.
        k = j
        back = 0
        while k - 1 > i and back + counts[k - 1] <= overlap:
            back += counts[k - 1]
            k -= 1
        i = k


def strip_span(text: str, s: int, e: int) -> tuple[int, int]:
    """``(s, e)`` narrowed past the white space at both ends of ``text[s:e]``.

    >>> strip_span("  a b \\n", 0, 7)
    (2, 5)
    """
    while s < e and text[s].isspace():
        s += 1
    while e > s and text[e - 1].isspace():
        e -= 1
    return s, e
