"""Build the concept graph of a collection (LazyGraphRAG's index side: no LLM).

1. **Concepts.** Every chunk's concepts come from the configured extractor (:mod:`kenning.graph.concepts`), cached in
   the catalog by blake2b(extractor id, chunk text): only chunks the cache lacks are extracted, in batches committed
   as they go, so a killed build keeps its work and an incremental one extracts only changed chunks.
2. **Pruning.** A concept is kept when ``min_df`` chunks or more hold it, at most a ``max_df`` share of them do (but
   never fewer than ``min_df``: a tiny collection keeps its repeated concepts), and it is not junk (one character,
   no letter).
3. **Edges.** Two kept concepts in one chunk co-occur. An edge is kept when two or more chunks hold both (a single
   co-occurrence of two rare concepts has the highest PMI of all and means nothing) and their association is
   positive; its weight is NPMI = log(p(a,b) / p(a) p(b)) / -log p(a,b), in (0, 1], so that no rare pair outweighs
   the rest in Leiden's modularity the way raw PMI would. Each concept then keeps only its ``NEIGHBOURS`` strongest
   edges (NPMI times count: a strong association many chunks support), an edge staying when either end keeps it:
   a k-nearest-neighbour graph keeps the community structure while the PostgreSQL manual's 596,001 candidate edges
   (72 MB of the catalog) shrink several-fold.
4. **Communities.** Hierarchical Leiden (:mod:`kenning.graph.communities`) over the concepts with an edge (an
   isolated concept stays a node, in no community). A title is its three concepts with the most tf-idf weight in the
   community's own chunks (what sets it apart, not the hubs every community touches), joined by " · ".
5. **Chunks.** Each chunk joins exactly one community per level: the one holding most of its kept concepts' weight
   (occurrences in the chunk times idf), so LazyGraphRAG can rank communities by their chunks. A community's chunk ids
   are ordered by that weight, strongest first.

All of it is swapped in with one transaction (:func:`~kenning.index.graph_tables.replace_graph`), leaving
``data_version`` alone; cache entries no chunk uses any more are dropped afterwards.
"""

from __future__ import annotations

import math
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence

import numpy as np

from ..config import GraphConfig
from ..index import graph_tables
from ..index.catalog import Catalog
from .communities import Cluster, hierarchical_leiden
from .concepts import ConceptExtractor, concept_key, get_extractor, is_junk
from .types import Community, GraphBuild, GraphEdge, GraphNode

__all__ = ["build_concept_graph", "BATCH", "TITLE_CONCEPTS", "NEIGHBOURS"]

BATCH = 256  # chunks extracted (and committed to the cache) at a time
TITLE_CONCEPTS = 3
NEIGHBOURS = 10  # each concept keeps its 10 strongest edges (an edge stays when either end keeps it)
KIND = "concept"

Progress = Callable[[str, int, int | None], None]


def _extract(
    catalog: Catalog, extractor: ConceptExtractor, keyed: dict[str, str], progress: Progress | None
) -> tuple[dict[str, list[str]], int, int]:
    """Concepts of every key (text by key): cached ones read, the rest extracted and cached batch by batch."""
    found = graph_tables.cached_concepts(catalog, list(keyed))
    missing = [k for k in keyed if k not in found]
    done = 0
    for i in range(0, len(missing), BATCH):
        part = missing[i : i + BATCH]
        extracted = dict(zip(part, extractor.extract([keyed[k] for k in part]), strict=True))
        graph_tables.put_concepts(catalog, extracted)
        found.update(extracted)
        done += len(part)
        if progress:
            progress("concepts", done, len(missing))
    return found, len(missing), len(keyed) - len(missing)


def _edges(
    chunk_nodes: dict[str, list[int]], df: list[int], n_chunks: int
) -> tuple[list[tuple[int, int, float, int]], dict[tuple[int, int], list[str]]]:
    """Co-occurrence edges ``(a, b, npmi, count)`` kept (count >= 2, positive association) and their chunk ids.
    Every pair in every chunk is one int64 (``a * n + b``), counted and grouped with numpy."""
    n = max(len(df), 1)
    chunk_ids = list(chunk_nodes)
    pair_parts, owner_parts = [], []
    for c, ids in enumerate(chunk_nodes.values()):
        if len(ids) > 1:
            arr = np.asarray(ids, dtype=np.int64)
            i, j = np.triu_indices(len(arr), 1)
            pair_parts.append(arr[i] * n + arr[j])
            owner_parts.append(np.full(len(i), c, dtype=np.int64))
    if not pair_parts:
        return [], {}
    pairs, owners = np.concatenate(pair_parts), np.concatenate(owner_parts)
    order = np.argsort(pairs, kind="stable")
    pairs, owners = pairs[order], owners[order]
    uniq, starts, counts = np.unique(pairs, return_index=True, return_counts=True)
    a, b = uniq // n, uniq % n
    dfs = np.asarray(df, dtype=np.float64)
    p_ab = counts / n_chunks
    pmi = np.log(p_ab / ((dfs[a] / n_chunks) * (dfs[b] / n_chunks)))
    with np.errstate(divide="ignore"):
        npmi = np.where(p_ab >= 1, 1.0, pmi / -np.log(p_ab))
    keep = _strongest(a, b, npmi * counts, np.flatnonzero((counts >= 2) & (pmi > 0)))
    kept: list[tuple[int, int, float, int]] = []
    holders: dict[tuple[int, int], list[str]] = {}
    for k in keep:
        pair = (int(a[k]), int(b[k]))
        kept.append((*pair, round(float(npmi[k]), 6), int(counts[k])))
        holders[pair] = [chunk_ids[o] for o in owners[starts[k] : starts[k] + counts[k]]]
    return kept, holders


def _strongest(a: np.ndarray, b: np.ndarray, strength: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """The candidate edges among the ``NEIGHBOURS`` strongest of either end (strength: NPMI times count), sorted."""
    if len(candidates) == 0:
        return candidates
    ends = np.concatenate([a[candidates], b[candidates]])
    edge = np.concatenate([candidates, candidates])
    order = np.lexsort((-np.concatenate([strength[candidates]] * 2), ends))
    ends, edge = ends[order], edge[order]
    first = np.r_[0, np.flatnonzero(np.diff(ends)) + 1]
    rank = np.arange(len(ends)) - np.repeat(first, np.diff(np.r_[first, len(ends)]))
    return np.unique(edge[rank < NEIGHBOURS])


def _communities(
    clusters: Sequence[Cluster],
    connected: list[int],
    edges: Sequence[tuple[int, int, float, int]],
    names: Sequence[str],
    df: Sequence[int],
    chunk_weights: dict[str, dict[int, float]],
) -> list[Community]:
    """Clusters (over ``connected`` numbering) as Communities with titles and one community per chunk per level."""
    strength: Counter[int] = Counter()
    home: dict[int, dict[int, int]] = defaultdict(dict)  # level → node → community index
    for c in clusters:
        for local in c.nodes:
            home[c.level][connected[local]] = c.index
    for a, b, w, _ in edges:
        strength[a] += w
        strength[b] += w
    assigned: dict[int, list[tuple[float, str]]] = defaultdict(list)
    for chunk_id, weights in chunk_weights.items():
        for where in home.values():
            score: Counter[int] = Counter()
            for node, w in weights.items():
                if node in where:
                    score[where[node]] += w
            if score:
                best = min(score, key=lambda c: (-score[c], c))
                assigned[best].append((score[best], chunk_id))
    out = []
    for c in clusters:
        node_ids = tuple(sorted(connected[i] for i in c.nodes))
        chunks = tuple(cid for _, cid in sorted(assigned[c.index], key=lambda x: (-x[0], x[1])))
        # the title names what sets the community apart: its concepts by their tf-idf over the community's own
        # chunks (a hub concept every community touches scores low), graph strength breaking ties
        mine = set(node_ids)
        weight: Counter[int] = Counter()
        for cid in chunks:
            for node, w in chunk_weights[cid].items():
                if node in mine:
                    weight[node] += w
        top = sorted(node_ids, key=lambda n: (-weight[n], -strength[n], -df[n], names[n]))[:TITLE_CONCEPTS]
        out.append(Community(KIND, c.index, c.level, c.parent, " · ".join(names[n] for n in top), node_ids, chunks))
    return out


def build_concept_graph(
    catalog: Catalog,
    config: GraphConfig,
    *,
    progress: Progress | None = None,
    extractor: ConceptExtractor | None = None,
) -> GraphBuild:
    """Build and store the collection's concept graph (see the module's docstring); the caller holds the
    collection's write lock. ``progress(stage, done, total)`` hears ``"concepts"`` as batches are extracted.
    ``extractor`` overrides ``config.extractor`` (benchmarks)."""
    extractor = extractor or get_extractor(config.extractor)
    version = catalog.data_version()
    t0 = time.perf_counter()
    chunk_key: dict[str, str] = {}
    keyed: dict[str, str] = {}
    for row in catalog.iter_chunks():
        key = concept_key(extractor.id, row.text)
        chunk_key[row.chunk_id] = key
        keyed.setdefault(key, row.text)
    found, extracted, cached = _extract(catalog, extractor, keyed, progress)
    del keyed
    seconds_extract = time.perf_counter() - t0

    t1 = time.perf_counter()
    n_chunks = len(chunk_key)
    tf = {cid: Counter(c for c in found[key] if not is_junk(c)) for cid, key in chunk_key.items()}
    df_all: Counter[str] = Counter()
    for counts in tf.values():
        df_all.update(counts.keys())
    cap = max(config.max_df * n_chunks, config.min_df)
    kept = sorted((c for c, n in df_all.items() if config.min_df <= n <= cap), key=lambda c: (-df_all[c], c))
    node_of = {c: i for i, c in enumerate(kept)}
    df = [df_all[c] for c in kept]
    chunk_nodes: dict[str, list[int]] = {}
    chunk_weights: dict[str, dict[int, float]] = {}
    node_chunks: list[list[str]] = [[] for _ in kept]
    for cid, counts in tf.items():
        ids = sorted(node_of[c] for c in counts if c in node_of)
        chunk_nodes[cid] = ids
        chunk_weights[cid] = {node_of[c]: n * math.log(n_chunks / df_all[c]) for c, n in counts.items() if c in node_of}
        for i in ids:
            node_chunks[i].append(cid)
    del tf
    edges, holders = _edges(chunk_nodes, df, n_chunks)
    seconds_graph = time.perf_counter() - t1

    t2 = time.perf_counter()
    connected = sorted({a for a, *_ in edges} | {b for _, b, *_ in edges})
    local = {n: i for i, n in enumerate(connected)}
    clusters = hierarchical_leiden(
        len(connected),
        [(local[a], local[b], w) for a, b, w, _ in edges],
        max_size=config.max_community_size,
        seed=config.seed,
    )
    communities = _communities(clusters, connected, edges, kept, df, chunk_weights)
    seconds_communities = time.perf_counter() - t2

    nodes = [GraphNode(KIND, i, c, tuple(node_chunks[i]), float(df[i])) for i, c in enumerate(kept)]
    graph_edges = [GraphEdge(KIND, a, b, w, n, tuple(holders[(a, b)])) for a, b, w, n in edges]
    per_level = Counter(c.level for c in communities)
    stats: dict[str, object] = {
        "chunks": n_chunks,
        "extracted": extracted,
        "cached": cached,
        "concepts_kept": len(kept),
        "concepts_dropped": len(df_all) - len(kept),
        "isolated": len(kept) - len(connected),
        "edges": len(graph_edges),
        "communities": [per_level[level] for level in sorted(per_level)],
        "chunks_in_communities": len({cid for c in communities if c.level == 0 for cid in c.chunk_ids}),
        "seconds_extract": round(seconds_extract, 3),
        "seconds_graph": round(seconds_graph, 3),
        "seconds_communities": round(seconds_communities, 3),
        "extractor": extractor.id,
    }
    if not graph_edges:
        stats["note"] = (
            f"too small for communities: no two concepts share {2} chunks or more "
            f"({n_chunks} chunks, {len(kept)} concepts kept)"
        )
    settings = config.model_dump(include={"extractor", "min_df", "max_df", "max_community_size", "seed"})
    settings["neighbours"] = NEIGHBOURS
    graph_tables.replace_graph(
        catalog, KIND, nodes, graph_edges, communities, settings=settings, stats=stats, data_version=version
    )
    graph_tables.drop_concepts(catalog, graph_tables.chunk_concept_keys(catalog) - set(chunk_key.values()))
    built = graph_tables.last_build(catalog, KIND)
    assert built is not None
    return built
