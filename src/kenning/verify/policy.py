"""What to do with claims the verifier did not support: annotate (default), strip, or retry once.

- ``annotate``: keep the answer as written; every claim carries its verdict for the reader to see.
- ``strip``: remove NOT_SUPPORTED claims from the answer text (their verdicts stay in the result).
- ``retry``: the caller regenerates once, telling the model which claims failed, and verifies again.

>>> from kenning.types import Verdict
>>> strip_unsupported("A is true [1]. B is made up [2].", [Verdict("B is made up.", "NOT_SUPPORTED", "", "", "", 15, 32)])
'A is true [1].'
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

from ..generate.sentences import subject_at
from ..types import Hit, Verdict
from .base import Verifier
from .claims import Source, claims_or_whole
from .relevance import answers_question, require_citation

__all__ = ["Policy", "POLICIES", "verify_text", "strip_unsupported", "sources_from_hits"]

Policy = Literal["annotate", "strip", "retry"]
POLICIES: tuple[str, ...] = ("annotate", "strip", "retry")


def sources_from_hits(hits: Sequence[Hit]) -> list[Source]:
    """Sources in the order they were numbered for the answer, identified by chunk id."""
    return [Source(h.chunk_id, h.text) for h in hits]


def verify_text(verifier: Verifier, text: str, hits: Sequence[Hit], *, question: str = "") -> list[Verdict]:
    """Split ``text`` into claims and judge each against the numbered sources *as an answer to* ``question``.

    Whatever the verifier, a SUPPORT stands only for a claim that cites a source and is about the question
    (:mod:`.relevance`).
    """
    claims = claims_or_whole(text)
    if not claims:
        return []
    verdicts = verifier.verify(claims, sources_from_hits(hits), question=question)
    by_id = {h.chunk_id: h for h in hits}
    out = []
    for claim, verdict in zip(claims, verdicts, strict=True):
        hit = by_id.get(verdict.source_id)
        subject = subject_at(hit, verdict.evidence) if hit is not None else ""
        out.append(answers_question(question, require_citation(claim, verdict), subject=subject))
    return out


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
