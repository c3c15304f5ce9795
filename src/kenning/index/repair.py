"""``kenning index --repair``: put a damaged collection back into a state that reads and writes, losing nothing.

The catalog is the source of truth; everything else can be rebuilt from it. In order:

1. a ``write.lock`` that is not a file (a folder, say) is removed when empty, else set aside;
2. a catalog that is missing, empty or not a SQLite database (or fails ``quick_check``) cannot be rebuilt: it is set
   aside as ``catalog.sqlite.damaged-<time>`` (never deleted) and an empty one is started. The last published
   snapshot keeps answering searches until the sources are indexed again;
3. a manifest that is missing or not kenning's is rebuilt: the embedder is recognised from the catalog (the one an
   adoption recorded, else the registered model whose hashes the stored chunks carry), the settings come from the
   configuration, and a new snapshot is published;
4. a published snapshot that is missing or damaged is rebuilt from the catalog, as is one the catalog has moved past
   (a writer killed before publishing); stray snapshot folders are removed.

>>> repair_collection(Path("/tmp/kenning-home"), "docs", KenningConfig())   # doctest: +SKIP
['rebuilt the damaged snapshot (...) as version 4']
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..config import KenningConfig
from ..errors import CollectionNotFound, IndexError_, IndexLockedError
from ..providers.embedders import REGISTRY, SentenceTransformerEmbedder
from .catalog import INDEXED_TEXT, Catalog
from .collection import FORMAT_VERSION, Collection, check_name, read_manifest, write_manifest
from .migrations import MIGRATIONS
from .writer import embed_hash

__all__ = ["repair_collection"]


def repair_collection(home: Path, name: str, config: KenningConfig) -> list[str]:
    """Repair collection ``name`` in ``home``; returns what was done, one line each (empty: nothing was wrong)."""
    folder = Path(home) / "collections" / check_name(name)
    if not folder.is_dir() or not any((folder / f).exists() for f in ("manifest.json", "catalog.sqlite")):
        raise CollectionNotFound(f"no collection {name!r} in {home} to repair")
    done: list[str] = []
    _repair_lock(folder / "write.lock", done)
    with _file_lock(folder / "write.lock", name):
        _repair_catalog(folder / "catalog.sqlite", done)
        _repair_manifest(folder, name, config, done)
    col = Collection.open(home, name, write=True)
    try:
        with col.locked():
            done += col.recover()
            if col.from_other_catalog():
                done.append(
                    f"the published snapshot came from the catalog that was set aside; it keeps answering searches "
                    f"until you index the sources again: kenning index PATH --collection {name}"
                )
            _remove_strays(col, done)
    finally:
        col.close()
    return done


@contextmanager
def _file_lock(path: Path, name: str) -> Iterator[None]:
    """The collection's write lock, held while files are set aside (no writer may be using them)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise IndexLockedError(
                f"collection {name!r} is being written by another kenning process; repair it once that has finished"
            ) from None
        yield
    finally:
        os.close(fd)


def _aside(path: Path, done: list[str], why: str) -> Path:
    target = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
    os.replace(path, target)
    done.append(f"{path.name} {why}: set aside as {target.name}")
    return target


def _repair_lock(path: Path, done: list[str]) -> None:
    if path.is_symlink() or not path.exists() or path.is_file():
        return
    if path.is_dir():
        try:
            path.rmdir()
            done.append("write.lock was an empty folder: removed")
            return
        except OSError:
            pass
    _aside(path, done, "was not a file")


def _repair_catalog(path: Path, done: list[str]) -> None:
    why = None
    if not path.exists():
        why = "was missing"
    elif path.stat().st_size == 0:
        why = "was empty"
    else:
        try:
            catalog = Catalog(path, readonly=True)
        except IndexError_ as exc:
            why = f"could not be opened ({str(exc).split('(', 1)[-1].split(')')[0]})"
        else:
            check = catalog.quick_check()
            catalog.close()
            if check != "ok":
                why = f"failed SQLite's check ({check})"
    if why is None:
        return
    if path.exists():
        target = _aside(path, done, why)
        for suffix in ("-wal", "-shm"):
            side = path.with_name(path.name + suffix)
            if side.exists():
                os.replace(side, target.with_name(target.name + suffix))
    else:
        done.append(f"catalog.sqlite {why}")
    Catalog(path).close()
    done.append("started an empty catalog: index the sources again to fill it")


def _repair_manifest(folder: Path, name: str, config: KenningConfig, done: list[str]) -> None:
    path = folder / "manifest.json"
    try:
        read_manifest(path)
        return
    except IndexError_ as exc:
        problem = str(exc)
    catalog = Catalog(folder / "catalog.sqlite")
    try:
        embedder = _recognise_embedder(catalog, config)
    finally:
        catalog.close()
    if path.exists():
        _aside(path, done, f"was damaged ({problem.split(': ', 1)[-1].split('; rebuild')[0]})")
    manifest = {
        "format": FORMAT_VERSION,
        "schema_version": len(MIGRATIONS),
        "name": name,
        "created_at": time.time(),
        "embedder": embedder,
        "chunking": config.chunking.model_dump(),
        "context": config.context.model_dump(),
        "lexical": config.lexical.model_dump(),
        "dense": config.dense.model_dump(),
        "snapshot": None,
    }
    write_manifest(path, manifest)
    done.append(
        f"rebuilt manifest.json (embedder {embedder['model']}, dim {embedder['dim']}; settings from the config)"
    )


def _recognise_embedder(catalog: Catalog, config: KenningConfig) -> dict:
    """The embedder that built the catalog's vectors, from what the chunks carry (no model is loaded)."""
    adopted = catalog.get_state("embedder")
    if adopted is not None:
        return json.loads(adopted)
    row = catalog.conn.execute(
        f"SELECT c.embed_hash, {INDEXED_TEXT}, c.doc_id, c.start, c.end, length(v.vector) FROM chunks c "
        "JOIN vectors v USING (embed_hash) LIMIT 1"
    ).fetchone()
    candidates = [(spec.name, spec.model_id, spec.dim) for spec in REGISTRY.values()]
    configured = config.embedder.name
    if configured not in REGISTRY:
        try:
            candidates.insert(0, (configured, SentenceTransformerEmbedder(configured).name, None))
        except Exception:  # noqa: BLE001, S110 - not a local model folder either: the registered ones remain
            pass
    if row is None:
        for cand_name, model_id, dim in candidates:
            if cand_name == configured and dim:
                return {"name": cand_name, "model": model_id, "dim": dim}
        raise IndexError_(
            "the catalog holds no chunks to recognise its embedder by; delete the collection and index it again"
        )
    stored, text, doc_id, start, end, nbytes = row
    for cand_name, model_id, _ in candidates:
        late = embed_hash(f"{model_id}#late", f"{doc_id}:{start}:{end}")
        if stored in (embed_hash(model_id, text), late):
            return {"name": cand_name, "model": model_id, "dim": nbytes // 4}
    raise IndexError_(
        "cannot tell which embedder built the catalog's vectors; name it: kenning index --repair --embedder NAME "
        "(a registered name or the model's folder)"
    )


def _remove_strays(col: Collection, done: list[str]) -> None:
    snaps = col.folder / "snapshots"
    published = col.manifest.get("snapshot")
    keep = Path(published["path"]).name if published else None
    if not snaps.is_dir():
        return
    strays = [p for p in snaps.iterdir() if p.name != keep]
    for p in strays:
        shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
    if strays:
        done.append(f"removed {len(strays)} unfinished or superseded snapshot folder(s)")
