"""The indexing pipeline: discover → (skip unchanged) → parse → chunk → embed → commit → publish.

Work is committed in batches, each one SQLite transaction holding documents, chunks, sources and vectors together.
Killing the process at any moment loses at most the batch in flight; running again skips what was committed
(the raw bytes' hash and the chunker settings match) and finishes the rest. Sources that were indexed under the
same path before and are no longer there are removed at the end of a run.

Parsing, chunking and embedding run in a :mod:`~kenning.index.mapper`: in this process, or on the workers of a Ray
cluster (``ray=ADDRESS``, :mod:`kenning.index.distributed`) while this process decides and writes as it does alone.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..chunking import Chunker
from ..config import ChunkingConfig, ContextConfig, IngestConfig
from ..errors import ConfigError, IndexError_, InputError
from ..ingest import SourceFile, discover, parse
from ..ingest.budget import file_budget
from ..ingest.source import readable
from ..providers.embedders import Embedder
from ..store.base import Store
from ..types import Chunk, Document, IndexReport, Skipped
from .catalog import Catalog, SourceState
from .context import ContextFailed, Situator, header_for, indexed_text
from .mapper import Mapper, WorkerFailed, open_mapper

__all__ = ["index_paths", "ProgressFn", "embed_text", "embed_hash", "changed_documents", "fingerprint_for"]

ProgressFn = Callable[[str, int, int | None], None]
"""``progress(stage, done, total)``: stage is ``"documents"`` (read so far) or ``"embedding"`` (chunks embedded so
far); totals are None because inputs are streamed."""


def embed_text(chunk: Chunk) -> str:
    """The text that is embedded (and BM25-indexed) for a chunk: its context, if any, then its text."""
    return indexed_text(chunk.context, chunk.text)


def fingerprint_for(chunking: ChunkingConfig, context: ContextConfig) -> str:
    """What a document's stored chunks depend on: re-chunk (and re-contextualize) when it changes."""
    extra = context.fingerprint()
    return chunking.fingerprint() + (f"|{extra}" if extra else "")


def late_hash(model: str, doc_id: str, chunk: Chunk) -> str:
    """A late-chunked vector depends on the whole document (doc_id is a hash of its text) and the chunk's span."""
    return embed_hash(f"{model}#late", f"{doc_id}:{chunk.start}:{chunk.end}")


def with_context(
    doc: Document, chunks: list[Chunk], context: ContextConfig, situator: Situator | None, catalog
) -> list[Chunk]:  # noqa: ANN001,E501
    """``chunks`` with their context set: the heading header, then the LLM's situating sentence, as configured."""
    if not context.headers and situator is None:
        return chunks
    written = situator.contexts(catalog, doc, chunks) if situator is not None else [""] * len(chunks)
    out = []
    for chunk, llm_text in zip(chunks, written, strict=True):
        parts = [header_for(doc.title, chunk.heading_path)] if context.headers else []
        parts.append(llm_text)
        out.append(dataclasses.replace(chunk, context="\n".join(p for p in parts if p)))
    return out


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
    collection: Store,
    paths: Sequence[str | Path],
    *,
    ingest: IngestConfig,
    chunking: ChunkingConfig,
    embedder: Embedder,
    commit_chunks: int = 512,
    progress: ProgressFn | None = None,
    context: ContextConfig | None = None,
    situator: Situator | None = None,
    ray: str | None = None,
) -> IndexReport:
    """Bring ``collection`` (any :class:`~kenning.store.Store`) up to date with ``paths``. The caller must hold
    the collection's write lock.

    ``context`` says what is prepended to each chunk's indexed text and whether vectors are late-chunked;
    ``situator`` writes the LLM contexts when ``context.llm`` is on. If the LLM fails partway, what was committed is
    published, its contexts stay cached, and :class:`IndexError_` says to run again.

    ``ray`` (``host:port`` of a Ray cluster, needs ``kenning[ray]``) parses, chunks and embeds on the cluster's
    workers; skipping, writing and publishing stay here, so the final chunks are the same. A failed worker ends the
    run like a failed LLM: what was committed is published and kept.
    """
    t0 = time.perf_counter()
    context = context or ContextConfig()
    if context.llm and situator is None:
        raise ConfigError("context.llm is on but no LLM was given to write the contexts")
    if context.late_chunking and getattr(embedder, "embed_late", None) is None:
        raise ConfigError(f"context.late_chunking: the embedder {embedder.name} cannot do late chunking")
    catalog = collection.catalog
    fingerprint = fingerprint_for(chunking, context)
    model = collection.info.embedder.model
    roots = [os.path.abspath(os.path.expanduser(os.fspath(p))) for p in paths]
    known = catalog.sources_under([readable(r) for r in roots])  # as discover() names them
    seen: set[str] = set()
    skipped: list[Skipped] = []
    counts = _Counts()
    pending: list[_Pending] = []
    pending_chunks = 0
    tick = progress or (lambda stage, done, total: None)

    def flush(mapper: Mapper) -> None:
        nonlocal pending, pending_chunks
        if pending:
            _commit(collection, pending, fingerprint, mapper, model, counts, tick, context.late_chunking)
        pending, pending_chunks = [], 0

    def todo() -> Iterator[SourceFile]:
        """The sources to read: discovered, and changed since they were indexed."""
        for found in discover(paths, ingest):
            if isinstance(found, Skipped):
                skipped.append(found)
                _protect(found.source, known, seen)
                continue
            seen.add(found.source)
            counts.seen += 1
            tick("documents", counts.seen, None)
            if _unchanged(known.get(found.source), found, fingerprint):
                counts.unchanged += 1
                continue
            yield found

    def wanted(doc: Document) -> bool:
        """Not stored with these settings yet, nor waiting in this batch (the same text under another name)."""
        return catalog.document_chunker(doc.doc_id) != fingerprint and not any(
            p.doc.doc_id == doc.doc_id and p.chunks is not None for p in pending
        )

    with open_mapper(ray, embedder=embedder, chunking=chunking, ingest=ingest) as mapper:
        try:
            for found, ready in mapper.prepare(todo(), wanted):
                state = known.get(found.source)
                if ready.doc is None:
                    skipped.append(Skipped(found.source, ready.error or "unreadable"))
                    if state:
                        counts.unchanged += 1  # keep what was indexed from it before
                    continue
                doc = ready.doc
                entry = _Pending(found, doc, known=state is not None)
                if ready.chunks is not None and wanted(doc):
                    try:
                        entry.chunks = with_context(
                            doc, list(ready.chunks), context, situator if context.llm else None, catalog
                        )
                    except ContextFailed as exc:
                        flush(mapper)  # what was read before the failure is committed and published; the rest waits
                        collection.publish()
                        raise IndexError_(str(exc)) from None
                    if context.late_chunking:
                        entry.hashes = [late_hash(model, doc.doc_id, c) for c in entry.chunks]
                    else:
                        entry.hashes = [embed_hash(model, embed_text(c)) for c in entry.chunks]
                    pending_chunks += len(entry.chunks)
                pending.append(entry)
                if pending_chunks >= commit_chunks:
                    flush(mapper)
            flush(mapper)
        except WorkerFailed:
            collection.publish()  # what the batches before the failure committed stays, searchable
            raise
        chunk_stats = mapper.stats

    gone = [s for s in known if s not in seen]
    for root in roots:
        if not Path(root).exists():  # a missing input (unmounted disk, typo) never wipes what was indexed
            name = readable(root)
            gone = [s for s in gone if s != name and not s.startswith(name + "/") and not s.startswith(name + "!")]
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
        context=situator.report() if situator is not None and context.llm else None,
        chunking_embedded=chunk_stats.embedded,
        chunking_embed_seconds=round(chunk_stats.seconds, 3),
    )


def changed_documents(
    catalog: Catalog | None,
    paths: Sequence[str | Path],
    *,
    ingest: IngestConfig,
    chunking: ChunkingConfig,
    context: ContextConfig,
    embedder: Embedder | None = None,
) -> Iterator[tuple[Document, list[Chunk]]]:
    """The documents an index run would (re)chunk, with their chunks: what an estimate of its cost is made from.

    Reads and chunks, writes nothing (the semantic chunker embeds sentences to chunk, so it needs ``embedder``).
    ``catalog`` is the collection's, or None when it does not exist yet (every document is then new).
    """
    chunker = Chunker(chunking, embedder=embedder)
    fingerprint = fingerprint_for(chunking, context)
    roots = [readable(os.path.abspath(os.path.expanduser(os.fspath(p)))) for p in paths]
    known = catalog.sources_under(roots) if catalog is not None else {}
    for found in discover(paths, ingest):
        if isinstance(found, Skipped) or _unchanged(known.get(found.source), found, fingerprint):
            continue
        try:
            with file_budget(found.source, ingest.max_seconds_per_file):
                doc = parse(found, ingest)
                if catalog is not None and catalog.document_chunker(doc.doc_id) == fingerprint:
                    continue
                chunks = chunker.chunk(doc)
        except InputError:
            continue
        yield doc, chunks


def _unchanged(state: SourceState | None, found: SourceFile, fingerprint: str) -> bool:
    """The source was indexed before from the same bytes with the same chunk settings: nothing to do."""
    return state is not None and state.raw_hash == found.raw_hash and state.chunker == fingerprint


def _protect(source: str, known: dict, seen: set[str]) -> None:
    """A source that could not be read this time keeps everything indexed from it (a member, a record…) before."""
    seen.add(source)
    for s in known:
        if s.startswith(source) and s[len(source) : len(source) + 1] in ("/", "!", "#"):
            seen.add(s)


def _commit(
    collection: Store,
    pending: list[_Pending],
    fingerprint: str,
    mapper: Mapper,
    model: str,
    counts: _Counts,
    tick: ProgressFn,
    late_chunking: bool = False,
) -> None:
    catalog = collection.catalog
    texts_by_hash: dict[str, str] = {}
    late: dict[str, tuple[Document, Chunk]] = {}
    for p in pending:
        if p.chunks is not None:
            for c, h in zip(p.chunks, p.hashes, strict=False):
                if late_chunking:
                    late.setdefault(h, (p.doc, c))
                else:
                    texts_by_hash.setdefault(h, embed_text(c))
    missing = sorted(catalog.missing_vectors(list(texts_by_hash)), key=lambda h: len(texts_by_hash[h]))
    vectors = mapper.embed([texts_by_hash[h] for h in missing], lambda n: tick("embedding", counts.embedded + n, None))
    if late:
        late_missing = sorted(catalog.missing_vectors(list(late)))
        late_vectors = mapper.embed_late([late[h] for h in late_missing])
        missing, vectors = missing + late_missing, _stack(vectors, late_vectors)
    with catalog.transaction():
        catalog.put_vectors(missing, vectors)
        replaced: set[str] = set()
        batch = [(p.doc, p.chunks, p.hashes, fingerprint) for p in pending if p.chunks is not None]
        catalog.put_documents(batch)  # one call per batch: a server store writes it in a few statements
        counts.chunks_added += sum(len(chunks) for _, chunks, _, _ in batch)
        for p in pending:
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


def _stack(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if not a.size:
        return b
    if not b.size:
        return a
    return np.concatenate([a, b])
