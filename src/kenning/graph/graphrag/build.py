"""Building the entity graph: extract per chunk, merge, hierarchical Leiden, community reports, store.

Every LLM call goes through :class:`~kenning.graph.graphrag.calls.CachedCaller`, so a second build of an unchanged
collection pays nothing, and a build after one document changed pays for that document's chunks plus the merges
and reports whose inputs changed. A chunk whose extraction stayed malformed is left out (counted and named in the
stats), the rest of the graph is built and stored, and the next build tries that chunk again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ...config import GraphConfig
from ...index import graph_tables
from ...index.catalog import Catalog
from ...providers.llm.base import LLM
from ..types import GraphBuild
from .calls import CachedCaller
from .estimate import count
from .extract import extract_chunk
from .merge import merge_extractions
from .prompts import EXTRACT, PROMPTS, ExtractInput
from .reports import detect_communities, write_reports

__all__ = ["build_graphrag", "KIND"]

KIND = "entity"

Progress = Callable[[str, int, int | None], None]


def build_graphrag(
    catalog: Catalog,
    llm: LLM,
    config: GraphConfig,
    *,
    embedder: Any = None,
    progress: Progress | None = None,
    tokenizer: str = "cl100k_base",
) -> GraphBuild:
    """Build (or rebuild, paying only for what changed) the collection's entity graph with ``llm`` and store it in
    ``catalog`` (replacing the previous one in one transaction). ``progress(stage, done, total)`` hears
    ``extracting``, ``merging``, ``reporting``. ``embedder`` is accepted for symmetry with search (entities are
    embedded at query time)."""
    del embedder
    t0 = time.perf_counter()
    version = catalog.data_version()
    caller = CachedCaller(catalog, llm)
    chunks = [(row.chunk_id, row.text) for row in catalog.iter_chunks()]
    extractions = []
    for i, (chunk_id, text) in enumerate(chunks, 1):
        extractions.append(extract_chunk(caller, chunk_id, text, gleanings=config.gleanings))
        if progress is not None:
            progress("extracting", i, len(chunks))
    if progress is not None:
        progress("merging", 0, None)
    nodes, edges = merge_extractions(caller, [x for x in extractions if x.ok])
    communities = detect_communities(nodes, edges, max_size=config.max_community_size, seed=config.seed)
    communities = write_reports(
        caller,
        communities,
        nodes,
        edges,
        tokenizer=tokenizer,
        progress=(lambda d, t: progress("reporting", d, t)) if progress is not None else None,
    )
    stats: dict[str, Any] = {
        "chunks": len(chunks),
        "chunk_tokens": sum(_count(tokenizer, t) for _, t in chunks),
        "chunks_failed": sum(not x.ok for x in extractions),
        "extract_prompt_counted": sum(count(EXTRACT.messages(ExtractInput(text=t)), tokenizer) for _, t in chunks),
        "entities": len(nodes),
        "relationships": len(edges),
        "communities": len(communities),
        "levels": 1 + max((c.level for c in communities), default=-1),
        "reports": sum(bool(c.report) for c in communities),
        **caller.stats(),
        "seconds": round(time.perf_counter() - t0, 3),
    }
    settings = {
        "model": llm.name,
        "gleanings": config.gleanings,
        "max_community_size": config.max_community_size,
        "seed": config.seed,
        "prompts": [p.id for p in PROMPTS],
    }
    graph_tables.replace_graph(
        catalog, KIND, nodes, edges, communities, settings=settings, stats=stats, data_version=version
    )
    build = graph_tables.last_build(catalog, KIND)
    assert build is not None
    return build


def _count(tokenizer: str, text: str) -> int:
    from ...chunking import get_tokenizer

    return get_tokenizer(tokenizer).count(text)
