"""Find what to index under the given paths, and read it: :func:`discover`.

Rules, in the order a user meets them:

* A path that does not exist, cannot be read, or is not a file or folder → :class:`~kenning.types.Skipped`.
* Folders are walked recursively in sorted name order, so runs are deterministic. Names starting with ``.`` (files
  and folders) are passed over silently, as are files whose extension kenning does not read (``.png``, ``.py``,
  ``.yaml``). The same file named explicitly as an argument gets a Skipped listing the supported types instead.
* Supported: Markdown (``.md .markdown .mdx``), HTML (``.html .htm .xhtml``), reST (``.rst .rest``, and Sphinx's
  ``.rst.txt``), text (``.txt .text`` and names without an extension, such as ``README``), PDF (``.pdf``, with
  ``kenning[pdf]``), BEIR-style JSONL (``.jsonl``: one document per record), archives (``.tar .tar.gz .tgz
  .tar.bz2 .tar.xz .zip``, read in memory) and any of these gzip'd singly (``guide.md.gz``).
* A folder holding ``corpus.jsonl`` is a BEIR dataset: only ``corpus.jsonl`` is indexed there (not queries, qrels
  or anything below it).
* Symlinked folders are never followed (no loops; their targets inside the input are walked anyway). A symlinked
  file is read when its target lies inside the input folder, and skipped, by name, when it points outside.
* A file larger than ``ingest.max_file_bytes`` is skipped from ``stat()``, before any byte is read; JSONL is
  streamed instead and the limit applies to each record; archives are streamed and bounded by the archive limits.
* Binary content (NUL bytes in the first 8 KB or a known binary signature) and empty files → Skipped.

The same source reached twice (a path given twice, a file inside a folder also given) is yielded once.
Discovery is lazy: one file (or archive member) is in memory at a time.

>>> from kenning.config import IngestConfig
>>> from kenning.ingest import discover
>>> [item.reason for item in discover(["/no/such/dir"], IngestConfig())]
['no such file or directory']
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path

from ..config import IngestConfig
from ..types import Skipped
from .archives import iter_archive
from .beir import iter_jsonl_file
from .kinds import SUPPORTED, classify, suffix
from .source import SourceFile, sources_from_bytes

__all__ = ["SourceFile", "discover"]

_BEIR_CORPUS = "corpus.jsonl"


def discover(paths: Sequence[str | Path], config: IngestConfig) -> Iterator[SourceFile | Skipped]:
    """Yield a :class:`SourceFile` for each indexable item under ``paths``, or a ``Skipped`` saying why not.

    Lazy: files are read one at a time as the caller iterates, so memory stays at about one file.
    """
    roots = list(dict.fromkeys(os.path.abspath(os.path.expanduser(os.fspath(p))) for p in paths))
    if not _nested(roots):
        for root in roots:
            yield from _discover_root(root, config)
        return
    seen: set[str] = set()  # only when one input lies inside another: sources could repeat
    for root in roots:
        for item in _discover_root(root, config):
            if item.source not in seen:
                seen.add(item.source)
                yield item


def _nested(roots: list[str]) -> bool:
    """Whether any of ``roots`` lies inside another one."""
    known = set(roots)
    for root in roots:
        parent = os.path.dirname(root)
        while parent != root:
            if parent in known:
                return True
            root, parent = parent, os.path.dirname(parent)
    return False


def _discover_root(root: str, config: IngestConfig) -> Iterator[SourceFile | Skipped]:
    try:
        st = os.stat(root)
    except FileNotFoundError:
        reason = "broken symlink" if os.path.islink(root) else "no such file or directory"
        yield Skipped(root, reason)
        return
    except PermissionError:
        yield Skipped(root, "permission denied")
        return
    except OSError as exc:
        yield Skipped(root, f"cannot read: {exc.strerror or exc}")
        return
    if stat.S_ISDIR(st.st_mode):
        yield from _walk(root, config)
    elif stat.S_ISREG(st.st_mode):
        yield from _file(root, root, os.path.basename(root), config, explicit=True)
    else:
        yield Skipped(root, "not a regular file or folder")


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _walk(root: str, config: IngestConfig) -> Iterator[SourceFile | Skipped]:
    """Depth-first, sorted, with an explicit stack of directory listings (no recursion, no symlinked folders)."""
    real_root = os.path.realpath(root)
    stack: list[Iterator[os.DirEntry[str]]] = []
    listing = _list_dir(root)
    if isinstance(listing, Skipped):
        yield listing
        return
    stack.append(iter(listing))
    while stack:
        entry = next(stack[-1], None)
        if entry is None:
            stack.pop()
            continue
        if entry.name.startswith("."):
            continue
        rel = os.path.relpath(entry.path, root)
        try:
            is_link = entry.is_symlink()
            is_dir = not is_link and entry.is_dir(follow_symlinks=False)
        except OSError as exc:
            yield Skipped(entry.path, f"cannot read: {exc.strerror or exc}")
            continue
        if is_dir:
            listing = _list_dir(entry.path)
            if isinstance(listing, Skipped):
                yield listing
            else:
                stack.append(iter(listing))
        elif is_link:
            yield from _symlink(entry.path, real_root, root, rel, config)
        elif entry.is_file(follow_symlinks=False):
            yield from _file(entry.path, root, rel, config, explicit=False)
        elif classify(entry.name) is not None:
            yield Skipped(entry.path, "not a regular file (a fifo, socket or device)")


def _list_dir(path: str) -> list[os.DirEntry[str]] | Skipped:
    """Sorted entries of a folder; a BEIR dataset folder lists only its ``corpus.jsonl``."""
    try:
        with os.scandir(path) as it:
            entries = sorted(it, key=lambda e: e.name)
    except PermissionError:
        return Skipped(path, "permission denied")
    except OSError as exc:
        return Skipped(path, f"cannot list folder: {exc.strerror or exc}")
    corpus = [e for e in entries if e.name == _BEIR_CORPUS]
    if corpus and corpus[0].is_file():
        return corpus
    return entries


def _symlink(path: str, real_root: str, root: str, rel: str, config: IngestConfig) -> Iterator[SourceFile | Skipped]:
    target = os.path.realpath(path)
    if not os.path.exists(target):
        if classify(os.path.basename(path)) is not None:
            yield Skipped(path, "broken symlink")
        return
    if os.path.isdir(target):
        if not _inside(target, real_root):
            yield Skipped(path, f"symlinked folder outside the input not followed (-> {target})")
        return
    if classify(os.path.basename(path)) is None:
        return
    if not _inside(target, real_root):
        yield Skipped(path, f"symlink points outside the input folder (-> {target}); not followed")
        return
    yield from _file(path, root, rel, config, explicit=False)


def _file(path: str, root: str, rel: str, config: IngestConfig, *, explicit: bool) -> Iterator[SourceFile | Skipped]:
    kind = classify(os.path.basename(path))
    if kind is None:
        if explicit:
            name = os.path.basename(path).lower()
            ext = suffix(name.removesuffix(".gz")) + (".gz" if name.endswith(".gz") else "")
            yield Skipped(path, f"unsupported file type {ext or name}; supported: {SUPPORTED}")
        return
    if kind.what == "archive":
        yield from iter_archive(path, root, config)
        return
    if kind.what == "beir" and not kind.gzip:
        yield from iter_jsonl_file(path, root, config)
        return
    data = _read(path, config.max_file_bytes)
    if isinstance(data, Skipped):
        yield data
        return
    metadata = {"path": rel, "ext": kind.ext}
    yield from sources_from_bytes(path, root, kind, data, metadata, config)


def _read(path: str, limit: int) -> bytes | Skipped:
    """The whole file, or why not: checked with ``fstat`` before reading, and never more than ``limit + 1`` bytes."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except PermissionError:
        return Skipped(path, "permission denied")
    except FileNotFoundError:
        return Skipped(path, "no such file or directory (removed while reading?)")
    except OSError as exc:
        return Skipped(path, f"cannot open: {exc.strerror or exc}")
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return Skipped(path, "not a regular file (a fifo, socket or device)")
        if st.st_size > limit:
            return Skipped(path, f"file is {st.st_size:,} bytes, larger than ingest.max_file_bytes={limit:,}")
        if st.st_size == 0:
            return Skipped(path, "empty file")
        try:
            data = fh.read(limit + 1)
        except OSError as exc:
            return Skipped(path, f"read failed: {exc.strerror or exc}")
    if len(data) > limit:
        return Skipped(path, f"file grew past ingest.max_file_bytes={limit:,} while being read")
    return data
