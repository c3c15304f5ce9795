"""Where a collection's chunks are kept, behind one Protocol (:class:`Store`): SQLite on local disk (the default),
PostgreSQL + pgvector to share one collection between machines (``pip install 'kenning[postgres]'``)."""

from __future__ import annotations

from .base import EmbedderInfo, Manifest, Scored, Store, StoreCatalog
from .filters import Filters

__all__ = ["EmbedderInfo", "Filters", "Manifest", "Scored", "Store", "StoreCatalog"]
