"""Snapshots: the search structures for one catalog state, written to a fresh folder and published atomically.

A snapshot folder holds ``rowids.npy`` (catalog row id of each position), ``rows.sqlite`` (each position's chunk as
a search hit shows it), ``lexical/`` (bm25s) and the dense files. It is built under a temporary name, flushed to
disk, then renamed; the manifest is switched to it last. A reader therefore sees either the old snapshot or the new
one, never a half-written one, even if the writer is killed. Because hits are read from the snapshot's own rows, not
from the catalog a writer is changing, every result comes from one published state of the collection: a reader
never sees a chunk the writer has deleted or re-numbered but not yet published.
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

    @property
    def n_chunks(self) -> int:
        return int(self.rowids.size)

    @classmethod
    def load(cls, folder: Path, lexical: LexicalConfig, dense: DenseConfig, *, version: int = 0) -> Snapshot:
        meta = json.loads((folder / "snapshot.json").read_text())
        rows = folder / _ROWS
        return cls(
            folder=folder,
            rowids=np.load(folder / "rowids.npy"),
            lexical=LexicalIndex.load(folder / "lexical", lexical),
            dense=DenseIndex.load(folder / "dense", dense),
            data_version=int(meta["data_version"]),
            version=version,
            rows=SnapshotRows(rows) if rows.is_file() else None,  # snapshots published before rows.sqlite: None
        )

    def chunk_rows(self, positions: Sequence[int], catalog: Catalog) -> dict[int, ChunkRow]:
        """The chunk at each position as this snapshot indexed it, keyed by position.

        Read from the snapshot's own rows; a snapshot written before they existed falls back to the catalog by row id
        (which skips chunks deleted since it was published).
        """
        if self.rows is not None:
            return self.rows.get(positions)
        by_rowid = catalog.chunk_rows([int(self.rowids[p]) for p in positions])
        return {p: by_rowid[int(self.rowids[p])] for p in positions if int(self.rowids[p]) in by_rowid}

    def close(self) -> None:
        if self.rows is not None:
            self.rows.close()

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
    meta = {"data_version": data_version, "n_chunks": int(rowids.size), "ann": ann}
    (tmp / "snapshot.json").write_text(json.dumps(meta))
    _fsync_tree(tmp)
    os.replace(tmp, folder)
    _fsync_dir(folder.parent)
    return meta


_ROWS = "rows.sqlite"
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
    """Each position's chunk, frozen with the snapshot: a read-only SQLite file keyed by position.

    Opened ``immutable`` (no locks, no journal), so readers in many threads share one connection, and a reader that
    still holds a snapshot its writer has since replaced and removed keeps reading the file it opened.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn = sqlite3.connect(f"file:{path}?immutable=1", uri=True, check_same_thread=False)
        self._lock = threading.Lock()

    @staticmethod
    def write(path: Path, catalog: Catalog, rowids: np.ndarray, batch: int = 900) -> None:
        conn = sqlite3.connect(path)
        try:
            conn.execute(f"CREATE TABLE rows (pos INTEGER PRIMARY KEY, {', '.join(_COLUMNS)})")
            ids = rowids.tolist()
            for i in range(0, len(ids), batch):
                part = ids[i : i + batch]
                found = catalog.chunk_rows(part)
                conn.executemany(
                    f"INSERT INTO rows VALUES ({', '.join('?' * (len(_COLUMNS) + 1))})",
                    [_pack(i + j, found[rowid]) for j, rowid in enumerate(part)],
                )
            conn.commit()
        finally:
            conn.close()

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
