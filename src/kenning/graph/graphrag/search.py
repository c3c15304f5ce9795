"""GraphRAG's two searches over the entity graph, each returning a :class:`~kenning.generate.answer.Draft` whose
``[n]`` markers cite chunks, so the Engine's verifier checks every claim against the chunk it cites.

- **local** (questions about named things): the entities the question names or resembles (embedder similarity
  over ``name: description``) → their relationships and neighbours → the source chunks holding the most of the
  selected entities → the LLM answers from an entity/relationship table and the numbered chunks.
- **global** (questions about the whole corpus): map over the community reports of one level in batches (each
  batch's points rated 0-100; 0 dropped), reduce the best points within a token budget into the answer. The model
  cites points; each cited point is replaced by the chunks of its community that best match it (by the embedder,
  else by shared words), so the answer's citations are chunks.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from ...chunking import get_tokenizer
from ...errors import IndexError_
from ...generate.answer import Draft
from ...generate.citations import resolve_citations
from ...generate.prompts import NOT_IN_SOURCES_ANSWER
from ...index import graph_tables
from ...index.catalog import Catalog
from ...providers.llm.base import LLM
from ...retrieve import hit_from_row
from ...types import Hit
from ..types import Community, GraphEdge, GraphNode
from .build import KIND
from .calls import CachedCaller
from .extract import normalise_name
from .prompts import LOCAL, MAP, REDUCE, LocalInput, MapInput, ReduceInput
from .reports import report_text

__all__ = ["local_search", "global_search", "reports_at_level", "NO_GRAPH"]

NO_GRAPH = (
    "this collection has no entity graph yet; build one with an LLM first: "
    "kenning graph build --graphrag --llm PROVIDER:MODEL (e.g. --llm local)"
)
_WORD = re.compile(r"\w{3,}")


def _graph(catalog: Catalog) -> tuple[list[GraphNode], list[GraphEdge]]:
    if graph_tables.last_build(catalog, KIND) is None:
        raise IndexError_(NO_GRAPH)
    return graph_tables.nodes(catalog, KIND), graph_tables.edges(catalog, KIND)


def _hits(catalog: Catalog, chunk_ids: Sequence[str]) -> list[Hit]:
    rows = catalog.chunk_rows(list(chunk_ids), by="chunk_id")
    return [hit_from_row(rows[c], i, 0.0) for i, c in enumerate((c for c in chunk_ids if c in rows), 1)]


def _draft(text: str, packed: Sequence[Hit], caller: CachedCaller, llm: LLM) -> Draft:
    cleaned, cited, invalid = resolve_citations(text, n_sources=len(packed))
    return Draft(cleaned or NOT_IN_SOURCES_ANSWER, tuple(packed), frozenset(cited), invalid, "llm", llm.name,
                 caller.usage)  # fmt: skip


# -- local --------------------------------------------------------------------------------------------------------


def select_entities(
    question: str, nodes: Sequence[GraphNode], *, embedder: Any = None, top: int = 10
) -> list[GraphNode]:
    """The entities the question names (whole-word, case-insensitive), then the most similar ones by the embedder
    over ``name: description``, ``top`` in all."""
    q = f" {normalise_name(question)} "
    named = [n for n in nodes if len(normalise_name(n.name)) > 2 and f" {normalise_name(n.name)} " in q]
    chosen = {n.id: n for n in sorted(named, key=lambda n: -n.weight)[:top]}
    if embedder is not None and len(chosen) < top and nodes:
        texts = [f"{n.name}: {n.description}" for n in nodes]
        vecs = np.asarray(embedder.embed(texts), dtype=np.float32)
        qv = np.asarray(embedder.embed([question], is_query=True), dtype=np.float32)[0]
        sims = vecs @ qv / (np.linalg.norm(vecs, axis=1) * np.linalg.norm(qv) + 1e-9)
        for i in np.argsort(-sims):
            if len(chosen) >= top:
                break
            chosen.setdefault(nodes[int(i)].id, nodes[int(i)])
    elif embedder is None and len(chosen) < top:  # no embedder: entities sharing the most words with the question
        words = set(_WORD.findall(question.lower()))
        scored = sorted(nodes, key=lambda n: -len(words & set(_WORD.findall(f"{n.name} {n.description}".lower()))))
        for n in scored[: top - len(chosen)]:
            if words & set(_WORD.findall(f"{n.name} {n.description}".lower())):
                chosen.setdefault(n.id, n)
    return list(chosen.values())


def local_search(
    catalog: Catalog,
    llm: LLM,
    question: str,
    *,
    embedder: Any = None,
    top_entities: int = 10,
    budget_tokens: int = 1_500,
    tokenizer: str = "cl100k_base",
) -> Draft:
    """Answer ``question`` from the neighbourhood of the entities it is about (see the module)."""
    nodes, edges = _graph(catalog)
    caller = CachedCaller(catalog, llm, store=False)
    selected = select_entities(question, nodes, embedder=embedder, top=top_entities)
    if not selected:
        return Draft(NOT_IN_SOURCES_ANSWER, (), frozenset(), (), "llm", llm.name)
    ids = {n.id for n in selected}
    by_id = {n.id: n for n in nodes}
    near = sorted((e for e in edges if e.a in ids or e.b in ids), key=lambda e: -e.weight)[: 3 * top_entities]
    held: Counter[str] = Counter()
    for n in selected:
        held.update(n.chunk_ids)
    for e in near:
        held.update(e.chunk_ids)
    tok = get_tokenizer(tokenizer)
    order = sorted(held, key=lambda c: (-held[c], c))
    hits, used = [], 0
    for hit in _hits(catalog, order):
        cost = tok.count(hit.text)
        if hits and used + cost > budget_tokens:
            break
        hits.append(hit)
        used += cost
    inp = LocalInput(
        question=question,
        entities=[
            f"{n.name} ({n.type}): {n.description}" if n.type else f"{n.name}: {n.description}" for n in selected
        ],
        relationships=[f"{by_id[e.a].name} -> {by_id[e.b].name}: {e.description}" for e in near],
        sources=[(h.title or h.doc_id, h.text) for h in hits],
    )
    out = caller.call(LOCAL, inp, item=question)
    return _draft(out.text if out is not None else NOT_IN_SOURCES_ANSWER, hits, caller, llm)


# -- global -------------------------------------------------------------------------------------------------------


def reports_at_level(communities: Sequence[Community], level: int) -> list[Community]:
    """The reported communities global search maps over: those at ``level``, plus the leaves above it (a community
    that was never split has no descendants at ``level``, and its report still covers its part of the corpus)."""
    parents = {c.parent for c in communities if c.parent is not None}
    out = [c for c in communities if c.report and (c.level == level or (c.level < level and c.id not in parents))]
    return sorted(out, key=lambda c: (-float(c.report.get("rating", 0)), c.id))


def global_search(
    catalog: Catalog,
    llm: LLM,
    question: str,
    *,
    level: int = 1,
    embedder: Any = None,
    batch_tokens: int = 1_500,
    budget_tokens: int = 1_500,
    chunks_per_point: int = 2,
    tokenizer: str = "cl100k_base",
) -> Draft:
    """Answer ``question`` by map-reduce over the community reports at ``level`` (see the module)."""
    _graph(catalog)
    communities = reports_at_level(graph_tables.communities(catalog, KIND), level)
    caller = CachedCaller(catalog, llm, store=False)
    tok = get_tokenizer(tokenizer)
    batches: list[list[Community]] = [[]]
    used = 0
    for c in communities:
        cost = tok.count(report_text(c.report))
        if batches[-1] and used + cost > batch_tokens:
            batches.append([])
            used = 0
        batches[-1].append(c)
        used += cost
    points: list[tuple[int, str, Community | None, list[Community]]] = []
    for batch in batches:
        if not batch:
            continue
        out = caller.call(MAP, MapInput(question=question, reports=[report_text(c.report) for c in batch]))
        for p in out.points if out is not None else []:
            if p.score > 0 and p.description.strip():
                one = batch[p.report - 1] if 1 <= p.report <= len(batch) else None
                points.append((p.score, p.description.strip(), one, batch))
    points.sort(key=lambda p: -p[0])
    kept, used = [], 0
    for p in points:
        cost = tok.count(p[1])
        if kept and used + cost > budget_tokens:
            break
        kept.append(p)
        used += cost
    if not kept:
        return Draft(NOT_IN_SOURCES_ANSWER, (), frozenset(), (), "llm", llm.name, caller.usage)
    out = caller.call(REDUCE, ReduceInput(question=question, points=[p[1] for p in kept]))
    text = out.text if out is not None else NOT_IN_SOURCES_ANSWER
    return _chunk_cited(catalog, text, kept, caller, llm, embedder, chunks_per_point)


def _chunk_cited(
    catalog: Catalog,
    text: str,
    kept: list[tuple[int, str, Community | None, list[Community]]],
    caller: CachedCaller,
    llm: LLM,
    embedder: Any,
    per_point: int,
) -> Draft:
    """The reduce answer with each cited point's marker replaced by markers of its best-matching chunks."""
    cleaned, cited_points, invalid = resolve_citations(text, n_sources=len(kept))
    chunk_of: dict[int, list[str]] = {}
    for n in sorted(cited_points):
        _, description, one, batch = kept[n - 1]
        pool = list(one.chunk_ids) if one is not None else sorted({c for b in batch for c in b.chunk_ids})
        chunk_of[n] = _best_chunks(catalog, description, pool, embedder, per_point)
    order: list[str] = []
    for n in re.findall(r"\[(\d+)\]", cleaned):
        for c in chunk_of.get(int(n), []):
            if c not in order:
                order.append(c)
    number = {c: i for i, c in enumerate(order, 1)}
    rewritten = re.sub(r"\[(\d+)\]", lambda m: "".join(f"[{number[c]}]" for c in chunk_of.get(int(m[1]), [])), cleaned)
    return (
        _draft(rewritten, _hits(catalog, order), caller, llm)
        if order
        else Draft(cleaned or NOT_IN_SOURCES_ANSWER, (), frozenset(), invalid, "llm", llm.name, caller.usage)
    )


def _best_chunks(catalog: Catalog, text: str, pool: list[str], embedder: Any, k: int) -> list[str]:
    """The ``k`` chunks of ``pool`` closest to ``text`` (embedder cosine, else shared words)."""
    rows = catalog.chunk_rows(pool, by="chunk_id")
    ids = [c for c in pool if c in rows]
    if len(ids) <= k:
        return ids
    if embedder is not None:
        vecs = np.asarray(embedder.embed([rows[c].text for c in ids]), dtype=np.float32)
        qv = np.asarray(embedder.embed([text], is_query=True), dtype=np.float32)[0]
        scores = vecs @ qv / (np.linalg.norm(vecs, axis=1) * np.linalg.norm(qv) + 1e-9)
    else:
        words = set(_WORD.findall(text.lower()))
        scores = np.array([len(words & set(_WORD.findall(rows[c].text.lower()))) for c in ids], dtype=np.float32)
    return [ids[int(i)] for i in np.argsort(-scores, kind="stable")[:k]]
