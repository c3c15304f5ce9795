"""The verifier interface: claims and the sources they may rest on → one verdict per claim, and what that cost."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ..types import Usage, Verdict
from .claims import Claim, Source

__all__ = ["Verifier", "Verification"]


@dataclass(frozen=True, slots=True)
class Verification:
    """One verifier call: a verdict per claim (in the claims' order) and the tokens that call spent.

    What a call spent travels with its result, never on the verifier object: one verifier serves many threads.
    """

    verdicts: tuple[Verdict, ...] = ()
    usage: Usage = Usage()
    failed: str = ""  # why the verifier could not judge at all; its verdicts are then placeholders, not judgements


@runtime_checkable
class Verifier(Protocol):
    """Judges each claim against ``sources``: SUPPORT, PARTIAL or NOT_SUPPORTED, with the deciding quote.

    A claim's ``citations`` (1-based positions in ``sources``) say where the answer claims it came from; verifiers
    check those sources first but may find the evidence in any of them. ``question``, when given, is what the claims
    answer: a verifier that can read it judges support *as an answer to it*. A verifier keeps no per-call state, so
    one instance may be called from many threads at once.
    """

    name: str

    def verify(self, claims: Sequence[Claim], sources: Sequence[Source], *, question: str = "") -> Verification: ...
