"""Archives (``.tar``, ``.tar.gz``/``.tgz``, ``.tar.bz2``, ``.tar.xz``, ``.zip``) read in memory, member by member.

Nothing is ever extracted to disk. A member becomes ``/abs/archive.tar.gz!/member/path`` and goes through the same
rules as a file in a folder: hidden names and unknown extensions are passed over silently; everything else is
indexed or reported as :class:`~kenning.types.Skipped`:

* unsafe names (absolute, ``..``, drive letters, NUL) and tar links, devices and fifos — ``unsafe path in archive``;
* nested archives — not opened;
* members over ``ingest.max_file_bytes``, declared or actual (reads are bounded, headers are not trusted);
* zip members whose compression ratio passes ``ingest.max_compression_ratio``, and encrypted members;
* once ``ingest.max_archive_bytes`` have been unpacked, or ``ingest.max_archive_members`` seen, the remainder of the
  archive (a zip with too many members is refused whole, before its directory is loaded);
* a corrupt or truncated archive: the members read before the damage are kept.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import stat
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from typing import BinaryIO

from ..config import IngestConfig
from ..types import Skipped
from .compressed import CountingReader, LimitExceeded, check_ratio
from .kinds import classify
from .source import SourceFile, sources_from_bytes

__all__ = ["iter_archive", "member_problem"]

_GZIP, _BZIP2, _XZ, _ZIP = b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00", (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")


def iter_archive(path: str, root: str, config: IngestConfig, fh: BinaryIO) -> Iterator[SourceFile | Skipped]:
    """Every indexable member of the archive ``fh`` found at ``path`` (format sniffed from its first bytes).

    The caller opens (and checks) the file; it is read from the start and not closed here.
    """
    try:
        head = fh.read(8)
        fh.seek(0)
    except OSError as exc:
        yield Skipped(path, f"cannot read: {exc.strerror or exc}")
        return
    if head.startswith(_ZIP):
        yield from _iter_zip(path, fh, root, config)
    else:
        yield from _iter_tar(path, fh, root, head, config)


def member_problem(name: str) -> str | None:
    """Why a member name is unsafe to use as a path, or ``None`` when it is fine."""
    if "\x00" in name:
        return "unsafe path in archive: name contains a NUL byte"
    unified = name.replace("\\", "/")
    if unified.startswith("/") or (len(unified) > 1 and unified[1] == ":" and unified[0].isalpha()):
        return f"unsafe path in archive: {name} (absolute path)"
    if ".." in unified.split("/"):
        return f"unsafe path in archive: {name} (goes up with '..')"
    return None


def _normal_name(name: str) -> str:
    """``./docs//a.md`` → ``docs/a.md``."""
    return "/".join(part for part in name.split("/") if part not in ("", "."))


def _is_hidden(name: str) -> bool:
    return any(part.startswith(".") for part in name.split("/"))


class _Budget:
    """What an archive may still unpack; :meth:`count` and :meth:`spend` raise ``LimitExceeded`` past the limits."""

    def __init__(self, config: IngestConfig) -> None:
        self.config = config
        self.members = 0
        self.bytes = 0

    def count(self) -> None:
        self.members += 1
        if self.members > self.config.max_archive_members:
            raise LimitExceeded(
                f"has more than {self.config.max_archive_members:,} members (ingest.max_archive_members); "
                "the remaining members were not indexed"
            )

    def spend(self, n: int) -> None:
        self.bytes += n
        if self.bytes > self.config.max_archive_bytes:
            raise LimitExceeded(
                f"unpacks to more than {self.config.max_archive_bytes:,} bytes (ingest.max_archive_bytes); "
                "the remaining members were not indexed"
            )


def _member_sources(
    archive: str, root: str, name: str, data: bytes, config: IngestConfig
) -> Iterator[SourceFile | Skipped]:
    kind = classify(name)
    assert kind is not None and kind.what != "archive"
    metadata = {"path": name, "ext": kind.ext, "archive": archive}
    yield from sources_from_bytes(f"{archive}!/{name}", root, kind, data, metadata, config)


def _screen(archive: str, raw_name: str) -> tuple[str | None, Skipped | None]:
    """The normalized member name to read, or a Skipped for it, or neither (pass over silently)."""
    problem = member_problem(raw_name)
    if problem:
        return None, Skipped(f"{archive}!/{raw_name}", problem)
    name = _normal_name(raw_name)
    if not name or _is_hidden(name):
        return None, None
    kind = classify(name)
    if kind is None:
        return None, None
    if kind.what == "archive":
        return None, Skipped(f"{archive}!/{name}", "nested archive not indexed; extract it or index it on its own")
    return name, None


# ---------------------------------------------------------------------------------------------------- tar


def _open_stream(raw: CountingReader, head: bytes, config: IngestConfig) -> CountingReader:
    """The decompressed tar stream, counted: stops at ``max_archive_bytes`` or an implausible expansion."""
    if head.startswith(_GZIP):
        inner = gzip.GzipFile(fileobj=raw, mode="rb")
    elif head.startswith(_BZIP2):
        inner = bz2.BZ2File(raw)
    elif head.startswith(_XZ):
        inner = lzma.LZMAFile(raw)
    else:
        return CountingReader(raw, limit=config.max_archive_bytes)
    return CountingReader(inner, limit=config.max_archive_bytes, compressed=raw, max_ratio=config.max_compression_ratio)


def _iter_tar(path: str, raw: BinaryIO, root: str, head: bytes, config: IngestConfig) -> Iterator[SourceFile | Skipped]:
    budget = _Budget(config)
    try:
        with tarfile.open(fileobj=_open_stream(CountingReader(raw), head, config), mode="r|") as tar:
            for info in tar:
                budget.count()
                yield from _tar_member(tar, info, path, root, config, budget)
                _check_declared_end(info, config)
    except LimitExceeded as exc:
        yield Skipped(path, f"archive {exc}")
    except (tarfile.TarError, OSError, EOFError, zlib.error, lzma.LZMAError) as exc:
        detail = str(exc) or type(exc).__name__
        if budget.members:
            yield Skipped(
                path,
                f"corrupt or truncated archive after {budget.members} members: {detail}; "
                "the members before the damage were indexed",
            )
        else:
            yield Skipped(path, f"not a readable tar or zip archive: {detail}")


def _check_declared_end(info: tarfile.TarInfo, config: IngestConfig) -> None:
    """Refuse the rest of the archive when the next header lies past ``max_archive_bytes``.

    A streamed tar reaches the next header by reading through the member's declared size; a header that lies
    (a terabyte in a small file) would have it read nothing at the end of the stream some 10⁸ times: a hang.
    """
    end = info.offset_data + info.size
    if end > config.max_archive_bytes:
        raise LimitExceeded(
            f"member {info.name} declares {info.size:,} bytes, past ingest.max_archive_bytes="
            f"{config.max_archive_bytes:,} (a decompression bomb or a lying header); the rest of the archive was not read"
        )


def _tar_member(
    tar: tarfile.TarFile, info: tarfile.TarInfo, path: str, root: str, config: IngestConfig, budget: _Budget
) -> Iterator[SourceFile | Skipped]:
    name, skipped = _screen(path, info.name)
    if skipped is not None:
        yield skipped
        return
    if info.isdir():
        return
    where = f"{path}!/{name or info.name}"
    if info.issym() or info.islnk():
        link = "symlink" if info.issym() else "hard link"
        yield Skipped(
            where,
            f"unsafe path in archive: {info.name} is a {link} to {info.linkname!r}; links in archives are not followed",
        )
        return
    if info.ischr() or info.isblk() or info.isfifo():
        yield Skipped(where, f"unsafe path in archive: {info.name} is a device or fifo")
        return
    if name is None:
        return
    if not info.isreg():
        yield Skipped(where, "not a regular file in the archive")
        return
    limit = config.max_file_bytes
    if info.size > limit:
        yield Skipped(where, f"member is {info.size:,} bytes, larger than ingest.max_file_bytes={limit:,}")
        return
    member = tar.extractfile(info)
    data = member.read(limit + 1) if member is not None else b""
    if len(data) > limit:
        yield Skipped(where, f"member is larger than ingest.max_file_bytes={limit:,}")
        return
    budget.spend(len(data))
    yield from _member_sources(path, root, name, data, config)


# ---------------------------------------------------------------------------------------------------- zip


def _zip_entry_count(fh: BinaryIO) -> int | None:
    """The member count from the end-of-central-directory record, read without loading the directory."""
    fh.seek(0, os.SEEK_END)
    size = fh.tell()
    tail_len = min(size, 22 + 65535)
    fh.seek(size - tail_len)
    tail = fh.read(tail_len)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or at + 22 > len(tail):
        return None
    count = struct.unpack("<H", tail[at + 10 : at + 12])[0]
    if count != 0xFFFF or at < 20 or tail[at - 20 : at - 16] != b"PK\x06\x07":
        return count
    (zip64_offset,) = struct.unpack("<Q", tail[at - 12 : at - 4])
    fh.seek(zip64_offset)
    record = fh.read(56)
    if len(record) < 56 or not record.startswith(b"PK\x06\x06"):
        return None
    return struct.unpack("<Q", record[32:40])[0]


def _iter_zip(path: str, fh: BinaryIO, root: str, config: IngestConfig) -> Iterator[SourceFile | Skipped]:
    budget = _Budget(config)
    try:
        count = _zip_entry_count(fh)
        if count is not None and count > config.max_archive_members:
            # Refused whole: loading a huge central directory would already cost the memory the limit guards.
            yield Skipped(
                path,
                f"has {count:,} members, more than ingest.max_archive_members={config.max_archive_members:,}; "
                "not indexed",
            )
            return
        with zipfile.ZipFile(fh) as zf:
            for info in zf.infolist():
                budget.count()
                yield from _zip_member(zf, info, path, root, config, budget)
    except LimitExceeded as exc:
        yield Skipped(path, f"archive {exc}")
    except PermissionError:
        yield Skipped(path, "permission denied")
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, struct.error) as exc:
        kept = f"; the {budget.members} members before the damage were read" if budget.members else ""
        yield Skipped(path, f"corrupt zip archive: {str(exc) or type(exc).__name__}{kept}")


def _zip_member(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: str, root: str, config: IngestConfig, budget: _Budget
) -> Iterator[SourceFile | Skipped]:
    name, skipped = _screen(path, info.filename)
    if skipped is not None:
        yield skipped
        return
    if info.is_dir():
        return
    where = f"{path}!/{name or info.filename}"
    if stat.S_ISLNK(info.external_attr >> 16):
        yield Skipped(
            where, f"unsafe path in archive: {info.filename} is a symlink; links in archives are not followed"
        )
        return
    if name is None:
        return
    problem = _zip_member_problem(info, config)
    if problem:
        yield Skipped(where, problem)
        return
    limit = config.max_file_bytes
    try:
        with zf.open(info) as member:
            data = member.read(limit + 1)
        if len(data) > limit:
            raise LimitExceeded(f"member is larger than ingest.max_file_bytes={limit:,}")
        check_ratio(len(data), info.compress_size, config.max_compression_ratio)
    except LimitExceeded as exc:
        yield Skipped(where, str(exc))
        return
    except (
        zipfile.BadZipFile,
        zlib.error,
        lzma.LZMAError,
        EOFError,
        OSError,
        NotImplementedError,
        RuntimeError,
        ValueError,
    ) as exc:
        yield Skipped(where, f"cannot read member: {str(exc) or type(exc).__name__}")
        return
    budget.spend(len(data))
    yield from _member_sources(path, root, name, data, config)


def _zip_member_problem(info: zipfile.ZipInfo, config: IngestConfig) -> str | None:
    """What the central directory alone says is wrong with a member (checked again on the real bytes)."""
    if info.flag_bits & 0x1:
        return "encrypted member; kenning does not read encrypted archives"
    if info.file_size > config.max_file_bytes:
        return f"member is {info.file_size:,} bytes, larger than ingest.max_file_bytes={config.max_file_bytes:,}"
    try:
        check_ratio(info.file_size, info.compress_size, config.max_compression_ratio)
    except LimitExceeded as exc:
        return str(exc)
    return None
