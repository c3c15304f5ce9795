"""The lexical verifier: word overlap plus number, name and negation checks; no model, fully transparent.

It is the fallback when no trained verifier exists (``kenning train verifier`` makes one), and its name says so in
every answer it judged. A claim is SUPPORT when one sentence (or two neighbouring ones) of the sources repeats most
of its content words, with the same numbers and names and the same polarity ("did not reduce" ≠ "reduced").

>>> v = LexicalVerifier()
>>> v.verify([Claim("Mortality fell by 20% in 2019.", 0, 30, (1,))],
...          [Source("s1", "In 2019, mortality fell by 30% after the new protocol.")]).verdicts[0].label
'NOT_SUPPORTED'
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..errors import ConfigError
from ..types import Verdict, VerdictLabel
from .base import Verification
from .checks import check_facts, content_tokens, coverage, evidence_spans
from .claims import Claim, Source

__all__ = ["LexicalVerifier", "polarity_clash"]

_NEGATION = re.compile(
    r"\b(not|no|never|none|neither|nor|without|cannot|fails?|failed|lack(?:s|ed|ing)?|absent|"
    r"unable|n't)\b",
    re.I,
)
_UP = re.compile(
    r"\b(increas\w*|higher|greater|more|rais\w*|elevat\w*|enhanc\w*|promot\w*|improv\w*|upregulat\w*|"
    r"up-regulat\w*|activat\w*|induc\w*|stimulat\w*|accelerat\w*|gain\w*)\b",
    re.I,
)
_DOWN = re.compile(
    r"\b(decreas\w*|lower\w*|less|fewer|reduc\w*|declin\w*|diminish\w*|impair\w*|inhibit\w*|"
    r"suppress\w*|downregulat\w*|down-regulat\w*|attenuat\w*|slow\w*|loss|prevent\w*|worsen\w*)\b",
    re.I,
)


def polarity_clash(claim: str, evidence: str) -> str | None:
    """Why claim and evidence point opposite ways (up vs down, or a negation only the claim has), or None.

    Only the claim's extra negation counts: evidence often negates in words the claim paraphrases ("no effect" for
    "does not improve"), and on SciFact's train claims flagging that direction cost more than it caught.
    """
    up_c, down_c = bool(_UP.search(claim)), bool(_DOWN.search(claim))
    up_e, down_e = bool(_UP.search(evidence)), bool(_DOWN.search(evidence))
    if up_c and not down_c and down_e and not up_e:
        return "the claim says up where the evidence says down"
    if down_c and not up_c and up_e and not down_e:
        return "the claim says down where the evidence says up"
    if _NEGATION.search(claim) and not _NEGATION.search(evidence):
        return "the claim is negated and the evidence is not"
    return None


class LexicalVerifier:
    """Judges claims by word overlap with the best sentence or two of the sources; no model, no tokens spent.

    ``support``: the share of the claim's content words (longer words weigh more) a span must repeat for SUPPORT;
    ``partial``: the share for PARTIAL. The defaults were chosen on SciFact's train claims (``bench/verifier.py``).
    """

    name = "lexical"

    def __init__(self, *, support: float = 0.4, partial: float = 0.25) -> None:
        if not 0 < partial <= support <= 1:
            raise ConfigError(f"lexical verifier: need 0 < partial <= support <= 1, got {partial} and {support}")
        self.support = support
        self.partial = partial

    def verify(self, claims: Sequence[Claim], sources: Sequence[Source], *, question: str = "") -> Verification:
        spans = evidence_spans(sources)
        span_tokens = [content_tokens(s.text) for s in spans]
        verdicts = []
        for claim in claims:
            want = content_tokens(claim.text)
            cited = {c - 1 for c in claim.citations}
            if not spans or not want:
                verdicts.append(
                    Verdict(
                        claim.text,
                        "NOT_SUPPORTED",
                        "",
                        "",
                        "nothing in the sources to compare",
                        claim.start,
                        claim.end,
                        0.0,
                    )
                )
                continue
            # best overlap, cited sources winning near-ties, shorter spans winning exact ties
            scores = [coverage(want, t) for t in span_tokens]
            best = max(
                range(len(spans)), key=lambda i: (scores[i] + 0.05 * (spans[i].source in cited), -len(span_tokens[i]))
            )
            span, score = spans[best], scores[best]
            src = sources[span.source]
            facts = check_facts(claim.text, span.text, context=src.text)
            clash = polarity_clash(claim.text, span.text)
            where = f"[{span.source + 1}]"
            label: VerdictLabel
            if score >= self.support and facts.ok and not clash:
                label, why = "SUPPORT", f"{where} repeats {score:.0%} of the claim's words; {facts.describe()}"
            elif score >= self.partial:
                problems = "; ".join(p for p in (clash, None if facts.ok else facts.describe()) if p)
                label = "NOT_SUPPORTED" if facts.conflicting else "PARTIAL"
                why = f"{where} repeats {score:.0%} of the claim's words" + (f", but {problems}" if problems else "")
            else:
                label, why = "NOT_SUPPORTED", f"no span repeats enough of the claim (best {score:.0%} in {where})"
            verdicts.append(Verdict(claim.text, label, span.text, src.id, why, claim.start, claim.end, round(score, 4)))
        return Verification(tuple(verdicts))
