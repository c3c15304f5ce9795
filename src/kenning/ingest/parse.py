"""One :class:`SourceFile` → one :class:`~kenning.types.Document`: decode, extract text, title and headings.

``Document.doc_id`` hashes ``kind`` and text (not the title, not the source), so the same content found at two places is
one document. Failures raise :class:`~kenning.errors.InputError` whose message starts with the source name.

>>> from kenning.config import IngestConfig
>>> from kenning.ingest.parse import parse
>>> from kenning.ingest.source import make_source
>>> doc = parse(make_source("/d/a.md", "/d", "markdown", b"# Hello\\n\\nWorld\\n", {"path": "a.md"}), IngestConfig())
>>> doc.title, doc.sections[0].start
('Hello', 0)
"""

from __future__ import annotations

import os

from ..config import IngestConfig
from ..errors import InputError
from ..types import Document, Section
from .beir import parse_record
from .budget import check_budget
from .html import parse_html
from .kinds import stem
from .markdown import parse_markdown
from .pdf import parse_pdf
from .rst import parse_rst
from .source import SourceFile
from .text import decode, doc_id, html_declared_charset

__all__ = ["parse"]


def _stem(item: SourceFile) -> str:
    name = item.metadata.get("path") or item.source.rsplit("!/", 1)[-1]
    return stem(os.fspath(name)) or "untitled"


def parse(item: SourceFile, config: IngestConfig) -> Document:
    """Parse one source into a document; raise ``InputError(f"{source}: reason")`` when it holds no usable text."""
    if item.kind == "beir":
        return parse_record(item)
    metadata = dict(item.metadata)
    name = _stem(item)
    if item.kind == "pdf":
        text, title, sections, extra = parse_pdf(item.data, item.source, name)
        metadata.update(extra)
    else:
        declared = html_declared_charset(item.data) if item.kind == "html" else None
        raw, encoding = decode(item.data, item.source, declared=declared, detect=config.detect_encoding)
        metadata["encoding"] = encoding
        text, title, sections = _extract(item.kind, raw, name, config)
    check_budget()
    if not text.strip():
        what = {"html": "no text in the page", "pdf": "no extractable text (a scanned PDF?)"}.get(item.kind, "")
        raise InputError(f"{item.source}: empty ({what or 'only whitespace'})")
    return Document(
        doc_id=doc_id(item.kind, text),
        source=item.source,
        kind=item.kind,
        text=text,
        title=title,
        sections=sections,
        metadata=metadata,
    )


def _extract(kind: str, text: str, name: str, config: IngestConfig) -> tuple[str, str, tuple[Section, ...]]:
    if kind == "markdown":
        return parse_markdown(text, name)
    if kind == "html":
        return parse_html(text, name, max_depth=config.max_html_depth)
    if kind == "rst":
        return parse_rst(text, name)
    if kind == "text":
        return text, name, ()
    raise InputError(f"unknown document kind {kind!r}")
