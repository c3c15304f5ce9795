"""Checking a drafted answer: which verifier judges it, and what the answer policy does with its verdicts.

:class:`Verifiers` picks the verifier for an answer (see :mod:`.choose`) and keeps loaded models between answers,
safely from many threads. :func:`check_answer` runs the policy on a draft: verdicts on every claim (a supported
claim the model left uncited gets its evidence's citation), then ``retry`` regenerates once with the failing claims
named; :func:`apply_strip` then has ``strip`` remove the unsupported ones from an answer that is kept, never all of
its text. Every token spent comes back in the result.

A verifier that fails (an unreachable LLM) judges nothing: its claims are not taken as NOT_SUPPORTED (which would
abstain or strip a good answer). They are checked by the fallback verifier with a note saying so, or, with no
fallback, :func:`check_answer` raises :class:`~kenning.errors.ProviderError`: nothing could be checked.

>>> check_policy("annotate")
'annotate'
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError, ProviderError
from ..generate.answer import Draft, llm_redraft
from ..generate.packing import citations_for
from ..generate.prompts import NOT_IN_SOURCES_ANSWER
from ..providers.llm.base import LLM
from ..types import Answer, Hit, Usage, Verdict
from .base import Verifier
from .choose import choose_verifier
from .policy import POLICIES, attach_citations, strip_unsupported, verify_text

__all__ = [
    "Verifiers",
    "Checked",
    "check_policy",
    "check_draft",
    "check_answer",
    "apply_strip",
    "strip_claims",
    "not_in_sources",
]


def check_policy(policy: str) -> str:
    """``policy`` when it is one of :data:`~kenning.verify.policy.POLICIES`; a :class:`ConfigError` otherwise."""
    if policy not in POLICIES:
        raise ConfigError(f"policy must be annotate, strip or retry; got {policy!r}")
    return policy


class Verifiers:
    """The verifier each answer is checked with, built once per kind and shared by every thread.

    >>> Verifiers(Path("/tmp/kenning-home")).get("lexical", llm=None)[0].name
    'lexical'
    """

    def __init__(self, home: Path) -> None:
        self.home = home
        self._cache: dict[str, Verifier] = {}
        self._lock = threading.Lock()

    def get(self, kind: str, *, llm: LLM | None) -> tuple[Verifier, list[str]]:
        """The verifier ``kind`` names for answers from ``llm`` (None: extractive), and notes for the user.

        ``auto`` has a remote model check its own answers and the offline verifier check the local generator's
        and extractive ones (:func:`~kenning.verify.choose.choose_verifier`).
        """
        from ..providers.llm.local import LocalLLM

        remote = llm is not None and not isinstance(llm, LocalLLM)
        with self._lock:  # one offline model load however many threads ask at once
            check, notes = choose_verifier(kind, llm=llm, remote=remote, home=self.home, cache=self._cache)
        if check is None:
            raise ConfigError("verifier 'none' checks nothing; pass verify=False instead")
        return check, notes


@dataclass(frozen=True, slots=True)
class Checked:
    """A checked draft: the last draft (a retry's, when there was one: its ``usage`` counts both drafts; its text
    carries the citations the verifier found), a verdict per claim, what checking spent, and notes."""

    draft: Draft
    verdicts: tuple[Verdict, ...]
    usage: Usage  # the verifier's tokens, every check included
    notes: tuple[str, ...] = ()
    verifier: str = ""  # the verifier that gave the verdicts (the fallback's name when the first one failed)


def check_draft(check: Verifier | None, draft: Draft, question: str) -> tuple[Draft, list[Verdict], Usage]:
    """Verdicts on the draft's claims; a supported claim the model left uncited gets its evidence's citation.

    Claims are checked against what the generator read (``draft.packed``): with parent sections, a verdict's
    evidence may come from the section around a chunk rather than from the chunk itself. A verifier that could not
    judge raises :class:`ProviderError` instead of returning its placeholder verdicts.
    """
    if check is None or not draft.answerable:
        return draft, [], Usage()
    checked = verify_text(check, draft.text, draft.packed, question=question, cite_evidence=True)
    if checked.failed:
        raise ProviderError(checked.failed)
    text, verdicts, added = attach_citations(draft.text, checked.verdicts, draft.packed)
    if added:
        draft = dataclasses.replace(draft, text=text, cited=draft.cited | added)
    return draft, verdicts, checked.usage


def check_answer(
    check: Verifier | None,
    draft: Draft,
    question: str,
    *,
    policy: str,
    model: LLM | None,
    max_tokens: int,
    fallback: Callable[[], Verifier] | None = None,
    about: str | None = None,
) -> Checked:
    """Verdicts on ``draft`` and, under ``policy`` ``retry``, one redraft by ``model`` naming the failing claims.

    When ``check`` fails, ``fallback()`` (e.g. the offline verifier) checks the claims instead, with a note; with no
    ``fallback`` a :class:`ProviderError` says that no claim could be checked. ``about`` is what a supported claim
    must be about to stay SUPPORT (default ``question``; ``""`` for a question about the whole corpus, which every
    claim from it is about).
    """
    notes: list[str] = []
    check_policy(policy)
    about = question if about is None else about
    check, (draft, verdicts, usage) = _judge(check, fallback, draft, about, notes)
    if policy == "retry" and model is not None and draft.mode == "llm":
        failing = [v.claim for v in verdicts if v.label != "SUPPORT"]
        if failing:
            try:
                redraft = llm_redraft(model, question, draft, failing, max_tokens=max_tokens)
            except ProviderError as exc:
                notes.append(f"the retry failed ({exc}); kept the first answer")
            else:
                check, (draft, verdicts, more) = _judge(check, fallback, redraft, about, notes)
                usage = usage + more
                notes.append(f"regenerated once because {len(failing)} claim(s) were not supported")
    return Checked(draft, tuple(verdicts), usage, tuple(notes), check.name if check else "")


def _judge(
    check: Verifier | None,
    fallback: Callable[[], Verifier] | None,
    draft: Draft,
    question: str,
    notes: list[str],
) -> tuple[Verifier | None, tuple[Draft, list[Verdict], Usage]]:
    """:func:`check_draft` by ``check``, else by ``fallback()`` when ``check`` failed; the verifier that judged."""
    try:
        return check, check_draft(check, draft, question)
    except ProviderError as exc:
        name = check.name if check else "verifier"
        if fallback is None:
            raise ProviderError(
                f"the fact-checker failed ({exc}), so no claim of the answer could be checked; "
                "ask again with --verifier offline (or lexical), or --no-verify"
            ) from None
        instead = fallback()
        notes.append(f"the fact-checker {name} failed ({exc}); the claims were checked by {instead.name} instead")
        return instead, check_draft(instead, draft, question)


def apply_strip(policy: str, checked: Checked) -> tuple[str, tuple[Verdict, ...], tuple[str, ...]]:
    """The answer's text and verdicts, with NOT_SUPPORTED claims removed under ``strip``, and a note when some were.

    Stripping never leaves an empty answer: when no claim remains, the text says the sources do not contain it.
    """
    text, verdicts = checked.draft.text, list(checked.verdicts)
    if policy != "strip" or not any(v.label == "NOT_SUPPORTED" for v in verdicts):
        return text, checked.verdicts, ()
    stripped, kept = strip_claims(text, verdicts)
    if not stripped.strip():
        return NOT_IN_SOURCES_ANSWER, tuple(kept), ("every claim was unsupported and removed from the answer",)
    return stripped, tuple(kept), ("unsupported claims were removed from the answer",)


def strip_claims(text: str, verdicts: list[Verdict]) -> tuple[str, list[Verdict]]:
    """Remove NOT_SUPPORTED claims from ``text``; the other verdicts are moved to where their claims now are."""
    new = strip_unsupported(text, verdicts)
    kept, pos = [], 0
    for v in verdicts:
        span = text[v.start : v.end]
        if v.label == "NOT_SUPPORTED":
            kept.append(dataclasses.replace(v, start=0, end=0))
            continue
        at = new.find(span, pos)
        if at >= 0:
            kept.append(dataclasses.replace(v, start=at, end=at + len(span)))
            pos = at + len(span)
        else:
            kept.append(v)
    return new, kept


def not_in_sources(
    question: str,
    shown: Sequence[Hit],
    notes: Sequence[str],
    model: LLM | None,
    confidence: float,
    t0: float,
    usage: Usage | None = None,
) -> Answer:
    """The answer when kenning abstains: "not in the sources", the closest sources shown (none cited), no claims."""
    return Answer(
        question=question,
        text=NOT_IN_SOURCES_ANSWER,
        citations=citations_for(sorted(shown, key=lambda h: h.rank), set()),
        verdicts=(),
        mode="llm" if model is not None else "extractive",
        model=model.name if model is not None else "extractive",
        answerable=False,
        usage=usage or Usage(),
        seconds=time.perf_counter() - t0,
        notes=tuple(notes),
        confidence=round(confidence, 4),
    )
