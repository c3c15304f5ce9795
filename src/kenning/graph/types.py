"""Typed values of the graphs over a collection's chunks: nodes, edges, communities and the record of a build.

Both graphs use them: the concept graph (``kind="concept"``, noun phrases, no LLM) that LazyGraphRAG searches, and the
entity graph (``kind="entity"``) an LLM extracts for GraphRAG. Every node, edge and community keeps the chunk ids it
came from, so whatever is said from the graph can be cited.

>>> Community(kind="concept", id=3, level=0, parent=None, title="vacuum · autovacuum", node_ids=(1, 2),
...           chunk_ids=("a::0",)).is_top
True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["GraphKind", "GraphNode", "GraphEdge", "Community", "GraphBuild", "LLMCall", "GRAPH_KINDS"]

GraphKind = Literal["concept", "entity"]
GRAPH_KINDS: tuple[str, ...] = ("concept", "entity")


@dataclass(frozen=True, slots=True)
class GraphNode:
    """A concept or entity. ``weight``: how many chunks mention it (concepts) or its degree (entities)."""

    kind: str
    id: int
    name: str
    chunk_ids: tuple[str, ...]
    weight: float = 0.0
    type: str = ""
    description: str = ""


@dataclass(frozen=True, slots=True)
class GraphEdge:
    """Two nodes seen together: ``count`` chunks hold both; ``weight`` is the build's association (PMI for concepts,
    the LLM's strength for entities). ``a < b``."""

    kind: str
    a: int
    b: int
    weight: float
    count: int
    chunk_ids: tuple[str, ...]
    description: str = ""


@dataclass(frozen=True, slots=True)
class Community:
    """A community of nodes at one level of the hierarchy (0 is the top); ``parent`` is the id of the community it
    splits, None at the top. ``report`` is GraphRAG's community report (empty for the concept graph)."""

    kind: str
    id: int
    level: int
    parent: int | None
    title: str
    node_ids: tuple[int, ...]
    chunk_ids: tuple[str, ...]
    report: dict[str, Any] = field(default_factory=dict)

    @property
    def is_top(self) -> bool:
        return self.parent is None


@dataclass(frozen=True, slots=True)
class GraphBuild:
    """What a build made and spent, and the catalog ``data_version`` it was built from (older than the catalog's:
    the graph is stale). ``stats`` holds counts, seconds and, for GraphRAG, LLM calls and tokens."""

    kind: str
    data_version: int
    settings: dict[str, Any]
    stats: dict[str, Any]
    created_at: float


@dataclass(frozen=True, slots=True)
class LLMCall:
    """One cached LLM reply, keyed by content (prompt name and version, model, typed input)."""

    key: str
    prompt: str
    model: str
    output: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    seconds: float
