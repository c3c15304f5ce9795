"""Per-chunk extractions → one entity graph: entities merged by normalised name, relationships by their two ends.

An entity seen with several distinct descriptions gets one, written by the LLM from the sorted set (cached: an
entity whose descriptions did not change costs nothing on the next build); one description is kept as it is. A
relationship's strength is averaged over the chunks that state it and its edge weight is the sum (Leiden's weight);
its descriptions are joined. Every node and edge keeps the chunk ids it came from. Node ids follow the sorted
normalised names, so the same extractions give the same graph.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..types import GraphEdge, GraphNode
from .calls import CachedCaller
from .extract import ChunkExtraction, normalise_name
from .prompts import MERGE, MergeInput

__all__ = ["merge_extractions", "MAX_DESCRIPTIONS"]

MAX_DESCRIPTIONS = 12  # descriptions given to one merge call (the longest-lived entities are seen in many chunks)
MAX_EDGE_DESCRIPTION = 600  # characters of joined relationship descriptions kept on an edge


@dataclass
class _Entity:
    names: Counter = field(default_factory=Counter)
    types: Counter = field(default_factory=Counter)
    descriptions: dict[str, None] = field(default_factory=dict)
    chunks: dict[str, None] = field(default_factory=dict)


@dataclass
class _Link:
    strengths: list[int] = field(default_factory=list)
    descriptions: dict[str, None] = field(default_factory=dict)
    chunks: dict[str, None] = field(default_factory=dict)


def _display(names: Counter) -> str:
    """The most common spelling (ties: the first alphabetically)."""
    return sorted(names.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]


def merge_extractions(
    caller: CachedCaller, extractions: Sequence[ChunkExtraction]
) -> tuple[list[GraphNode], list[GraphEdge]]:
    """The entity graph of these chunk extractions (nodes kind ``entity``, weight = degree)."""
    ents: dict[str, _Entity] = {}
    links: dict[tuple[str, str], _Link] = {}
    for ex in extractions:
        for e in ex.entities:
            key = normalise_name(e.name)
            ent = ents.setdefault(key, _Entity())
            ent.names[e.name.strip()] += 1
            if e.type.strip():
                ent.types[e.type.strip().lower()] += 1
            if e.description.strip():
                ent.descriptions[e.description.strip()] = None
            ent.chunks[ex.chunk_id] = None
        for r in ex.relationships:
            a, b = sorted((normalise_name(r.source), normalise_name(r.target)))
            for end, raw in ((a, r.source), (b, r.target)):  # an end the model did not list is an entity all the same
                ent = ents.setdefault(end, _Entity())
                if not ent.names:
                    ent.names[raw.strip()] += 1
                ent.chunks[ex.chunk_id] = None
            link = links.setdefault((a, b), _Link())
            link.strengths.append(r.strength)
            if r.description.strip():
                link.descriptions[r.description.strip()] = None
            link.chunks[ex.chunk_id] = None
    order = sorted(ents)
    ids = {key: i for i, key in enumerate(order)}
    degree = Counter()
    for a, b in links:
        degree[a] += 1
        degree[b] += 1
    nodes = []
    for key in order:
        ent = ents[key]
        name = _display(ent.names)
        nodes.append(
            GraphNode(
                "entity",
                ids[key],
                name,
                tuple(sorted(ent.chunks)),
                float(degree[key]),
                _display(ent.types) if ent.types else "",
                _describe(caller, name, sorted(ent.descriptions)),
            )
        )
    edges = []
    for (a, b), link in sorted(links.items()):
        description = "; ".join(link.descriptions)
        edges.append(
            GraphEdge(
                "entity",
                ids[a],
                ids[b],
                float(sum(link.strengths)),
                len(link.chunks),
                tuple(sorted(link.chunks)),
                description[:MAX_EDGE_DESCRIPTION],
            )
        )
    return nodes, edges


def _describe(caller: CachedCaller, name: str, descriptions: list[str]) -> str:
    """One description: the only one there is, else the LLM's merge (on failure: the descriptions joined)."""
    if len(descriptions) <= 1:
        return descriptions[0] if descriptions else ""
    given = descriptions[:MAX_DESCRIPTIONS]
    merged = caller.call(MERGE, MergeInput(name=name, descriptions=given), item=name)
    return merged.description.strip() if merged is not None and merged.description.strip() else " ".join(given)
