"""Snapshots: the search structures for one catalog state, written to a fresh folder and published atomically.

A snapshot folder holds ``rowids.npy`` (catalog row id of each position), ``lexical/`` (bm25s) and the dense files.
It is built under a temporary name, flushed to disk, then renamed; the manifest is switched to it last. A reader
therefore sees either the old snapshot or the new one, never a half-written one, even if the writer is killed.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import DenseConfig, LexicalConfig
from .catalog import Catalog
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

    @property
    def n_chunks(self) -> int:
        return int(self.rowids.size)

    @classmethod
    def load(cls, folder: Path, lexical: LexicalConfig, dense: DenseConfig) -> Snapshot:
        meta = json.loads((folder / "snapshot.json").read_text())
        return cls(
            folder=folder,
            rowids=np.load(folder / "rowids.npy"),
            lexical=LexicalIndex.load(folder / "lexical", lexical),
            dense=DenseIndex.load(folder / "dense", dense),
            data_version=int(meta["data_version"]),
        )

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
    LexicalIndex.build(texts, lexical).save(tmp / "lexical")
    ann = DenseIndex.save(tmp / "dense", vectors, dense)
    meta = {"data_version": data_version, "n_chunks": int(rowids.size), "ann": ann}
    (tmp / "snapshot.json").write_text(json.dumps(meta))
    _fsync_tree(tmp)
    os.replace(tmp, folder)
    _fsync_dir(folder.parent)
    return meta


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
