"""Hybrid retrieval: BM25 and dense search fused with Reciprocal Rank Fusion, filters applied before fusion."""

from __future__ import annotations

from .filters import Filters
from .fusion import rrf
from .searcher import MODES, Ranking, Searcher

__all__ = ["Filters", "MODES", "Ranking", "Searcher", "rrf"]
