"""PostgreSQL's own full-text search as the other lexical ranking (``lexical=fts`` in the store URL).

A collection that keeps it has a ``tsvector`` of each chunk's indexed text in ``kenning.chunk_fts`` (``to_tsvector``
with the text search configuration named like its stemmer's language, else ``simple``) and a GIN index of its own. A query's lexemes are
OR-ed together (a document needs only one of them, as with BM25) and ranked by ``ts_rank_cd``. The collection keeps
the tsvectors once a writer whose URL asks for ``fts`` publishes; every writer then fills them for what it writes.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from ...config import LexicalConfig
from ...errors import ConfigError
from ..base import Scored
from ..filters import Filters
from .filters import passes
from .lexical import INDEXED_TEXT, Target

__all__ = ["Fts", "enable_fts", "fill_fts", "fts_config", "index_name"]


class Fts:
    """PostgreSQL full-text search: the query's lexemes OR-ed, ranked by ``ts_rank_cd``."""

    def search(self, conn: psycopg.Connection, target: Target, query: str, k: int, filters: Filters | None) -> Scored:
        if target.fts is None:
            raise ConfigError(
                f"lexical=fts: collection {target.collection} keeps no full-text index; a writer whose store url "
                "has lexical=fts builds it at its next publish (kenning index … --store 'postgresql://…&lexical=fts')"
            )
        if k <= 0:
            return Scored()
        where, fparams = passes(filters)
        q = sql.SQL(
            "SELECT c.chunk_id, ts_rank_cd(f.tsv, q.q) AS score FROM kenning.chunk_fts f "
            "JOIN kenning.chunks c ON c.id = f.chunk, "
            "(SELECT (SELECT string_agg(quote_literal(l), ' | ') "
            "FROM unnest(tsvector_to_array(to_tsvector(%(cfg)s::regconfig, %(query)s))) AS l)::tsquery AS q) q "
            "WHERE f.collection = {c} AND f.tsv @@ q.q{where} ORDER BY score DESC, f.chunk LIMIT %(k)s"
        ).format(c=sql.Literal(target.collection), where=where)
        params = {"cfg": target.fts, "query": query, "k": k, **fparams}
        rows = conn.execute(q, params).fetchall()
        return Scored(tuple(r[0] for r in rows), tuple(float(r[1]) for r in rows))


def fts_config(conn: psycopg.Connection, config: LexicalConfig) -> str:
    """The text search configuration for a stemmer language (PostgreSQL's own of that name, else ``simple``)."""
    language = (config.stemmer or "").lower()
    row = conn.execute("SELECT cfgname FROM pg_ts_config WHERE cfgname = %s", (language,)).fetchone()
    return str(row[0]) if row else "simple"


def enable_fts(conn: psycopg.Connection, collection: int, config: str) -> None:
    """Fill the collection's tsvectors and mark them kept (inside a transaction; the GIN index is built after)."""
    conn.execute(
        sql.SQL(
            "INSERT INTO kenning.chunk_fts (chunk, collection, tsv) SELECT c.id, c.collection, "
            "to_tsvector(%s::regconfig, {text}) FROM kenning.chunks c WHERE c.collection = %s ON CONFLICT DO NOTHING"
        ).format(text=sql.SQL(INDEXED_TEXT)),
        (config, collection),
    )
    conn.execute("UPDATE kenning.collections SET fts_config = %s::regconfig WHERE id = %s", (config, collection))


def fill_fts(conn: psycopg.Connection, collection: int, config: str, doc_ids: list[str]) -> None:
    """The tsvectors of these documents' chunks (inside the writer's transaction, after the chunks)."""
    conn.execute(
        sql.SQL(
            "INSERT INTO kenning.chunk_fts (chunk, collection, tsv) SELECT c.id, c.collection, "
            "to_tsvector(%s::regconfig, {text}) FROM kenning.chunks c WHERE c.collection = %s AND c.doc_id = ANY(%s) "
            "ON CONFLICT DO NOTHING"
        ).format(text=sql.SQL(INDEXED_TEXT)),
        (config, collection, doc_ids),
    )


def index_name(collection: int) -> str:
    return f"chunk_fts_{collection}"
