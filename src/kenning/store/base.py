"""The store seam: what retrieval, evaluation, indexing and the Engine may ask of wherever chunks are kept.

Two Protocols, both small enough to implement twice:

- :class:`Store` — one collection: its typed :class:`Manifest`, lexical and dense search returning **chunk ids**
  (never positions in some file), fetching chunks by id, the write lock and publishing what a writer committed;
- :class:`StoreCatalog` — its rows (``store.catalog``): documents, sources, chunks and vectors, written in
  transactions by :func:`kenning.index.index_paths` and read by evaluation.

Each backend compiles :class:`~kenning.retrieve.Filters` itself (SQL stays inside the store that runs it). The SQLite
store (:class:`kenning.index.Collection`) is the default; PostgreSQL + pgvector (:mod:`kenning.store.postgres`) is the
shared one. Both pass the same contract suite (``tests/store_contract.py``).

>>> Scored(("a::0", "b::1"), (2.0, 1.5)).top(1)
Scored(ids=('a::0',), scores=(2.0,))
>>> m = Manifest.from_dict({"format": 1, "schema_version": 4, "name": "docs", "created_at": 0.0,
...     "embedder": {"name": "local", "model": "bge-small", "dim": 384}, "chunking": {}, "lexical": {}})
>>> m.embedder.dim, m.chunking.strategy, m.snapshot_version
(384, 'structure', None)
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from ..config import ChunkingConfig, ContextConfig, DenseConfig, KenningConfig, LexicalConfig
from ..errors import ConfigError

if TYPE_CHECKING:
    from ..index.catalog import ChunkRow, ChunkSpan, DocumentRow, SourceState
    from ..store.filters import Filters
    from ..types import Chunk, Document

__all__ = ["EmbedderInfo", "Manifest", "Scored", "Store", "StoreCatalog"]


@dataclass(frozen=True, slots=True)
class EmbedderInfo:
    """The embedder a collection was built with: its vectors are comparable only with the same one."""

    name: str
    model: str
    dim: int


@dataclass(frozen=True, slots=True)
class Manifest:
    """A collection's settings as a typed value (each store keeps it its own way: a JSON file, a table row)."""

    name: str
    embedder: EmbedderInfo
    chunking: ChunkingConfig
    lexical: LexicalConfig
    dense: DenseConfig = field(default_factory=DenseConfig)
    context: ContextConfig = field(default_factory=ContextConfig)
    format: int = 1
    schema_version: int = 0
    created_at: float = 0.0
    store: str = "sqlite"
    snapshot_version: int | None = None

    @classmethod
    def new(
        cls, name: str, config: KenningConfig, *, model: str, dim: int, schema_version: int, store: str
    ) -> Manifest:
        """A new collection's manifest: ``config``'s settings and the embedder that will fill it."""
        return cls(
            name=name,
            embedder=EmbedderInfo(config.embedder.name, model, dim),
            chunking=config.chunking,
            lexical=config.lexical,
            dense=config.dense,
            context=config.context,
            schema_version=schema_version,
            created_at=time.time(),
            store=store,
        )

    def check_embedder(self, model: str, dim: int) -> None:
        """Refuse an embedder other than the one this collection's vectors came from (they would not compare)."""
        emb = self.embedder
        if emb.model != model or emb.dim != dim:
            raise ConfigError(
                f"collection {self.name!r} was built with embedder {emb.model} (dim {emb.dim}), not {model} "
                f"(dim {dim}). Index into a new collection (--collection NAME) or delete this one first."
            )

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, store: str = "sqlite") -> Manifest:
        emb = data["embedder"]
        snap = data.get("snapshot")
        return cls(
            name=str(data.get("name", "")),
            embedder=EmbedderInfo(str(emb["name"]), str(emb["model"]), int(emb["dim"])),
            chunking=ChunkingConfig.model_validate(data.get("chunking") or {}),
            lexical=LexicalConfig.model_validate(data.get("lexical") or {}),
            dense=DenseConfig.model_validate(data.get("dense") or {}),
            context=ContextConfig.model_validate(data.get("context") or {}),
            format=int(data.get("format", 1)),
            schema_version=int(data.get("schema_version", 0)),
            created_at=float(data.get("created_at", 0.0)),
            store=store,
            snapshot_version=int(snap["version"]) if isinstance(snap, dict) else None,
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (without the snapshot entry, which only the SQLite store has)."""
        return {
            "format": self.format,
            "schema_version": self.schema_version,
            "name": self.name,
            "created_at": self.created_at,
            "embedder": {"name": self.embedder.name, "model": self.embedder.model, "dim": self.embedder.dim},
            "chunking": self.chunking.model_dump(),
            "context": self.context.model_dump(),
            "lexical": self.lexical.model_dump(),
            "dense": self.dense.model_dump(),
        }


@dataclass(frozen=True, slots=True)
class Scored:
    """Chunk ids, best first, with the score each list gave them."""

    ids: tuple[str, ...] = ()
    scores: tuple[float, ...] = ()

    def __len__(self) -> int:
        return len(self.ids)

    def top(self, k: int) -> Scored:
        return Scored(self.ids[:k], self.scores[:k])


@runtime_checkable
class Store(Protocol):
    """One collection, wherever it is kept. Searches answer from one published state of it; writes happen under
    :meth:`locked` and become visible to searches at :meth:`publish`."""

    @property
    def name(self) -> str: ...

    @property
    def info(self) -> Manifest: ...

    @property
    def catalog(self) -> StoreCatalog: ...

    writable: bool

    def counts(self) -> tuple[int, int]:
        """(documents, chunks) as published."""
        ...

    def lexical_search(self, query: str, k: int, filters: Filters | None = None) -> Scored:
        """BM25-ranked chunk ids (score > 0), only among chunks whose document passes ``filters``."""
        ...

    def dense_search(self, vector: np.ndarray, k: int, filters: Filters | None = None) -> Scored:
        """Chunk ids by cosine similarity to ``vector`` (already normalised), filtered before ranking."""
        ...

    def fetch(self, chunk_ids: Sequence[str]) -> dict[str, ChunkRow]:
        """The published chunks with these ids (ids not published are left out)."""
        ...

    def vectors(self, chunk_ids: Sequence[str]) -> np.ndarray:
        """The stored vector of each chunk id, in order (a zero row for an unknown id)."""
        ...

    def chunk_ids(self, filters: Filters | None = None) -> list[str]:
        """Every published chunk id (whose document passes ``filters``)."""
        ...

    def tokens(self, text: str) -> list[str]:
        """``text`` tokenized the way lexical search tokenizes it."""
        ...

    def term_weights(self, query: str) -> dict[str, float]:
        """Each query token's IDF over the published chunks."""
        ...

    def postings(self, word: str) -> list[str] | None:
        """The published chunks holding every token of ``word``; None when ``word`` has no token (a stop word)."""
        ...

    def locked(self, *, wait: bool = False) -> AbstractContextManager[Store]:
        """Hold this collection's write lock (one writer at a time per collection)."""
        ...

    def publish(self, *, force: bool = False) -> int | None:
        """Make what was committed searchable; the version published, None when nothing changed."""
        ...

    def is_stale(self) -> bool:
        """Committed changes are not yet published."""
        ...

    def recover(self) -> list[str]:
        """What a writer does first (holding the lock): finish what an interrupted writer left. One line per act."""
        ...

    def refresh(self) -> dict[str, Any]:
        """The manifest's stored form (JSON-like), read again when another process changed it."""
        ...

    def delete(self) -> None:
        """Remove the whole collection (takes the write lock)."""
        ...

    def close(self) -> None: ...


class StoreCatalog(Protocol):
    """A collection's rows. Writes happen inside :meth:`transaction`: all of them or none."""

    def transaction(self) -> AbstractContextManager[object]: ...

    def data_version(self) -> int: ...

    def counts(self) -> tuple[int, int]: ...

    # sources and documents
    def sources_under(self, roots: Iterable[str]) -> dict[str, SourceState]: ...

    def source_state(self, source: str) -> SourceState | None: ...

    def document_chunker(self, doc_id: str) -> str | None: ...

    def documents(self, *, limit: int = 100, offset: int = 0) -> tuple[list[DocumentRow], int]: ...

    def document(self, doc_id: str) -> DocumentRow | None: ...

    def document_texts(self, doc_ids: Sequence[str]) -> dict[str, tuple[str, tuple]]: ...

    def document_sources(self) -> dict[str, list[str]]: ...

    def source_metadata(self) -> dict[str, dict]: ...

    def put_document(
        self, doc: Document, chunks: Sequence[Chunk], embed_hashes: Sequence[str], chunker: str
    ) -> None: ...

    def put_documents(self, items: Sequence[tuple[Document, Sequence[Chunk], Sequence[str], str]]) -> None:
        """Many ``(doc, chunks, embed_hashes, chunker)`` at once, as :meth:`put_document` would store each."""
        ...

    def put_source(self, source: str, root: str, doc_id: str, raw_hash: str, metadata: dict) -> str | None: ...

    def remove_sources(self, sources: Iterable[str]) -> None: ...

    def remove_documents(self, doc_ids: Sequence[str]) -> tuple[int, int]: ...

    def drop_unreferenced(self, doc_ids: Iterable[str]) -> tuple[int, int]: ...

    # chunks and vectors
    def chunk_rows(self, ids: Sequence[int] | Sequence[str], *, by: str = "id") -> dict: ...

    def iter_chunks(self, batch: int = 2_000) -> Iterator[ChunkRow]: ...

    def chunk_texts(self) -> Iterator[tuple[str, str]]:
        """``(chunk id, indexed text)`` of every chunk: what is embedded and BM25-indexed (context + text)."""
        ...

    def chunk_spans(self, doc_ids: Sequence[str] | None = None) -> list[ChunkSpan]:
        """Every chunk's place (of these documents; all when None), ordered by document id, then position in it."""
        ...

    def all_chunk_ids(self) -> list[str]: ...

    def chunk_ids_for_docs(self, doc_ids: Sequence[str]) -> list[str]: ...

    def missing_vectors(self, embed_hashes: Sequence[str]) -> set[str]: ...

    def put_vectors(self, embed_hashes: Sequence[str], vectors: np.ndarray) -> None: ...

    def vectors_for(self, embed_hashes: Sequence[str]) -> dict[str, np.ndarray]: ...

    def drop_unused_vectors(self) -> int: ...

    # LLM-written chunk contexts, cached by content
    def cached_contexts(self, keys: Sequence[str]) -> dict[str, str]: ...

    def cache_context(self, key: str, context: str, model: str, usage: Any, seconds: float) -> None: ...

    def context_seconds(self, model: str) -> float | None: ...
