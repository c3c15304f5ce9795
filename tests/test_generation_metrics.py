"""Answer metrics kept apart from retrieval: faithfulness, context precision/recall, correctness, failure modes."""

from __future__ import annotations

import pytest

from kenning.evaluate.generation import exact_match, score_answer, summarise, token_f1, ynm_label
from kenning.types import Answer, Citation, Verdict


def _citation(number: int, chunk: str, *, cited: bool = True) -> Citation:
    return Citation(number, chunk, f"/s/{chunk}.md", "T", (), "text", cited=cited, rank=number)


def _answer(text: str, citations: list[Citation], labels: list[str], *, answerable: bool = True) -> Answer:
    verdicts = tuple(Verdict(f"claim {i}", label, "", "", "") for i, label in enumerate(labels))  # type: ignore[arg-type]
    return Answer("q?", text, tuple(citations), verdicts, "extractive", "extractive", answerable)


def test_reference_metrics_are_squad_normalised() -> None:
    assert exact_match("The Eiffel Tower!", "eiffel tower") == 1.0
    assert token_f1("the big red barn", "a red barn") == pytest.approx(0.8)
    assert token_f1("", "anything") == 0.0
    assert ynm_label("Yes — the trial showed it [1].") == "yes"
    assert ynm_label("It is unclear.") == ""


def test_a_supported_answer_citing_the_gold_is_ok() -> None:
    cits = [_citation(1, "g"), _citation(2, "o", cited=False)]
    s = score_answer("1", _answer("x [1]", cits, ["SUPPORT", "SUPPORT"]), {"g": 1}, "x", relevance=0.9)
    assert s.faithfulness == 1.0 and s.correctness == {"f1": 1.0, "exact_match": 1.0}
    assert s.context_precision == 1.0 and s.context_recall == 1.0 and s.gold_cited
    assert s.failure_mode == "ok"
    partly = score_answer("2", _answer("x [1]", cits, ["SUPPORT", "PARTIAL"]), {"g": 1}, "x", relevance=0.9)
    assert partly.faithfulness == 0.75  # PARTIAL counts one half, and a claim not fully supported is a failure
    assert partly.failure_mode == "generator_ignored_context"


def test_failure_modes_say_where_quality_was_lost() -> None:
    miss = score_answer("1", _answer("x [1]", [_citation(1, "o")], ["SUPPORT"]), {"g": 1}, None, 0.5)
    assert miss.failure_mode == "retrieval_miss" and miss.context_recall == 0.0 and miss.context_precision == 0.0

    ignored = score_answer(
        "2", _answer("x [2]", [_citation(1, "g"), _citation(2, "o")], ["NOT_SUPPORTED"]), {"g": 1}, None, 0.5
    )
    assert ignored.failure_mode == "generator_ignored_context" and ignored.faithfulness == 0.0

    split_gold = {"g1": 1, "g2": 1}
    split = score_answer("3", _answer("x [1]", [_citation(1, "g1")], ["NOT_SUPPORTED"]), split_gold, None, 0.5)
    assert split.failure_mode == "chunk_split" and split.context_recall == 0.5

    wrong = score_answer("4", _answer("No [1].", [_citation(1, "g")], ["SUPPORT"]), {"g": 1}, "yes", 0.5)
    assert wrong.correctness == {"ynm_accuracy": 0.0} and wrong.failure_mode == "generator_ignored_context"

    unknown = score_answer("5", _answer("not in the sources", [], [], answerable=False), None, None, 0.0)
    assert unknown.failure_mode == "no_gold" and unknown.faithfulness is None


def test_context_precision_is_average_precision_in_retrieval_order() -> None:
    cits = [_citation(1, "o1"), _citation(2, "g"), _citation(3, "o2"), _citation(4, "g2")]
    s = score_answer("1", _answer("x [2]", cits, ["SUPPORT"]), {"g": 1, "g2": 1}, None, 0.5)
    assert s.context_precision == pytest.approx((1 / 2 + 2 / 4) / 2)


def test_summary_has_means_with_intervals_and_counts_every_mode() -> None:
    scores = [
        score_answer("1", _answer("x [1]", [_citation(1, "g")], ["SUPPORT"]), {"g": 1}, None, 0.8),
        score_answer("2", _answer("x [1]", [_citation(1, "o")], ["NOT_SUPPORTED"]), {"g": 1}, None, 0.4),
    ]
    out = summarise(scores, seed=1)
    assert out["answers"] == 2 and out["failure_modes"]["ok"] == 1 and out["failure_modes"]["retrieval_miss"] == 1
    faith = out["metrics"]["faithfulness"]
    assert faith["mean"] == 0.5 and faith["low"] <= 0.5 <= faith["high"] and faith["n"] == 2
    assert summarise(scores, seed=1) == out  # seeded intervals reproduce
