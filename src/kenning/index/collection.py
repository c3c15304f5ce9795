"""A named collection on disk: catalog, manifest, write lock and published snapshots.

Layout of ``<home>/collections/<name>/``::

    manifest.json        embedder (name, model, dim), chunking and BM25 settings, schema version, current snapshot
    catalog.sqlite       documents, sources, chunks, vectors (the source of truth; WAL)
    write.lock           held by the one process allowed to write
    snapshots/000007/    rowids.npy, rows.sqlite (the chunks as published), lexical/ (bm25s), dense/ (vectors.npy,
                         hnsw.bin)

Only one process writes at a time; any number read, and each notices a newly published snapshot on its next search.
A reader that finds the catalog ahead of the published snapshot
(a writer was killed before publishing) rebuilds the snapshot itself when no writer holds the lock.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..config import ChunkingConfig, DenseConfig, KenningConfig, LexicalConfig
from ..errors import CollectionNotFound, ConfigError, IndexError_, IndexLockedError
from .catalog import Catalog
from .migrations import MIGRATIONS
from .snapshot import Snapshot, build_snapshot

__all__ = ["Collection", "list_collections", "FORMAT_VERSION"]

FORMAT_VERSION = 1
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def _collections_dir(home: Path) -> Path:
    return Path(home) / "collections"


def list_collections(home: Path) -> list[str]:
    root = _collections_dir(home)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "manifest.json").is_file())


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise ConfigError(
            f"collection name {name!r} is not allowed: use letters, digits, '_', '-', '.', at most 64 characters"
        )
    return name


class Collection:
    """One collection's files. Use :meth:`open` to read and :meth:`create_or_open` to write."""

    def __init__(self, folder: Path, manifest: dict, catalog: Catalog) -> None:
        self.folder = folder
        self.manifest = manifest
        self.catalog = catalog
        self._snapshot: Snapshot | None = None
        self._stamp: tuple[int, int] | None = None  # the manifest file's (inode, mtime) when _snapshot was loaded
        self._reload = threading.Lock()
        self._lock_fd: int | None = None

    @property
    def name(self) -> str:
        return self.folder.name

    # -- opening ------------------------------------------------------------------------------------------------

    @classmethod
    def open(cls, home: Path, name: str) -> Collection:
        folder = _collections_dir(home) / check_name(name)
        path = folder / "manifest.json"
        if not path.is_file():
            known = list_collections(home)
            hint = f" Known collections: {', '.join(known)}." if known else ""
            raise CollectionNotFound(
                f"no collection {name!r} in {home}.{hint} Create it with: kenning index PATH --collection {name}"
            )
        manifest = _read_manifest(path)
        if manifest.get("format") != FORMAT_VERSION:
            raise IndexError_(f"{path}: index format {manifest.get('format')!r} is not {FORMAT_VERSION}; re-index")
        return cls(folder, manifest, Catalog(folder / "catalog.sqlite"))

    @classmethod
    def create_or_open(cls, home: Path, name: str, config: KenningConfig, *, model: str, dim: int) -> Collection:
        """Open a collection for writing, creating it with these settings if it does not exist.

        An existing collection keeps its embedder; asking for another one is an error, since its vectors would not
        be comparable. Chunking and BM25 settings may change: documents are re-chunked on the next index run.
        """
        folder = _collections_dir(home) / check_name(name)
        if (folder / "manifest.json").is_file():
            col = cls.open(home, name)
            emb = col.manifest["embedder"]
            if emb["model"] != model or emb["dim"] != dim:
                raise ConfigError(
                    f"collection {name!r} was built with embedder {emb['model']} (dim {emb['dim']}), not {model} "
                    f"(dim {dim}). Index into a new collection (--collection NAME) or delete this one first."
                )
            col.manifest["chunking"] = config.chunking.model_dump()
            col.manifest["context"] = config.context.model_dump()
            col.manifest["lexical"] = config.lexical.model_dump()
            col.manifest["dense"] = config.dense.model_dump()
            return col
        folder.mkdir(parents=True, exist_ok=True)
        manifest = {
            "format": FORMAT_VERSION,
            "schema_version": len(MIGRATIONS),
            "name": name,
            "created_at": time.time(),
            "embedder": {"name": config.embedder.name, "model": model, "dim": dim},
            "chunking": config.chunking.model_dump(),
            "context": config.context.model_dump(),
            "lexical": config.lexical.model_dump(),
            "dense": config.dense.model_dump(),
            "snapshot": None,
        }
        catalog = Catalog(folder / "catalog.sqlite")
        write_manifest(folder / "manifest.json", manifest)
        return cls(folder, manifest, catalog)

    def close(self) -> None:
        self.unlock()
        self.catalog.close()

    # -- settings -----------------------------------------------------------------------------------------------

    @property
    def chunking(self) -> ChunkingConfig:
        return ChunkingConfig.model_validate(self.manifest["chunking"])

    @property
    def lexical(self) -> LexicalConfig:
        return LexicalConfig.model_validate(self.manifest["lexical"])

    @property
    def dense(self) -> DenseConfig:
        return DenseConfig.model_validate(self.manifest.get("dense", {}))

    @property
    def dim(self) -> int:
        return int(self.manifest["embedder"]["dim"])

    # -- locking ------------------------------------------------------------------------------------------------

    def lock(self, *, wait: bool = False) -> None:
        """Take the write lock (a kernel lock: a killed writer releases it)."""
        if self._lock_fd is not None:
            return
        fd = os.open(self.folder / "write.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            raise IndexLockedError(
                f"collection {self.name!r} is being written by another kenning process; wait for it to finish"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock_fd = fd

    def unlock(self) -> None:
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    @contextmanager
    def locked(self, *, wait: bool = False) -> Iterator[Collection]:
        held = self._lock_fd is not None
        self.lock(wait=wait)
        try:
            yield self
        finally:
            if not held:
                self.unlock()

    # -- snapshots ----------------------------------------------------------------------------------------------

    def is_stale(self) -> bool:
        snap = self.manifest.get("snapshot")
        published = snap["data_version"] if snap else -1
        return self.catalog.data_version() != published

    def publish(self, *, force: bool = False) -> int | None:
        """Rebuild and publish the search structures if the catalog changed (caller holds the lock)."""
        if self._lock_fd is None:
            raise IndexError_("publish() needs the write lock")
        if not force and not self.is_stale():
            return None
        adopted = self.catalog.get_state("embedder")  # an embedder switch killed before its manifest write
        if adopted is not None and json.loads(adopted) != self.manifest["embedder"]:
            self.manifest["embedder"] = json.loads(adopted)
        snaps = self.folder / "snapshots"
        current = self.manifest.get("snapshot")
        version = (current["version"] if current else 0) + 1
        folder = snaps / f"{version:06d}"
        if folder.exists():  # left by a writer killed after renaming but before switching the manifest
            shutil.rmtree(folder)
        meta = build_snapshot(self.catalog, folder, self.lexical, self.dense, dim=self.dim)
        self.manifest["snapshot"] = {"version": version, "path": f"snapshots/{folder.name}", **meta}
        write_manifest(self.folder / "manifest.json", self.manifest)
        self.catalog.record_version(version, meta["data_version"], meta["n_chunks"], meta["ann"])
        for old in snaps.iterdir():
            if old.name != folder.name:
                shutil.rmtree(old, ignore_errors=True)
        self._snapshot = None
        return version

    def snapshot(self) -> Snapshot | None:
        """The published snapshot, repaired first if a killed writer left the catalog ahead of it.

        Each call looks whether the manifest changed on disk (one ``stat``) and, when another writer — a thread or
        a process — published a newer snapshot, loads that one: readers never answer from a superseded snapshot
        once its successor is published. Safe to call from many threads.
        """
        stamp = _stamp(self.folder / "manifest.json")
        snap = self._snapshot
        if snap is not None and stamp == self._stamp:
            return snap
        with self._reload:
            if self._snapshot is not None and stamp == self._stamp:
                return self._snapshot
            for attempt in range(5):
                stamp = _stamp(self.folder / "manifest.json")
                manifest = _read_manifest(self.folder / "manifest.json")
                published = manifest.get("snapshot")
                current = self._snapshot
                if current is not None and published and published["version"] == current.version:
                    self.manifest, self._stamp = manifest, stamp
                    return current
                self.manifest = manifest
                if self.is_stale():
                    try:
                        with self.locked():
                            self.publish()
                    except IndexLockedError:
                        pass  # a writer is at work: answer from the last published snapshot
                    else:
                        continue  # published (or found published): read the manifest again
                if published is None:
                    self._snapshot, self._stamp = None, stamp
                    return None
                try:
                    loaded = Snapshot.load(
                        self.folder / published["path"], self.lexical, self.dense, version=published["version"]
                    )
                except FileNotFoundError:  # replaced and removed by a writer between our read and the load
                    if attempt == 4:
                        raise
                    continue
                self._snapshot, self._stamp = loaded, stamp
                return loaded
            return self._snapshot

    def delete(self) -> None:
        with self.locked():
            self.catalog.close()
            shutil.rmtree(self.folder)


def _stamp(path: Path) -> tuple[int, int] | None:
    """Identifies one write of the manifest: :func:`write_manifest` replaces the file, so its inode changes."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_mtime_ns


def _read_manifest(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise IndexError_(f"{path}: cannot read the manifest ({exc})") from None


def write_manifest(path: Path, manifest: dict) -> None:
    tmp = path.with_suffix(".json.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
