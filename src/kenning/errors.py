"""kenning's one exception tree.

Messages say what happened and what to do next. Only the CLI (and later the server) turn these into exit codes.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from collections.abc import Collection
from pathlib import Path

__all__ = [
    "KenningError",
    "ConfigError",
    "MissingExtraError",
    "InputError",
    "IndexError_",
    "CollectionNotFound",
    "IndexLockedError",
    "ProviderError",
    "StorageError",
    "check_choice",
    "storage_error",
]


class KenningError(Exception):
    """Base of every error kenning raises on purpose."""


class ConfigError(KenningError):
    """A setting has a value kenning cannot use; the message names the setting and the value."""


def check_choice(setting: str, value: object, choices: Collection[str]) -> None:
    """Raise a :class:`ConfigError` naming ``setting``, the choices and ``value`` unless ``value`` is one of them.

    >>> check_choice("fusion", "max", ("none", "rrf"))
    Traceback (most recent call last):
    kenning.errors.ConfigError: fusion must be one of none, rrf, got 'max'
    """
    if value not in choices:
        raise ConfigError(f"{setting} must be one of {', '.join(choices)}, got {value!r}")


class MissingExtraError(KenningError):
    """An optional dependency is not installed; the message names the extra to install."""

    def __init__(self, feature: str, extra: str, package: str) -> None:
        super().__init__(
            f"{feature} needs the '{package}' package, which is not installed. "
            f"Install it with: pip install 'kenning[{extra}]'"
        )
        self.extra = extra
        self.package = package


class InputError(KenningError):
    """An input file or record cannot be used; the message names it."""


class IndexError_(KenningError):
    """The on-disk index is missing, incompatible or damaged."""


class CollectionNotFound(IndexError_):
    """No collection of that name exists in the index home."""


class IndexLockedError(IndexError_):
    """Another process is writing to this collection."""


class ProviderError(KenningError):
    """A model provider (embedder, LLM, reranker) failed or could not be loaded."""


class StorageError(KenningError):
    """The disk refused a read or write (full, read-only, no permission, a file where a folder should be); the
    message names the path and what to do. What was committed before stays committed."""

    def __init__(self, message: str, *, path: str = "", code: int = 0) -> None:
        super().__init__(message)
        self.path = path
        self.errno = code


_WHY = {
    errno.ENOSPC: "the disk is full; free some space (or point --home at a larger disk) and run the command again",
    errno.EDQUOT: "the disk quota is used up; free some space and run the command again",
    errno.EFBIG: "the file would exceed the largest size allowed here (file system or ulimit -f)",
    errno.EROFS: "the file system is read-only; point --home (or $KENNING_HOME) at a writable folder to change it",
    errno.EACCES: "permission denied; check the owner and mode of the folder",
    errno.EPERM: "operation not permitted (an immutable or protected file?)",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EISDIR: "it is a folder where kenning expects a file",
}


def storage_error(exc: BaseException, path: str | Path) -> StorageError | None:
    """``exc`` as a :class:`StorageError` naming the file (``exc.filename``, else ``path``), or None when it is not
    a storage failure kenning can explain.

    >>> str(storage_error(OSError(28, "No space left on device"), "/data/home")).split(";")[0]
    'cannot write /data/home: the disk is full'
    """
    code: int | None = None
    where = str(path)
    if isinstance(exc, OSError):
        code = exc.errno
        if exc.filename:
            where = os.fsdecode(exc.filename)
    elif isinstance(exc, sqlite3.OperationalError):
        # SQLITE_FULL; SQLITE_READONLY*; SQLITE_CANTOPEN and SQLITE_IOERR* (e.g. _SHMSIZE: no room for the WAL's
        # shared memory) say why only together with the state of the file system
        name = getattr(exc, "sqlite_errorname", "") or ""
        text = str(exc).lower()
        if name == "SQLITE_FULL" or "database or disk is full" in text:
            code = errno.ENOSPC
        elif name.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_IOERR")) or any(
            words in text for words in ("readonly database", "unable to open database", "disk i/o error")
        ):
            code = _folder_state(Path(path))
    if code is None or code not in _WHY:
        return None
    verb = "write" if code in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS) else "use"
    return StorageError(f"cannot {verb} {where}: {_WHY[code]}", path=where, code=code)


_LOW_SPACE = 1 << 20  # bytes: below this, an I/O error from SQLite is taken for a full disk


def _folder_state(path: Path) -> int | None:
    """Why SQLite could not open a file in ``path`` (a folder or a file in it), when the folder says so."""
    folder = path if path.is_dir() else path.parent
    try:
        fs = os.statvfs(folder)
        if fs.f_flag & os.ST_RDONLY:
            return errno.EROFS
        if not os.access(folder, os.W_OK | os.X_OK):
            return errno.EACCES
        if fs.f_bavail * fs.f_frsize < _LOW_SPACE:
            return errno.ENOSPC
    except OSError:
        return None
    return None
