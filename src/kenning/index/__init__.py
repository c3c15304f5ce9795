"""The store on disk: SQLite catalog, BM25 (bm25s) and dense snapshots, one manifest per collection."""

from __future__ import annotations

from .catalog import Catalog
from .collection import Collection, list_collections
from .snapshot import Snapshot
from .writer import index_paths

__all__ = ["Catalog", "Collection", "Snapshot", "index_paths", "list_collections"]
