"""Grounding verification: split an answer into claims and judge each against the sources it cites."""

from __future__ import annotations

from .base import Verifier
from .claims import Claim, Source, claims_or_whole, split_claims

__all__ = ["Verifier", "Claim", "Source", "split_claims", "claims_or_whole"]
