"""Answers → atomic claims: one claim per sentence (clauses joined by ';' are split too), citations pulled out.

A claim keeps where it sits in the answer (``start``/``end``) and the source numbers it cited, so a verdict can be
shown next to the sentence it judges. Sentences that assert nothing (questions, "not in the sources") are left out.

>>> [c.text for c in split_claims("VACUUM FULL locks the table [1]. It also rewrites it; plain VACUUM does not [2].")]
['VACUUM FULL locks the table.', 'It also rewrites it.', 'plain VACUUM does not.']
>>> split_claims("VACUUM FULL locks the table [1].")[0].citations
(1,)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..chunking.split import sentence_ends
from ..generate.citations import CITATION, NOT_IN_SOURCES, cited_numbers

__all__ = ["Claim", "Source", "split_claims", "claims_or_whole", "strip_attribution"]

_LIST_MARK = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+")
# a line that only names what follows (a Markdown heading, a bold line) asserts nothing; nor does a bold label before
# a claim ("**Replication**: a standby replays WAL [1]." claims only what follows the label)
_HEADING_LINE = re.compile(r"^\s*(?:#{1,6}\s.*|\*\*[^*\n]+\*\*\s*:?)\s*$")
_LABEL = re.compile(r"^\*\*[^*\n]{1,120}\*\*\s*(?::|—|–|-)\s*")
_SOURCE_WORD = r"(?:the\s+)?(?:(?:first|second|third|fourth|fifth|sixth|provided|given|above|cited)\s+)?(?:sources?|documents?|passages?|context)(?:\s*\(?\d+\)?)?"
# "According to the sources, X." / "X, as stated in the first source." / "The sources state that X.": the claim is X
_ATTRIBUTION = (
    re.compile(rf"^\s*(?:according to|as per|based on)\s+{_SOURCE_WORD}\s*,?\s*", re.I),
    re.compile(rf"^\s*{_SOURCE_WORD}\s+(?:states?|says?|mentions?|indicates?|notes?|explains?)\s+(?:that\s+)?", re.I),
    re.compile(
        rf",?\s*(?:as\s+)?(?:stated|mentioned|described|noted|shown|explained|given)\s+(?:in|by)\s+{_SOURCE_WORD}\s*(?=[.!]?$)",
        re.I,
    ),
)


def strip_attribution(text: str) -> str:
    """The claim without phrases that only say where it came from.

    >>> strip_attribution("The default is 100 connections, as stated in the first source.")
    'The default is 100 connections.'
    >>> strip_attribution("According to the sources, VACUUM FULL locks the table.")
    'VACUUM FULL locks the table.'
    """
    out = text
    for pattern in _ATTRIBUTION:
        out = pattern.sub("", out)
    out = out.strip()
    if not re.search(r"[A-Za-z0-9]", out):
        return text
    return out[0].upper() + out[1:] if out[0].islower() and out is not text else out


@dataclass(frozen=True, slots=True)
class Claim:
    """One checkable statement from an answer, its place in the answer, and the sources it cites."""

    text: str
    start: int
    end: int
    citations: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Source:
    """A text a claim may be checked against; ``id`` is a chunk id or any id the caller chose."""

    id: str
    text: str


def _spans(answer: str) -> list[tuple[int, int]]:
    """Sentence (and line, and ';'-clause) spans of the answer."""
    spans: list[tuple[int, int]] = []
    for line in re.finditer(r"[^\n]+", answer):
        s, e = line.span()
        cuts = [s, *sentence_ends(answer, s, e), e]
        for a, b in zip(cuts, cuts[1:], strict=False):
            # a citation right after the full stop belongs to the sentence before it
            m = CITATION.match(answer, b)
            if m and m.end() <= e:
                b = m.end()
            for part in re.finditer(r"[^;]+", answer[a:b]):
                spans.append((a + part.start(), a + part.end()))
    return spans


def split_claims(answer: str) -> list[Claim]:
    """The claims of ``answer``, in order; headings and bold labels are not claims.

    >>> [c.text for c in split_claims("### Vacuum\\n- **Vacuum · autovacuum**: VACUUM reclaims storage [1].")]
    ['VACUUM reclaims storage.']
    """
    claims: list[Claim] = []
    pending: tuple[int, ...] = ()
    for s, e in _spans(answer):
        raw = answer[s:e]
        if _HEADING_LINE.match(raw):
            continue
        cites = tuple(n for m in CITATION.finditer(raw) for n in cited_numbers(m.group(1)))
        text = CITATION.sub("", raw)
        text = strip_attribution(_LABEL.sub("", _LIST_MARK.sub("", text).strip()))
        if not re.search(r"[A-Za-z0-9]", text):
            pending = cites or pending  # a lone "[2]" after a sentence
            if pending and claims:
                last = claims[-1]
                claims[-1] = Claim(last.text, last.start, e, tuple(dict.fromkeys(last.citations + pending)))
            continue
        if text.endswith("?") or NOT_IN_SOURCES.search(text):
            continue
        if text[-1] not in ".!":
            text += "."
        lead = len(raw) - len(raw.lstrip())
        claims.append(Claim(text, s + lead, e, cites))
    return claims


def claims_or_whole(answer: str) -> Sequence[Claim]:
    """At least one claim: an answer with no sentence punctuation is one claim."""
    claims = split_claims(answer)
    if not claims and answer.strip() and not NOT_IN_SOURCES.search(answer):
        text = CITATION.sub("", answer).strip()
        claims = [Claim(text, 0, len(answer), ())]
    return claims
