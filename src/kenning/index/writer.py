"""The indexing pipeline: discover → (skip unchanged) → parse → chunk → embed → commit → publish.

Work is committed in batches, each one SQLite transaction holding documents, chunks, sources and vectors together.
Killing the process at any moment loses at most the batch in flight; running again skips what was committed
(the raw bytes' hash and the chunker settings match) and finishes the rest. Sources that were indexed under the
same path before and are no longer there are removed at the end of a run.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..chunking import Chunker
from ..config import ChunkingConfig, IngestConfig
from ..errors import InputError
from ..ingest import SourceFile, discover, parse
from ..providers.embedders import Embedder
from ..types import Chunk, Document, IndexReport, Skipped
from .collection import Collection

__all__ = ["index_paths", "ProgressFn", "embed_text", "embed_hash"]

ProgressFn = Callable[[str, int, int | None], None]
"""``progress(stage, done, total)``: stage is ``"documents"`` (read so far) or ``"embedding"`` (chunks embedded so
far); totals are None because inputs are streamed."""


def embed_text(chunk: Chunk) -> str:
    """The text that is embedded (and BM25-indexed) for a chunk."""
    return chunk.text


def embed_hash(model: str, text: str) -> str:
    return hashlib.blake2b(f"{model}\0{text}".encode(), digest_size=16).hexdigest()


@dataclass
class _Pending:
    item: SourceFile
    doc: Document
    known: bool  # the source was indexed before (so this is an update)
    chunks: list[Chunk] | None = None  # None: the document is already stored with these chunker settings
    hashes: list[str] = field(default_factory=list)


@dataclass
class _Counts:
    seen: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    chunks_added: int = 0
    chunks_removed: int = 0
    embedded: int = 0


def index_paths(
    collection: Collection,
    paths: Sequence[str | Path],
    *,
    ingest: IngestConfig,
    chunking: ChunkingConfig,
    embedder: Embedder,
    commit_chunks: int = 512,
    progress: ProgressFn | None = None,
) -> IndexReport:
    """Bring ``collection`` up to date with ``paths``. The caller must hold the collection's write lock."""
    t0 = time.perf_counter()
    catalog = collection.catalog
    chunker = Chunker(chunking, embedder=embedder)
    fingerprint = chunking.fingerprint()
    model = collection.manifest["embedder"]["model"]
    roots = [os.path.abspath(os.path.expanduser(os.fspath(p))) for p in paths]  # as discover() names them
    known = catalog.sources_under(roots)
    seen: set[str] = set()
    skipped: list[Skipped] = []
    counts = _Counts()
    pending: list[_Pending] = []
    pending_chunks = 0
    tick = progress or (lambda stage, done, total: None)

    def flush() -> None:
        nonlocal pending, pending_chunks
        if pending:
            _commit(collection, pending, fingerprint, embedder, model, counts, tick)
        pending, pending_chunks = [], 0

    for found in discover(paths, ingest):
        if isinstance(found, Skipped):
            skipped.append(found)
            _protect(found.source, known, seen)
            continue
        seen.add(found.source)
        counts.seen += 1
        tick("documents", counts.seen, None)
        state = known.get(found.source)
        if state and state.raw_hash == found.raw_hash and state.chunker == fingerprint:
            counts.unchanged += 1
            continue
        try:
            doc = parse(found, ingest)
        except InputError as exc:
            skipped.append(Skipped(found.source, str(exc)))
            if state:
                counts.unchanged += 1  # keep what was indexed from it before
            continue
        entry = _Pending(found, doc, known=state is not None)
        if catalog.document_chunker(doc.doc_id) != fingerprint and not any(
            p.doc.doc_id == doc.doc_id and p.chunks is not None for p in pending
        ):
            entry.chunks = chunker.chunk(doc)
            entry.hashes = [embed_hash(model, embed_text(c)) for c in entry.chunks]
            pending_chunks += len(entry.chunks)
        pending.append(entry)
        if pending_chunks >= commit_chunks:
            flush()
    flush()

    gone = [s for s in known if s not in seen]
    for root in roots:
        if not Path(root).exists():  # a missing input (unmounted disk, typo) never wipes what was indexed
            gone = [s for s in gone if s != root and not s.startswith(root + "/") and not s.startswith(root + "!")]
    if gone or counts.added or counts.updated:
        with catalog.transaction():
            old_docs = {known[s].doc_id for s in gone}
            catalog.remove_sources(gone)
            n_docs, n_chunks = catalog.drop_unreferenced(old_docs)
            catalog.drop_unused_vectors()
        counts.removed += n_docs
        counts.chunks_removed += n_chunks
    version = collection.publish()
    total_docs, total_chunks = catalog.counts()
    return IndexReport(
        collection=collection.name,
        documents_seen=counts.seen,
        documents_added=counts.added,
        documents_updated=counts.updated,
        documents_unchanged=counts.unchanged,
        documents_removed=counts.removed,
        chunks_added=counts.chunks_added,
        chunks_removed=counts.chunks_removed,
        chunks_embedded=counts.embedded,
        total_documents=total_docs,
        total_chunks=total_chunks,
        seconds=time.perf_counter() - t0,
        skipped=tuple(skipped),
        published_version=version,
    )


def _protect(source: str, known: dict, seen: set[str]) -> None:
    """A source that could not be read this time keeps everything indexed from it (a member, a record…) before."""
    seen.add(source)
    for s in known:
        if s.startswith(source) and s[len(source) : len(source) + 1] in ("/", "!", "#"):
            seen.add(s)


def _commit(
    collection: Collection,
    pending: list[_Pending],
    fingerprint: str,
    embedder: Embedder,
    model: str,
    counts: _Counts,
    tick: ProgressFn,
) -> None:
    catalog = collection.catalog
    texts_by_hash: dict[str, str] = {}
    for p in pending:
        if p.chunks is not None:
            for c, h in zip(p.chunks, p.hashes, strict=False):
                texts_by_hash.setdefault(h, embed_text(c))
    missing = sorted(catalog.missing_vectors(list(texts_by_hash)), key=lambda h: len(texts_by_hash[h]))
    vectors = _embed(
        embedder, [texts_by_hash[h] for h in missing], lambda n: tick("embedding", counts.embedded + n, None)
    )
    with catalog.transaction():
        catalog.put_vectors(missing, vectors)
        replaced: set[str] = set()
        for p in pending:
            if p.chunks is not None:
                catalog.put_document(p.doc, p.chunks, p.hashes, fingerprint)
                counts.chunks_added += len(p.chunks)
            previous = catalog.put_source(p.item.source, p.item.root, p.doc.doc_id, p.item.raw_hash, p.item.metadata)
            if previous:
                replaced.add(previous)
            if p.known:
                counts.updated += 1
            else:
                counts.added += 1
        _, n_chunks = catalog.drop_unreferenced(replaced)
        counts.chunks_removed += n_chunks
    counts.embedded += len(missing)


def _embed(embedder: Embedder, texts: list[str], done: Callable[[int], None], step: int = 256) -> np.ndarray:
    """Embed in slices (texts arrive sorted by length, so slices pad little), reporting how many are done."""
    parts = []
    for i in range(0, len(texts), step):
        parts.append(embedder.embed(texts[i : i + step]))
        done(min(i + step, len(texts)))
    if not parts:
        return np.zeros((0, 0), dtype=np.float32)
    return np.concatenate(parts)
