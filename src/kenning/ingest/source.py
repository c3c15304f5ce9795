"""The :class:`SourceFile` value, and the checks every input goes through once its bytes are in memory.

Files on disk and archive members end up in :func:`sources_from_bytes`: unwrap gzip (bounded), split JSONL into
records, refuse binary and empty content, and check that PDF support is installed.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..config import IngestConfig
from ..errors import MissingExtraError
from ..types import DocKind, Skipped
from .compressed import LimitExceeded, gunzip
from .kinds import Kind
from .text import looks_binary, raw_hash

__all__ = ["SourceFile", "make_source", "readable", "sources_from_bytes"]


def readable(name: str) -> str:
    """``name`` itself when it can be stored as UTF-8, else with each undecodable byte written ``\\xff``.

    The OS hands a file name that is not valid UTF-8 over with surrogate escapes, which no UTF-8 store accepts.

    >>> readable("caf\\udce9.md")
    'caf\\\\xe9.md'
    >>> n = "ok.md"; readable(n) is n
    True
    """
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        try:
            return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        except UnicodeEncodeError:  # a lone surrogate that was not an escaped byte
            return name.encode("utf-8", "backslashreplace").decode("utf-8")
    return name


@dataclass(frozen=True, slots=True)
class SourceFile:
    """One indexable input, read but not parsed: its stable name, kind, raw bytes and their hash.

    ``source`` is an absolute path, ``archive!/member/path`` for an archive member, or ``corpus.jsonl#id`` for a
    BEIR record. ``root`` is the input argument it was found under, so the indexer can tell which documents
    disappeared from it.

    >>> from kenning.ingest.source import make_source
    >>> item = make_source("/docs/a.md", "/docs", "markdown", b"# Hi", {"path": "a.md", "ext": ".md"})
    >>> item.raw_hash == make_source("/x/b.md", "/x", "markdown", b"# Hi", {}).raw_hash
    True
    """

    source: str
    root: str
    kind: DocKind
    data: bytes = field(repr=False)
    raw_hash: str
    metadata: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


def make_source(source: str, root: str, kind: DocKind, data: bytes, metadata: dict[str, Any]) -> SourceFile:
    """Build a :class:`SourceFile`, hashing ``data``."""
    return SourceFile(source, root, kind, data, raw_hash(data), metadata)


def _pdf_available() -> bool:
    return importlib.util.find_spec("pypdf") is not None


def sources_from_bytes(
    source: str,
    root: str,
    kind: Kind,
    data: bytes,
    metadata: dict[str, Any],
    config: IngestConfig,
) -> Iterator[SourceFile | Skipped]:
    """Turn the bytes of one file or member into source files (several for JSONL), or say why not."""
    if kind.gzip:
        try:
            data = gunzip(data, limit=config.max_file_bytes, max_ratio=config.max_compression_ratio)
        except (LimitExceeded, ValueError) as exc:
            yield Skipped(source, str(exc))
            return
        metadata = {**metadata, "compressed": "gzip"}
    if kind.what == "beir":
        from .beir import records_from_lines

        yield from records_from_lines(source, root, data.splitlines(), config)
        return
    if kind.what == "pdf":
        if not _pdf_available():
            yield Skipped(source, str(MissingExtraError("PDF ingestion", "pdf", "pypdf")))
        elif b"%PDF-" not in data[:1024]:
            yield Skipped(source, "not a PDF file (no %PDF- header)")
        else:
            yield make_source(source, root, "pdf", data, metadata)
        return
    if looks_binary(data):
        yield Skipped(source, "binary file, not text")
    elif not data.strip():
        yield Skipped(source, "empty file")
    else:
        yield make_source(source, root, kind.what, data, metadata)  # type: ignore[arg-type]
