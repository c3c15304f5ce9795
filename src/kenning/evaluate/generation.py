"""Answer quality, measured apart from retrieval: faithfulness, answer relevance, context precision and recall,
reference-based correctness, abstention, gold among the citations, and a failure mode for every answer.

For each question of a QA set, :func:`evaluate_answers` asks the engine (LLM or extractive, with the verifier on)
and scores the answer:

- **faithfulness**: the share of the answer's claims the verifier judged SUPPORT (PARTIAL counts one half); None
  when the answer makes no claim ("not in the sources").
- **answer relevance**: cosine similarity of the question and the answer under the collection's embedder (ragas asks
  an LLM to write questions back from the answer; this offline proxy needs no model call).
- **context precision**: of the chunks given to the generator, ranked by retrieval, the average precision of the
  ones holding the gold (ragas' definition when gold is known); **context recall**: the share of gold chunks given.
  Both need gold (``gold_spans`` / ``gold_chunk_ids`` / ``gold_doc_ids``), resolved to this collection's chunks.
- **correctness**, when a reference answer exists: yes / no / maybe accuracy when the reference is one of those
  words (PubMedQA), else token F1 and, for short references (≤ 8 words), exact match, SQuAD-normalised. An
  abstention ("not in the sources") scores 0. The summary reports each twice: ``<metric>_answered`` over the
  answers kenning gave, ``<metric>_all`` over every question with a reference (abstentions count as wrong).
- **abstention**: ``abstained`` when kenning declined (``Answer.answerable`` is False); the summary's
  ``abstention_rate`` and ``answered_rate`` are over all questions. When the set marks some questions
  ``answerable: false``, ``abstained_on_unanswerable`` and ``answered_on_answerable`` say whether kenning declined
  the right ones.
- **citations include the gold**: ``cites_gold``, whether a cited source (not one merely given) is a chunk of a
  gold document; the summary's ``citations_include_gold`` is over the answered questions that have gold. It is
  looser than ``gold_cited``, which needs the cited chunk itself to hold the gold.
- **failure mode**: ``retrieval_miss`` (no gold chunk among those given), ``chunk_split`` (the gold spans several
  chunks and only some were given, and the answer failed), ``generator_ignored_context`` (the gold was given but
  the answer did not use it: unsupported claims, no citation of a gold chunk, "not in the sources", or a wrong
  reference answer), or ``ok``; ``no_gold`` when the item has none.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..types import Answer
from .qa import QAItem, QASet
from .qa_eval import gold_qrels
from .stats import bootstrap_ci

__all__ = [
    "AnswerScore",
    "evaluate_answers",
    "score_answer",
    "summarise",
    "gold_documents",
    "FAILURE_MODES",
    "token_f1",
    "exact_match",
    "ynm_label",
]

FAILURE_MODES = ("retrieval_miss", "chunk_split", "generator_ignored_context", "ok", "no_gold")
_YNM = re.compile(r"\b(yes|no|maybe)\b", re.I)
_WEIGHT = {"SUPPORT": 1.0, "PARTIAL": 0.5, "NOT_SUPPORTED": 0.0}


@dataclass(frozen=True, slots=True)
class AnswerScore:
    id: str
    question: str
    answer: str
    answerable: bool
    claims: int
    faithfulness: float | None
    answer_relevance: float
    context_precision: float | None
    context_recall: float | None
    gold_cited: bool | None
    correctness: dict[str, float]
    failure_mode: str
    seconds: float
    abstained: bool = False
    cites_gold: bool | None = None
    item_answerable: bool = True  # what the QA set says: False when the documents do not answer the question
    mode: str = ""
    model: str = ""


def _normalise(text: str) -> list[str]:
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return text.split()


def token_f1(prediction: str, reference: str) -> float:
    """SQuAD token F1 after lower-casing, dropping punctuation and articles."""
    pred, ref = _normalise(prediction), _normalise(reference)
    common = Counter(pred) & Counter(ref)
    overlap = sum(common.values())
    if not pred or not ref or not overlap:
        return float(pred == ref)
    precision, recall = overlap / len(pred), overlap / len(ref)
    return 2 * precision * recall / (precision + recall)


def exact_match(prediction: str, reference: str) -> float:
    return float(_normalise(prediction) == _normalise(reference))


def ynm_label(text: str) -> str:
    """The first yes / no / maybe in an answer ("" when none)."""
    m = _YNM.search(text)
    return m.group(1).lower() if m else ""


def _correctness(answer: str, reference: str | None) -> dict[str, float]:
    if not reference:
        return {}
    ref = reference.strip()
    if ref.lower() in ("yes", "no", "maybe"):
        return {"ynm_accuracy": float(ynm_label(answer) == ref.lower())}
    plain = re.sub(r"\s*\[\d+\]", "", answer)
    out = {"f1": token_f1(plain, ref)}
    if len(ref.split()) <= 8:
        out["exact_match"] = exact_match(plain, ref)
    return out


def _average_precision(relevant_by_rank: list[bool]) -> float | None:
    hits, total = 0, 0.0
    for i, rel in enumerate(relevant_by_rank, start=1):
        if rel:
            hits += 1
            total += hits / i
    return total / hits if hits else 0.0


def _doc_of(chunk_id: str) -> str:
    """The document a chunk id names (chunk ids are ``doc_id::index``)."""
    return chunk_id.rsplit("::", 1)[0]


def gold_documents(item: QAItem, gold: Collection[str] = ()) -> frozenset[str]:
    """The documents holding ``item``'s gold: its ``gold_doc_ids``, the documents of its gold chunk ids and spans,
    and those of ``gold`` (its gold resolved to a collection's chunks, which is how spans named by source count).

    >>> gold_documents(QAItem(id="1", question="q?", gold_chunk_ids=("ab::3",)), {"cd::0": 1}) == {"ab", "cd"}
    True
    """
    docs = set(item.gold_doc_ids) | {span.doc_id for span in item.gold_spans if span.doc_id}
    docs.update(_doc_of(c) for c in (*item.gold_chunk_ids, *gold))
    return frozenset(docs)


def score_answer(
    item_id: str,
    answer: Answer,
    gold: dict[str, int] | None,
    reference: str | None,
    relevance: float,
    *,
    gold_docs: Collection[str] | None = None,
    item_answerable: bool = True,
) -> AnswerScore:
    """Score one answer. ``gold`` holds the gold chunks in this collection; ``gold_docs`` the gold documents (default:
    those of ``gold``); ``item_answerable`` is what the QA set says about the question."""
    weights = [_WEIGHT[v.label] for v in answer.verdicts]
    faithfulness = float(np.mean(weights)) if weights else None
    given = sorted(answer.citations, key=lambda c: c.rank or c.number)
    correctness = _correctness(answer.text, reference)
    if not answer.answerable:  # "not in the sources" is no answer to a question that has one
        correctness = {name: 0.0 for name in correctness}
    docs = set(gold_docs) if gold_docs is not None else {_doc_of(c) for c in gold or ()}
    cites_gold = any(c.cited and _doc_of(c.chunk_id) in docs for c in answer.citations) if docs else None
    wrong = any(v < 0.5 for k, v in correctness.items() if k in ("ynm_accuracy", "exact_match")) or (
        "exact_match" not in correctness and correctness.get("f1", 1.0) < 0.2
    )
    failed = not answer.answerable or (faithfulness is not None and faithfulness < 1.0) or wrong
    if not gold:
        precision = recall = None
        gold_cited = None
        mode = "no_gold"
    else:
        relevant = [c.chunk_id in gold for c in given]
        precision = _average_precision(relevant)
        found = {c.chunk_id for c in given} & set(gold)
        recall = len(found) / len(gold)
        gold_cited = any(c.cited and c.chunk_id in gold for c in answer.citations)
        if not found:
            mode = "retrieval_miss"
        elif len(found) < len(gold) and (failed or not gold_cited):
            mode = "chunk_split"
        elif failed or not gold_cited:
            mode = "generator_ignored_context"
        else:
            mode = "ok"
    return AnswerScore(
        id=item_id,
        question=answer.question,
        answer=answer.text,
        answerable=answer.answerable,
        claims=len(answer.verdicts),
        faithfulness=faithfulness,
        answer_relevance=relevance,
        context_precision=precision,
        context_recall=recall,
        gold_cited=gold_cited,
        correctness=correctness,
        failure_mode=mode,
        seconds=answer.seconds,
        abstained=not answer.answerable,
        cites_gold=cites_gold,
        item_answerable=item_answerable,
        mode=answer.mode,
        model=answer.model,
    )


def evaluate_answers(
    engine: Any,
    qa: QASet,
    *,
    ask: Callable[[str], Answer] | None = None,
    progress: Callable[[str, int, int | None], None] | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Ask every question of ``qa`` and score the answers; returns the JSON-ready result (per answer and means)."""
    ask = ask or (lambda q: engine.ask(q))
    qrels = gold_qrels(qa, engine.collection().catalog)
    scores: list[AnswerScore] = []
    for i, item in enumerate(qa, start=1):
        answer = ask(item.question)
        vecs = engine.embedder.embed([item.question, answer.text])
        relevance = float(vecs[0] @ vecs[1]) if answer.answerable else 0.0
        gold = qrels.get(item.id) or None
        scores.append(
            score_answer(
                item.id,
                answer,
                gold,
                item.answer,
                relevance,
                gold_docs=gold_documents(item, gold or ()),
                item_answerable=item.answerable,
            )
        )
        if progress:
            progress("answering", i, len(qa))
    return summarise(scores, seed=seed)


def summarise(scores: Sequence[AnswerScore], *, seed: int = 0) -> dict[str, Any]:
    """Means (with 95 % bootstrap intervals) over the answers that have each metric, and failure-mode counts.

    Correctness appears as ``<metric>_answered`` (over the answers given) and ``<metric>_all`` (over every question
    with a reference, abstentions scoring 0); ``citations_include_gold`` is over the answered questions with gold;
    ``abstained_on_unanswerable`` / ``answered_on_answerable`` appear when the set marks a question unanswerable.
    """
    metrics: dict[str, dict[str, float]] = {}
    columns: dict[str, dict[str, float]] = {}
    flagged = any(not s.item_answerable for s in scores)
    for s in scores:
        values: dict[str, float | bool | None] = {
            "faithfulness": s.faithfulness,
            "answer_relevance": s.answer_relevance,
            "context_precision": s.context_precision,
            "context_recall": s.context_recall,
            "abstention_rate": s.abstained,
            "answered_rate": not s.abstained,
            "citations_include_gold": None if s.abstained else s.cites_gold,
            **{f"{name}_all": value for name, value in s.correctness.items()},
        }
        if not s.abstained:
            values.update({f"{name}_answered": value for name, value in s.correctness.items()})
        if flagged and s.item_answerable:
            values["answered_on_answerable"] = not s.abstained
        elif flagged:
            values["abstained_on_unanswerable"] = s.abstained
        for name, value in values.items():
            if value is not None:
                columns.setdefault(name, {})[s.id] = float(value)
    for name, per_query in sorted(columns.items()):
        ci = bootstrap_ci(per_query, resamples=2000, seed=seed)
        metrics[name] = {"mean": ci.mean, "low": ci.low, "high": ci.high, "n": ci.n}
    modes = Counter(s.failure_mode for s in scores)
    return {
        "answers": len(scores),
        "answered": sum(s.answerable for s in scores),
        "abstained": sum(s.abstained for s in scores),
        "models": dict(Counter(s.model for s in scores)),
        "metrics": metrics,
        "failure_modes": {m: modes.get(m, 0) for m in FAILURE_MODES},
        "per_answer": [asdict(s) for s in scores],
    }
