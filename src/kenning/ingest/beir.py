"""BEIR-style JSONL corpora: one ``{"_id", "title", "text"}`` record per line, each its own document.

A record's source is ``/abs/corpus.jsonl#<id>`` and its raw bytes are the line itself, so editing one record
re-indexes only that record. Files on disk are streamed line by line (a corpus may be larger than
``ingest.max_file_bytes``; each record must fit in it). A bad line is skipped as ``file:line N`` with the reason,
and the rest of the file is still read.

>>> from kenning.ingest.beir import parse_record
>>> from kenning.ingest.source import make_source
>>> doc = parse_record(make_source("c.jsonl#7", "c.jsonl", "beir", b'{"_id": "7", "title": "T", "text": "body"}', {}))
>>> doc.text
'T\\n\\nbody'
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import BinaryIO

from ..config import IngestConfig
from ..errors import InputError
from ..types import Document, Section, Skipped
from .source import SourceFile, make_source
from .text import doc_id

__all__ = ["records_from_lines", "iter_jsonl_file", "parse_record"]

_TOO_LONG = object()


class _BadRecord(ValueError):
    """A JSON value that is not a usable BEIR record; the message says which field is wrong."""


def _record(obj: object) -> tuple[str, str, str]:
    """``(id, title, text)`` of a parsed JSON line, or raise :class:`_BadRecord`."""
    if not isinstance(obj, dict):
        raise _BadRecord(f"expected a JSON object, got {type(obj).__name__}")
    rid = obj.get("_id", obj.get("id"))
    if rid is None:
        raise _BadRecord('missing field "_id" (or "id")')
    if isinstance(rid, bool) or not isinstance(rid, str | int):
        raise _BadRecord(f'field "_id" must be a string or an integer, got {type(rid).__name__}')
    rid = str(rid)
    if not rid.strip():
        raise _BadRecord('field "_id" is empty')
    text, title = obj.get("text"), obj.get("title")
    if text is None:
        raise _BadRecord('missing field "text"')
    if not isinstance(text, str):
        raise _BadRecord(f'field "text" must be a string, got {type(text).__name__}')
    if title is not None and not isinstance(title, str):
        raise _BadRecord(f'field "title" must be a string, got {type(title).__name__}')
    title = _no_surrogates((title or "").strip())
    text = _no_surrogates(text.strip())
    if not text and not title:
        raise _BadRecord("empty record (no text and no title)")
    return rid, title, text


def records_from_lines(
    source: str, root: str, lines: Iterable[bytes | object], config: IngestConfig
) -> Iterator[SourceFile | Skipped]:
    """One source file per good line (numbered from 1); a ``Skipped`` naming ``source:line N`` for each bad one."""
    seen: set[str] = set()
    for number, line in enumerate(lines, start=1):
        where = f"{source}:line {number}"
        if line is _TOO_LONG:
            yield Skipped(where, f"record longer than ingest.max_file_bytes={config.max_file_bytes:,} bytes")
            continue
        assert isinstance(line, bytes)
        line = line.rstrip(b"\r\n")
        if not line.strip():
            continue
        try:
            rid = _record(json.loads(line))[0]
        except _BadRecord as exc:
            yield Skipped(where, str(exc))
            continue
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
            yield Skipped(where, f"not valid JSON: {exc}")
            continue
        if rid in seen:
            yield Skipped(where, f'duplicate "_id" {rid!r}; the first record with it was kept')
            continue
        seen.add(rid)
        yield make_source(f"{source}#{rid}", root, "beir", line, {"beir_id": rid})


def _read_lines(fh: BinaryIO, limit: int) -> Iterator[bytes | object]:
    """Lines of at most ``limit`` bytes; a longer one is read past in pieces and stands as ``_TOO_LONG``."""
    while True:
        line = fh.readline(limit + 1)
        if not line:
            return
        if len(line) > limit and not line.endswith(b"\n"):
            while True:  # skip the rest of the over-long line without holding it
                rest = fh.readline(1 << 20)
                if not rest or rest.endswith(b"\n"):
                    break
            yield _TOO_LONG
        else:
            yield line


def iter_jsonl_file(
    path: str, root: str, config: IngestConfig, fh: BinaryIO, *, size: int
) -> Iterator[SourceFile | Skipped]:
    """Stream a JSONL file, opened (and checked) by the caller as ``fh`` of ``size`` bytes, one record at a time."""
    if size == 0:
        yield Skipped(path, "empty file")
        return
    try:
        head = fh.read(8192)
        fh.seek(0)
    except OSError as exc:
        yield Skipped(path, f"read failed: {exc.strerror or exc}")
        return
    if b"\x00" in head:
        yield Skipped(path, "binary file, not text")
        return
    try:
        yield from records_from_lines(path, root, _read_lines(fh, config.max_file_bytes), config)
    except OSError as exc:
        yield Skipped(path, f"read failed part-way: {exc.strerror or exc}; earlier records were kept")


def parse_record(item: SourceFile) -> Document:
    """A BEIR record → ``Document(kind="beir")``: text is ``title + "\\n\\n" + text`` with one section for the title."""
    try:
        _, title, body = _record(json.loads(item.data))
    except _BadRecord as exc:
        raise InputError(f"{item.source}: {exc}") from None
    except ValueError as exc:
        raise InputError(f"{item.source}: not valid JSON: {exc}") from None
    text = f"{title}\n\n{body}" if title and body else (title or body)
    return Document(
        doc_id=doc_id("beir", text),
        source=item.source,
        kind="beir",
        text=text,
        title=title,
        sections=(Section(1, title, 0),) if title else (),
        metadata=dict(item.metadata),
    )


def _no_surrogates(text: str) -> str:
    """JSON may escape lone surrogates (``"\\ud800"``) that no UTF-8 store accepts; replace them."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    return text
