"""A named collection on disk: catalog, manifest, write lock and published snapshots.

Layout of ``<home>/collections/<name>/``::

    manifest.json        embedder (name, model, dim), chunking and BM25 settings, schema version, current snapshot
    catalog.sqlite       documents, sources, chunks, vectors (the source of truth; WAL)
    write.lock           held by the one process allowed to write
    snapshots/000007/    rowids.npy, rows.sqlite (the chunks as published), lexical/ (bm25s), dense/ (vectors.npy,
                         hnsw.bin)

Only one process writes at a time; any number read, and each notices a newly published snapshot on its next search.

A read never writes: a reader opens the catalog read-only and answers from the last published snapshot, even when
the catalog is ahead of it (a writer is at work, or was killed before publishing; ``info`` says ``stale``). Writers
repair: ``kenning index`` first publishes what a killed writer committed and rebuilds a damaged snapshot
(:meth:`Collection.recover`), and ``kenning index --repair`` (:mod:`kenning.index.repair`) also rebuilds a damaged
manifest and sets a damaged catalog aside. Damaged files are errors that name the file and the way out, never an
empty collection.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import ValidationError

from ..config import ChunkingConfig, DenseConfig, KenningConfig, LexicalConfig
from ..errors import CollectionNotFound, IndexError_, IndexLockedError
from ..store.base import Manifest
from ..store.registry import check_name
from .catalog import Catalog
from .migrations import MIGRATIONS
from .search import SnapshotSearch
from .snapshot import Snapshot, build_snapshot

__all__ = ["Collection", "list_collections", "FORMAT_VERSION", "read_manifest", "repair_hint"]

FORMAT_VERSION = 1
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def _collections_dir(home: Path) -> Path:
    return Path(home) / "collections"


def list_collections(home: Path) -> list[str]:
    """Every collection folder in ``home``: with a manifest, or with a catalog whose manifest was lost."""
    root = _collections_dir(home)
    if not root.is_dir():
        return []
    return sorted(
        p.name
        for p in root.iterdir()
        if _NAME.match(p.name) and ((p / "manifest.json").is_file() or (p / "catalog.sqlite").is_file())
    )


def repair_hint(name: str) -> str:
    return f"kenning index --repair --collection {name}"


class Collection(SnapshotSearch):
    """The SQLite store (:class:`kenning.store.Store`): one collection's files. Use :meth:`open` to read and :meth:`create_or_open` to write."""

    def __init__(self, folder: Path, manifest: dict, catalog: Catalog, *, stamp: tuple[int, int] | None = None) -> None:
        self.folder = folder
        self.manifest = manifest
        self.catalog = catalog
        self._snapshot: Snapshot | None = None
        # the manifest file's (inode, mtime), taken before self.manifest was read from it
        self._stamp = stamp if stamp is not None else _stamp(folder / "manifest.json")
        self._catalog_stamp = _inode(catalog.path)  # not its mtime: that moves with every commit
        self._reload = threading.Lock()
        self._masks: OrderedDict = OrderedDict()
        self._masks_lock = threading.Lock()
        self._lock_fd: int | None = None
        self.writable = not catalog.readonly

    @property
    def name(self) -> str:
        return self.folder.name

    # -- opening ------------------------------------------------------------------------------------------------

    @classmethod
    def open(cls, home: Path, name: str, *, write: bool = False) -> Collection:
        """Open a collection: to read (the default: nothing on disk is changed), or ``write`` (the catalog is created
        when missing and migrated; the caller takes the lock before changing anything)."""
        folder = _collections_dir(home) / check_name(name)
        path = folder / "manifest.json"
        if not path.is_file():
            if (folder / "catalog.sqlite").is_file():
                raise IndexError_(f"{path} is missing; rebuild it from the catalog: {repair_hint(name)}")
            known = list_collections(home)
            hint = f" Known collections: {', '.join(known)}." if known else ""
            raise CollectionNotFound(
                f"no collection {name!r} in {home}.{hint} Create it with: kenning index PATH --collection {name}"
            )
        stamp = _stamp(path)  # before reading: a manifest replaced meanwhile is read again on the next search
        manifest = read_manifest(path)
        catalog_path = folder / "catalog.sqlite"
        try:
            catalog = Catalog(catalog_path, readonly=not write)
        except IndexError_ as exc:
            raise IndexError_(f"{exc}. {_catalog_way_out(name, catalog_path)}") from None
        return cls(folder, manifest, catalog, stamp=stamp)

    @classmethod
    def create_or_open(cls, home: Path, name: str, config: KenningConfig, *, model: str, dim: int) -> Collection:
        """Open a collection for writing, creating it with these settings if it does not exist.

        An existing collection keeps its embedder; asking for another one is an error, since its vectors would not
        be comparable. Chunking and BM25 settings may change: documents are re-chunked on the next index run.
        """
        folder = _collections_dir(home) / check_name(name)
        if (folder / "manifest.json").is_file():
            col = cls.open(home, name, write=True)
            Manifest.from_dict({**col.manifest, "name": name}).check_embedder(model, dim)
            col.manifest["chunking"] = config.chunking.model_dump()
            col.manifest["context"] = config.context.model_dump()
            col.manifest["lexical"] = config.lexical.model_dump()
            col.manifest["dense"] = config.dense.model_dump()
            return col
        if (folder / "catalog.sqlite").is_file() and (folder / "catalog.sqlite").stat().st_size:
            raise IndexError_(
                f"{folder / 'manifest.json'} is missing; rebuild it from the catalog: {repair_hint(name)}"
            )
        folder.mkdir(parents=True, exist_ok=True)
        new = Manifest.new(name, config, model=model, dim=dim, schema_version=len(MIGRATIONS), store="sqlite")
        manifest = {**new.to_dict(), "format": FORMAT_VERSION, "snapshot": None}
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
        path = self.folder / "write.lock"
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise IndexError_(
                f"{path}: cannot take the write lock ({exc.strerror}); if it is not a file, {repair_hint(self.name)} "
                "replaces it"
            ) from None
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
        if not self.writable:  # opened to read, locked to write: the writer's own connection, migrated
            try:
                self.catalog, self.writable = Catalog(self.catalog.path), True
            except BaseException:
                self.unlock()
                raise
            self._catalog_stamp = _inode(self.catalog.path)
        self._catch_up()

    def _catch_up(self) -> None:
        """Under a fresh lock: take what other writers published since this object read the manifest (the snapshot
        entry, a switched embedder or reranker), keeping the settings this writer was opened with — else its next
        publish would reuse a version number and rebuild the live snapshot's folder under readers."""
        path = self.folder / "manifest.json"
        stamp = _stamp(path)
        if stamp is None or stamp == self._stamp:
            return
        on_disk = read_manifest(path)
        for key in ("snapshot", "embedder", "reranker"):
            if key in on_disk:
                self.manifest[key] = on_disk[key]
            else:
                self.manifest.pop(key, None)
        self._stamp = stamp

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
        """The catalog holds changes the published snapshot does not (a writer is at work or was killed)."""
        snap = self.manifest.get("snapshot")
        if not snap:
            return True
        mine = self.catalog.catalog_id()
        if mine is not None and snap.get("catalog", mine) != mine:
            return True
        return self.catalog.data_version() != snap["data_version"]

    def from_other_catalog(self) -> bool:
        """The published snapshot was built from a catalog that has since been lost and started again."""
        snap = self.manifest.get("snapshot")
        mine = self.catalog.catalog_id()
        return bool(snap) and mine is not None and snap.get("catalog", mine) != mine

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

    def recover(self) -> list[str]:
        """What a writer does first (caller holds the lock): publish what a killed writer committed, and rebuild a
        published snapshot that is missing or damaged. Returns what it did, one line each.

        A catalog started again after the old one was lost is left alone: its snapshot stays the last one published
        from the old catalog until the sources are indexed again.
        """
        done: list[str] = []
        published = self.manifest.get("snapshot")
        if published:
            try:
                Snapshot.load(self.folder / published["path"], self.lexical, self.dense).close()
            except (FileNotFoundError, IndexError_) as exc:
                version = self.publish(force=True)
                done.append(f"rebuilt the damaged snapshot ({exc}) as version {version}")
                return done
        if self.is_stale() and not self.from_other_catalog():
            version = self.publish()
            done.append(f"published version {version} with what an interrupted writer had committed")
        return done

    def refresh(self) -> dict:
        """The manifest as last written, read again if it changed on disk (one ``stat``); the catalog is opened
        again if its file was replaced."""
        path = self.folder / "manifest.json"
        stamp = _stamp(path)
        catalog_stamp = _inode(self.catalog.path)
        if stamp == self._stamp and catalog_stamp == self._catalog_stamp:
            return self.manifest
        with self._reload:
            if catalog_stamp != self._catalog_stamp:
                try:
                    catalog = Catalog(self.catalog.path, readonly=not self.writable)
                except IndexError_ as exc:
                    raise IndexError_(f"{exc}. {_catalog_way_out(self.name, self.catalog.path)}") from None
                self.catalog, self._catalog_stamp = catalog, catalog_stamp  # the old one closes when unused
            if stamp != self._stamp:
                self._reread(path, stamp)
        return self.manifest

    def _reread(self, path: Path, stamp: tuple[int, int] | None) -> None:
        """Take the manifest at ``path`` whose ``stat`` gave ``stamp`` (the caller holds ``_reload``)."""
        if stamp is None:
            raise CollectionNotFound(f"collection {self.name!r} was deleted ({path} is gone)")
        self.manifest, self._stamp = read_manifest(path), stamp

    def snapshot(self) -> Snapshot | None:
        """The published snapshot, as of the manifest on disk now.

        Each call looks whether the manifest changed (one ``stat``) and, when a writer — a thread or a process —
        published a newer snapshot, loads that one: readers never answer from a superseded snapshot once its
        successor is published. Never writes: a catalog ahead of the snapshot is served the snapshot. A snapshot
        that is missing or damaged raises :class:`IndexError_` with the way out. Safe to call from many threads.
        """
        published = self.refresh().get("snapshot")
        snap = self._snapshot
        if snap is not None and snap.entry == published:
            return snap
        if published is None:
            return None
        with self._reload:
            damaged_once = False
            for attempt in range(8):
                if attempt:
                    path = self.folder / "manifest.json"
                    self._reread(path, _stamp(path))
                published = self.manifest.get("snapshot")
                if published is None:
                    return None
                if self._snapshot is not None and self._snapshot.entry == published:
                    return self._snapshot
                folder = self.folder / published["path"]
                try:
                    loaded = Snapshot.load(
                        folder, self.lexical, self.dense, version=published["version"], entry=published
                    )
                except FileNotFoundError as exc:  # replaced and removed by a writer between our read and the load?
                    if _stamp(self.folder / "manifest.json") != self._stamp:
                        continue
                    raise IndexError_(
                        f"{folder}: the published snapshot is missing ({exc.filename or exc}); rebuild it: "
                        f"{repair_hint(self.name)}"
                    ) from None
                except IndexError_ as exc:
                    if _stamp(self.folder / "manifest.json") != self._stamp or not damaged_once:
                        damaged_once = True
                        continue
                    raise IndexError_(f"{exc}; rebuild it: {repair_hint(self.name)}") from None
                self._snapshot = loaded
                return loaded
            raise IndexError_(f"collection {self.name!r}: the snapshot changed 8 times while loading; try again")

    def delete(self) -> None:
        with self.locked():
            self.catalog.close()
            shutil.rmtree(self.folder)


def _stamp(path: Path) -> tuple[int, int] | None:
    """Identifies one write of the file: :func:`write_manifest` replaces the manifest, so its inode changes."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_mtime_ns


def _inode(path: Path) -> int | None:
    """Which file is at ``path`` (None: none): a catalog deleted and started again is another file."""
    try:
        return path.stat().st_ino
    except FileNotFoundError:
        return None


def _catalog_way_out(name: str, path: Path) -> str:
    return (
        f"Nothing was changed. {repair_hint(name)} sets a damaged catalog aside and starts an empty one (searches "
        f"keep the last published snapshot); then index the sources again: kenning index PATH --collection {name}"
    )


def read_manifest(path: Path) -> dict:
    """The manifest at ``path``, checked: a file that is not one names itself and the way out."""
    name = path.parent.name
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise IndexError_(f"{path}: cannot read the manifest ({exc}); rebuild it: {repair_hint(name)}") from None
    problem = _manifest_problem(manifest)
    if problem:
        raise IndexError_(f"{path}: not a kenning manifest ({problem}); rebuild it: {repair_hint(name)}")
    return manifest


def _manifest_problem(m: object) -> str | None:
    if not isinstance(m, dict):
        return f"a JSON {type(m).__name__}, not an object"
    if m.get("format") != FORMAT_VERSION:
        return f"index format {m.get('format')!r} is not {FORMAT_VERSION}"
    emb = m.get("embedder")
    if not isinstance(emb, dict) or not isinstance(emb.get("model"), str) or not isinstance(emb.get("name"), str):
        return "embedder.name and embedder.model must be strings"
    if not isinstance(emb.get("dim"), int) or isinstance(emb.get("dim"), bool) or emb["dim"] <= 0:
        return f"embedder.dim must be a positive integer, got {emb.get('dim')!r}"
    for stage, model in (("chunking", ChunkingConfig), ("lexical", LexicalConfig), ("dense", DenseConfig)):
        if stage not in m and stage == "dense":
            continue
        if not isinstance(m.get(stage), dict):
            return f"{stage} must be an object"
        try:
            model.model_validate(m[stage])
        except ValidationError as exc:
            return f"{stage}: {exc.errors()[0]['loc']} {exc.errors()[0]['msg']}"
    snap = m.get("snapshot")
    if snap is not None:
        if not isinstance(snap, dict):
            return "snapshot must be an object or null"
        for key in ("version", "data_version"):
            if not isinstance(snap.get(key), int):
                return f"snapshot.{key} must be an integer"
        if not isinstance(snap.get("path"), str) or not re.fullmatch(r"snapshots/\d{6}", snap["path"]):
            return f"snapshot.path must be snapshots/NNNNNN, got {snap.get('path')!r}"
    return None


def write_manifest(path: Path, manifest: dict) -> None:
    tmp = path.with_suffix(".json.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class _SQLiteBackend:
    """The SQLite store as a :class:`kenning.store.registry.Backend`: ``location`` is kenning's home folder."""

    def open(self, location: str | Path, name: str, *, write: bool = False) -> Collection:
        return Collection.open(Path(location), name, write=write)

    def create_or_open(
        self, location: str | Path, name: str, config: KenningConfig, *, model: str, dim: int
    ) -> Collection:
        return Collection.create_or_open(Path(location), name, config, model=model, dim=dim)

    def list_collections(self, location: str | Path) -> list[str]:
        return list_collections(Path(location))


SQLITE = _SQLiteBackend()
