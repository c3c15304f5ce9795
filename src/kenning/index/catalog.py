"""The catalog: one SQLite file (WAL) holding documents, sources, chunks and their vectors.

It is the source of truth. Search structures (BM25, vector matrix, HNSW) are snapshots rebuilt from it, so a write
that was committed here is never lost and a write that was not committed never half-exists.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import IndexError_, storage_error
from ..types import Chunk, Document, Section, Usage
from .migrations import MIGRATIONS

__all__ = ["Catalog", "SourceState", "ChunkRow", "ChunkSpan", "DocumentRow", "INDEXED_TEXT"]

# The text that is embedded and BM25-indexed for a chunk: its context (headers, an LLM's situating sentence), a blank
# line, then its text; just its text when it has no context. kenning.index.context.indexed_text is the same in Python.
INDEXED_TEXT = "CASE WHEN c.context = '' THEN c.text ELSE c.context || char(10) || char(10) || c.text END"


@dataclass(frozen=True, slots=True)
class SourceState:
    doc_id: str
    raw_hash: str
    chunker: str


@dataclass(frozen=True, slots=True)
class ChunkRow:
    """A chunk as stored, joined with its document: what a search hit is made of."""

    id: int
    chunk_id: str
    doc_id: str
    index: int
    text: str
    start: int
    end: int
    heading_path: tuple[str, ...]
    kind: str
    title: str
    source: str
    metadata: dict


@dataclass(frozen=True, slots=True)
class ChunkSpan:
    """Where a chunk sits, without its text: cheap to read for every chunk at once (chunk → document maps, gold
    spans, token counts, texts repeated across documents)."""

    chunk_id: str
    doc_id: str
    index: int
    start: int
    end: int
    n_tokens: int
    embed_hash: str


@dataclass(frozen=True, slots=True)
class DocumentRow:
    """A document as listed: where it came from and how it was cut. ``text`` and ``chunks`` (each chunk's id and
    character span in ``text``) are filled only when one document is asked for."""

    doc_id: str
    title: str
    kind: str
    sources: tuple[str, ...]
    n_chunks: int
    characters: int
    metadata: dict
    text: str | None = None
    chunks: tuple[tuple[str, int, int], ...] = ()


class Catalog:
    """SQLite catalog of one collection.

    >>> import tempfile, pathlib
    >>> cat = Catalog(pathlib.Path(tempfile.mkdtemp()) / "catalog.sqlite")
    >>> cat.data_version()
    0
    """

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        """Open (a writer: create and migrate) the catalog at ``path``.

        ``readonly``: a reader's connection, which never writes: it neither creates a missing file nor migrates, and
        a missing, empty or foreign file is an :class:`IndexError_` naming it instead of an empty collection.
        """
        self.path = Path(path)
        self.readonly = readonly
        if readonly:
            self._check_file()
        try:
            if readonly:
                # on a read-only file system nothing can change the file, and mode=ro cannot open a WAL database
                # there (it needs to write the -shm file), so the catalog is opened as the immutable file it is
                flag = "immutable=1" if _read_only_fs(self.path) else "mode=ro"
                self.conn = sqlite3.connect(f"file:{self.path}?{flag}", uri=True, check_same_thread=False)
            else:
                self.conn = sqlite3.connect(self.path, check_same_thread=False)
            self.conn.execute("PRAGMA busy_timeout = 30000")
            if not readonly:
                self.conn.execute("PRAGMA journal_mode = WAL")
                self.conn.execute("PRAGMA synchronous = NORMAL")
            self.conn.execute("PRAGMA foreign_keys = ON")
            if not readonly:
                self._migrate()
            elif self.schema_version == 0 or self.get_state("data_version") is None:
                raise sqlite3.DatabaseError("it has no kenning tables")
        except sqlite3.DatabaseError as exc:
            full_or_read_only = storage_error(exc, self.path)  # a sound file on a full or read-only disk
            if full_or_read_only is not None:
                raise full_or_read_only from None
            raise IndexError_(
                f"{self.path}: cannot open the catalog ({exc}); the file is damaged or not kenning's"
            ) from None

    def _check_file(self) -> None:
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            raise IndexError_(f"{self.path} is missing: the collection's documents are gone") from None
        if size == 0:
            raise IndexError_(f"{self.path} is empty: the collection's documents are gone")

    def close(self) -> None:
        self.conn.close()

    # -- schema -------------------------------------------------------------------------------------------------

    def _migrate(self) -> None:
        current = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if current > len(MIGRATIONS):
            raise IndexError_(
                f"{self.path} has schema version {current}, newer than this kenning ({len(MIGRATIONS)}); upgrade kenning"
            )
        for number in range(current, len(MIGRATIONS)):
            with self.conn:
                self.conn.executescript("BEGIN;" + MIGRATIONS[number] + f"; PRAGMA user_version = {number + 1};COMMIT;")

    @property
    def schema_version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """All writes inside commit together, bumping ``data_version``, or not at all."""
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            yield self.conn
            self.conn.execute("UPDATE state SET value = CAST(value AS INTEGER) + 1 WHERE key = 'data_version'")

    # -- reads --------------------------------------------------------------------------------------------------

    def data_version(self) -> int:
        return int(self.conn.execute("SELECT value FROM state WHERE key = 'data_version'").fetchone()[0])

    def catalog_id(self) -> str | None:
        """A random id drawn when the catalog was created: a snapshot built from another catalog (one that was lost
        and started again) is never mistaken for this one's, whatever their ``data_version``."""
        return self.get_state("catalog_id")

    def quick_check(self) -> str:
        """SQLite's ``quick_check``: ``"ok"`` or the first problem it found."""
        return str(self.conn.execute("PRAGMA quick_check(1)").fetchone()[0])

    def filter_rows(self, doc_ids: Sequence[str]) -> tuple[list[tuple], list[tuple]]:
        """What filters look at for these documents: ``(doc_id, kind, metadata)`` rows and ``(source, doc_id,
        metadata)`` rows of their sources (a snapshot keeps them, so it filters its own chunks)."""
        docs: list[tuple] = []
        sources: list[tuple] = []
        unique = list(dict.fromkeys(doc_ids))
        for i in range(0, len(unique), 900):
            part = unique[i : i + 900]
            marks = ",".join("?" * len(part))
            docs += self.conn.execute(f"SELECT doc_id, kind, metadata FROM documents WHERE doc_id IN ({marks})", part)
            sources += self.conn.execute(
                f"SELECT source, doc_id, metadata FROM sources WHERE doc_id IN ({marks})", part
            ).fetchall()
        return docs, sources

    def counts(self) -> tuple[int, int]:
        docs = self.conn.execute("SELECT count(*) FROM documents").fetchone()[0]
        chunks = self.conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
        return int(docs), int(chunks)

    def sources_under(self, roots: Iterable[str]) -> dict[str, SourceState]:
        """What the catalog knows of every source recorded under these roots."""
        out: dict[str, SourceState] = {}
        for root in roots:
            rows = self.conn.execute(
                "SELECT s.source, s.doc_id, s.raw_hash, d.chunker FROM sources s JOIN documents d USING (doc_id) "
                "WHERE s.root = ?",
                (root,),
            )
            out.update({r[0]: SourceState(r[1], r[2], r[3]) for r in rows})
        return out

    def source_state(self, source: str) -> SourceState | None:
        row = self.conn.execute(
            "SELECT s.doc_id, s.raw_hash, d.chunker FROM sources s JOIN documents d USING (doc_id) WHERE s.source = ?",
            (source,),
        ).fetchone()
        return SourceState(*row) if row else None

    def document_chunker(self, doc_id: str) -> str | None:
        row = self.conn.execute("SELECT chunker FROM documents WHERE doc_id = ?", (doc_id,)).fetchone()
        return row[0] if row else None

    def document_texts(self, doc_ids: Sequence[str]) -> dict[str, tuple[str, tuple[Section, ...]]]:
        """doc_id → (whole text, headings) for those that exist: what parent-section expansion reads around a chunk."""
        out: dict[str, tuple[str, tuple[Section, ...]]] = {}
        unique = list(dict.fromkeys(doc_ids))
        for i in range(0, len(unique), 900):
            part = unique[i : i + 900]
            q = f"SELECT doc_id, text, sections FROM documents WHERE doc_id IN ({','.join('?' * len(part))})"
            for doc_id, text, sections in self.conn.execute(q, part):
                out[doc_id] = (text, tuple(Section(int(lv), str(t), int(st)) for lv, t, st in json.loads(sections)))
        return out

    def documents(self, *, limit: int = 100, offset: int = 0) -> tuple[list[DocumentRow], int]:
        """A page of documents ordered by title, and how many there are."""
        total = int(self.conn.execute("SELECT count(*) FROM documents").fetchone()[0])
        rows = self.conn.execute(
            "SELECT d.doc_id, d.title, d.kind, length(d.text), d.metadata, "
            "(SELECT count(*) FROM chunks c WHERE c.doc_id = d.doc_id), "
            "(SELECT json_group_array(source) FROM sources s WHERE s.doc_id = d.doc_id) "
            "FROM documents d ORDER BY d.title, d.doc_id LIMIT ? OFFSET ?",
            (limit, offset),
        ).fetchall()
        docs = [
            DocumentRow(r[0], r[1], r[2], tuple(sorted(json.loads(r[6]))), r[5], r[3], json.loads(r[4])) for r in rows
        ]
        return docs, total

    def document(self, doc_id: str) -> DocumentRow | None:
        """One document with its text and its chunks' spans, or None."""
        row = self.conn.execute(
            "SELECT title, kind, text, metadata FROM documents WHERE doc_id = ?", (doc_id,)
        ).fetchone()
        if row is None:
            return None
        sources = tuple(
            r[0] for r in self.conn.execute("SELECT source FROM sources WHERE doc_id = ? ORDER BY source", (doc_id,))
        )
        chunks = tuple(
            (r[0], int(r[1]), int(r[2]))
            for r in self.conn.execute(
                "SELECT chunk_id, start, end FROM chunks WHERE doc_id = ? ORDER BY idx", (doc_id,)
            )
        )
        return DocumentRow(
            doc_id, row[0], row[1], sources, len(chunks), len(row[2]), json.loads(row[3]), row[2], chunks
        )

    def remove_documents(self, doc_ids: Sequence[str]) -> tuple[int, int]:
        """Forget these documents and every source that points at them, in one transaction. Returns (docs, chunks)."""
        with self.transaction() as c:
            c.executemany("DELETE FROM sources WHERE doc_id = ?", [(d,) for d in doc_ids])
            counts = self.drop_unreferenced(doc_ids)
            self.drop_unused_vectors()
        return counts

    def missing_vectors(self, embed_hashes: Sequence[str]) -> set[str]:
        """Which of these hashes have no stored vector yet."""
        have: set[str] = set()
        for i in range(0, len(embed_hashes), 900):
            part = embed_hashes[i : i + 900]
            q = f"SELECT embed_hash FROM vectors WHERE embed_hash IN ({','.join('?' * len(part))})"
            have.update(r[0] for r in self.conn.execute(q, part))
        return set(embed_hashes) - have

    def index_rows(self, batch: int = 10_000) -> Iterator[tuple[np.ndarray, list[str], np.ndarray]]:
        """``(row ids, indexed texts, vectors)`` for every chunk, in row-id order, ``batch`` at a time."""
        cur = self.conn.execute(
            f"SELECT c.id, {INDEXED_TEXT}, v.vector FROM chunks c JOIN vectors v ON v.embed_hash = c.embed_hash "
            "ORDER BY c.id"
        )
        while rows := cur.fetchmany(batch):
            ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            vecs = np.frombuffer(b"".join(r[2] for r in rows), dtype="<f4").reshape(len(rows), -1)
            yield ids, [r[1] for r in rows], vecs

    def chunk_rows(self, ids: Sequence[int] | Sequence[str], *, by: str = "id") -> dict:
        """Chunks by row id (``by="id"``) or by chunk id (``by="chunk_id"``), with their document's kind, title,
        metadata and first source; keyed the same way they were asked for."""
        if by not in ("id", "chunk_id"):
            raise ValueError(f"by must be 'id' or 'chunk_id', got {by!r}")
        out: dict = {}
        for i in range(0, len(ids), 900):
            part = [int(x) for x in ids[i : i + 900]] if by == "id" else [str(x) for x in ids[i : i + 900]]
            q = (
                "SELECT c.id, c.chunk_id, c.doc_id, c.idx, c.text, c.start, c.end, c.heading_path, d.kind, d.title, "
                "d.metadata, (SELECT min(source) FROM sources s WHERE s.doc_id = c.doc_id) "
                f"FROM chunks c JOIN documents d USING (doc_id) WHERE c.{by} IN ({','.join('?' * len(part))})"
            )
            for r in self.conn.execute(q, part):
                out[r[0] if by == "id" else r[1]] = ChunkRow(
                    r[0],
                    r[1],
                    r[2],
                    r[3],
                    r[4],
                    r[5],
                    r[6],
                    tuple(json.loads(r[7])),
                    r[8],
                    r[9],
                    r[11] or "",
                    json.loads(r[10]),
                )
        return out

    def iter_chunks(self, batch: int = 2_000) -> Iterator[ChunkRow]:
        """Every chunk with its document's title and kind (no sources or metadata: cheap to stream)."""
        cur = self.conn.execute(
            "SELECT c.id, c.chunk_id, c.doc_id, c.idx, c.text, c.start, c.end, c.heading_path, d.kind, d.title "
            "FROM chunks c JOIN documents d USING (doc_id) ORDER BY c.id"
        )
        while rows := cur.fetchmany(batch):
            for r in rows:
                yield ChunkRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], tuple(json.loads(r[7])), r[8], r[9], "", {})

    def chunk_texts(self) -> Iterator[tuple[str, str]]:
        """``(chunk id, indexed text)`` of every chunk: what is embedded and BM25-indexed (context + text)."""
        yield from self.conn.execute(f"SELECT c.chunk_id, {INDEXED_TEXT} FROM chunks c ORDER BY c.id")

    def chunk_spans(self, doc_ids: Sequence[str] | None = None) -> list[ChunkSpan]:
        """Every chunk's place (of these documents; all when None), ordered by document id, then position in it."""
        cols = "chunk_id, doc_id, idx, start, end, n_tokens, embed_hash"
        if doc_ids is None:
            return [ChunkSpan(*r) for r in self.conn.execute(f"SELECT {cols} FROM chunks ORDER BY doc_id, idx")]
        out: list[ChunkSpan] = []
        unique = sorted(set(doc_ids))
        for i in range(0, len(unique), 900):
            part = unique[i : i + 900]
            q = f"SELECT {cols} FROM chunks WHERE doc_id IN ({','.join('?' * len(part))}) ORDER BY doc_id, idx"
            out.extend(ChunkSpan(*r) for r in self.conn.execute(q, part))
        return out

    def cached_contexts(self, keys: Sequence[str]) -> dict[str, str]:
        """LLM-written contexts already paid for, by cache key (see kenning.index.context)."""
        out: dict[str, str] = {}
        for i in range(0, len(keys), 900):
            part = list(keys[i : i + 900])
            q = f"SELECT key, context FROM contexts WHERE key IN ({','.join('?' * len(part))})"
            out.update(self.conn.execute(q, part))
        return out

    def cache_context(self, key: str, context: str, model: str, usage: Usage, seconds: float) -> None:
        """Keep one LLM-written context, committed at once: a run that fails later has still paid for it once."""
        with self.conn:
            self.conn.execute(
                "INSERT OR REPLACE INTO contexts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    key,
                    context,
                    model,
                    usage.prompt_tokens,
                    usage.completion_tokens,
                    usage.cached_tokens,
                    usage.cost_usd,
                    seconds,
                    time.time(),
                ),
            )

    def context_seconds(self, model: str) -> float | None:
        """Mean seconds per context ``model`` took in earlier runs on this collection (None: never run)."""
        row = self.conn.execute("SELECT avg(seconds), count(*) FROM contexts WHERE model = ?", (model,)).fetchone()
        return float(row[0]) if row and row[1] else None

    def vectors_for(self, embed_hashes: Sequence[str]) -> dict[str, np.ndarray]:
        """Stored vectors by embed hash (those that exist)."""
        out: dict[str, np.ndarray] = {}
        for i in range(0, len(embed_hashes), 900):
            part = list(embed_hashes[i : i + 900])
            q = f"SELECT embed_hash, vector FROM vectors WHERE embed_hash IN ({','.join('?' * len(part))})"
            out.update((h, np.frombuffer(v, dtype="<f4")) for h, v in self.conn.execute(q, part))
        return out

    def rehash_chunks(self, new_hash: Callable[[str], str]) -> int:
        """Point every chunk at the vector of ``new_hash(indexed text)`` (call inside transaction()). Returns the
        count."""
        rows = [
            (new_hash(text), rowid) for rowid, text in self.conn.execute(f"SELECT c.id, {INDEXED_TEXT} FROM chunks c")
        ]
        self.conn.executemany("UPDATE chunks SET embed_hash = ? WHERE id = ?", rows)
        return len(rows)

    def get_state(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_state(self, key: str, value: str) -> None:
        """Set a state value (call inside transaction() to commit it with other writes)."""
        self.conn.execute("INSERT OR REPLACE INTO state VALUES (?, ?)", (key, value))

    def chunk_ids_for_docs(self, doc_ids: Sequence[str]) -> list[str]:
        out: list[str] = []
        for i in range(0, len(doc_ids), 900):
            part = list(doc_ids[i : i + 900])
            q = f"SELECT chunk_id FROM chunks WHERE doc_id IN ({','.join('?' * len(part))}) ORDER BY doc_id, idx"
            out.extend(r[0] for r in self.conn.execute(q, part))
        return out

    def document_sources(self) -> dict[str, list[str]]:
        """doc_id → every source it was found at (more than one when identical content was deduplicated)."""
        out: dict[str, list[str]] = {}
        for doc_id, source in self.conn.execute("SELECT doc_id, source FROM sources ORDER BY source"):
            out.setdefault(doc_id, []).append(source)
        return out

    def source_metadata(self) -> dict[str, dict]:
        return {s: json.loads(m) for s, m in self.conn.execute("SELECT source, metadata FROM sources")}

    def all_chunk_ids(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT chunk_id FROM chunks ORDER BY chunk_id")]

    def filtered_row_ids(self, where: str, params: Sequence[object]) -> np.ndarray:
        """Row ids of chunks whose document matches a SQL condition over ``d`` (documents) and ``s`` (sources)."""
        q = (
            "SELECT DISTINCT c.id FROM chunks c JOIN documents d USING (doc_id) JOIN sources s USING (doc_id) "
            f"WHERE {where}"
        )
        return np.fromiter((r[0] for r in self.conn.execute(q, list(params))), dtype=np.int64)

    # -- writes (call inside transaction()) ---------------------------------------------------------------------

    def put_documents(self, items: Sequence[tuple[Document, Sequence[Chunk], Sequence[str], str]]) -> None:
        """:meth:`put_document` for each ``(doc, chunks, embed_hashes, chunker)`` (SQLite gains nothing from more)."""
        for doc, chunks, hashes, chunker in items:
            self.put_document(doc, chunks, hashes, chunker)

    def put_document(self, doc: Document, chunks: Sequence[Chunk], embed_hashes: Sequence[str], chunker: str) -> None:
        """Store a document and its chunks, replacing any earlier chunking of the same document."""
        c = self.conn
        c.execute("DELETE FROM chunks WHERE doc_id = ?", (doc.doc_id,))
        c.execute(
            "INSERT INTO documents VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(doc_id) DO UPDATE SET "
            "chunker = excluded.chunker, sections = excluded.sections, metadata = excluded.metadata",
            (
                doc.doc_id,
                doc.kind,
                doc.title,
                doc.text,
                json.dumps([[s.level, s.title, s.start] for s in doc.sections]),
                json.dumps(doc.metadata, ensure_ascii=False, default=str),
                chunker,
                time.time(),
            ),
        )
        c.executemany(
            "INSERT INTO chunks (chunk_id, doc_id, idx, text, start, end, n_tokens, heading_path, embed_hash, context) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    ch.chunk_id,
                    ch.doc_id,
                    ch.index,
                    ch.text,
                    ch.start,
                    ch.end,
                    ch.n_tokens,
                    json.dumps(list(ch.heading_path), ensure_ascii=False),
                    h,
                    ch.context,
                )
                for ch, h in zip(chunks, embed_hashes, strict=True)
            ],
        )

    def put_vectors(self, embed_hashes: Sequence[str], vectors: np.ndarray) -> None:
        data = np.ascontiguousarray(vectors, dtype="<f4")
        self.conn.executemany(
            "INSERT OR IGNORE INTO vectors VALUES (?, ?)", [(h, data[i].tobytes()) for i, h in enumerate(embed_hashes)]
        )

    def stage_vectors(self, embed_hashes: Sequence[str], vectors: np.ndarray) -> None:
        """Store vectors no chunk points at yet (a model being tried), committed at once without bumping
        ``data_version``: what searches see does not change."""
        try:
            with self.conn:
                self.put_vectors(embed_hashes, vectors)
        except sqlite3.OperationalError as exc:
            raise IndexError_(f"{self.path}: cannot store vectors ({exc}); nothing searched has changed") from None

    def drop_unused_vectors_now(self) -> int:
        """:meth:`drop_unused_vectors`, committed at once without bumping ``data_version`` (searches are unchanged)."""
        with self.conn:
            return self.drop_unused_vectors()

    def put_source(self, source: str, root: str, doc_id: str, raw_hash: str, metadata: dict) -> str | None:
        """Point ``source`` at ``doc_id``; returns the document it pointed at before, if different."""
        row = self.conn.execute("SELECT doc_id FROM sources WHERE source = ?", (source,)).fetchone()
        self.conn.execute(
            "INSERT INTO sources VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(source) DO UPDATE SET root = excluded.root, "
            "doc_id = excluded.doc_id, raw_hash = excluded.raw_hash, metadata = excluded.metadata, "
            "updated_at = excluded.updated_at",
            (source, root, doc_id, raw_hash, json.dumps(metadata, ensure_ascii=False, default=str), time.time()),
        )
        return row[0] if row and row[0] != doc_id else None

    def remove_sources(self, sources: Iterable[str]) -> None:
        self.conn.executemany("DELETE FROM sources WHERE source = ?", [(s,) for s in sources])

    def drop_unreferenced(self, doc_ids: Iterable[str]) -> tuple[int, int]:
        """Delete those of ``doc_ids`` that no source points at any more, with their chunks. Returns (docs, chunks)."""
        c = self.conn
        n_docs = n_chunks = 0
        for doc_id in set(doc_ids):
            if c.execute("SELECT 1 FROM sources WHERE doc_id = ? LIMIT 1", (doc_id,)).fetchone():
                continue
            n_chunks += c.execute("DELETE FROM chunks WHERE doc_id = ?", (doc_id,)).rowcount
            n_docs += c.execute("DELETE FROM documents WHERE doc_id = ?", (doc_id,)).rowcount
        return n_docs, n_chunks

    def drop_unused_vectors(self) -> int:
        """Delete vectors no chunk uses any more (after documents changed or were removed)."""
        return self.conn.execute("DELETE FROM vectors WHERE embed_hash NOT IN (SELECT embed_hash FROM chunks)").rowcount

    def record_version(self, version: int, data_version: int, n_chunks: int, ann: str) -> None:
        with self.conn:
            self.conn.execute(
                "INSERT OR REPLACE INTO index_versions VALUES (?, ?, ?, ?, ?)",
                (version, data_version, n_chunks, ann, time.time()),
            )


def _read_only_fs(path: Path) -> bool:
    """Whether ``path`` lies on a file system mounted read-only."""
    try:
        return bool(os.statvfs(path.parent).f_flag & os.ST_RDONLY)
    except OSError:
        return False
