"""Hierarchical Leiden communities, GraphRAG-style: Leiden on the whole graph, then Leiden again inside every community
larger than ``max_size``, level after level, until every community fits (or cannot be split any more).

Both graphs use it: the concept graph (LazyGraphRAG) and the LLM's entity graph (GraphRAG). The Leiden runs are
igraph's (modularity objective, weighted, seeded); ``bench/graph.py build`` measured it against graspologic-native on
the PostgreSQL manual's concept graph (see bench/README.md).

>>> two_triangles = [(0, 1, 1.0), (1, 2, 1.0), (0, 2, 1.0), (3, 4, 1.0), (4, 5, 1.0), (3, 5, 1.0), (2, 3, 0.1)]
>>> [(c.level, c.parent, c.nodes) for c in hierarchical_leiden(6, two_triangles, max_size=10, seed=0)]
[(0, None, (0, 1, 2)), (0, None, (3, 4, 5))]
>>> hierarchical_leiden(0, [], max_size=10, seed=0)
[]
"""

from __future__ import annotations

import random
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import InputError, MissingExtraError

__all__ = ["Cluster", "hierarchical_leiden", "leiden", "modularity"]

_RNG = threading.Lock()  # igraph draws from one process-wide random generator: seed it per run, one run at a time
_RESOLUTIONS = (1.0, 2.0, 4.0, 8.0)  # tried in turn on a community that one Leiden run leaves whole


@dataclass(frozen=True, slots=True)
class Cluster:
    """One community: ``index`` is global across levels (parents come first), ``level`` 0 is the top, ``parent`` the
    index of the community it splits (None at the top), ``nodes`` the sorted node numbers in it."""

    level: int
    index: int
    parent: int | None
    nodes: tuple[int, ...]


def _igraph():
    try:
        import igraph
    except ImportError as exc:  # pragma: no cover - the graph extra is part of dev
        raise MissingExtraError("community detection needs igraph: pip install 'kenning[graph]'") from exc
    return igraph


def leiden(
    n_nodes: int, edges: Sequence[tuple[int, int, float]], *, seed: int, resolution: float = 1.0
) -> list[list[int]]:
    """One Leiden run (modularity, weighted): the communities as sorted node lists, largest first (ties: smallest
    node first). Every node is in exactly one; a node without edges is a community of its own.

    >>> leiden(4, [(0, 1, 1.0), (2, 3, 1.0)], seed=0)
    [[0, 1], [2, 3]]
    """
    if n_nodes == 0:
        return []
    igraph = _igraph()
    graph = igraph.Graph(n=n_nodes, edges=[(a, b) for a, b, _ in edges], directed=False)
    weights = [float(w) for _, _, w in edges]
    with _RNG:
        igraph.set_random_number_generator(random.Random(seed))
        try:
            membership = graph.community_leiden(
                objective_function="modularity", weights=weights or None, resolution=resolution, n_iterations=-1
            ).membership
        finally:
            igraph.set_random_number_generator(random)
    groups: dict[int, list[int]] = {}
    for node, community in enumerate(membership):
        groups.setdefault(community, []).append(node)
    return sorted(groups.values(), key=lambda g: (-len(g), g[0]))


def modularity(n_nodes: int, edges: Sequence[tuple[int, int, float]], communities: Sequence[Sequence[int]]) -> float:
    """Weighted modularity of a partition (every node in one community), as igraph computes it.

    >>> round(modularity(4, [(0, 1, 1.0), (2, 3, 1.0)], [[0, 1], [2, 3]]), 3)
    0.5
    """
    if not edges:
        return 0.0
    membership = [0] * n_nodes
    for i, group in enumerate(communities):
        for node in group:
            membership[node] = i
    graph = _igraph().Graph(n=n_nodes, edges=[(a, b) for a, b, _ in edges], directed=False)
    return float(graph.modularity(membership, weights=[float(w) for _, _, w in edges]))


def _split(nodes: list[int], inner: list[tuple[int, int, float]], seed: int) -> list[list[int]]:
    """Leiden on the subgraph ``nodes`` induce (``inner``: its edges), in the original numbering; one group when it
    will not split."""
    local = {node: i for i, node in enumerate(nodes)}
    numbered = [(local[a], local[b], w) for a, b, w in inner]
    for resolution in _RESOLUTIONS:
        parts = leiden(len(nodes), numbered, seed=seed, resolution=resolution)
        if len(parts) > 1:
            return [[nodes[i] for i in part] for part in parts]
    return [nodes]


def _inner_edges(
    groups: Sequence[Sequence[int]], edges: Sequence[tuple[int, int, float]]
) -> list[list[tuple[int, int, float]]]:
    """The edges inside each group (an edge between two groups is in none)."""
    where = {node: i for i, group in enumerate(groups) for node in group}
    out: list[list[tuple[int, int, float]]] = [[] for _ in groups]
    for edge in edges:
        g = where.get(edge[0])
        if g is not None and where.get(edge[1]) == g:
            out[g].append(edge)
    return out


def hierarchical_leiden(
    n_nodes: int, edges: Sequence[tuple[int, int, float]], *, max_size: int, seed: int
) -> list[Cluster]:
    """Communities of the graph with nodes ``0..n_nodes-1`` and weighted undirected ``edges`` ``(a, b, weight)``.

    Level 0 partitions every node. A community with more than ``max_size`` nodes gets children at the next level
    (Leiden on the subgraph it induces, at a higher resolution when plain modularity keeps it whole); one that still
    will not split stays a leaf. Same graph and ``seed``, same result. An empty graph gives ``[]``.
    """
    if n_nodes < 0 or max_size < 1:
        raise InputError(f"hierarchical_leiden needs n_nodes >= 0 and max_size >= 1; got {n_nodes}, {max_size}")
    for a, b, _ in edges:
        if not (0 <= a < n_nodes and 0 <= b < n_nodes):
            raise InputError(f"edge ({a}, {b}) names a node outside 0..{n_nodes - 1}")
    out: list[Cluster] = []
    Frontier = list[tuple[int | None, list[list[int]], Sequence[tuple[int, int, float]]]]
    frontier: Frontier = [(None, leiden(n_nodes, edges, seed=seed), edges)]
    level = 0
    while frontier:
        following: Frontier = []
        for parent, groups, parent_edges in frontier:
            big = [g for g in groups if len(g) > max_size]
            inner = dict(zip(map(tuple, big), _inner_edges(big, parent_edges), strict=True)) if big else {}
            for group in groups:
                cluster = Cluster(level, len(out), parent, tuple(group))
                out.append(cluster)
                if len(group) > max_size:
                    group_edges = inner[cluster.nodes]
                    parts = _split(group, group_edges, seed)
                    if len(parts) > 1:
                        following.append((cluster.index, parts, group_edges))
        frontier, level = following, level + 1
    return out
