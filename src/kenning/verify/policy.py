"""What to do with claims the verifier did not support: annotate (default), strip, or retry once.

- ``annotate``: keep the answer as written; every claim carries its verdict for the reader to see.
- ``strip``: remove NOT_SUPPORTED claims from the answer text (their verdicts stay in the result).
- ``retry``: the caller regenerates once, telling the model which claims failed, and verifies again.

>>> from kenning.types import Verdict
>>> strip_unsupported("A is true [1]. B is made up [2].", [Verdict("B is made up.", "NOT_SUPPORTED", "", "", "", 15, 32)])
'A is true [1].'
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from typing import Literal

from ..generate.citations import CITATION
from ..generate.sentences import subject_at
from ..types import Hit, Verdict
from .agreement import cross_check
from .base import Verification, Verifier
from .claims import Source, claims_or_whole
from .relevance import answers_question, refuse_instruction, require_citation

__all__ = ["Policy", "POLICIES", "verify_text", "attach_citations", "strip_unsupported", "sources_from_hits"]

Policy = Literal["annotate", "strip", "retry"]
POLICIES: tuple[str, ...] = ("annotate", "strip", "retry")


def sources_from_hits(hits: Sequence[Hit]) -> list[Source]:
    """Sources in the order they were numbered for the answer, identified by chunk id."""
    return [Source(h.chunk_id, h.text) for h in hits]


def verify_text(
    verifier: Verifier, text: str, hits: Sequence[Hit], *, question: str = "", cite_evidence: bool = False
) -> Verification:
    """Split ``text`` into claims and judge each against the numbered sources *as an answer to* ``question``; the
    verdicts come back with the tokens the verifier spent.

    Whatever the verifier, a SUPPORT stands only for a claim that is about the question (:mod:`.relevance`), cites
    a source, neither is nor rests on an instruction to the model, and no other document among the sources states a
    different number about it (:mod:`.agreement`). With ``cite_evidence`` an uncited claim keeps its SUPPORT when the
    caller then cites the evidence's source for it (:func:`attach_citations`); otherwise it is PARTIAL.
    """
    claims = claims_or_whole(text)
    if not claims:
        return Verification()
    judged = verifier.verify(claims, sources_from_hits(hits), question=question)
    by_id = {h.chunk_id: h for h in hits}
    out = []
    for claim, verdict in zip(claims, judged.verdicts, strict=True):
        hit = by_id.get(verdict.source_id)
        subject = subject_at(hit, verdict.evidence) if hit is not None else ""
        if not (cite_evidence and verdict.source_id):
            verdict = require_citation(claim, verdict)
        verdict = answers_question(question, verdict, subject=subject)
        verdict = refuse_instruction(verdict, source=hit.text if hit is not None else "")
        out.append(cross_check(verdict, hits, subject=subject, question=question))
    return Verification(tuple(out), judged.usage, judged.failed)


def attach_citations(
    text: str, verdicts: Sequence[Verdict], hits: Sequence[Hit]
) -> tuple[str, list[Verdict], set[int]]:
    """Cite the evidence's source after each SUPPORTed claim the answer left without a ``[n]``.

    Small models often answer correctly from the sources and forget the markers; the verifier has found where the
    claim stands, so that source is cited for it. Returns the new text, the verdicts moved to where their claims
    now are, and the source numbers added.

    >>> from kenning.types import Hit, Verdict
    >>> hit = Hit(1, 1.0, "d::0", "d", "VACUUM FULL locks.", "v.md", "markdown", "", (), 0, 18)
    >>> text, _, added = attach_citations("VACUUM FULL locks.", [Verdict("VACUUM FULL locks.", "SUPPORT", "", "d::0", "", 0, 18)], [hit])
    >>> text, added
    ('VACUUM FULL locks [1].', {1})
    """
    number = {h.chunk_id: i for i, h in enumerate(hits, start=1)}
    out: list[Verdict] = []
    added: set[int] = set()
    shift = 0
    pieces: list[str] = []
    pos = 0
    for v in sorted(verdicts, key=lambda v: v.start):
        start, end = v.start + shift, v.end + shift
        n = number.get(v.source_id)
        span = text[v.start : v.end]
        if v.label != "SUPPORT" or n is None or v.end <= v.start or CITATION.search(span) or v.start < pos:
            out.append(dataclasses.replace(v, start=start, end=end))
            continue
        body = span.rstrip()
        cut = len(body) - 1 if body and body[-1] in ".!?" else len(body)
        marker = f" [{n}]"
        pieces += [text[pos : v.start], body[:cut], marker, body[cut:], span[len(body) :]]
        pos = v.end
        added.add(n)
        reasoning = f"{v.reasoning}; cited by kenning: the answer gave no source" if v.reasoning else "cited by kenning"
        out.append(dataclasses.replace(v, start=start, end=end + len(marker), reasoning=reasoning))
        shift += len(marker)
    pieces.append(text[pos:])
    return "".join(pieces), out, added


def strip_unsupported(text: str, verdicts: Sequence[Verdict]) -> str:
    """``text`` without the spans of NOT_SUPPORTED claims."""
    spans = sorted((v.start, v.end) for v in verdicts if v.label == "NOT_SUPPORTED" and v.end > v.start)
    out, pos = [], 0
    for s, e in spans:
        if s >= pos:
            out.append(text[pos:s])
            pos = e
    out.append(text[pos:])
    return re.sub(r"[ \t]{2,}", " ", re.sub(r"\n{3,}", "\n\n", "".join(out))).strip()
