"""Retrieval metrics over runs and qrels, computed the way trec_eval (and so pytrec_eval and BEIR) computes them.

A *run* maps ``qid -> {doc_id: score}``; *qrels* map ``qid -> {doc_id: grade}``. trec_eval's conventions, kept
exactly so every number here equals pytrec_eval's to 1e-6 (``tests/test_metrics.py`` checks it on random runs):

* Ranking: score descending, ties broken by doc id descending (string order, as trec_eval's ``strcmp``).
* Relevant means grade > 0 (trec_eval's default ``relevance_level`` 1); a 0 grade is judged non-relevant.
* nDCG gains are the grades themselves (negative grades count as 0); the ideal DCG ranks the query's judged
  documents by grade; discount ``1 / log2(rank + 1)``.
* Recall@k divides by all relevant documents; precision@k by k, even when fewer than k were retrieved;
  MAP@k sums precision at each relevant rank up to k and divides by all relevant documents.
* MRR@k is trec_eval's ``recip_rank`` on the run cut at k; hit@k (success@k, accuracy@k) is 1 if a relevant
  document is in the top k.

Which queries count: every query in the qrels gets a per-query value (0 when the run has no entry for it, or it has
no relevant document); run queries absent from the qrels are ignored, as pytrec_eval does. :func:`evaluate_run`
averages over the qrels queries with at least one relevant document: a query nothing could be found for says
nothing about the retriever. (BEIR averages over whatever pytrec_eval returns, i.e. run ∩ qrels; the two agree
whenever the run answers every query and every query has a relevant document, as in every BEIR test split.)

>>> run = {"q1": {"d1": 0.9, "d2": 0.8, "d3": 0.1}}
>>> qrels = {"q1": {"d2": 1, "d3": 0}}
>>> mrr_at_k(run, qrels, 10)
{'q1': 0.5}
>>> evaluate_run(run, qrels, metrics=("hit@1", "recall@2")).mean
{'hit@1': 0.0, 'recall@2': 1.0}
"""

from __future__ import annotations

import heapq
import math
import operator
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from ..errors import ConfigError, InputError

__all__ = [
    "Run",
    "Qrels",
    "RunScores",
    "METRICS",
    "trec_ranking",
    "ndcg_at_k",
    "recall_at_k",
    "precision_at_k",
    "mrr_at_k",
    "hit_rate_at_k",
    "average_precision",
    "evaluate_run",
]

Run = Mapping[str, Mapping[str, float]]
"""``qid -> {doc_id: score}``; higher scores rank first."""
Qrels = Mapping[str, Mapping[str, int]]
"""``qid -> {doc_id: grade}``; grade > 0 is relevant, 0 judged non-relevant."""


# ---------------------------------------------------------------------------------------------------- ranking


_BY_SCORE_THEN_ID = operator.itemgetter(1, 0)


def trec_ranking(scores: Mapping[str, float], depth: int | None = None) -> list[tuple[str, float]]:
    """``(doc_id, score)`` pairs in trec_eval's order: score descending, then doc id descending; the top ``depth``.

    >>> trec_ranking({"a": 1.0, "b": 2.0, "c": 1.0})
    [('b', 2.0), ('c', 1.0), ('a', 1.0)]
    """
    for doc, score in scores.items():
        if score != score:  # NaN: sorting would silently scramble the ranking
            raise InputError(f"score of document {doc!r} is NaN; every run score must be a number")
    if depth is not None and depth * 8 < len(scores):
        return heapq.nlargest(depth, scores.items(), key=_BY_SCORE_THEN_ID)
    ranked = sorted(scores.items(), key=_BY_SCORE_THEN_ID, reverse=True)
    return ranked if depth is None else ranked[:depth]


# ---------------------------------------------------------------------------------------------------- kernels


@dataclass(frozen=True, slots=True)
class _Judgments:
    """One query's qrels as the kernels need them."""

    grades: Mapping[str, int]
    relevant: int  # documents graded > 0
    ideal: tuple[int, ...]  # positive grades, best first


def _judgments(grades: Mapping[str, int]) -> _Judgments:
    positive = sorted((g for g in grades.values() if g > 0), reverse=True)
    return _Judgments(grades, len(positive), tuple(positive))


_DISCOUNT: list[float] = []


def _discounts(n: int) -> list[float]:
    """``1 / log2(rank + 1)`` for ranks 1..n (grown on demand, shared)."""
    while len(_DISCOUNT) < n:
        _DISCOUNT.append(1.0 / math.log2(len(_DISCOUNT) + 2))
    return _DISCOUNT


# A kernel scores one query: ``grades`` are the grades of the ranked documents (0 for unjudged), top first,
# already cut at the deepest k any requested metric needs; ``k`` is this metric's cut.
Kernel = Callable[[list[int], _Judgments, int], float]


def _ndcg(grades: list[int], judged: _Judgments, k: int) -> float:
    ideal = judged.ideal[:k]
    if not ideal:
        return 0.0
    top = grades[:k]
    disc = _discounts(max(len(top), len(ideal)))
    dcg = 0.0
    for i, g in enumerate(top):
        if g > 0:
            dcg += g * disc[i]
    idcg = 0.0
    for i, g in enumerate(ideal):
        idcg += g * disc[i]
    return dcg / idcg


def _recall(grades: list[int], judged: _Judgments, k: int) -> float:
    if judged.relevant == 0:
        return 0.0
    return sum(1 for g in grades[:k] if g > 0) / judged.relevant


def _precision(grades: list[int], judged: _Judgments, k: int) -> float:
    return sum(1 for g in grades[:k] if g > 0) / k


def _mrr(grades: list[int], judged: _Judgments, k: int) -> float:
    for i, g in enumerate(grades[:k]):
        if g > 0:
            return 1.0 / (i + 1)
    return 0.0


def _hit(grades: list[int], judged: _Judgments, k: int) -> float:
    return 1.0 if any(g > 0 for g in grades[:k]) else 0.0


def _ap(grades: list[int], judged: _Judgments, k: int) -> float:
    if judged.relevant == 0:
        return 0.0
    found = 0
    total = 0.0
    for i, g in enumerate(grades[:k]):
        if g > 0:
            found += 1
            total += found / (i + 1)
    return total / judged.relevant


_KERNELS: dict[str, Kernel] = {
    "ndcg": _ndcg,
    "recall": _recall,
    "precision": _precision,
    "mrr": _mrr,
    "hit": _hit,
    "map": _ap,
}
_ALIASES = {"p": "precision", "success": "hit", "accuracy": "hit"}

METRICS: tuple[str, ...] = tuple(f"{name}@k" for name in _KERNELS)
"""The metric names :func:`evaluate_run` understands, each cut at a positive integer k, e.g. ``"ndcg@10"``."""

_NAME = re.compile(r"^\s*([a-z_]+)\s*@\s*(\S+)\s*$")


def _parse(name: str) -> tuple[Kernel, int]:
    match = _NAME.match(name.lower()) if isinstance(name, str) else None
    kind = _ALIASES.get(match.group(1), match.group(1)) if match else None
    if match is None or kind not in _KERNELS:
        raise ConfigError(
            f"unknown metric {name!r}; known metrics are {', '.join(METRICS)} with k a positive integer, "
            f"e.g. 'ndcg@10' (aliases: p@k, success@k, accuracy@k)"
        )
    k = match.group(2)
    if not (k.isascii() and k.isdigit()) or int(k) <= 0:
        raise ConfigError(f"metric {name!r}: k must be a positive integer, got {k!r}")
    return _KERNELS[kind], int(k)


def _check_k(k: object) -> int:
    try:
        value = operator.index(k)  # type: ignore[arg-type]
    except TypeError:
        value = 0
    if isinstance(k, bool) or value <= 0:
        raise ConfigError(f"k must be a positive integer, got {k!r}")
    return value


# ---------------------------------------------------------------------------------------------------- driver


def _per_query(
    run: Run, qrels: Qrels, specs: Sequence[tuple[str, Kernel, int]], *, ignore_identical_ids: bool = False
) -> dict[str, dict[str, float]]:
    """``qid -> {name: value}`` for every query in ``qrels``; each query is ranked once, to the deepest cut."""
    depth = max((k for _, _, k in specs), default=0)
    out: dict[str, dict[str, float]] = {}
    for qid, grades_of in qrels.items():
        judged = _judgments(grades_of)
        scores = run.get(qid)
        if not scores:
            grades: list[int] = []
        else:
            if ignore_identical_ids and qid in scores:
                scores = {doc: s for doc, s in scores.items() if doc != qid}
            try:
                ranked = trec_ranking(scores, None if depth >= sys.maxsize else depth)
            except InputError as exc:
                raise InputError(f"run for query {qid!r}: {exc}") from None
            get = grades_of.get
            grades = [get(doc, 0) for doc, _ in ranked]
        out[qid] = {name: kernel(grades, judged, k) for name, kernel, k in specs}
    return out


def _single(run: Run, qrels: Qrels, kind: str, k: int | None, label: str) -> dict[str, float]:
    cut = sys.maxsize if k is None and kind == "map" else _check_k(k)
    values = _per_query(run, qrels, [(label, _KERNELS[kind], cut)])
    return {qid: v[label] for qid, v in values.items()}


def ndcg_at_k(run: Run, qrels: Qrels, k: int) -> dict[str, float]:
    """nDCG@k per qrels query (trec_eval ``ndcg_cut_k``): graded gains, ideal from the judged documents.

    >>> ndcg_at_k({"q": {"a": 2.0, "b": 1.0}}, {"q": {"a": 1, "b": 2}}, 2)
    {'q': 0.8597186998521972}
    """
    return _single(run, qrels, "ndcg", k, f"ndcg@{k}")


def recall_at_k(run: Run, qrels: Qrels, k: int) -> dict[str, float]:
    """Relevant documents in the top k over all relevant documents, per qrels query (trec_eval ``recall_k``).

    >>> recall_at_k({"q": {"a": 2.0, "b": 1.0}}, {"q": {"b": 1, "c": 1}}, 1)
    {'q': 0.0}
    """
    return _single(run, qrels, "recall", k, f"recall@{k}")


def precision_at_k(run: Run, qrels: Qrels, k: int) -> dict[str, float]:
    """Relevant documents in the top k over k, per qrels query (trec_eval ``P_k``).

    >>> precision_at_k({"q": {"a": 2.0, "b": 1.0}}, {"q": {"b": 1}}, 5)
    {'q': 0.2}
    """
    return _single(run, qrels, "precision", k, f"precision@{k}")


def mrr_at_k(run: Run, qrels: Qrels, k: int) -> dict[str, float]:
    """1 / rank of the first relevant document in the top k, else 0, per qrels query.

    >>> mrr_at_k({"q": {"a": 2.0, "b": 1.0}}, {"q": {"b": 1}}, 1)
    {'q': 0.0}
    """
    return _single(run, qrels, "mrr", k, f"mrr@{k}")


def hit_rate_at_k(run: Run, qrels: Qrels, k: int) -> dict[str, float]:
    """1 if a relevant document is in the top k, else 0, per qrels query (trec_eval ``success_k``).

    >>> hit_rate_at_k({"q": {"a": 2.0, "b": 1.0}}, {"q": {"b": 1}}, 2)
    {'q': 1.0}
    """
    return _single(run, qrels, "hit", k, f"hit@{k}")


def average_precision(run: Run, qrels: Qrels, k: int | None = None) -> dict[str, float]:
    """Average precision per qrels query, over the top k (trec_eval ``map_cut_k``) or the whole ranking (``map``).

    >>> average_precision({"q": {"a": 3.0, "b": 2.0, "c": 1.0}}, {"q": {"b": 1, "c": 1}})
    {'q': 0.5833333333333333}
    """
    return _single(run, qrels, "map", k, "map" if k is None else f"map@{k}")


# ---------------------------------------------------------------------------------------------------- evaluate_run


@dataclass(frozen=True, slots=True)
class RunScores:
    """The scores of one run against one set of qrels.

    ``per_query[qid][metric]`` holds a value for every query in the qrels; ``mean[metric]`` averages over
    ``queries``, the qrels queries with at least one relevant document. ``missing`` lists those of them the run
    has no results for (each scored 0) and ``ignored`` the run's queries that are not in the qrels — a long
    ``ignored`` with a long ``missing`` usually means the run and the qrels use different query ids.

    >>> s = evaluate_run({"q1": {"d1": 1.0}, "zz": {}}, {"q1": {"d1": 1}, "q2": {"d9": 2}}, metrics=("mrr@10",))
    >>> s.mean, s.missing, s.ignored
    ({'mrr@10': 0.5}, ('q2',), ('zz',))
    """

    per_query: dict[str, dict[str, float]]
    mean: dict[str, float]
    queries: tuple[str, ...]
    missing: tuple[str, ...] = ()
    ignored: tuple[str, ...] = ()


def evaluate_run(
    run: Run,
    qrels: Qrels,
    metrics: Sequence[str] = ("ndcg@10", "recall@10", "recall@100", "mrr@10"),
    *,
    ignore_identical_ids: bool = False,
) -> RunScores:
    """Score ``run`` against ``qrels`` on each named metric (see :data:`METRICS`); keys are the names as given.

    ``ignore_identical_ids`` drops a document whose id equals the query id from that query's ranking, as BEIR's
    ``EvaluateRetrieval.evaluate`` does by default (it matters on ArguAna and Quora, where queries are also
    documents); off by default, so the numbers are pytrec_eval's on the run as given.

    >>> evaluate_run({"q": {"a": 1.0, "b": 0.5}}, {"q": {"b": 1}}, metrics=("ndcg@10", "p@1")).mean
    {'ndcg@10': 0.6309297535714575, 'p@1': 0.0}
    """
    if isinstance(metrics, str):
        metrics = (metrics,)
    if not metrics:
        raise ConfigError("metrics is empty; name at least one, e.g. ('ndcg@10',)")
    specs = [(name, *_parse(name)) for name in metrics]
    per_query = _per_query(run, qrels, specs, ignore_identical_ids=ignore_identical_ids)
    queries = tuple(qid for qid, grades in qrels.items() if any(g > 0 for g in grades.values()))
    if not queries:
        raise InputError(
            f"the qrels ({len(qrels)} queries) have no query with a relevant document (grade > 0), "
            "so there is nothing to average; check that the right qrels file was loaded"
        )
    mean = {name: math.fsum(per_query[qid][name] for qid in queries) / len(queries) for name in metrics}
    return RunScores(
        per_query=per_query,
        mean=mean,
        queries=queries,
        missing=tuple(qid for qid in queries if not run.get(qid)),
        ignored=tuple(qid for qid in run if qid not in qrels),
    )
