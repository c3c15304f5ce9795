"""A PostgreSQL collection's rows (:class:`~kenning.store.StoreCatalog`): documents, sources, chunks and vectors.

Writes happen inside :meth:`PgCatalog.transaction`, one PostgreSQL transaction on the writer's own connection (the one
holding the collection's write lock, else a pooled one): all of it commits, bumping the collection's
``data_version``, or none of it does — a connection dropped mid-way rolls everything back, so no document is ever
half-written. BM25's statistics follow the chunk rows by trigger in the same transaction.

A chunk row carries its vector. :meth:`put_vectors` keeps the vectors of a batch in memory until
:meth:`put_document` stores them on the chunks; the ones no chunk took by the end of the transaction are staged in
``kenning.vectors`` (so a later transaction can still use them), and :meth:`drop_unused_vectors` clears them.
Reads outside a transaction use a pooled connection and see the last committed state.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np
import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from ...errors import CollectionNotFound, IndexError_
from ...index.catalog import ChunkRow, ChunkSpan, DocumentRow, SourceState
from ...types import Chunk, Document, Section
from .fts import fill_fts
from .lexical import INDEXED_TEXT, Tokenizer, Vocabulary, lexical_columns
from .migrations import DELTAS, FOLD
from .pool import lost

if TYPE_CHECKING:
    from .store import PostgresStore

__all__ = ["PgCatalog"]

_CHUNK_COLUMNS = (
    "collection",
    "chunk_id",
    "doc_id",
    "idx",
    "text",
    "start",
    '"end"',
    "n_tokens",
    "heading_path",
    "embed_hash",
    "context",
    "embedding",
    "n_terms",
    "terms",
    "tfs",
)
_CHUNK_TYPES = (
    "int4",
    "text",
    "text",
    "int4",
    "text",
    "int4",
    "int4",
    "int4",
    "jsonb",
    "text",
    "text",
    "vector",
    "int4",
    "int8[]",
    "int4[]",
)
_ROW = (
    'SELECT c.id, c.chunk_id, c.doc_id, c.idx, c.text, c.start, c."end", c.heading_path, d.kind, d.title, '
    'd.metadata, (SELECT min(s.source COLLATE "C") FROM kenning.sources s '
    "WHERE s.collection = c.collection AND s.doc_id = c.doc_id) "
    "FROM kenning.chunks c JOIN kenning.documents d ON d.collection = c.collection AND d.doc_id = c.doc_id "
)


class _Tx(threading.local):
    conn: psycopg.Connection | None = None
    pending: dict[str, np.ndarray]  # vectors put in this transaction, not yet on a chunk or staged
    fts: str | None = None

    def __init__(self) -> None:
        self.pending = {}


class PgCatalog:
    """The rows of one PostgreSQL collection (``store.catalog``)."""

    def __init__(self, store: PostgresStore) -> None:
        self._store = store
        self._tx = _Tx()
        self.vocabulary = Vocabulary()  # used while the store holds the write lock (which clears it)

    @property
    def _id(self) -> int:
        return self._store.id

    # -- connections --------------------------------------------------------------------------------------------

    @contextmanager
    def _read(self) -> Iterator[psycopg.Connection]:
        """This thread's transaction's connection (to see its own writes), else a pooled one."""
        if self._tx.conn is not None:
            yield self._tx.conn
            return
        with self._store.db.connection() as conn:
            yield conn

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Connection]:
        """All writes inside commit together, bumping ``data_version``, or not at all (also when the connection is
        lost: then an :class:`IndexError_` says nothing was written)."""
        if self._tx.conn is not None:  # nested: a savepoint
            with self._tx.conn.transaction():
                yield self._tx.conn
            return
        with self._store.write_connection() as conn, lost(self._store.db.shown, writing=True):
            with conn.transaction():
                self._tx.conn, self._tx.pending = conn, {}
                self.vocabulary.pending.clear()  # what a transaction that failed to commit added does not exist
                try:
                    self._begin(conn)
                    yield conn
                    self._stage(conn)
                    conn.execute(FOLD)
                    conn.execute(
                        "UPDATE kenning.collections SET data_version = data_version + 1 WHERE id = %s", (self._id,)
                    )
                except BaseException:
                    self.vocabulary.pending.clear()
                    raise
                finally:
                    self._tx.conn, self._tx.pending, self._tx.fts = None, {}, None
            self.vocabulary.commit()

    @contextmanager
    def _writing(self) -> Iterator[psycopg.Connection]:
        """The transaction's connection; a write outside :meth:`transaction` gets one of its own."""
        if self._tx.conn is not None:
            yield self._tx.conn
            return
        with self.transaction() as conn:
            yield conn

    def _begin(self, conn: psycopg.Connection) -> None:
        """At the start of a write: postings made with other tokenizer settings than the stored ones mark the
        collection's postings for a rebuild at the next publish (also when this writer dies before it)."""
        row = conn.execute(
            "SELECT lexical_key, fts_config::text FROM kenning.collections WHERE id = %s", (self._id,)
        ).fetchone()
        if row is None:
            raise CollectionNotFound(f"collection {self._store.name!r} was deleted from {self._store.db.shown}")
        conn.execute(DELTAS)
        if row[0] != Tokenizer.key(self._store.lexical_config()):
            conn.execute(
                "UPDATE kenning.collections SET lexical_key = '' WHERE id = %s AND lexical_key <> ''", (self._id,)
            )
        self._tx.fts = row[1]

    def _stage(self, conn: psycopg.Connection) -> None:
        """Vectors put in this transaction that no chunk took: kept in ``kenning.vectors`` for a later one."""
        left = self._tx.pending
        if not left:
            return
        with conn.cursor().copy("COPY kenning.vectors (collection, embed_hash, embedding) FROM STDIN") as copy:
            for h, v in left.items():
                copy.write_row((self._id, h, v))

    # -- reads --------------------------------------------------------------------------------------------------

    def data_version(self) -> int:
        with self._read() as conn:
            row = conn.execute("SELECT data_version FROM kenning.collections WHERE id = %s", (self._id,)).fetchone()
        if row is None:
            raise CollectionNotFound(f"collection {self._store.name!r} was deleted from {self._store.db.shown}")
        return int(row[0])

    def counts(self) -> tuple[int, int]:
        with self._read() as conn:
            row = conn.execute(
                "SELECT (SELECT count(*) FROM kenning.documents WHERE collection = %s), "
                "(SELECT count(*) FROM kenning.chunks WHERE collection = %s)",
                (self._id, self._id),
            ).fetchone()
        return (int(row[0]), int(row[1])) if row else (0, 0)

    def sources_under(self, roots: Iterable[str]) -> dict[str, SourceState]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT s.source, s.doc_id, s.raw_hash, d.chunker FROM kenning.sources s JOIN kenning.documents d "
                "ON d.collection = s.collection AND d.doc_id = s.doc_id WHERE s.collection = %s AND s.root = ANY(%s)",
                (self._id, list(roots)),
            ).fetchall()
        return {r[0]: SourceState(r[1], r[2], r[3]) for r in rows}

    def source_state(self, source: str) -> SourceState | None:
        with self._read() as conn:
            row = conn.execute(
                "SELECT s.doc_id, s.raw_hash, d.chunker FROM kenning.sources s JOIN kenning.documents d "
                "ON d.collection = s.collection AND d.doc_id = s.doc_id WHERE s.collection = %s AND s.source = %s",
                (self._id, source),
            ).fetchone()
        return SourceState(*row) if row else None

    def document_chunker(self, doc_id: str) -> str | None:
        with self._read() as conn:
            row = conn.execute(
                "SELECT chunker FROM kenning.documents WHERE collection = %s AND doc_id = %s", (self._id, doc_id)
            ).fetchone()
        return row[0] if row else None

    def documents(self, *, limit: int = 100, offset: int = 0) -> tuple[list[DocumentRow], int]:
        """A page of documents ordered by title, and how many there are."""
        with self._read() as conn:
            total = conn.execute("SELECT count(*) FROM kenning.documents WHERE collection = %s", (self._id,))
            n = int(total.fetchone()[0])  # type: ignore[index]
            rows = conn.execute(
                "SELECT d.doc_id, d.title, d.kind, length(d.text), d.metadata, "
                "(SELECT count(*) FROM kenning.chunks c WHERE c.collection = d.collection AND c.doc_id = d.doc_id), "
                "(SELECT coalesce(array_agg(s.source ORDER BY s.source COLLATE \"C\"), '{}') FROM kenning.sources s "
                "WHERE s.collection = d.collection AND s.doc_id = d.doc_id) "
                "FROM kenning.documents d WHERE d.collection = %s "
                'ORDER BY d.title COLLATE "C", d.doc_id COLLATE "C" LIMIT %s OFFSET %s',
                (self._id, limit, offset),
            ).fetchall()
        return [DocumentRow(r[0], r[1], r[2], tuple(r[6]), int(r[5]), int(r[3]), r[4]) for r in rows], n

    def document(self, doc_id: str) -> DocumentRow | None:
        """One document with its text and its chunks' spans, or None."""
        with self._read() as conn:
            row = conn.execute(
                "SELECT title, kind, text, metadata FROM kenning.documents WHERE collection = %s AND doc_id = %s",
                (self._id, doc_id),
            ).fetchone()
            if row is None:
                return None
            sources = conn.execute(
                'SELECT source FROM kenning.sources WHERE collection = %s AND doc_id = %s ORDER BY source COLLATE "C"',
                (self._id, doc_id),
            ).fetchall()
            chunks = conn.execute(
                'SELECT chunk_id, start, "end" FROM kenning.chunks WHERE collection = %s AND doc_id = %s ORDER BY idx',
                (self._id, doc_id),
            ).fetchall()
        spans = tuple((r[0], int(r[1]), int(r[2])) for r in chunks)
        return DocumentRow(
            doc_id, row[0], row[1], tuple(r[0] for r in sources), len(spans), len(row[2]), row[3], row[2], spans
        )

    def document_texts(self, doc_ids: Sequence[str]) -> dict[str, tuple[str, tuple[Section, ...]]]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT doc_id, text, sections FROM kenning.documents WHERE collection = %s AND doc_id = ANY(%s)",
                (self._id, list(dict.fromkeys(doc_ids))),
            ).fetchall()
        return {d: (t, tuple(Section(int(lv), str(ti), int(st)) for lv, ti, st in s)) for d, t, s in rows}

    def document_sources(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        with self._read() as conn:
            for doc_id, source in conn.execute(
                'SELECT doc_id, source FROM kenning.sources WHERE collection = %s ORDER BY source COLLATE "C"',
                (self._id,),
            ):
                out.setdefault(doc_id, []).append(source)
        return out

    def source_metadata(self) -> dict[str, dict]:
        with self._read() as conn:
            rows = conn.execute("SELECT source, metadata FROM kenning.sources WHERE collection = %s", (self._id,))
            return {s: m for s, m in rows.fetchall()}

    # -- chunks and vectors -------------------------------------------------------------------------------------

    def chunk_rows(self, ids: Sequence[int] | Sequence[str], *, by: str = "id") -> dict:
        """Chunks by row id (``by="id"``) or chunk id (``by="chunk_id"``), keyed the way they were asked for."""
        if by not in ("id", "chunk_id"):
            raise ValueError(f"by must be 'id' or 'chunk_id', got {by!r}")
        wanted = [int(x) for x in ids] if by == "id" else [str(x) for x in ids]
        if not wanted:
            return {}
        column = sql.Identifier("c", by)
        q = sql.SQL(_ROW + "WHERE c.collection = %s AND {col} = ANY(%s)").format(col=column)
        with self._read() as conn:
            rows = conn.execute(q, (self._id, wanted)).fetchall()
        out: dict = {}
        for r in rows:
            row = _chunk_row(r)
            out[row.id if by == "id" else row.chunk_id] = row
        return out

    def iter_chunks(self, batch: int = 2_000) -> Iterator[ChunkRow]:
        """Every chunk with its document's title and kind (no sources or metadata), in row order."""
        last = 0
        while True:
            with self._read() as conn:
                rows = conn.execute(
                    'SELECT c.id, c.chunk_id, c.doc_id, c.idx, c.text, c.start, c."end", c.heading_path, d.kind, '
                    "d.title FROM kenning.chunks c JOIN kenning.documents d ON d.collection = c.collection "
                    "AND d.doc_id = c.doc_id WHERE c.collection = %s AND c.id > %s ORDER BY c.id LIMIT %s",
                    (self._id, last, batch),
                ).fetchall()
            for r in rows:
                yield ChunkRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], tuple(r[7]), r[8], r[9], "", {})
            if len(rows) < batch:
                return
            last = rows[-1][0]

    def chunk_texts(self) -> Iterator[tuple[str, str]]:
        """``(chunk id, indexed text)`` of every chunk, in row order."""
        last = 0
        q = sql.SQL(
            "SELECT c.id, c.chunk_id, {text} FROM kenning.chunks c WHERE c.collection = %s AND c.id > %s "
            "ORDER BY c.id LIMIT 5000"
        ).format(text=sql.SQL(INDEXED_TEXT))
        while True:
            with self._read() as conn:
                rows = conn.execute(q, (self._id, last)).fetchall()
            yield from ((r[1], r[2]) for r in rows)
            if len(rows) < 5000:
                return
            last = rows[-1][0]

    def chunk_spans(self, doc_ids: Sequence[str] | None = None) -> list[ChunkSpan]:
        """Every chunk's place (of these documents; all when None), ordered by document id, then position in it."""
        q = (
            'SELECT chunk_id, doc_id, idx, start, "end", n_tokens, embed_hash FROM kenning.chunks '
            'WHERE collection = %s{} ORDER BY doc_id COLLATE "C", idx'
        )
        with self._read() as conn:
            if doc_ids is None:
                rows = conn.execute(q.format(""), (self._id,)).fetchall()
            else:
                rows = conn.execute(q.format(" AND doc_id = ANY(%s)"), (self._id, sorted(set(doc_ids)))).fetchall()
        return [ChunkSpan(*r) for r in rows]

    def all_chunk_ids(self) -> list[str]:
        with self._read() as conn:
            rows = conn.execute(
                'SELECT chunk_id FROM kenning.chunks WHERE collection = %s ORDER BY chunk_id COLLATE "C"', (self._id,)
            ).fetchall()
        return [r[0] for r in rows]

    def chunk_ids_for_docs(self, doc_ids: Sequence[str]) -> list[str]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT chunk_id FROM kenning.chunks WHERE collection = %s AND doc_id = ANY(%s) "
                'ORDER BY doc_id COLLATE "C", idx',
                (self._id, list(doc_ids)),
            ).fetchall()
        return [r[0] for r in rows]

    def missing_vectors(self, embed_hashes: Sequence[str]) -> set[str]:
        """Which of these hashes have no stored vector yet."""
        wanted = set(embed_hashes) - set(self._tx.pending)
        if not wanted:
            return set()
        with self._read() as conn:
            rows = conn.execute(
                "SELECT h FROM unnest(%s::text[]) AS h WHERE EXISTS (SELECT 1 FROM kenning.vectors v "
                "WHERE v.collection = %s AND v.embed_hash = h) OR EXISTS (SELECT 1 FROM kenning.chunks c "
                "WHERE c.collection = %s AND c.embed_hash = h)",
                (sorted(wanted), self._id, self._id),
            ).fetchall()
        return wanted - {r[0] for r in rows}

    def vectors_for(self, embed_hashes: Sequence[str]) -> dict[str, np.ndarray]:
        """Stored vectors by embed hash (those that exist)."""
        out = {h: self._tx.pending[h] for h in embed_hashes if h in self._tx.pending}
        rest = sorted(set(embed_hashes) - set(out))
        if rest:
            with self._read() as conn:
                out.update(_stored_vectors(conn, self._id, rest))
        return out

    def put_vectors(self, embed_hashes: Sequence[str], vectors: np.ndarray) -> None:
        data = np.ascontiguousarray(vectors, dtype=np.float32)
        if len(embed_hashes) != (data.shape[0] if data.ndim == 2 else 0) and len(embed_hashes):
            raise ValueError(f"put_vectors: {len(embed_hashes)} hashes for {data.shape[0]} vectors")
        if not len(embed_hashes):
            return
        with self._writing():
            for i, h in enumerate(embed_hashes):
                self._tx.pending.setdefault(h, data[i])

    def drop_unused_vectors(self) -> int:
        """Forget staged vectors (no chunk uses them: the ones chunks use are stored on the chunks)."""
        with self._writing() as conn:
            n = len(self._tx.pending)
            self._tx.pending.clear()
            n += max(conn.execute("DELETE FROM kenning.vectors WHERE collection = %s", (self._id,)).rowcount, 0)
        return n

    # -- writes -------------------------------------------------------------------------------------------------

    def put_document(self, doc: Document, chunks: Sequence[Chunk], embed_hashes: Sequence[str], chunker: str) -> None:
        """Store a document and its chunks (with their vectors, BM25 terms and, when kept, tsvectors), replacing any
        earlier chunking of it."""
        self.put_documents([(doc, chunks, embed_hashes, chunker)])

    def put_documents(self, items: Sequence[tuple[Document, Sequence[Chunk], Sequence[str], str]]) -> None:
        """:meth:`put_document` for many documents, in a handful of statements whatever their number (one look-up of
        vectors and terms, one COPY of all their chunks): what a bulk load calls. A document given twice is stored
        as given last."""
        last = {doc.doc_id: (doc, list(chunks), list(hashes), chunker) for doc, chunks, hashes, chunker in items}
        for doc, chunks, hashes, _ in last.values():
            if len(chunks) != len(hashes):
                raise ValueError(f"put_document {doc.doc_id}: {len(chunks)} chunks but {len(hashes)} embed hashes")
        if not last:
            return
        with self._writing() as conn:
            hashes = list(dict.fromkeys(h for _, _, hs, _ in last.values() for h in hs))
            vectors = {h: self._tx.pending[h] for h in hashes if h in self._tx.pending}
            rest = [h for h in hashes if h not in vectors]
            if rest:  # read before the documents' old chunks (which may carry them) are deleted
                vectors.update(_stored_vectors(conn, self._id, rest))
            missing = [h for h in hashes if h not in vectors]
            if missing:
                doc_id = next(d for d, (_, _, hs, _) in last.items() if missing[0] in hs)
                raise IndexError_(
                    f"document {doc_id}: no vector for embed hash {missing[0]} ({len(missing)} missing in all); "
                    "put_vectors must come first"
                )
            doc_ids = list(last)
            conn.execute("DELETE FROM kenning.chunks WHERE collection = %s AND doc_id = ANY(%s)", (self._id, doc_ids))
            docs = [d for d, _, _, _ in last.values()]
            conn.execute(
                "INSERT INTO kenning.documents (collection, doc_id, kind, title, text, sections, metadata, chunker, "
                "created_at) SELECT %s, d.*, %s FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], "
                "%s::jsonb[], %s::jsonb[], %s::text[]) AS d ON CONFLICT (collection, doc_id) DO UPDATE "
                "SET chunker = excluded.chunker, sections = excluded.sections, metadata = excluded.metadata",
                (
                    self._id,
                    time.time(),
                    doc_ids,
                    [d.kind for d in docs],
                    [d.title for d in docs],
                    [d.text for d in docs],
                    [Jsonb([[s.level, s.title, s.start] for s in d.sections]) for d in docs],
                    [Jsonb(_plain(d.metadata)) for d in docs],
                    [chunker for _, _, _, chunker in last.values()],
                ),
            )
            rows = [(ch, h) for _, chunks, hs, _ in last.values() for ch, h in zip(chunks, hs, strict=True)]
            if rows:
                texts = [f"{c.context}\n\n{c.text}" if c.context else c.text for c, _ in rows]
                vocabulary = self.vocabulary if self._store.holds_lock else None
                lexical = lexical_columns(conn, self._id, self._store.tokenizer(), texts, vocabulary)
                columns = sql.SQL(", ").join(sql.SQL(c) for c in _CHUNK_COLUMNS)
                copy_sql = sql.SQL("COPY kenning.chunks ({}) FROM STDIN (FORMAT BINARY)").format(columns)
                with conn.cursor().copy(copy_sql) as copy:
                    copy.set_types(list(_CHUNK_TYPES))
                    for (ch, h), (n_terms, terms, tfs) in zip(rows, lexical, strict=True):
                        copy.write_row(
                            (
                                self._id,
                                ch.chunk_id,
                                ch.doc_id,
                                ch.index,
                                ch.text,
                                ch.start,
                                ch.end,
                                ch.n_tokens,
                                Jsonb(list(ch.heading_path)),
                                h,
                                ch.context,
                                vectors[h],
                                n_terms,
                                terms,
                                tfs,
                            )
                        )
            for h in hashes:  # on a chunk now: no longer staged
                self._tx.pending.pop(h, None)
            conn.execute(
                "DELETE FROM kenning.vectors WHERE collection = %s AND embed_hash = ANY(%s)", (self._id, hashes)
            )
            if self._tx.fts:
                fill_fts(conn, self._id, self._tx.fts, doc_ids)

    def put_source(self, source: str, root: str, doc_id: str, raw_hash: str, metadata: dict) -> str | None:
        """Point ``source`` at ``doc_id``; returns the document it pointed at before, if different."""
        with self._writing() as conn:
            row = conn.execute(
                "SELECT doc_id FROM kenning.sources WHERE collection = %s AND source = %s", (self._id, source)
            ).fetchone()
            conn.execute(
                "INSERT INTO kenning.sources (collection, source, root, doc_id, raw_hash, metadata, updated_at) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (collection, source) DO UPDATE SET "
                "root = excluded.root, doc_id = excluded.doc_id, raw_hash = excluded.raw_hash, "
                "metadata = excluded.metadata, updated_at = excluded.updated_at",
                (self._id, source, root, doc_id, raw_hash, Jsonb(_plain(metadata)), time.time()),
            )
        return row[0] if row and row[0] != doc_id else None

    def remove_sources(self, sources: Iterable[str]) -> None:
        gone = list(sources)
        if not gone:
            return
        with self._writing() as conn:
            conn.execute("DELETE FROM kenning.sources WHERE collection = %s AND source = ANY(%s)", (self._id, gone))

    def remove_documents(self, doc_ids: Sequence[str]) -> tuple[int, int]:
        """Forget these documents and every source that points at them, in one transaction. Returns (docs, chunks)."""
        with self.transaction() as conn:
            conn.execute(
                "DELETE FROM kenning.sources WHERE collection = %s AND doc_id = ANY(%s)", (self._id, list(doc_ids))
            )
            counts = self.drop_unreferenced(doc_ids)
            self.drop_unused_vectors()
        return counts

    def drop_unreferenced(self, doc_ids: Iterable[str]) -> tuple[int, int]:
        """Delete those of ``doc_ids`` that no source points at any more, with their chunks. Returns (docs, chunks)."""
        wanted = sorted(set(doc_ids))
        if not wanted:
            return 0, 0
        unreferenced = (
            "collection = %s AND doc_id = ANY(%s) AND NOT EXISTS (SELECT 1 FROM kenning.sources s "
            "WHERE s.collection = {t}.collection AND s.doc_id = {t}.doc_id)"
        )
        with self._writing() as conn:
            n_chunks = conn.execute(
                "DELETE FROM kenning.chunks c WHERE " + unreferenced.format(t="c"), (self._id, wanted)
            ).rowcount
            n_docs = conn.execute(
                "DELETE FROM kenning.documents d WHERE " + unreferenced.format(t="d"), (self._id, wanted)
            ).rowcount
        return max(n_docs, 0), max(n_chunks, 0)

    # -- LLM-written chunk contexts, cached by content ----------------------------------------------------------

    def cached_contexts(self, keys: Sequence[str]) -> dict[str, str]:
        if not keys:
            return {}
        with self._read() as conn:
            rows = conn.execute(
                "SELECT key, context FROM kenning.contexts WHERE collection = %s AND key = ANY(%s)",
                (self._id, list(keys)),
            ).fetchall()
        return dict(rows)

    def cache_context(self, key: str, context: str, model: str, usage: Any, seconds: float) -> None:
        """Keep one LLM-written context, committed at once (on a connection of its own: a batch that fails later
        has still paid for it once)."""
        with self._store.db.connection() as conn:
            conn.execute(
                "INSERT INTO kenning.contexts VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (collection, key) DO UPDATE SET context = excluded.context, model = excluded.model, "
                "prompt_tokens = excluded.prompt_tokens, completion_tokens = excluded.completion_tokens, "
                "cached_tokens = excluded.cached_tokens, cost_usd = excluded.cost_usd, seconds = excluded.seconds, "
                "created_at = excluded.created_at",
                (
                    self._id,
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
        with self._read() as conn:
            row = conn.execute(
                "SELECT avg(seconds), count(*) FROM kenning.contexts WHERE collection = %s AND model = %s",
                (self._id, model),
            ).fetchone()
        return float(row[0]) if row and row[1] else None


def _chunk_row(r: tuple) -> ChunkRow:
    return ChunkRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], tuple(r[7]), r[8], r[9], r[11] or "", r[10])


def _stored_vectors(conn: psycopg.Connection, collection: int, hashes: list[str]) -> dict[str, np.ndarray]:
    """Vectors by embed hash, staged or on a chunk."""
    rows = conn.execute(
        "SELECT embed_hash, embedding FROM kenning.vectors WHERE collection = %s AND embed_hash = ANY(%s) "
        "UNION ALL SELECT DISTINCT ON (embed_hash) embed_hash, embedding FROM kenning.chunks "
        "WHERE collection = %s AND embed_hash = ANY(%s)",
        (collection, hashes, collection, hashes),
        binary=True,
    ).fetchall()
    out: dict[str, np.ndarray] = {}
    for h, v in rows:
        out.setdefault(h, v.to_numpy().astype(np.float32, copy=False))
    return out


def _plain(value: Any) -> Any:
    """Metadata as JSON can hold it (what ``json.dumps(default=str)`` does in the SQLite store)."""
    import json

    return json.loads(json.dumps(value, ensure_ascii=False, default=str))
