"""Hybrid retrieval: BM25 and dense search fused with Reciprocal Rank Fusion, filters applied before fusion."""

from __future__ import annotations

from .filters import Filters
from .fusion import rrf
from .searcher import MODES, Ranking, Searcher, hit_from_row

__all__ = ["Filters", "MODES", "Ranking", "Searcher", "hit_from_row", "rrf"]
