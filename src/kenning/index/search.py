"""The SQLite store's side of the :class:`~kenning.store.Store` Protocol: searches over the published snapshot,
answered in chunk ids.

Inside a snapshot, bm25s and the dense index rank *positions*; they become chunk ids here and nowhere else (the
snapshot's ``rows.sqlite`` says which chunk each position holds). A filter is compiled to SQLite SQL
(:func:`~kenning.index.filter_sql.compile_filters`) and turned into a mask over positions once per snapshot and
filter, so a batch of filtered queries pays for it once.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from ..store.base import Manifest, Scored
from ..store.filters import Filters
from .catalog import Catalog, ChunkRow
from .filter_sql import compile_filters
from .snapshot import Snapshot

__all__ = ["SnapshotSearch"]

_MASKS = 16  # filter masks kept per collection


class SnapshotSearch:
    """Mixed into :class:`~kenning.index.Collection` (which provides ``snapshot()``, ``catalog``, ``manifest``)."""

    _masks: OrderedDict
    _masks_lock: threading.Lock

    def snapshot(self) -> Snapshot | None:  # pragma: no cover - provided by Collection
        raise NotImplementedError

    @property
    def info(self) -> Manifest:
        """The manifest as a typed value."""
        return Manifest.from_dict(self.refresh(), store="sqlite")  # type: ignore[attr-defined]

    def counts(self) -> tuple[int, int]:
        """(documents, chunks) in the published snapshot."""
        snap = self.snapshot()
        if snap is None:
            return 0, 0
        n_docs = snap.cache.get("n_docs")
        if n_docs is None:
            n_docs = snap.cache["n_docs"] = len(set(_doc_ids(snap, self.catalog).tolist()))
        return n_docs, snap.n_chunks

    # -- searching ----------------------------------------------------------------------------------------------

    def lexical_search(self, query: str, k: int, filters: Filters | None = None) -> Scored:
        snap = self.snapshot()
        if snap is None or not snap.n_chunks or k <= 0:
            return Scored()
        pos, scores = snap.lexical.search(query, k, self._mask(snap, filters))
        return _scored(snap, pos, scores, self.catalog)  # type: ignore[attr-defined]

    def dense_search(self, vector: np.ndarray, k: int, filters: Filters | None = None) -> Scored:
        snap = self.snapshot()
        if snap is None or not snap.n_chunks or k <= 0:
            return Scored()
        pos, scores = snap.dense.search(vector, k, self._mask(snap, filters))
        return _scored(snap, pos, scores, self.catalog)  # type: ignore[attr-defined]

    def fetch(self, chunk_ids: Sequence[str]) -> dict[str, ChunkRow]:
        snap = self.snapshot()
        if snap is None or not chunk_ids:
            return {}
        where = _position_of(snap, self.catalog)
        positions = [where[c] for c in dict.fromkeys(chunk_ids) if c in where]
        rows = snap.chunk_rows(positions, self.catalog)  # type: ignore[attr-defined]
        return {row.chunk_id: row for row in rows.values()}

    def vectors(self, chunk_ids: Sequence[str]) -> np.ndarray:
        snap = self.snapshot()
        dim = int(self.refresh()["embedder"]["dim"])  # type: ignore[attr-defined]
        out = np.zeros((len(chunk_ids), dim), dtype=np.float32)
        if snap is None:
            return out
        where = _position_of(snap, self.catalog)
        for i, c in enumerate(chunk_ids):
            p = where.get(c)
            if p is not None:
                out[i] = snap.dense.vectors[p]
        return out

    def chunk_ids(self, filters: Filters | None = None) -> list[str]:
        snap = self.snapshot()
        if snap is None:
            return []
        ids = _chunk_ids(snap, self.catalog)
        mask = self._mask(snap, filters)
        return ids.tolist() if mask is None else ids[mask].tolist()

    def tokens(self, text: str) -> list[str]:
        snap = self.snapshot()
        return snap.lexical.tokens(text) if snap is not None else []

    def term_weights(self, query: str) -> dict[str, float]:
        snap = self.snapshot()
        return snap.lexical.idf(query) if snap is not None else {}

    def postings(self, word: str) -> list[str] | None:
        snap = self.snapshot()
        if snap is None:
            return []
        found = snap.lexical.postings(word)
        return None if found is None else _chunk_ids(snap, self.catalog)[found].tolist()

    # -- filters ------------------------------------------------------------------------------------------------

    def _mask(self, snap: Snapshot, filters: Filters | None) -> np.ndarray | None:
        """Positions whose chunk's document passes ``filters`` (None: no filter), cached per snapshot and filter."""
        if not filters:
            return None
        key = (id(snap), snap.version, snap.data_version, filters.key())
        with self._masks_lock:
            mask = self._masks.get(key)
            if mask is not None:
                self._masks.move_to_end(key)
                return mask
        where, params = compile_filters(filters)
        mask = snap.filter_mask(where, params, self.catalog)  # type: ignore[attr-defined]
        with self._masks_lock:
            self._masks[key] = mask
            while len(self._masks) > _MASKS:
                self._masks.popitem(last=False)
        return mask


def _scored(snap: Snapshot, positions: np.ndarray, scores: np.ndarray, catalog: Catalog) -> Scored:
    ids = _chunk_ids(snap, catalog)[positions]
    return Scored(tuple(ids.tolist()), tuple(float(s) for s in scores.tolist()))


def _chunk_ids(snap: Snapshot, catalog: Catalog) -> np.ndarray:
    """Each position's chunk id (an object array), read once per snapshot."""
    ids = snap.cache.get("chunk_ids")
    if ids is None:
        with snap.cache_lock:
            ids = snap.cache.get("chunk_ids")
            if ids is None:
                ids, docs = snap.ids_and_docs(catalog)
                snap.cache["doc_ids"] = docs
                snap.cache["chunk_ids"] = ids
    return ids


def _doc_ids(snap: Snapshot, catalog: Catalog) -> np.ndarray:
    _chunk_ids(snap, catalog)
    return snap.cache["doc_ids"]


def _position_of(snap: Snapshot, catalog: Catalog) -> dict[str, int]:
    where = snap.cache.get("position_of")
    if where is None:
        where = {c: i for i, c in enumerate(_chunk_ids(snap, catalog).tolist())}
        snap.cache["position_of"] = where
    return where
