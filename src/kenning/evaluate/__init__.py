"""Measure retrieval: BEIR datasets, trec_eval-exact metrics, TREC run and qrels files.

>>> from kenning.evaluate import evaluate_run
>>> evaluate_run({"q1": {"d1": 0.2, "d2": 0.7}}, {"q1": {"d1": 1}}, metrics=("mrr@10", "recall@1")).mean
{'mrr@10': 0.5, 'recall@1': 0.0}
"""

from __future__ import annotations

from .chroma import SpanEvalSet, evaluate_spans, load_chroma, span_eval_set
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
from .qa import RAGAS_COLUMNS, GoldSpan, QAItem, QASet
from .qa_eval import evaluate_qa, gold_qrels
from .report import compare_results, render_report, write_report
from .spans import Span, SpanMetrics, span_metrics
from .stats import ConfidenceInterval, PairedComparison, bootstrap_ci, bootstrap_cis, compare_runs, paired_test
from .sweep import SweepGrid, SweepResult, run_sweep
from .synth import SynthOptions, SynthSet, synthesize
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
    "GoldSpan",
    "QAItem",
    "QASet",
    "RAGAS_COLUMNS",
    "gold_qrels",
    "evaluate_qa",
    "synthesize",
    "SynthSet",
    "SynthOptions",
    "bootstrap_ci",
    "bootstrap_cis",
    "paired_test",
    "compare_runs",
    "ConfidenceInterval",
    "PairedComparison",
    "Span",
    "SpanMetrics",
    "span_metrics",
    "SpanEvalSet",
    "load_chroma",
    "span_eval_set",
    "evaluate_spans",
    "SweepGrid",
    "SweepResult",
    "run_sweep",
    "render_report",
    "write_report",
    "compare_results",
]
