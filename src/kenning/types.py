"""Frozen values passed between kenning's stages.

Every stage takes and returns these, never loose dicts: a loader yields :class:`Document`,
a chunker yields :class:`Chunk`, retrieval yields :class:`Hit`.

>>> from kenning.types import Section
>>> Section(level=1, title="Intro", start=0)
Section(level=1, title='Intro', start=0)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "DocKind",
    "Section",
    "Document",
    "Chunk",
    "Hit",
    "Skipped",
    "IndexReport",
]

DocKind = Literal["markdown", "html", "rst", "text", "pdf", "beir"]


@dataclass(frozen=True, slots=True)
class Section:
    """A heading found in a document: its level (1 = top), its text and where it starts in ``Document.text``."""

    level: int
    title: str
    start: int


@dataclass(frozen=True, slots=True)
class Document:
    """A whole document as text, ready to chunk.

    ``doc_id`` is a hash of the content, so the same text from two places is stored once.
    ``source`` names where it came from: a file path, ``archive.tar.gz!/member/path`` or ``corpus.jsonl#id``.
    """

    doc_id: str
    source: str
    kind: DocKind
    text: str
    title: str = ""
    sections: tuple[Section, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True, slots=True)
class Chunk:
    """A span of a document: ``text == document.text[start:end]``; ``chunk_id`` is ``f"{doc_id}::{index}"``."""

    chunk_id: str
    doc_id: str
    index: int
    text: str
    start: int
    end: int
    n_tokens: int
    heading_path: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Hit:
    """One ranked search result.

    ``score`` is the score of the mode asked for (BM25, cosine, or fused RRF); ``ranks`` gives the 1-based rank each
    retriever gave this chunk before fusion (absent when that retriever did not return it).
    """

    rank: int
    score: float
    chunk_id: str
    doc_id: str
    text: str
    source: str
    kind: str
    title: str
    heading_path: tuple[str, ...]
    start: int
    end: int
    ranks: dict[str, int] = field(default_factory=dict, hash=False, compare=False)
    metadata: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True, slots=True)
class Skipped:
    """An input that was not indexed, and why (in words a user can act on)."""

    source: str
    reason: str


@dataclass(frozen=True, slots=True)
class IndexReport:
    """What one ``index()`` call did."""

    collection: str
    documents_seen: int
    documents_added: int
    documents_updated: int
    documents_unchanged: int
    documents_removed: int
    chunks_added: int
    chunks_removed: int
    chunks_embedded: int
    total_documents: int
    total_chunks: int
    seconds: float
    skipped: tuple[Skipped, ...] = ()
    published_version: int | None = None
