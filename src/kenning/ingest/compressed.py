"""Bounded decompression: never trust a size header, never expand more than the limits allow.

Every read of compressed data asks for at most ``limit + 1`` bytes, so a 10 GB gzip of zeros costs ``limit`` bytes
of memory and a few milliseconds before it is refused. :class:`CountingReader` does the same for a whole archive
stream: it counts what comes out of the decompressor and stops at ``max_archive_bytes`` or at an implausible
compression ratio.

>>> import gzip
>>> gunzip(gzip.compress(b"hello"), limit=100, max_ratio=200.0)
b'hello'
"""

from __future__ import annotations

import gzip
import io
import lzma
import zlib
from typing import BinaryIO

__all__ = ["LimitExceeded", "RATIO_FLOOR", "gunzip", "CountingReader", "check_ratio"]

# Below this many expanded bytes the compression ratio is not checked: a small file of repeated lines can
# compress 1,000 times and still be harmless.
RATIO_FLOOR = 1 << 20


class LimitExceeded(Exception):
    """Decompressed data went past a limit; the message says which (an internal signal, turned into a Skipped)."""


def check_ratio(expanded: int, compressed: int, max_ratio: float) -> None:
    """Raise :class:`LimitExceeded` when ``expanded`` bytes came from implausibly few ``compressed`` ones."""
    if expanded > RATIO_FLOOR and expanded > max_ratio * max(compressed, 1):
        raise LimitExceeded(
            f"expands {expanded / max(compressed, 1):,.1f} times (more than ingest.max_compression_ratio="
            f"{max_ratio:g}): looks like a decompression bomb"
        )


def gunzip(data: bytes, *, limit: int, max_ratio: float) -> bytes:
    """Decompress a gzip blob, refusing output larger than ``limit`` bytes or expanding more than ``max_ratio``.

    Raises :class:`LimitExceeded` for a limit and ``ValueError`` for data that is not valid gzip.
    """
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
            out = stream.read(limit + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"corrupt gzip data: {exc or type(exc).__name__}") from None
    if len(out) > limit:
        raise LimitExceeded(
            f"decompresses to more than {limit:,} bytes (ingest.max_file_bytes); possibly a decompression bomb"
        )
    check_ratio(len(out), len(data), max_ratio)
    return out


class CountingReader(io.RawIOBase):
    """A read-only stream that counts the bytes it passes on and stops past ``limit``.

    With ``compressed`` (the counter on the raw file under a decompressor) it also stops when the output grows
    more than ``max_ratio`` times faster than the input.
    """

    def __init__(
        self,
        inner: BinaryIO,
        *,
        limit: int | None = None,
        compressed: CountingReader | None = None,
        max_ratio: float = 0.0,
    ) -> None:
        super().__init__()
        self._inner = inner
        self._limit = limit
        self._compressed = compressed
        self._max_ratio = max_ratio
        self.count = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = 1 << 20
        try:
            data = self._inner.read(size)
        except (lzma.LZMAError, zlib.error, EOFError) as exc:
            raise OSError(f"corrupt compressed data: {exc or type(exc).__name__}") from None
        self.count += len(data)
        if self._limit is not None and self.count > self._limit:
            raise LimitExceeded(
                f"unpacks to more than {self._limit:,} bytes (ingest.max_archive_bytes); the rest was not indexed"
            )
        if self._compressed is not None:
            check_ratio(self.count, self._compressed.count, self._max_ratio)
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)
