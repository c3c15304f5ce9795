"""The verifier interface: claims and the sources they may rest on → one verdict per claim."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from ..types import Usage, Verdict
from .claims import Claim, Source

__all__ = ["Verifier"]


@runtime_checkable
class Verifier(Protocol):
    """Judges each claim against ``sources``: SUPPORT, PARTIAL or NOT_SUPPORTED, with the deciding quote.

    A claim's ``citations`` (1-based positions in ``sources``) say where the answer claims it came from; verifiers
    check those sources first but may find the evidence in any of them. ``question``, when given, is what the claims
    answer: a verifier that can read it judges support *as an answer to it*. ``usage`` is what the last call cost.
    """

    name: str
    usage: Usage

    def verify(self, claims: Sequence[Claim], sources: Sequence[Source], *, question: str = "") -> list[Verdict]: ...
