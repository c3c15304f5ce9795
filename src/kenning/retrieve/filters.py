"""Metadata filters (defined beside the store seam, which each store compiles for its own engine)."""

from __future__ import annotations

from ..store.filters import Filters

__all__ = ["Filters"]
