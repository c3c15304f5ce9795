"""Uploads land only in the server's data folder, under a plain file name, within a size limit.

The body is streamed straight to a ``.part`` file in the collection's upload folder and counted as it comes, so a
1 GB upload is refused after ``limit`` bytes without being held in memory or spooled anywhere else; the file is
renamed into place only when complete.

>>> safe_name("notes.md")
'notes.md'
>>> safe_name("../../etc/passwd")
Traceback (most recent call last):
...
kenning.errors.InputError: upload name '../../etc/passwd' is not a plain file name: no folders, no leading dot, letters, digits, spaces and ._-+() only
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

from ..errors import InputError

__all__ = ["safe_name", "receive", "TooLarge", "upload_folder", "uploads_root"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._+()-]{0,199}$")


class TooLarge(InputError):
    """The upload passed the size limit."""


def safe_name(name: str) -> str:
    """``name`` if it is a plain file name that cannot leave its folder, else :class:`InputError`."""
    if not _NAME.match(name or "") or ".." in name or name.strip() != name:
        raise InputError(
            f"upload name {name!r} is not a plain file name: no folders, no leading dot, letters, digits, spaces "
            "and ._-+() only"
        )
    return name


def uploads_root(data: Path) -> Path:
    """Where every collection's uploads live: ``<data>/uploads/``."""
    return data / "uploads"


def upload_folder(data: Path, collection: str) -> Path:
    """Where a collection's uploads live: ``<data>/uploads/<collection>/``."""
    return uploads_root(data) / collection


async def receive(chunks: AsyncIterator[bytes], folder: Path, name: str, *, limit: int) -> tuple[Path, int]:
    """Write the streamed body to ``folder/name`` (replacing a file of that name); returns the path and its size.

    Raises :class:`TooLarge` past ``limit`` bytes, leaving nothing behind.
    """
    name = safe_name(name)
    folder.mkdir(parents=True, exist_ok=True)
    target = (folder / name).resolve()
    if target.parent != folder.resolve():  # cannot happen with a safe name; checked anyway
        raise InputError(f"upload name {name!r} leaves the upload folder")
    part = folder / f".{secrets.token_hex(8)}.part"
    size = 0
    try:
        with open(part, "wb") as f:
            async for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise TooLarge(f"upload {name!r} is larger than the limit of {limit:,} bytes")
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        if size == 0:
            raise InputError(f"upload {name!r} is empty")
        os.replace(part, target)
    finally:
        part.unlink(missing_ok=True)
    return target, size
