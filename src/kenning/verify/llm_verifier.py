"""The LLM fact-checker: a strict prompt, JSON out, validated and retried; quotes are checked against the sources.

A verdict whose evidence is not an exact quote of the named source cannot be SUPPORT: the model is asked for a
verbatim quote, and a quote that is not found (after whitespace normalisation) downgrades SUPPORT to PARTIAL with
the reason stated. If the model cannot be reached or never returns valid JSON, every claim is NOT_SUPPORTED with that
reason and the :class:`Verification` says it ``failed``, so a broken verifier never silently approves, and an answer
does not take its placeholders for judgements (:func:`kenning.verify.answering.check_answer`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, Field

from ..errors import ProviderError
from ..providers.llm.base import LLM, Message, complete_json
from ..providers.llm.fence import UNTRUSTED_RULE, fenced_sources, neutralise
from ..types import Usage, Verdict
from .base import Verification
from .claims import Claim, Source

__all__ = ["LLMVerifier", "FACT_CHECK_SYSTEM", "fact_check_messages"]

FACT_CHECK_SYSTEM = f"""You are a strict fact-checker. For each numbered claim decide whether the numbered sources
support it. Use only the sources, never your own knowledge.
{UNTRUSTED_RULE}
When a question is given, the claims are meant to answer it: a claim the sources state about something other than
what the question asks is PARTIAL, not SUPPORT.
- SUPPORT: the sources state the claim fully (paraphrase is fine; every number, name and condition matches).
- PARTIAL: the sources support part of the claim, or the claim is more specific or general than the sources.
- NOT_SUPPORTED: the sources do not state it, or contradict it.
For each claim give the shortest verbatim quote from one source that decides it ("" if none), that source's number,
and one short sentence of reasoning.
Reply with JSON only:
{{"verdicts": [{{"claim": 1, "verdict": "SUPPORT", "source": 2, "evidence": "exact quote", "reasoning": "..."}}]}}"""


class _Item(BaseModel):
    claim: int
    verdict: Literal["SUPPORT", "PARTIAL", "NOT_SUPPORTED"]
    source: int | None = None
    evidence: str = ""
    reasoning: str = ""


class _Reply(BaseModel):
    verdicts: list[_Item] = Field(default_factory=list)


def fact_check_messages(claims: Sequence[Claim], sources: Sequence[Source], question: str = "") -> list[Message]:
    src = fenced_sources(("", s.text) for s in sources)
    cl = "\n".join(f"{i}. {c.text}" for i, c in enumerate(claims, start=1))
    asked = f"Question: {question.strip()}\n\n" if question.strip() else ""
    return [Message("system", FACT_CHECK_SYSTEM), Message("user", f"{src}\n\n{asked}Claims:\n{cl}")]


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def _quoted(evidence: str, src: Source | None) -> bool:
    """The quote is in the source as stored, or as the model read it (fenced: ``[3]`` shown as ``(3)``)."""
    if src is None or not evidence:
        return False
    quote = _squash(evidence)
    return quote in _squash(src.text) or quote in _squash(neutralise(src.text))


class LLMVerifier:
    """Checks claims with a language model; each :meth:`verify` returns the tokens it spent with its verdicts."""

    def __init__(self, llm: LLM, *, retries: int = 2) -> None:
        self.llm = llm
        self.retries = retries
        self.name = f"llm:{llm.name}"

    def verify(self, claims: Sequence[Claim], sources: Sequence[Source], *, question: str = "") -> Verification:
        if not claims:
            return Verification()
        try:
            reply, usage = complete_json(
                self.llm,
                fact_check_messages(claims, sources, question),
                _Reply,
                retries=self.retries,
                max_tokens=min(1500, 120 + 160 * len(claims)),
            )
        except ProviderError as exc:  # what the failed tries spent is not known here
            failed = (
                Verdict(c.text, "NOT_SUPPORTED", "", "", f"fact-checker failed: {exc}", c.start, c.end) for c in claims
            )
            return Verification(tuple(failed), Usage(), failed=f"{self.name} failed: {exc}")
        by_claim = {item.claim: item for item in reply.verdicts}
        out = []
        for i, claim in enumerate(claims, start=1):
            item = by_claim.get(i)
            if item is None:
                out.append(
                    Verdict(
                        claim.text, "NOT_SUPPORTED", "", "", "the fact-checker gave no verdict", claim.start, claim.end
                    )
                )
                continue
            label, reasoning = item.verdict, item.reasoning.strip()
            src = sources[item.source - 1] if item.source and 1 <= item.source <= len(sources) else None
            evidence = item.evidence.strip()
            if label == "SUPPORT" and not _quoted(evidence, src):
                label = "PARTIAL"
                reasoning = f"{reasoning} (quote not found verbatim in the source, so not counted as SUPPORT)".strip()
            out.append(Verdict(claim.text, label, evidence, src.id if src else "", reasoning, claim.start, claim.end))
        return Verification(tuple(out), usage)
