"""Span eval sets (the Chroma chunking benchmark, or any JSONL set with gold spans) and their scorer.

The Chroma set (brandonstarxel/chunking_evaluation, MIT) is a folder with ``corpora/*.md`` (five texts) and
``questions_df.csv`` (``question``, ``references`` as a JSON list of ``{content, start_index, end_index}``,
``corpus_id``): 472 queries with 790 exact character spans. As in the reference harness, every corpus is indexed
into **one** collection and each query ranks all of its chunks (``per_group=True`` ranks only the chunks of the
query's own corpus instead); the top ``k`` (5 by default, as there) are scored with :mod:`kenning.evaluate.spans`.
The reference retrieves with embeddings only, so ``mode="dense"`` is the default here too.

>>> data = load_chroma("../shared/data/chunking/chroma")                      # doctest: +SKIP
>>> run = evaluate_spans(engine.collection(), data, embedder=engine.embedder)  # doctest: +SKIP
>>> run.mean()["recall"]                                                       # doctest: +SKIP
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..config import RetrievalConfig
from ..errors import ConfigError, InputError
from ..providers.embedders import Embedder
from ..providers.llm.base import LLM
from ..rerank import Reranker, rerank_with_usage
from ..retrieve import Filters, Searcher
from ..retrieve.fusion import rrf
from ..retrieve.transforms import plan_query, search_plan
from ..store.base import Store
from ..types import Usage
from .qa import GoldSpan, QASet
from .spans import (
    SPAN_METRICS,
    ChunkIndex,
    Span,
    SpanQuery,
    doc_metrics,
    precision_omega,
    span_metrics,
)

__all__ = [
    "SpanEvalSet",
    "SpanRun",
    "load_chroma",
    "is_chroma_folder",
    "span_eval_set",
    "evaluate_spans",
    "omega_scores",
    "resolve_sources",
]


@dataclass(frozen=True)
class SpanEvalSet:
    """What to index (``paths``) and the questions to score against it; ``fingerprint`` hashes every input byte."""

    name: str
    kind: str  # "chroma" or "spans"
    paths: tuple[Path, ...]
    queries: tuple[SpanQuery, ...]
    fingerprint: str
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class SpanRun:
    """Per-query scores of one retrieval setting, in the eval set's query order."""

    qids: tuple[str, ...]
    groups: tuple[str, ...]
    scores: dict[str, tuple[float, ...]]  # metric → one value per query
    unresolved: int = 0  # queries whose gold sources were not found in the collection (scored 0)
    notes: tuple[str, ...] = field(default=())
    usage: Usage = Usage()  # what the LLM spent on query transforms and reranking

    def mean(self) -> dict[str, float]:
        return {m: float(np.mean(v)) if v else 0.0 for m, v in self.scores.items()}


# -------------------------------------------------------------------------------------------------- loading


def is_chroma_folder(path: str | Path) -> bool:
    p = Path(path)
    return (p / "questions_df.csv").is_file() and (p / "corpora").is_dir()


def _hash_paths(paths: Iterable[Path], h: hashlib._Hash | None = None) -> hashlib._Hash:
    h = h or hashlib.blake2b(digest_size=16)
    for root in paths:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for f in files:
            h.update(os.fsdecode(f.relative_to(root) if f != root else Path(f.name)).encode() + b"\0")
            with open(f, "rb") as fh:
                for block in iter(lambda fh=fh: fh.read(1 << 20), b""):
                    h.update(block)
            h.update(b"\0")
    return h


def load_chroma(folder: str | Path) -> SpanEvalSet:
    """The Chroma chunking benchmark in ``folder``; every reference span is checked against its corpus text."""
    root = Path(folder).expanduser().resolve()
    if not is_chroma_folder(root):
        raise InputError(f"{root}: not a Chroma-style span eval folder (needs questions_df.csv and corpora/)")
    corpora = {p.stem: p for p in sorted((root / "corpora").iterdir()) if p.suffix in (".md", ".txt")}
    texts = {cid: p.read_text(encoding="utf-8") for cid, p in corpora.items()}
    queries: list[SpanQuery] = []
    with open(root / "questions_df.csv", encoding="utf-8", newline="") as f:
        for n, row in enumerate(csv.DictReader(f)):
            cid = row.get("corpus_id", "")
            if cid not in corpora:
                raise InputError(f"{root}/questions_df.csv row {n + 2}: unknown corpus_id {cid!r}")
            spans = []
            for ref in json.loads(row["references"]):
                s, e = int(ref["start_index"]), int(ref["end_index"])
                if texts[cid][s:e] != ref["content"]:
                    raise InputError(
                        f"{root}/questions_df.csv row {n + 2}: reference [{s}:{e}] does not match {cid}'s text"
                    )
                spans.append(GoldSpan(s, e, source=str(corpora[cid])))
            queries.append(SpanQuery(f"q{n:04d}", row["question"], tuple(spans), (), cid))
    fp = _hash_paths([root / "questions_df.csv", *corpora.values()]).hexdigest()
    return SpanEvalSet(root.name, "chroma", tuple(corpora.values()), tuple(queries), fp, tuple(corpora))


def span_eval_set(corpus: str | Path, eval_set: str | Path) -> SpanEvalSet:
    """A corpus (folder, file or archive, indexed as ``kenning index`` would) and a QA JSONL set for it
    (:class:`~kenning.evaluate.qa.QASet`, e.g. from ``kenning eval synth``). Each item is scored by its
    ``gold_spans`` (documents named by ``doc_id`` or ``source``: an exact source or a unique path suffix), else by
    its ``gold_doc_ids`` (or the documents of its ``gold_chunk_ids``); ``metadata["group"]`` names its query set."""
    corpus_path, set_path = Path(corpus).expanduser().resolve(), Path(eval_set).expanduser().resolve()
    if not corpus_path.exists():
        raise InputError(f"{corpus_path}: no such corpus")
    queries = []
    for item in QASet.load(set_path):
        spans = item.gold_spans
        docs = item.gold_doc_ids or tuple(dict.fromkeys(c.rsplit("::", 1)[0] for c in item.gold_chunk_ids))
        if not spans and not docs:
            raise InputError(f"{set_path}: item {item.id!r} has no gold_spans, gold_doc_ids or gold_chunk_ids")
        queries.append(SpanQuery(item.id, item.question, spans, docs, str(item.metadata.get("group", ""))))
    if not queries:
        raise InputError(f"{set_path}: the eval set has no items")
    fp = _hash_paths([corpus_path, set_path]).hexdigest()
    groups = tuple(sorted({q.group for q in queries if q.group}))
    return SpanEvalSet(set_path.stem, "spans", (corpus_path,), tuple(queries), fp, groups)


# -------------------------------------------------------------------------------------------------- scoring


def resolve_sources(doc_sources: dict[str, list[str]], wanted: Iterable[str]) -> dict[str, str]:
    """Map each wanted source to a doc id: an exact source, a doc id, or a unique path suffix
    (``sql-vacuum.html`` finds ``…/doc.tar.gz!/html/sql-vacuum.html``). Unresolved names are left out."""
    exact: dict[str, str] = {}
    tails: dict[str, set[str]] = {}
    for doc_id, sources in doc_sources.items():
        exact[doc_id] = doc_id
        for src in sources:
            exact[src] = doc_id
            parts = src.replace("!/", "/").split("/")
            for i in range(1, len(parts)):
                tails.setdefault("/".join(parts[i:]), set()).add(doc_id)
    out: dict[str, str] = {}
    for w in set(wanted):
        if w in exact:
            out[w] = exact[w]
            continue
        found = tails.get(w.replace("!/", "/").lstrip("/"), set())
        if len(found) == 1:
            out[w] = next(iter(found))
    return out


def _name(g: GoldSpan) -> str:
    return g.doc_id or g.source


def _gold(queries: Sequence[SpanQuery], where: dict[str, str]) -> tuple[list[list[Span]], list[set[str]], int]:
    spans, docs, unresolved = [], [], 0
    for q in queries:
        gs = [Span(where[_name(g)], g.start, g.end) for g in q.spans if _name(g) in where]
        gd = {where[d] for d in q.docs if d in where}
        if len(gs) < len(q.spans) or len(gd) < len(q.docs):
            unresolved += 1
        spans.append(gs)
        docs.append(gd)
    return spans, docs, unresolved


def omega_scores(collection: Store, data: SpanEvalSet) -> tuple[float, ...]:
    """Chroma's precision Ω of the collection's chunking, per query (0 for queries with document gold only)."""
    catalog = collection.catalog
    where = resolve_sources(catalog.document_sources(), [_name(g) for q in data.queries for g in q.spans])
    spans, _, _ = _gold(data.queries, where)
    index = ChunkIndex(Span(c.doc_id, c.start, c.end) for c in catalog.chunk_spans())
    return tuple(precision_omega(index, g) for g in spans)


def evaluate_spans(
    collection: Store,
    data: SpanEvalSet,
    *,
    embedder: Embedder | None,
    mode: str = "dense",
    k: int = 5,
    rrf_k: float = 60.0,
    reranker: Reranker | None = None,
    rerank_depth: int | None = None,
    per_group: bool = False,
    transform: str = "none",
    llm: LLM | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SpanRun:
    """Rank the collection's chunks for every question, keep the top ``k`` and score them against the gold.

    ``transform`` (``hyde``, ``multi``; see :mod:`kenning.retrieve.transforms`) rewrites each question with ``llm``
    before it is searched; ``reranker`` reorders the top ``rerank_depth``. ``SpanRun.usage`` adds up what the LLM spent.
    """
    if k <= 0:
        raise ConfigError(f"k must be > 0, got {k}")
    if reranker is not None and (rerank_depth or 0) < k:
        raise ConfigError(f"rerank_depth must be at least k={k} when reranking, got {rerank_depth}")
    catalog = collection.catalog
    doc_sources = catalog.document_sources()
    where = resolve_sources(
        doc_sources, [_name(g) for q in data.queries for g in q.spans] + [d for q in data.queries for d in q.docs]
    )
    gold_spans, gold_docs, unresolved = _gold(data.queries, where)
    searcher = Searcher(collection, embedder, RetrievalConfig(mode=mode, k=k, rrf_k=rrf_k))  # type: ignore[arg-type]
    span_of = {c.chunk_id: Span(c.doc_id, c.start, c.end) for c in catalog.chunk_spans()}
    depth = rerank_depth if reranker is not None else k
    order = list(range(len(data.queries)))
    batches: list[tuple[list[int], Filters | None]] = []
    if per_group:
        if data.kind != "chroma":
            raise ConfigError("per_group ranks within each query's own corpus; only Chroma-style sets have one")
        by_group: dict[str, list[int]] = {}
        for i in order:
            by_group.setdefault(data.queries[i].group, []).append(i)
        for _, idx in sorted(by_group.items()):
            docs = {s.doc for i in idx for s in gold_spans[i]}
            sources = tuple(sorted(src for d in docs for src in doc_sources.get(d, [])))
            flt = Filters(sources=sources) if sources else None
            batches.extend((idx[j : j + 64], flt) for j in range(0, len(idx), 64))
    else:
        batches = [(order[j : j + 64], None) for j in range(0, len(order), 64)]
    retrieved: dict[int, list[Span]] = {}
    done = 0
    usage, fallbacks = Usage(), []
    for idx, flt in batches:
        questions = [data.queries[i].question for i in idx]
        plans = [plan_query(transform, q, llm, mode=mode) for q in questions] if transform != "none" else []
        for plan in plans:
            usage = usage + plan.usage
            fallbacks.extend(plan.notes[:1])
        if reranker is None:
            if plans:
                rankings = searcher.rank_many(
                    [s for p in plans for s in p.queries],
                    mode=mode,
                    k=depth,
                    filters=flt,
                    embed=[e for p in plans for e in p.embed],
                )
                ranked: list[Sequence[str]] = []
                at = 0
                for p in plans:
                    mine, at = rankings[at : at + len(p.queries)], at + len(p.queries)
                    fused = rrf({str(j): r.ids for j, r in enumerate(mine)}, k=rrf_k)[0] if len(mine) > 1 else None
                    ranked.append(mine[0].ids if fused is None else fused[:depth])
            else:
                ranked = [r.ids for r in searcher.rank_many(questions, mode=mode, k=depth, filters=flt)]
            for i, ids in zip(idx, ranked, strict=True):
                retrieved[i] = [span_of[c] for c in ids if c in span_of]
        else:
            if plans:
                hits = [search_plan(searcher, p, mode=mode, k=depth, filters=flt) for p in plans]
            else:
                hits = searcher.search_many(questions, mode=mode, k=depth, filters=flt)
            for i, q, hs in zip(idx, questions, hits, strict=True):
                reranked = rerank_with_usage(reranker, q, hs, k=k)
                retrieved[i] = [Span(h.doc_id, h.start, h.end) for h in reranked.hits]
                usage = usage + reranked.usage
        done += len(idx)
        if progress:
            progress(done, len(order))
    scores: dict[str, list[float]] = {m: [] for m in SPAN_METRICS}
    for i in order:
        top = retrieved[i][:k]
        if data.queries[i].spans:
            m = span_metrics(top, gold_spans[i])
        else:
            m = doc_metrics([c.doc for c in top], sorted(gold_docs[i]))
        for name, value in m.as_dict().items():
            scores[name].append(value)
    notes = (f"{unresolved} queries name sources not found in the collection; they score 0",) if unresolved else ()
    if fallbacks:
        notes += (f"{len(fallbacks)} questions were searched without their {transform} rewrite: {fallbacks[0]}",)
    return SpanRun(
        tuple(q.qid for q in data.queries),
        tuple(q.group for q in data.queries),
        {m: tuple(v) for m, v in scores.items()},
        unresolved,
        notes,
        usage,
    )
