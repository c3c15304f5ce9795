"""The concept graph of a collection: build it, describe it, read its communities (a part of :class:`kenning.Engine`).

A collection keeps its concept graph up to date once it has one: :meth:`Engine.index` rebuilds it after indexing
when ``[graph] build`` is on or when the catalog already holds a concept graph build (``kenning graph build`` or
``kenning index --graph`` made one). The record of that build is the marker, so no second flag can disagree with
what is on disk. Only chunks whose text changed are extracted again (the concept cache); the communities are
recomputed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import KenningConfig
from .errors import IndexError_
from .graph.types import Community, GraphBuild

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from .index import Collection
    from .index.writer import ProgressFn

__all__ = ["GraphMixin", "GraphInfo", "CommunitySummary"]


@dataclass(frozen=True, slots=True)
class CommunitySummary:
    """A top-level community as listed: its id, title and how many chunks it was given."""

    id: int
    title: str
    n_chunks: int


@dataclass(frozen=True, slots=True)
class GraphInfo:
    """What a collection's concept graph holds. ``stale``: built from an older ``data_version`` than the catalog's
    (documents changed since); ``communities`` counts them per level (top first).

    >>> GraphInfo(built=False, stale=False, data_version=0, catalog_version=3, nodes=0, edges=0, communities=(),
    ...           top=(), stats={}).built
    False
    """

    built: bool
    stale: bool
    data_version: int
    catalog_version: int
    nodes: int
    edges: int
    communities: tuple[int, ...]
    top: tuple[CommunitySummary, ...]
    stats: dict[str, Any]


class GraphMixin:
    """build_graph, graph_info and graph_communities."""

    config: KenningConfig
    collection_name: str

    if TYPE_CHECKING:  # Engine defines these; a stub here would shadow them in Engine's MRO

        def _writing(self, config: KenningConfig | None = None, **kw: Any) -> AbstractContextManager[Collection]: ...
        def collection(self) -> Collection: ...
        def sqlite_only(self, what: str) -> None: ...
        @property
        def store_location(self) -> str | Path: ...

    def build_graph(self, *, progress: ProgressFn | None = None) -> GraphBuild:
        """Build (or bring up to date) the collection's concept graph, under the collection's write lock. It does not
        change ``data_version``: searches and snapshots are untouched."""
        self.sqlite_only("the concept graph")
        with self._writing() as col:
            return self._graph_after_index(col, progress=progress, force=True)  # type: ignore[return-value]

    def _graph_after_index(
        self, col: Collection, *, progress: ProgressFn | None = None, force: bool = False
    ) -> GraphBuild | None:
        """The hook :meth:`Engine.index` calls with its open collection: rebuild the concept graph when ``force``,
        ``[graph] build`` is on, or the collection has one already; else nothing (None)."""
        from .graph.build import build_concept_graph
        from .index.graph_tables import last_build

        if not isinstance(self.store_location, Path):  # graphs live in the SQLite store's catalog
            return None
        if not (force or self.config.graph.build or last_build(col.catalog, "concept") is not None):
            return None
        return build_concept_graph(col.catalog, self.config.graph, progress=progress)

    def graph_info(self) -> GraphInfo:
        """Whether the concept graph is built and current, its counts, its top-level communities and build stats."""
        self.sqlite_only("the concept graph")
        from .index import graph_tables

        catalog = self.collection().catalog
        build = graph_tables.last_build(catalog, "concept")
        version = catalog.data_version()
        if build is None:
            return GraphInfo(False, False, 0, version, 0, 0, (), (), {})
        communities = graph_tables.communities(catalog, "concept")
        per_level: dict[int, int] = {}
        for c in communities:
            per_level[c.level] = per_level.get(c.level, 0) + 1
        top = tuple(CommunitySummary(c.id, c.title, len(c.chunk_ids)) for c in communities if c.level == 0)
        stats = build.stats
        return GraphInfo(
            built=True,
            stale=build.data_version < version,
            data_version=build.data_version,
            catalog_version=version,
            nodes=int(stats.get("concepts_kept", 0)),
            edges=int(stats.get("edges", 0)),
            communities=tuple(per_level[level] for level in sorted(per_level)),
            top=tuple(sorted(top, key=lambda s: (-s.n_chunks, s.id))),
            stats=stats,
        )

    def graph_communities(self, kind: str = "concept") -> list[Community]:
        """Every community of the ``kind`` graph, by level then id (top level first).

        Raises :class:`IndexError_` saying how to build it when the collection has none.
        """
        from .index import graph_tables

        catalog = self.collection().catalog
        if graph_tables.last_build(catalog, kind) is None:
            how = (
                f"run `kenning graph build -c {self.collection_name}` or index with --graph"
                if kind == "concept"
                else f"build the {kind} graph first"
            )
            raise IndexError_(f"collection {self.collection_name!r} has no {kind} graph; {how}")
        return graph_tables.communities(catalog, kind)
