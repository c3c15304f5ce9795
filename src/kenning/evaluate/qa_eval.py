"""Score a collection's retrieval on a QA set: its gold resolved to this collection's chunks, as qrels.

A QA item's gold is resolved, in order of preference, from its ``gold_spans`` (every chunk of the named document
whose ``[start, end)`` shares a character with a span: this holds for any chunking of the same documents), else its
``gold_chunk_ids`` (those present in the collection), else its ``gold_doc_ids`` (every chunk of those documents).
Each such chunk is relevant (grade 1). ``hit@10`` is then "a top-10 chunk overlaps the gold", the recall of the gold
passage; ``recall@10`` is the share of the overlapping chunks found, which differs from it only when a span covers
several chunks.

>>> from kenning.evaluate.qa import QAItem, QASet
>>> scores = evaluate_qa(searcher, QASet((QAItem(id="1", question="vacuum"),)))   # doctest: +SKIP
>>> scores.mean["hit@10"]                                                         # doctest: +SKIP
1.0
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..errors import InputError
from ..store.base import StoreCatalog
from .metrics import RunScores, evaluate_run
from .qa import QASet

__all__ = ["gold_qrels", "evaluate_qa", "QA_METRICS"]

QA_METRICS = ("hit@10", "mrr@10", "recall@10")


def gold_qrels(qa: QASet, catalog: StoreCatalog) -> dict[str, dict[str, int]]:
    """``qid -> {chunk_id: 1}`` for the chunks of ``catalog`` that hold each item's gold (see the module doc).

    Items whose gold is not in this collection get an empty judgment (they count as unanswerable and are left out
    of the means by :func:`~kenning.evaluate.metrics.evaluate_run`).
    """
    doc_of_source = {s: d for d, sources in catalog.document_sources().items() for s in sources}
    wanted = {g.doc_id or doc_of_source.get(g.source, "") for item in qa for g in item.gold_spans}
    wanted.update(d for item in qa if not item.gold_spans and not item.gold_chunk_ids for d in item.gold_doc_ids)
    chunks_of: dict[str, list[tuple[str, int, int]]] = {}
    for span in catalog.chunk_spans(sorted(wanted - {""})):
        chunks_of.setdefault(span.doc_id, []).append((span.chunk_id, span.start, span.end))

    def chunks(doc_id: str) -> list[tuple[str, int, int]]:
        return chunks_of.get(doc_id, [])

    qrels: dict[str, dict[str, int]] = {}
    for item in qa:
        gold: dict[str, int] = {}
        if item.gold_spans:
            for span in item.gold_spans:
                doc_id = span.doc_id or doc_of_source.get(span.source, "")
                if not doc_id and span.source:
                    continue
                for chunk_id, start, end in chunks(doc_id):
                    if span.overlaps(start, end):
                        gold[chunk_id] = 1
        elif item.gold_chunk_ids:
            have = catalog.chunk_rows(list(item.gold_chunk_ids), by="chunk_id")
            gold = {c: 1 for c in item.gold_chunk_ids if c in have}
        else:
            for doc_id in item.gold_doc_ids:
                gold.update({c: 1 for c, _, _ in chunks(doc_id)})
        qrels[item.id] = gold
    return qrels


def evaluate_qa(
    searcher: Any,
    qa: QASet,
    *,
    mode: str | None = None,
    metrics: Sequence[str] = QA_METRICS,
    depth: int | None = None,
    batch: int = 64,
    progress: Callable[[str, int, int | None], None] | None = None,
) -> RunScores:
    """Rank chunks for every question with ``searcher`` (a :class:`~kenning.retrieve.Searcher`) and score them.

    ``depth`` chunks are ranked per question (default: the deepest metric cut). Raises
    :class:`~kenning.errors.InputError` when no item's gold is in the collection.
    """
    collection = searcher.store
    qrels = gold_qrels(qa, collection.catalog)
    if not any(qrels.values()):
        raise InputError(
            f"none of the {len(qa)} questions has its gold in collection {collection.name!r}; "
            "was the QA set built from other documents?"
        )
    if depth is None:
        depth = max(int(str(m).rsplit("@", 1)[1]) for m in metrics)
    ids = list(qa.ids)
    texts = [item.question for item in qa]
    run: dict[str, dict[str, float]] = {}
    label = mode or searcher.config.mode
    for start in range(0, len(ids), batch):
        rankings = searcher.rank_many(texts[start : start + batch], mode=mode, k=depth)
        for qid, ranking in zip(ids[start : start + batch], rankings, strict=True):
            # strictly decreasing scores in kenning's rank order, so the metrics score exactly this ranking
            run[qid] = {c: float(len(ranking.ids) - r) for r, c in enumerate(ranking.ids)}
        if progress:
            progress(label, min(start + batch, len(ids)), len(ids))
    return evaluate_run(run, qrels, metrics=tuple(metrics))
