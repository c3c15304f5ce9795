"""Dense search in PostgreSQL with pgvector: exact while a collection is small, HNSW once it is large.

Chunk rows carry their vector (``vector`` without a fixed dimension, since collections differ), so each collection's
HNSW index is a *partial* index over a cast to its dimension, ``(embedding::vector(dim)) vector_ip_ops ... WHERE
collection = id``, built by :func:`reconcile_index` (called by ``publish()``) with ``CREATE INDEX CONCURRENTLY``:
nobody waits for it, readers or other collections' writers. Vectors are L2-normalised, so the inner product
(``<#>``, negated) is the cosine similarity.

A filtered search runs on the same index with pgvector's iterative scans (``hnsw.iterative_scan =
relaxed_order``): the scan goes on past ``ef_search`` until ``k`` chunks passed the filter, and the results are
re-sorted by distance. When a filter is so narrow that the scan gives up (``hnsw.max_scan_tuples``) before ``k``
chunks passed, the search is done again exactly over the chunks that pass it, so a filter never costs recall.
"""

from __future__ import annotations

import numpy as np
import psycopg
from psycopg import sql

from ...config import DenseConfig
from ..base import Scored
from ..filters import Filters
from .filters import passes

__all__ = ["EF_MAX", "dense_search", "index_name", "reconcile_index", "wants_ann"]

EF_MAX = 1000  # pgvector's largest hnsw.ef_search
_BUILD_MEMORY = 1 << 30  # bytes of maintenance_work_mem the build asks for at least (the graph should fit)


def index_name(collection: int) -> str:
    return f"chunks_hnsw_{collection}"


def wants_ann(n_chunks: int, config: DenseConfig) -> bool:
    """Whether the collection should have its HNSW index (the SQLite store's rule)."""
    return config.ann == "hnsw" or (config.ann == "auto" and n_chunks >= config.ann_threshold)


def dense_search(
    conn: psycopg.Connection,
    collection: int,
    dim: int,
    vector: np.ndarray,
    k: int,
    filters: Filters | None,
    *,
    ann: bool,
    ef_search: int,
) -> Scored:
    """Top ``k`` chunk ids by cosine similarity to ``vector`` among chunks passing ``filters``."""
    if k <= 0:
        return Scored()
    q = np.ascontiguousarray(np.asarray(vector, dtype=np.float32).reshape(-1))
    if ann:
        found = _search(conn, collection, dim, q, k, filters, ef_search)
        if len(found) >= k or not filters:
            return found
    return _search(conn, collection, dim, q, k, filters, None)


def _search(
    conn: psycopg.Connection,
    collection: int,
    dim: int,
    q: np.ndarray,
    k: int,
    filters: Filters | None,
    ef_search: int | None,
) -> Scored:
    """One search: on the HNSW index (``ef_search`` given) or exact (None)."""
    where, params = passes(filters)
    # the index's expression is the cast; without it the planner cannot use the index and the search is exact
    distance = sql.SQL("c.embedding::vector({dim}) <#> %(q)s" if ef_search else "c.embedding <#> %(q)s").format(
        dim=sql.Literal(dim)
    )
    query = sql.SQL(
        "WITH near AS MATERIALIZED (SELECT c.id, c.chunk_id, {distance} AS d FROM kenning.chunks c "
        "WHERE c.collection = {c}{where} ORDER BY d LIMIT %(k)s) "
        "SELECT chunk_id, -d FROM near ORDER BY d, id"
    ).format(distance=distance, c=sql.Literal(collection), where=where)
    params.update({"q": q, "k": k})
    if not ef_search:
        rows = conn.execute(query, params).fetchall()
    else:
        with conn.transaction():
            conn.execute(
                "SELECT set_config('hnsw.ef_search', %s, true), set_config('hnsw.iterative_scan', 'relaxed_order', true)",
                (str(min(EF_MAX, max(ef_search, 1))),),
            )
            rows = conn.execute(query, params).fetchall()
    return Scored(tuple(r[0] for r in rows), tuple(float(r[1]) for r in rows))


def reconcile_index(conn: psycopg.Connection, collection: int, dim: int, n_chunks: int, config: DenseConfig) -> str:
    """Build (or drop) the collection's HNSW index as ``config`` wants it for ``n_chunks``; returns ``"hnsw"`` or
    ``"exact"``. ``conn`` must be outside any transaction (the index is built concurrently). An invalid index left
    by a build that was interrupted is dropped and built again."""
    name = index_name(collection)
    row = conn.execute(
        "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'kenning' AND c.relname = %s",
        (name,),
    ).fetchone()
    exists, valid = row is not None, bool(row and row[0])
    if exists and not valid:
        conn.execute(sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS kenning.{}").format(sql.Identifier(name)))
        exists = False
    if config.ann == "exact":
        if exists:
            conn.execute(sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS kenning.{}").format(sql.Identifier(name)))
        return "exact"
    if exists:
        return "hnsw"
    if not wants_ann(n_chunks, config):
        return "exact"
    current = conn.execute("SELECT setting::bigint * 1024 FROM pg_settings WHERE name = 'maintenance_work_mem'")
    have = current.fetchone()
    if have is None or int(have[0]) < _BUILD_MEMORY:
        conn.execute(sql.SQL("SET maintenance_work_mem = {}").format(sql.Literal(f"{_BUILD_MEMORY >> 20}MB")))
    try:
        conn.execute(
            sql.SQL(
                "CREATE INDEX CONCURRENTLY {name} ON kenning.chunks USING hnsw ((embedding::vector({dim})) "
                "vector_ip_ops) WITH (m = {m}, ef_construction = {efc}) WHERE collection = {c}"
            ).format(
                name=sql.Identifier(name),
                dim=sql.Literal(dim),
                m=sql.Literal(min(config.hnsw_m, 100)),
                efc=sql.Literal(max(min(config.hnsw_ef_construction, 1000), 2 * min(config.hnsw_m, 100))),
                c=sql.Literal(collection),
            )
        )
    finally:
        conn.execute("RESET maintenance_work_mem")
    return "hnsw"
