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
  file is read when its target lies inside the input folder, and skipped, by name, when it points outside. A
  symlink given as an input itself (``kenning index dir/*`` expanding to a link) is refused the same way: name its
  target instead.
* What is read is what was checked: every file and folder is opened without following a link in its last part
  (``O_NOFOLLOW``, ``O_NONBLOCK`` so a fifo cannot block), and the *opened* file is checked with ``fstat`` (a regular
  file, its size) and, where ``/proc/self/fd`` tells, for lying inside the input folder — so a file swapped for a
  link to ``/etc/passwd`` between the listing and the read is skipped, never read.
* A file larger than ``ingest.max_file_bytes`` is skipped from ``fstat()``, before any byte is read; JSONL is
  streamed instead and the limit applies to each record; archives are streamed and bounded by the archive limits.
* A name that is not valid UTF-8 (bytes the OS hands over as surrogate escapes) is stored readably, each bad byte
  written ``\\xff``; the file is read like any other.
* Binary content (NUL bytes in the first 8 KB or a known binary signature) and empty files → Skipped.

The same source reached twice (a path given twice, a file inside a folder also given) is yielded once.
Discovery is lazy: one file (or archive member) is in memory at a time.

>>> from kenning.config import IngestConfig
>>> from kenning.ingest import discover
>>> [item.reason for item in discover(["/no/such/dir"], IngestConfig())]
['no such file or directory']
"""

from __future__ import annotations

import dataclasses
import errno
import os
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from ..config import IngestConfig
from ..types import Skipped
from .archives import iter_archive
from .beir import iter_jsonl_file
from .kinds import SUPPORTED, classify, suffix
from .source import SourceFile, readable, sources_from_bytes

__all__ = ["SourceFile", "discover"]

_BEIR_CORPUS = "corpus.jsonl"


def discover(paths: Sequence[str | Path], config: IngestConfig) -> Iterator[SourceFile | Skipped]:
    """Yield a :class:`SourceFile` for each indexable item under ``paths``, or a ``Skipped`` saying why not.

    Lazy: files are read one at a time as the caller iterates, so memory stays at about one file.
    """
    roots = list(dict.fromkeys(os.path.abspath(os.path.expanduser(os.fspath(p))) for p in paths))
    if not _nested(roots):
        for root in roots:
            yield from map(_readable, _discover_root(root, config))
        return
    seen: set[str] = set()  # only when one input lies inside another: sources could repeat
    for root in roots:
        for item in map(_readable, _discover_root(root, config)):
            if item.source not in seen:
                seen.add(item.source)
                yield item


def _readable(item: SourceFile | Skipped) -> SourceFile | Skipped:
    """The item with every name in it storable as UTF-8 (undecodable bytes of a file name written ``\\xff``)."""
    if isinstance(item, Skipped):
        source = readable(item.source)
        return item if source is item.source else Skipped(source, readable(item.reason))
    names = (item.source, item.root, *(v for v in item.metadata.values() if isinstance(v, str)))
    if all(readable(name) is name for name in names):
        return item
    metadata = {k: readable(v) if isinstance(v, str) else v for k, v in item.metadata.items()}
    return dataclasses.replace(item, source=readable(item.source), root=readable(item.root), metadata=metadata)


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
    if os.path.islink(root):
        target = _realpath(root) or "?"
        yield Skipped(
            root,
            f"is a symlink (-> {target}); a symlink given as an input is not followed: name its target if you mean it",
        )
        return
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
        yield from _file(root, root, os.path.basename(root), config, explicit=True, inside=_realpath(root) or root)
    else:
        yield Skipped(root, "not a regular file or folder")


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _walk(root: str, config: IngestConfig) -> Iterator[SourceFile | Skipped]:
    """Depth-first, sorted, with an explicit stack of directory listings (no recursion, no symlinked folders)."""
    real_root = _realpath(root) or root
    stack: list[Iterator[tuple[str, str]]] = []
    listing = _list_dir(root, real_root)
    if isinstance(listing, Skipped):
        yield listing
        return
    stack.append(iter(listing))
    while stack:
        item = next(stack[-1], None)
        if item is None:
            stack.pop()
            continue
        path, what = item
        rel = os.path.relpath(path, root)
        if what == "dir":
            listing = _list_dir(path, real_root)
            if isinstance(listing, Skipped):
                yield listing
            else:
                stack.append(iter(listing))
        elif what == "link":
            yield from _symlink(path, real_root, root, rel, config)
        elif what == "file":
            yield from _file(path, root, rel, config, explicit=False, inside=real_root)
        elif what == "other":
            if classify(os.path.basename(path)) is not None:
                yield Skipped(path, "not a regular file (a fifo, socket or device)")
        else:
            yield Skipped(path, what)


def _list_dir(path: str, real_root: str) -> list[tuple[str, str]] | Skipped:
    """Sorted ``(path, what)`` of a folder's visible entries, ``what`` being dir, link, file, other or an error.

    The folder is opened without following a link (it may have been swapped for one since its parent was listed)
    and checked to lie inside the input; a BEIR dataset folder lists only its ``corpus.jsonl``.
    """
    opened = _open_checked(path, real_root, os.O_DIRECTORY)
    if isinstance(opened, Skipped):
        return opened
    fd, _ = opened
    entries: list[tuple[str, str]] = []
    try:
        with os.scandir(fd) as it:
            for entry in it:
                if entry.name.startswith("."):
                    continue
                try:
                    if entry.is_symlink():
                        what = "link"
                    elif entry.is_dir(follow_symlinks=False):
                        what = "dir"
                    elif entry.is_file(follow_symlinks=False):
                        what = "file"
                    else:
                        what = "other"
                except OSError as exc:
                    what = f"cannot read: {exc.strerror or exc}"
                entries.append((os.path.join(path, entry.name), what))
    except PermissionError:
        return Skipped(path, "permission denied")
    except OSError as exc:
        return Skipped(path, f"cannot list folder: {exc.strerror or exc}")
    finally:
        os.close(fd)
    entries.sort()
    corpus = [e for e in entries if os.path.basename(e[0]) == _BEIR_CORPUS and e[1] in ("file", "link")]
    return corpus or entries


def _fd_path(fd: int) -> str | None:
    """Where the open file ``fd`` really is, from ``/proc/self/fd`` (None where the OS does not say)."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return None


def _open_checked(path: str, inside: str, extra: int = 0) -> tuple[int, os.stat_result] | Skipped:
    """Open ``path`` without following a link in its last part, then check the opened file, not the name.

    ``inside`` is where the opened file must really be (the input folder, or the file itself for a file argument):
    a folder on the way swapped for a link after it was listed is caught here. ``extra`` adds open flags
    (``O_DIRECTORY``). Returns the descriptor and its ``fstat``, or why not (the descriptor then closed).
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0) | extra
    try:
        fd = os.open(path, flags)
    except PermissionError:
        return Skipped(path, "permission denied")
    except FileNotFoundError:
        return Skipped(path, "no such file or directory (removed while reading?)")
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EMLINK):  # EMLINK: what FreeBSD says for O_NOFOLLOW on a link
            return Skipped(path, "became a symlink while the input was read; not followed")
        if exc.errno == errno.ENOTDIR and extra:
            return Skipped(path, "changed from a folder to a file while the input was read; not read")
        return Skipped(path, f"cannot open: {exc.strerror or exc}")
    try:
        st = os.fstat(fd)
        real = _fd_path(fd)
    except OSError as exc:
        os.close(fd)
        return Skipped(path, f"cannot read: {exc.strerror or exc}")
    if real is not None and real.startswith("/") and not _inside(real, inside):
        os.close(fd)
        return Skipped(path, f"changed while the input was read: now leads outside it (-> {real}); not read")
    if not extra and not stat.S_ISREG(st.st_mode):
        os.close(fd)
        return Skipped(path, "not a regular file (a fifo, socket or device)")
    return fd, st


def _realpath(path: str) -> str | None:
    """``os.path.realpath``, or None when the links on the way change under it (it then raises ``EINVAL``)."""
    try:
        return os.path.realpath(path)
    except OSError:
        return None


def _symlink(path: str, real_root: str, root: str, rel: str, config: IngestConfig) -> Iterator[SourceFile | Skipped]:
    target = _realpath(path)
    if target is None:
        yield Skipped(path, "changed while the input was read; not read")
        return
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
    # read the target the link was checked to resolve to (itself opened without following, and checked again)
    yield from _file(path, root, rel, config, explicit=False, inside=real_root, open_path=target)


def _file(
    path: str,
    root: str,
    rel: str,
    config: IngestConfig,
    *,
    explicit: bool,
    inside: str,
    open_path: str | None = None,
) -> Iterator[SourceFile | Skipped]:
    kind = classify(os.path.basename(path))
    if kind is None:
        if explicit:
            name = os.path.basename(path).lower()
            ext = suffix(name.removesuffix(".gz")) + (".gz" if name.endswith(".gz") else "")
            yield Skipped(path, f"unsupported file type {ext or name}; supported: {SUPPORTED}")
        return
    opened = _open_checked(open_path or path, inside)
    if isinstance(opened, Skipped):
        yield Skipped(path, opened.reason)
        return
    fd, st = opened
    with os.fdopen(fd, "rb") as fh:
        if kind.what == "archive":
            yield from iter_archive(path, root, config, fh)
            return
        if kind.what == "beir" and not kind.gzip:
            yield from iter_jsonl_file(path, root, config, fh, size=st.st_size)
            return
        data = _read(path, fh, st.st_size, config.max_file_bytes)
    if isinstance(data, Skipped):
        yield data
        return
    metadata = {"path": rel, "ext": kind.ext}
    yield from sources_from_bytes(path, root, kind, data, metadata, config)


def _read(path: str, fh: BinaryIO, size: int, limit: int) -> bytes | Skipped:
    """The whole opened file, or why not: its ``fstat`` size checked first, never more than ``limit + 1`` bytes."""
    if size > limit:
        return Skipped(path, f"file is {size:,} bytes, larger than ingest.max_file_bytes={limit:,}")
    if size == 0:
        return Skipped(path, "empty file")
    try:
        data = fh.read(limit + 1)
    except OSError as exc:
        return Skipped(path, f"read failed: {exc.strerror or exc}")
    if len(data) > limit:
        return Skipped(path, f"file grew past ingest.max_file_bytes={limit:,} while being read")
    return data
