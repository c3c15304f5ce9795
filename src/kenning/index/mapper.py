"""Where an indexing run's heavy work happens: parsing and chunking documents, embedding chunks.

:func:`~kenning.index.writer.index_paths` is the driver: it discovers the inputs, decides what is unchanged, writes
through the store's catalog in transactions and publishes. The work in between runs in a :class:`Mapper`: here, in
this process (:class:`LocalMapper`, the default), or on the workers of a Ray cluster
(:class:`kenning.index.distributed.RayMapper`, ``kenning index --ray ADDRESS``). Both run the same functions
(:func:`prepare_document`, :func:`embed_texts`, :func:`embed_late`), so a run gives the same chunks wherever it ran.

>>> from kenning.config import ChunkingConfig, IngestConfig
>>> from kenning.ingest.source import make_source
>>> mapper = LocalMapper(None, ChunkingConfig(strategy="fixed", size=4, overlap=0), IngestConfig())
>>> item = make_source("/d/a.md", "/d", "markdown", b"# Hi\\n\\none two three four five six\\n", {"path": "a.md"})
>>> [(found.source, [c.text for c in ready.chunks]) for found, ready in mapper.prepare([item])]
[('/d/a.md', ['# Hi\\n\\none', 'two three four five', 'six'])]
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ..chunking import Chunker
from ..chunking.chunker import ChunkerStats
from ..config import ChunkingConfig, IngestConfig
from ..errors import IndexError_, InputError
from ..ingest import SourceFile, parse
from ..ingest.budget import file_budget
from ..providers.embedders import Embedder
from ..types import Chunk, Document

__all__ = [
    "Mapper",
    "LocalMapper",
    "Prepared",
    "WorkerFailed",
    "by_document",
    "embed_late",
    "embed_texts",
    "open_mapper",
    "prepare_document",
]

Wanted = Callable[[Document], bool]
"""``wanted(doc)``: whether a parsed document still needs chunking (False when the store already holds its chunks
under the run's settings)."""


@dataclass(frozen=True, slots=True)
class Prepared:
    """One source after the per-document work: its document and chunks, or why it cannot be used.

    ``chunks`` is None when chunking was not wanted; ``error`` (an :class:`InputError`'s message) is set instead of
    ``doc`` when the source holds no usable text or took too long.
    """

    doc: Document | None = None
    chunks: tuple[Chunk, ...] | None = None
    error: str | None = None


class WorkerFailed(IndexError_):
    """A worker of a distributed run failed (crashed, lost its node, raised). What the driver committed before stays
    committed; running the same command again finishes the rest."""


def prepare_document(item: SourceFile, ingest: IngestConfig, chunker: Chunker, wanted: Wanted | None) -> Prepared:
    """Parse ``item`` and chunk it (unless ``wanted`` says its chunks are already stored), within the time budget of
    one file; a source that cannot be used comes back with its ``error``."""
    try:
        with file_budget(item.source, ingest.max_seconds_per_file):
            doc = parse(item, ingest)
            chunks = tuple(chunker.chunk(doc)) if wanted is None or wanted(doc) else None
    except InputError as exc:
        return Prepared(error=str(exc))
    return Prepared(doc, chunks)


def embed_texts(embedder: Embedder, texts: Sequence[str], done: Callable[[int], None], step: int = 256) -> np.ndarray:
    """Embed in slices (texts arrive sorted by length, so slices pad little), reporting how many are done."""
    parts = []
    for i in range(0, len(texts), step):
        parts.append(embedder.embed(list(texts[i : i + step])))
        done(min(i + step, len(texts)))
    if not parts:
        return np.zeros((0, 0), dtype=np.float32)
    return np.concatenate(parts)


def embed_late(embedder: Embedder, items: Sequence[tuple[Document, Chunk]]) -> np.ndarray:
    """Late-chunked vectors for these chunks, one transformer pass per document (see kenning.providers.late)."""
    out: np.ndarray | None = None
    for positions, doc in by_document(items):
        vecs = embedder.embed_late(doc.text, [(items[i][1].start, items[i][1].end) for i in positions])  # type: ignore[attr-defined]
        if out is None:
            out = np.zeros((len(items), vecs.shape[1]), dtype=np.float32)
        out[positions] = vecs
    return out if out is not None else np.zeros((0, 0), dtype=np.float32)


def by_document(items: Sequence[tuple[Document, Chunk]]) -> list[tuple[list[int], Document]]:
    """The positions of ``items`` grouped by document, in order of first appearance."""
    groups: dict[str, tuple[list[int], Document]] = {}
    for i, (doc, _) in enumerate(items):
        groups.setdefault(doc.doc_id, ([], doc))[0].append(i)
    return list(groups.values())


class Mapper(AbstractContextManager, Protocol):
    """Runs the per-document work of an indexing run and embeds chunks; the driver decides and writes."""

    def prepare(
        self, items: Iterable[SourceFile], wanted: Wanted | None = None
    ) -> Iterator[tuple[SourceFile, Prepared]]:
        """Each item with its :class:`Prepared`, in order of completion. ``wanted`` is a hint: a mapper that cannot
        ask it (a remote worker has no catalog) chunks every document, and the driver drops what it does not need."""
        ...

    def embed(self, texts: Sequence[str], done: Callable[[int], None]) -> np.ndarray:
        """One vector per text, in order; ``done(n)`` as they are computed."""
        ...

    def embed_late(self, items: Sequence[tuple[Document, Chunk]]) -> np.ndarray:
        """One late-chunked vector per (document, chunk), in order."""
        ...

    @property
    def stats(self) -> ChunkerStats:
        """What chunking cost (sentence embeddings of the semantic strategy), over every worker."""
        ...


class LocalMapper:
    """All the work in this process, one document at a time, in order: the default."""

    def __init__(self, embedder: Embedder | None, chunking: ChunkingConfig, ingest: IngestConfig) -> None:
        self.embedder = embedder
        self.ingest = ingest
        self.chunker = Chunker(chunking, embedder=embedder)

    def __enter__(self) -> LocalMapper:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    @property
    def stats(self) -> ChunkerStats:
        return self.chunker.stats

    def prepare(
        self, items: Iterable[SourceFile], wanted: Wanted | None = None
    ) -> Iterator[tuple[SourceFile, Prepared]]:
        for item in items:
            yield item, prepare_document(item, self.ingest, self.chunker, wanted)

    def embed(self, texts: Sequence[str], done: Callable[[int], None]) -> np.ndarray:
        return embed_texts(self.embedder, texts, done)  # type: ignore[arg-type]

    def embed_late(self, items: Sequence[tuple[Document, Chunk]]) -> np.ndarray:
        return embed_late(self.embedder, items)  # type: ignore[arg-type]


def open_mapper(
    ray: str | None, *, embedder: Embedder, chunking: ChunkingConfig, ingest: IngestConfig
) -> AbstractContextManager[Mapper]:
    """The mapper for a run: on the Ray cluster at ``ray`` (``host:port``; needs ``kenning[ray]``), else here."""
    if ray is None:
        return LocalMapper(embedder, chunking, ingest)
    from .distributed import RayMapper

    return RayMapper(ray, embedder=embedder, chunking=chunking, ingest=ingest)
