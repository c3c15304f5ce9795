"""The graph tables of a collection's catalog (migration 4): every SQL statement about graphs lives here.

A graph is derived data. :func:`replace_graph` swaps one kind's nodes, edges, communities and build record in one
transaction that does not bump ``data_version`` (the chunks did not change), so a build killed halfway leaves the
previous graph whole. The caches (:func:`put_concepts`, :func:`put_llm_call`) commit as they go, so a killed build
keeps what it paid for.

>>> import tempfile, pathlib
>>> from kenning.index.catalog import Catalog
>>> from kenning.graph.types import GraphNode
>>> cat = Catalog(pathlib.Path(tempfile.mkdtemp()) / "catalog.sqlite")
>>> put_concepts(cat, {"k1": ["vacuum", "autovacuum"]})
>>> cached_concepts(cat, ["k1", "k2"])
{'k1': ['vacuum', 'autovacuum']}
>>> replace_graph(cat, "concept", [GraphNode("concept", 0, "vacuum", ("d::0",), 1.0)], [], [], settings={}, stats={})
>>> [n.name for n in nodes(cat, "concept")], last_build(cat, "concept").data_version
(['vacuum'], 0)
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from ..graph.types import Community, GraphBuild, GraphEdge, GraphNode, LLMCall
from .catalog import Catalog

__all__ = [
    "cached_concepts",
    "put_concepts",
    "replace_graph",
    "nodes",
    "edges",
    "communities",
    "last_build",
    "cached_llm_call",
    "put_llm_call",
    "llm_call_totals",
    "context_call_totals",
    "chunk_concept_keys",
    "drop_concepts",
    "chunk_vectors",
]


def cached_concepts(catalog: Catalog, keys: Sequence[str]) -> dict[str, list[str]]:
    """The concepts already extracted for these keys (blake2b of extractor and chunk text)."""
    out: dict[str, list[str]] = {}
    unique = list(dict.fromkeys(keys))
    for i in range(0, len(unique), 900):
        part = unique[i : i + 900]
        marks = ",".join("?" * len(part))
        for key, concepts in catalog.conn.execute(
            f"SELECT key, concepts FROM chunk_concepts WHERE key IN ({marks})", part
        ):
            out[key] = json.loads(concepts)
    return out


def put_concepts(catalog: Catalog, items: Mapping[str, Sequence[str]]) -> None:
    """Cache extracted concepts (committed at once: a killed build keeps them)."""
    with catalog.conn:
        catalog.conn.executemany(
            "INSERT OR REPLACE INTO chunk_concepts (key, concepts) VALUES (?, ?)",
            [(k, json.dumps(list(v))) for k, v in items.items()],
        )


def chunk_concept_keys(catalog: Catalog) -> set[str]:
    """Every key in the concept cache (to drop entries no chunk uses any more)."""
    return {r[0] for r in catalog.conn.execute("SELECT key FROM chunk_concepts")}


def drop_concepts(catalog: Catalog, keys: Iterable[str]) -> None:
    with catalog.conn:
        catalog.conn.executemany("DELETE FROM chunk_concepts WHERE key = ?", [(k,) for k in keys])


def replace_graph(
    catalog: Catalog,
    kind: str,
    graph_nodes: Sequence[GraphNode],
    graph_edges: Sequence[GraphEdge],
    graph_communities: Sequence[Community],
    *,
    settings: Mapping[str, Any],
    stats: Mapping[str, Any],
    data_version: int | None = None,
) -> None:
    """Swap ``kind``'s whole graph for this one, atomically, recording the ``data_version`` it was built from
    (default: the catalog's now)."""
    version = catalog.data_version() if data_version is None else data_version
    conn = catalog.conn
    with conn:
        conn.execute("BEGIN IMMEDIATE")
        for table in ("graph_nodes", "graph_edges", "graph_communities", "graph_builds"):
            conn.execute(f"DELETE FROM {table} WHERE kind = ?", (kind,))
        conn.executemany(
            "INSERT INTO graph_nodes (kind, id, name, type, description, weight, chunk_ids) VALUES (?,?,?,?,?,?,?)",
            [(kind, n.id, n.name, n.type, n.description, n.weight, json.dumps(n.chunk_ids)) for n in graph_nodes],
        )
        conn.executemany(
            "INSERT INTO graph_edges (kind, a, b, weight, count, description, chunk_ids) VALUES (?,?,?,?,?,?,?)",
            [(kind, e.a, e.b, e.weight, e.count, e.description, json.dumps(e.chunk_ids)) for e in graph_edges],
        )
        conn.executemany(
            "INSERT INTO graph_communities (kind, id, level, parent, title, node_ids, chunk_ids, report) "
            "VALUES (?,?,?,?,?,?,?,?)",
            [
                (
                    kind,
                    c.id,
                    c.level,
                    c.parent,
                    c.title,
                    json.dumps(c.node_ids),
                    json.dumps(c.chunk_ids),
                    json.dumps(c.report),
                )
                for c in graph_communities
            ],
        )
        conn.execute(
            "INSERT INTO graph_builds (kind, data_version, settings, stats, created_at) VALUES (?,?,?,?,?)",
            (kind, version, json.dumps(dict(settings)), json.dumps(dict(stats)), time.time()),
        )


def nodes(catalog: Catalog, kind: str) -> list[GraphNode]:
    rows = catalog.conn.execute(
        "SELECT id, name, type, description, weight, chunk_ids FROM graph_nodes WHERE kind = ? ORDER BY id", (kind,)
    )
    return [GraphNode(kind, i, name, tuple(json.loads(ch)), w, t, d) for i, name, t, d, w, ch in rows]


def edges(catalog: Catalog, kind: str) -> list[GraphEdge]:
    rows = catalog.conn.execute(
        "SELECT a, b, weight, count, description, chunk_ids FROM graph_edges WHERE kind = ? ORDER BY a, b", (kind,)
    )
    return [GraphEdge(kind, a, b, w, n, tuple(json.loads(ch)), d) for a, b, w, n, d, ch in rows]


def communities(catalog: Catalog, kind: str) -> list[Community]:
    rows = catalog.conn.execute(
        "SELECT id, level, parent, title, node_ids, chunk_ids, report FROM graph_communities WHERE kind = ? "
        "ORDER BY level, id",
        (kind,),
    )
    return [
        Community(kind, i, lvl, parent, title, tuple(json.loads(ns)), tuple(json.loads(ch)), json.loads(rep))
        for i, lvl, parent, title, ns, ch, rep in rows
    ]


def last_build(catalog: Catalog, kind: str) -> GraphBuild | None:
    row = catalog.conn.execute(
        "SELECT data_version, settings, stats, created_at FROM graph_builds WHERE kind = ?", (kind,)
    ).fetchone()
    if row is None:
        return None
    return GraphBuild(kind, int(row[0]), json.loads(row[1]), json.loads(row[2]), float(row[3]))


def cached_llm_call(catalog: Catalog, key: str) -> LLMCall | None:
    row = catalog.conn.execute(
        "SELECT prompt, model, output, prompt_tokens, completion_tokens, cost_usd, seconds FROM llm_calls "
        "WHERE key = ?",
        (key,),
    ).fetchone()
    return None if row is None else LLMCall(key, *row)


def put_llm_call(catalog: Catalog, call: LLMCall) -> None:
    """Cache one reply (committed at once: a killed build keeps what it paid for)."""
    with catalog.conn:
        catalog.conn.execute(
            "INSERT OR REPLACE INTO llm_calls (key, prompt, model, output, prompt_tokens, completion_tokens, "
            "cost_usd, seconds, created_at) VALUES (?,?,?,?,?,?,?,?,?)",
            (
                call.key,
                call.prompt,
                call.model,
                call.output,
                call.prompt_tokens,
                call.completion_tokens,
                call.cost_usd,
                call.seconds,
                time.time(),
            ),
        )


def llm_call_totals(catalog: Catalog, prompt_prefix: str = "") -> dict[str, float]:
    """Calls, tokens and money cached for prompts whose name starts with ``prompt_prefix``."""
    row = catalog.conn.execute(
        "SELECT count(*), coalesce(sum(prompt_tokens), 0), coalesce(sum(completion_tokens), 0), "
        "coalesce(sum(cost_usd), 0), coalesce(sum(seconds), 0) FROM llm_calls WHERE prompt LIKE ? || '%'",
        (prompt_prefix,),
    ).fetchone()
    return dict(zip(("calls", "prompt_tokens", "completion_tokens", "cost_usd", "seconds"), row, strict=True))


def context_call_totals(catalog: Catalog, model: str | None = None) -> dict[str, float]:
    """Calls, tokens, money and seconds of the LLM-written chunk contexts cached in the ``contexts`` table (migration
    2), for ``model`` or all models: what contextual chunks have cost so far, which the cost advisor sets beside its
    estimate (kept here with :func:`llm_call_totals`, so the advisor reads every recorded LLM spend from one place)."""
    where, params = ("WHERE model = ?", (model,)) if model is not None else ("", ())
    row = catalog.conn.execute(
        "SELECT count(*), coalesce(sum(prompt_tokens), 0), coalesce(sum(completion_tokens), 0), "
        f"coalesce(sum(cost_usd), 0), coalesce(sum(seconds), 0) FROM contexts {where}",
        params,
    ).fetchone()
    return dict(zip(("calls", "prompt_tokens", "completion_tokens", "cost_usd", "seconds"), row, strict=True))


def chunk_vectors(catalog: Catalog, chunk_ids: Sequence[str]) -> dict[str, np.ndarray]:
    """chunk id → its stored vector (unit length, as embedded at index time): LazyGraphRAG's similarity test reads
    these instead of embedding the chunks again."""
    out: dict[str, np.ndarray] = {}
    unique = list(dict.fromkeys(chunk_ids))
    for i in range(0, len(unique), 900):
        part = unique[i : i + 900]
        marks = ",".join("?" * len(part))
        rows = catalog.conn.execute(
            f"SELECT c.chunk_id, v.vector FROM chunks c JOIN vectors v USING (embed_hash) WHERE c.chunk_id IN ({marks})",
            part,
        )
        out.update((cid, np.frombuffer(v, dtype="<f4")) for cid, v in rows)
    return out
