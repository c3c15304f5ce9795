"""Measure retrieval: BEIR datasets, trec_eval-exact metrics, TREC run and qrels files.

>>> from kenning.evaluate import evaluate_run
>>> evaluate_run({"q1": {"d1": 0.2, "d2": 0.7}}, {"q1": {"d1": 1}}, metrics=("mrr@10", "recall@1")).mean
{'mrr@10': 0.5, 'recall@1': 0.0}
"""

from __future__ import annotations

from .datasets import BeirDataset, load_beir
from .metrics import (
    METRICS,
    Qrels,
    Run,
    RunScores,
    average_precision,
    evaluate_run,
    hit_rate_at_k,
    mrr_at_k,
    ndcg_at_k,
    precision_at_k,
    recall_at_k,
    trec_ranking,
)
from .trec import read_trec_qrels, read_trec_run, write_trec_run

__all__ = [
    "BeirDataset",
    "load_beir",
    "Run",
    "Qrels",
    "RunScores",
    "METRICS",
    "evaluate_run",
    "ndcg_at_k",
    "recall_at_k",
    "precision_at_k",
    "mrr_at_k",
    "hit_rate_at_k",
    "average_precision",
    "trec_ranking",
    "write_trec_run",
    "read_trec_run",
    "read_trec_qrels",
]
