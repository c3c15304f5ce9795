"""Snapshots: the search structures for one catalog state, written to a fresh folder and published atomically.

A snapshot folder holds ``rowids.npy`` (catalog row id of each position), ``rows.sqlite`` (each position's chunk as
a search hit shows it), ``lexical/`` (bm25s) and the dense files. It is built under a temporary name, flushed to
disk, then renamed; the manifest is switched to it last. A reader therefore sees either the old snapshot or the new
one, never a half-written one, even if the writer is killed. Because hits are read from the snapshot's own rows, not
from the catalog a writer is changing, every result comes from one published state of the collection: a reader
never sees a chunk the writer has deleted or re-numbered but not yet published. Filters are applied to the
snapshot's own copy of its documents' kinds, sources and metadata for the same reason.

``snapshot.json`` records each file's size; :meth:`Snapshot.load` checks them, so a truncated or half-deleted
snapshot is reported as damaged (:class:`~kenning.errors.IndexError_`) instead of failing inside a search.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..config import DenseConfig, LexicalConfig
from ..errors import IndexError_
from .catalog import Catalog, ChunkRow
from .dense import DenseIndex
from .lexical import LexicalIndex

__all__ = ["Snapshot", "build_snapshot"]


@dataclass
class Snapshot:
    """Loaded search structures; position ``i`` in either index is catalog row ``rowids[i]``."""

    folder: Path
    rowids: np.ndarray
    lexical: LexicalIndex
    dense: DenseIndex
    data_version: int
    version: int = 0
    rows: SnapshotRows | None = field(default=None, repr=False)
    entry: dict | None = field(default=None, repr=False)  # the manifest's entry it was loaded from
    cache: dict = field(default_factory=dict, repr=False)  # derived once per snapshot (chunk ids by position…)
    cache_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def n_chunks(self) -> int:
        return int(self.rowids.size)

    @classmethod
    def load(
        cls, folder: Path, lexical: LexicalConfig, dense: DenseConfig, *, version: int = 0, entry: dict | None = None
    ) -> Snapshot:
        """Load the snapshot in ``folder``. A file that is gone raises :class:`FileNotFoundError` (a writer may have
        replaced the snapshot meanwhile: the caller reads the manifest again); anything else wrong with the files
        raises :class:`IndexError_` naming what is damaged."""
        try:
            with _LOADING:  # one load at a time in a process: numpy's header parser (ast) is not thread-safe
                meta = json.loads((folder / "snapshot.json").read_text())
                _check_sizes(folder, meta.get("files"))
                rows = folder / _ROWS
                snap = cls(
                    folder=folder,
                    rowids=np.load(folder / "rowids.npy"),
                    lexical=LexicalIndex.load(folder / "lexical", lexical),
                    dense=DenseIndex.load(folder / "dense", dense),
                    data_version=int(meta["data_version"]),
                    version=version,
                    rows=SnapshotRows(rows, int(meta.get("n_chunks", -1))) if rows.is_file() else None,
                    entry=entry,
                )
        except FileNotFoundError:
            raise
        except IndexError_:
            raise
        except Exception as exc:  # noqa: BLE001 - numpy, bm25s, hnswlib and sqlite each fail their own way
            raise IndexError_(f"{folder}: the snapshot is damaged ({type(exc).__name__}: {exc})") from None
        if snap.dense.n_rows != snap.n_chunks or snap.lexical.n_rows != snap.n_chunks:
            raise IndexError_(
                f"{folder}: the snapshot is damaged ({snap.n_chunks} row ids, {snap.lexical.n_rows} BM25 rows, "
                f"{snap.dense.n_rows} vectors)"
            )
        return snap

    def chunk_rows(self, positions: Sequence[int], catalog: Catalog) -> dict[int, ChunkRow]:
        """The chunk at each position as this snapshot indexed it, keyed by position.

        Read from the snapshot's own rows; a snapshot written before they existed falls back to the catalog by row id
        (which skips chunks deleted since it was published).
        """
        if self.rows is not None:
            return self.rows.get(positions)
        by_rowid = catalog.chunk_rows([int(self.rowids[p]) for p in positions])
        return {p: by_rowid[int(self.rowids[p])] for p in positions if int(self.rowids[p]) in by_rowid}

    def ids_and_docs(self, catalog: Catalog) -> tuple[np.ndarray, np.ndarray]:
        """Each position's chunk id and document id (object arrays)."""
        if self.rows is not None:
            pairs = self.rows.ids_and_docs()
        else:
            by_rowid = catalog.chunk_rows([int(r) for r in self.rowids.tolist()])
            pairs = [
                (by_rowid[r].chunk_id, by_rowid[r].doc_id) if r in by_rowid else ("", "") for r in self.rowids.tolist()
            ]
        ids = np.empty(len(pairs), dtype=object)
        docs = np.empty(len(pairs), dtype=object)
        for i, (c, d) in enumerate(pairs):
            ids[i], docs[i] = c, d
        return ids, docs

    def close(self) -> None:
        if self.rows is not None:
            self.rows.close()

    def filter_mask(self, where: str, params: Sequence[object], catalog: Catalog) -> np.ndarray:
        """Boolean mask over positions whose chunk's document matches a filter's SQL (see
        :meth:`kenning.retrieve.Filters.sql`), judged on the documents and sources as this snapshot indexed them."""
        if self.rows is not None and self.rows.filterable:
            mask = np.zeros(self.n_chunks, dtype=bool)
            mask[self.rows.filtered_positions(where, params)] = True
            return mask
        return self.mask_for(catalog.filtered_row_ids(where, params))

    def mask_for(self, allowed_rowids: np.ndarray) -> np.ndarray:
        """Boolean mask over positions whose row id is in ``allowed_rowids``."""
        return np.isin(self.rowids, allowed_rowids, assume_unique=True)


def build_snapshot(catalog: Catalog, folder: Path, lexical: LexicalConfig, dense: DenseConfig, *, dim: int) -> dict:
    """Build a snapshot of ``catalog`` as it is now into ``folder`` (which must not exist). Returns its metadata."""
    tmp = folder.with_name(folder.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    data_version = catalog.data_version()
    ids_parts, texts, vec_parts = [], [], []
    for ids, batch_texts, vecs in catalog.index_rows():
        ids_parts.append(ids)
        texts.extend(batch_texts)
        vec_parts.append(vecs)
    rowids = np.concatenate(ids_parts) if ids_parts else np.zeros(0, dtype=np.int64)
    vectors = np.concatenate(vec_parts) if vec_parts else np.zeros((0, dim), dtype=np.float32)
    np.save(tmp / "rowids.npy", rowids)
    SnapshotRows.write(tmp / _ROWS, catalog, rowids)
    LexicalIndex.build(texts, lexical).save(tmp / "lexical")
    ann = DenseIndex.save(tmp / "dense", vectors, dense)
    meta = {"data_version": data_version, "n_chunks": int(rowids.size), "ann": ann, "catalog": catalog.catalog_id()}
    files = {str(p.relative_to(tmp)): p.stat().st_size for p in sorted(tmp.rglob("*")) if p.is_file()}
    (tmp / "snapshot.json").write_text(json.dumps({**meta, "files": files}))
    _fsync_tree(tmp)
    os.replace(tmp, folder)
    _fsync_dir(folder.parent)
    return meta


_ROWS = "rows.sqlite"
_LOADING = threading.Lock()
_COLUMNS = (
    "rowid_",
    "chunk_id",
    "doc_id",
    "idx",
    "text",
    "start",
    "end",
    "heading_path",
    "kind",
    "title",
    "source",
    "metadata",
)


class SnapshotRows:
    """Each position's chunk, frozen with the snapshot: a read-only SQLite file keyed by position, with its
    documents' kinds, sources and metadata for filtering.

    Opened ``immutable`` (no locks, no journal), so readers in many threads share one connection, and a reader that
    still holds a snapshot its writer has since replaced and removed keeps reading the file it opened.
    """

    def __init__(self, path: Path, n_rows: int = -1) -> None:
        self.path = path
        self._conn = sqlite3.connect(f"file:{path}?immutable=1", uri=True, check_same_thread=False)
        self._lock = threading.Lock()
        tables = {r[0] for r in self._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        self.filterable = {"documents", "sources"} <= tables  # older snapshots filter through the catalog
        last = self._conn.execute("SELECT max(pos) FROM rows").fetchone()[0]
        if n_rows >= 0 and (-1 if last is None else last) != n_rows - 1:
            raise IndexError_(f"{path}: holds {0 if last is None else last + 1} chunks, not {n_rows}")

    @staticmethod
    def write(path: Path, catalog: Catalog, rowids: np.ndarray, batch: int = 900) -> None:
        conn = sqlite3.connect(path)
        try:
            conn.execute(f"CREATE TABLE rows (pos INTEGER PRIMARY KEY, {', '.join(_COLUMNS)})")
            conn.execute("CREATE TABLE documents (doc_id TEXT PRIMARY KEY, kind TEXT, metadata TEXT)")
            conn.execute("CREATE TABLE sources (source TEXT PRIMARY KEY, doc_id TEXT, metadata TEXT)")
            ids = rowids.tolist()
            doc_ids: set[str] = set()
            for i in range(0, len(ids), batch):
                part = ids[i : i + batch]
                found = catalog.chunk_rows(part)
                doc_ids.update(found[rowid].doc_id for rowid in part)
                conn.executemany(
                    f"INSERT INTO rows VALUES ({', '.join('?' * (len(_COLUMNS) + 1))})",
                    [_pack(i + j, found[rowid]) for j, rowid in enumerate(part)],
                )
            docs, sources = catalog.filter_rows(sorted(doc_ids))
            conn.executemany("INSERT INTO documents VALUES (?, ?, ?)", docs)
            conn.executemany("INSERT INTO sources VALUES (?, ?, ?)", sources)
            conn.execute("CREATE INDEX rows_doc ON rows(doc_id)")
            conn.execute("CREATE INDEX sources_doc ON sources(doc_id)")
            conn.commit()
        finally:
            conn.close()

    def filtered_positions(self, where: str, params: Sequence[object]) -> list[int]:
        q = (
            "SELECT DISTINCT c.pos FROM rows c JOIN documents d USING (doc_id) JOIN sources s USING (doc_id) "
            f"WHERE {where}"
        )
        with self._lock:
            return [r[0] for r in self._conn.execute(q, list(params))]

    def ids_and_docs(self) -> list[tuple[str, str]]:
        """``(chunk id, doc id)`` of every position, in position order."""
        with self._lock:
            return self._conn.execute("SELECT chunk_id, doc_id FROM rows ORDER BY pos").fetchall()

    def get(self, positions: Sequence[int]) -> dict[int, ChunkRow]:
        wanted = [int(p) for p in positions]
        if not wanted:
            return {}
        q = f"SELECT pos, {', '.join(_COLUMNS)} FROM rows WHERE pos IN ({','.join('?' * len(wanted))})"
        with self._lock:
            found = self._conn.execute(q, wanted).fetchall()
        return {r[0]: _unpack(r) for r in found}

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def _pack(pos: int, row: ChunkRow) -> tuple:
    return (
        pos,
        row.id,
        row.chunk_id,
        row.doc_id,
        row.index,
        row.text,
        row.start,
        row.end,
        json.dumps(list(row.heading_path)),
        row.kind,
        row.title,
        row.source,
        json.dumps(row.metadata),
    )


def _unpack(r: tuple) -> ChunkRow:
    heading_path, metadata = tuple(json.loads(r[8])), json.loads(r[12])
    return ChunkRow(r[1], r[2], r[3], r[4], r[5], r[6], r[7], heading_path, r[9], r[10], r[11], metadata)


def _check_sizes(folder: Path, files: dict[str, int] | None) -> None:
    """Every file ``snapshot.json`` lists is there with its size (snapshots written before the list: not checked)."""
    for name, size in (files or {}).items():
        path = folder / name
        if not path.is_file():
            raise FileNotFoundError(str(path))
        if path.stat().st_size != size:
            raise IndexError_(f"{path}: the snapshot is damaged ({path.stat().st_size} bytes, not {size})")


def _fsync_tree(root: Path) -> None:
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(Path(dirpath))


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
