"""One collection in a PostgreSQL database (:class:`~kenning.store.Store`), shared by every kenning process that
reaches the database: indexers and servers, on any number of machines.

- **Reading** never blocks and never waits for a writer: every search is one statement, and PostgreSQL's MVCC
  answers it from one committed state, so a reader never sees half of a document (each document is written in one
  transaction). Searches push ranking and the top ``k`` into SQL and return chunk ids.
- **Writing** happens under :meth:`PostgresStore.locked`: a session-level advisory lock on a connection of the
  writer's own, one writer per collection across machines; the writer's transactions run on that same connection,
  so a writer whose connection drops loses its lock and its uncommitted batch together.
- **Publishing** records that what was committed is the collection's state: ``data_version`` counts committed
  write transactions, :meth:`publish` stores the writer's settings, brings the search structures up to date (BM25
  statistics after a tokenizer change, the full-text index when asked for, the HNSW index once the collection is
  large) and bumps the published version; :meth:`is_stale` says whether committed writes are not yet published.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import psycopg
from psycopg import sql

from ...config import DenseConfig, LexicalConfig
from ...errors import CollectionNotFound, IndexError_, IndexLockedError
from ...index.catalog import ChunkRow
from ..base import Manifest, Scored
from ..filters import Filters
from .catalog import PgCatalog
from .dense import EF_MAX, dense_search, index_name, reconcile_index
from .filters import passes
from .fts import enable_fts, fts_config
from .fts import index_name as fts_index
from .lexical import Target, Tokenizer, rebuild_postings
from .migrations import LOCK_WRITE
from .pool import Database, lost
from .ranking import ranker

__all__ = ["COLUMNS", "PostgresStore", "row_by_name"]

COLUMNS = (
    "id, name, manifest, dim, data_version, published_version, published_data_version, n_chunks, "
    "analyzed_chunks, lexical_key, fts_config::text, ann"
)
_SETTINGS = ("chunking", "context", "lexical", "dense")
_FRESH = 1.0  # seconds a search trusts the collection row it read (settings, counters) before reading it again


class PostgresStore:
    """A collection in a PostgreSQL database. Open it with ``kenning.store.postgres.POSTGRES`` (or
    ``kenning.store.registry.backend(url)``): ``open`` to read, ``create_or_open`` to write.

    >>> store = POSTGRES.open("postgresql://kenning@db/kenning", "docs")  # doctest: +SKIP
    >>> store.lexical_search("vacuum full", 5).ids[0]                      # doctest: +SKIP
    '3f2a…::4'
    """

    def __init__(self, db: Database, row: tuple, *, write: bool = False) -> None:
        self.db = db
        self.id = int(row[0])
        self._name = str(row[1])
        self._row = row
        self._read_at = time.monotonic()
        self._pending: dict[str, Any] | None = None  # a writer's settings, stored at publish
        self._lock_conn: psycopg.Connection | None = None
        self._guard = threading.Lock()
        self._tokenizers: dict[str, Tokenizer] = {}
        self._ranker = ranker(db.settings.lexical)
        self.writable = write
        self.catalog = PgCatalog(self)
        self.manifest: dict[str, Any] = self._manifest(row)

    # -- the collection row -------------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self._name

    @property
    def info(self) -> Manifest:
        """The manifest as a typed value."""
        return Manifest.from_dict(self._state_manifest(), store="postgresql")

    def refresh(self) -> dict[str, Any]:
        """The manifest as stored now (a writer's own settings over it until it publishes them)."""
        self._reload()
        return self.manifest

    def _reload(self) -> tuple:
        with self.db.connection() as conn:
            row = conn.execute(sql.SQL(f"SELECT {COLUMNS} FROM kenning.collections WHERE id = %s"), (self.id,))
            found = row.fetchone()
        if found is None:
            raise CollectionNotFound(f"collection {self._name!r} was deleted from {self.db.shown}")
        with self._guard:
            self._row, self._read_at = found, time.monotonic()
            self.manifest = self._manifest(found)
        return found

    def _state(self) -> tuple:
        """The collection row, read again when older than a second."""
        if time.monotonic() - self._read_at > _FRESH:
            return self._reload()
        return self._row

    def _state_manifest(self) -> dict[str, Any]:
        self._state()
        return self.manifest

    def _manifest(self, row: tuple) -> dict[str, Any]:
        manifest = dict(row[2])
        if self._pending:
            manifest.update(self._pending)
        manifest["snapshot"] = {"version": int(row[5]), "data_version": row[6]} if row[6] is not None else None
        return manifest

    def lexical_config(self) -> LexicalConfig:
        return LexicalConfig.model_validate(self._state_manifest().get("lexical") or {})

    def dense_config(self) -> DenseConfig:
        return DenseConfig.model_validate(self._state_manifest().get("dense") or {})

    def tokenizer(self, config: LexicalConfig | None = None) -> Tokenizer:
        config = config or self.lexical_config()
        key = Tokenizer.key(config)
        found = self._tokenizers.get(key)
        if found is None:
            found = self._tokenizers[key] = Tokenizer(config)
        return found

    def set_pending(self, settings: dict[str, Any]) -> None:
        """A writer's settings (chunking, context, lexical, dense), used from now on and stored at publish."""
        self._pending = {k: settings[k] for k in _SETTINGS if k in settings}
        self.manifest = self._manifest(self._row)

    def counts(self) -> tuple[int, int]:
        """(documents, chunks) as committed."""
        return self.catalog.counts()

    # -- searching ----------------------------------------------------------------------------------------------

    def _target(self) -> Target:
        config = self.lexical_config()
        return Target(self.id, config, self.tokenizer(config), self._state()[10])

    def lexical_search(self, query: str, k: int, filters: Filters | None = None) -> Scored:
        if k <= 0:
            return Scored()
        target = self._target()
        with self.db.connection() as conn:
            return self._ranker.search(conn, target, query, k, filters)

    def dense_search(self, vector: np.ndarray, k: int, filters: Filters | None = None) -> Scored:
        if k <= 0:
            return Scored()
        row = self._state()
        config = self.dense_config()
        ann = row[11] == "hnsw" and config.ann != "exact"
        ef = min(EF_MAX, max(k, self.db.settings.ef_search or config.hnsw_ef_search))
        with self.db.connection() as conn:
            return dense_search(conn, self.id, int(row[3]), vector, k, filters, ann=ann, ef_search=ef)

    def fetch(self, chunk_ids: Sequence[str]) -> dict[str, ChunkRow]:
        if not chunk_ids:
            return {}
        return self.catalog.chunk_rows(list(dict.fromkeys(chunk_ids)), by="chunk_id")

    def vectors(self, chunk_ids: Sequence[str]) -> np.ndarray:
        dim = int(self._state()[3])
        out = np.zeros((len(chunk_ids), dim), dtype=np.float32)
        if not chunk_ids:
            return out
        with self.db.connection() as conn:
            rows = conn.execute(
                "SELECT chunk_id, embedding FROM kenning.chunks WHERE collection = %s AND chunk_id = ANY(%s)",
                (self.id, list(dict.fromkeys(chunk_ids))),
                binary=True,
            ).fetchall()
        found = {c: v.to_numpy() for c, v in rows}
        for i, c in enumerate(chunk_ids):
            v = found.get(c)
            if v is not None:
                out[i] = v
        return out

    def chunk_ids(self, filters: Filters | None = None) -> list[str]:
        where, params = passes(filters)
        q = sql.SQL("SELECT c.chunk_id FROM kenning.chunks c WHERE c.collection = {c}{where} ORDER BY c.id").format(
            c=sql.Literal(self.id), where=where
        )
        with self.db.connection() as conn:
            return [r[0] for r in conn.execute(q, params).fetchall()]

    def tokens(self, text: str) -> list[str]:
        return self.tokenizer()([text])[0]

    def term_weights(self, query: str) -> dict[str, float]:
        """Each query token's IDF over the chunks (BM25's, Lucene form); a token no chunk has gets the highest."""
        tokens = self.tokens(query)
        if not tokens:
            return {}
        with self.db.connection() as conn:
            n = conn.execute("SELECT n_chunks FROM kenning.collections WHERE id = %s", (self.id,)).fetchone()
            df = dict(
                conn.execute(
                    "SELECT term, df FROM kenning.terms WHERE collection = %s AND term = ANY(%s)",
                    (self.id, list(set(tokens))),
                ).fetchall()
            )
        total = max(int(n[0]) if n else 0, 1)
        return {t: float(np.log(1.0 + (total - df.get(t, 0) + 0.5) / (df.get(t, 0) + 0.5))) for t in tokens}

    def postings(self, word: str) -> list[str] | None:
        """The chunks holding every token of ``word``, in row order; None when ``word`` has no token."""
        tokens = sorted(set(self.tokens(word)))
        if not tokens:
            return None
        with self.db.connection() as conn:
            rows = conn.execute(
                "SELECT c.chunk_id FROM kenning.chunks c WHERE c.id IN (SELECT p.chunk FROM kenning.postings p "
                "JOIN kenning.terms t ON t.id = p.term WHERE t.collection = %s AND t.term = ANY(%s) "
                "GROUP BY p.chunk HAVING count(*) = %s) ORDER BY c.id",
                (self.id, tokens, len(tokens)),
            ).fetchall()
        return [r[0] for r in rows]

    # -- writing ------------------------------------------------------------------------------------------------

    @contextmanager
    def write_connection(self) -> Iterator[psycopg.Connection]:
        """The connection a write transaction runs on: the write lock's, else a pooled one."""
        conn = self._lock_conn
        if conn is None:
            with self.db.connection() as pooled:
                yield pooled
            return
        if conn.closed or conn.broken:
            raise IndexError_(
                f"collection {self._name!r}: the connection holding its write lock on {self.db.shown} was lost; "
                "nothing after that was written. Run the command again"
            )
        yield conn

    def lock(self, *, wait: bool = False) -> None:
        """Take the collection's write lock (an advisory lock the server drops when this process dies)."""
        if self._lock_conn is not None:
            return
        conn = self.db.dedicated()
        try:
            with lost(self.db.shown):
                if wait:
                    conn.execute("SELECT pg_advisory_lock(%s, %s)", (LOCK_WRITE, self.id))
                    got = True
                else:
                    row = conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (LOCK_WRITE, self.id)).fetchone()
                    got = bool(row and row[0])
        except BaseException:
            conn.close()
            raise
        if not got:
            conn.close()
            raise IndexLockedError(
                f"collection {self._name!r} is being written by another kenning process (on {self.db.shown}); "
                "wait for it to finish"
            )
        self._lock_conn = conn
        self.catalog.vocabulary.forget()  # another writer may have made the terms again since
        self.writable = True

    @property
    def holds_lock(self) -> bool:
        return self._lock_conn is not None

    def unlock(self) -> None:
        conn, self._lock_conn = self._lock_conn, None
        if conn is None:
            return
        try:
            if not conn.closed and not conn.broken:
                conn.execute("SELECT pg_advisory_unlock(%s, %s)", (LOCK_WRITE, self.id))
        except psycopg.Error:
            pass  # a connection that is gone has released the lock with itself
        finally:
            conn.close()

    @contextmanager
    def locked(self, *, wait: bool = False) -> Iterator[PostgresStore]:
        held = self._lock_conn is not None
        self.lock(wait=wait)
        try:
            yield self
        finally:
            if not held:
                self.unlock()

    def is_stale(self) -> bool:
        """Committed writes are not yet published."""
        row = self._reload()
        return row[6] is None or int(row[6]) != int(row[4])

    def publish(self, *, force: bool = False) -> int | None:
        """Store the writer's settings and bring the search structures up to date, when something was committed
        since the last publish (or ``force``); the version published, None when nothing changed. Needs the lock."""
        conn = self._lock_conn
        if conn is None:
            raise IndexError_("publish() needs the write lock")
        if not force and not self.is_stale():
            return None
        manifest = {k: v for k, v in self.refresh().items() if k != "snapshot"}
        lexical = LexicalConfig.model_validate(manifest.get("lexical") or {})
        dense = DenseConfig.model_validate(manifest.get("dense") or {})
        with self.write_connection() as conn, lost(self.db.shown, writing=True):
            row = self._row
            key = Tokenizer.key(lexical)
            if row[9] != key:
                self.catalog.vocabulary.forget()
                with conn.transaction():
                    rebuild_postings(conn, self.id, self.tokenizer(lexical))
                    conn.execute("UPDATE kenning.collections SET lexical_key = %s WHERE id = %s", (key, self.id))
            if self.db.settings.lexical == "fts" and row[10] is None:
                with conn.transaction():
                    enable_fts(conn, self.id, fts_config(conn, lexical))
            if self.db.settings.lexical == "fts" or row[10] is not None:
                conn.execute(
                    sql.SQL(
                        "CREATE INDEX CONCURRENTLY IF NOT EXISTS {} ON kenning.chunk_fts USING gin (tsv) "
                        "WHERE collection = {}"
                    ).format(sql.Identifier(fts_index(self.id)), sql.Literal(self.id))
                )
            n_chunks = int(
                conn.execute("SELECT n_chunks FROM kenning.collections WHERE id = %s", (self.id,)).fetchone()[0]
            )  # type: ignore[index]
            analyzed = int(row[8])
            if n_chunks and (analyzed == 0 or abs(n_chunks - analyzed) > 0.2 * analyzed):
                # grown (or shrunk) by a fifth since: fresh statistics for the planner, and the postings' pages marked
                # all-visible so that scoring reads them from the index alone (autovacuum would, later)
                conn.execute("VACUUM (ANALYZE) kenning.postings, kenning.chunks, kenning.terms")
                conn.execute("ANALYZE kenning.documents, kenning.sources")
                analyzed = n_chunks
            ann = reconcile_index(conn, self.id, int(row[3]), n_chunks, dense)
            with conn.transaction():
                version = conn.execute(
                    "UPDATE kenning.collections SET manifest = %s, ann = %s, analyzed_chunks = %s, "
                    "published_version = published_version + 1, published_data_version = data_version "
                    "WHERE id = %s RETURNING published_version",
                    (psycopg.types.json.Jsonb(manifest), ann, analyzed, self.id),
                ).fetchone()
        self._reload()
        return int(version[0]) if version else None

    def recover(self) -> list[str]:
        """What a writer does first (holding the lock): publish what an interrupted writer committed (and, through
        publish, rebuild what it left half-built: postings of another tokenizer, an interrupted index build)."""
        if self.is_stale():
            version = self.publish()
            return [f"published version {version} with what an interrupted writer had committed"]
        return []

    def delete(self) -> None:
        """Remove the whole collection: its rows, statistics and indexes (takes the write lock)."""
        with self.locked():
            conn = self._lock_conn
            assert conn is not None
            with lost(self.db.shown, writing=True):
                for name in (index_name(self.id), fts_index(self.id)):
                    conn.execute(sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS kenning.{}").format(sql.Identifier(name)))
                with conn.transaction():
                    conn.execute("SET LOCAL kenning.bulk = 'on'")
                    conn.execute(
                        "DELETE FROM kenning.postings WHERE term IN (SELECT id FROM kenning.terms WHERE collection = %s)",
                        (self.id,),
                    )
                    tables = (
                        "chunk_fts",
                        "chunks",
                        "sources",
                        "documents",
                        "terms",
                        "vectors",
                        "contexts",
                        "collections",
                    )
                    for table in tables:
                        column = "id" if table == "collections" else "collection"
                        conn.execute(
                            sql.SQL("DELETE FROM kenning.{} WHERE {} = %s").format(
                                sql.Identifier(table), sql.Identifier(column)
                            ),
                            (self.id,),
                        )

    def close(self) -> None:
        self.unlock()

    # -- sizes --------------------------------------------------------------------------------------------------

    def disk_bytes(self) -> dict[str, int]:
        """Bytes on disk of each kenning table (with its indexes and TOAST; shared by every collection in the
        database) and of this collection's own HNSW and full-text indexes."""
        with self.db.connection() as conn:
            rows = conn.execute(
                "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c JOIN pg_namespace n "
                "ON n.oid = c.relnamespace WHERE n.nspname = 'kenning' AND (c.relkind = 'r' OR c.relname IN (%s, %s))",
                (index_name(self.id), fts_index(self.id)),
            ).fetchall()
        return {name: int(size) for name, size in rows}


def row_by_name(conn: psycopg.Connection, name: str) -> tuple | None:
    return conn.execute(sql.SQL(f"SELECT {COLUMNS} FROM kenning.collections WHERE name = %s"), (name,)).fetchone()
