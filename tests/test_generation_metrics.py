"""Answer metrics kept apart from retrieval: faithfulness, context precision/recall, correctness, failure modes."""

from __future__ import annotations

import pytest

from kenning.evaluate.generation import (
    exact_match,
    gold_documents,
    score_answer,
    summarise,
    token_f1,
    ynm_label,
)
from kenning.evaluate.qa import GoldSpan, QAItem
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


def test_an_abstention_counts_as_abstained_and_wrong_but_not_against_citations() -> None:
    gold = {"d1::0": 1}
    right = score_answer(
        "1", _answer("the entire table [1]", [_citation(1, "d1::2")], ["SUPPORT"]), gold, "the entire table", 0.9
    )
    elsewhere = score_answer(
        "2", _answer("a new file [1]", [_citation(1, "d9::0")], ["SUPPORT"]), gold, "the entire table", 0.5
    )
    declined = score_answer(
        "3",
        _answer("The sources do not contain the answer.", [_citation(1, "d1::0", cited=False)], [], answerable=False),
        gold,
        "the entire table",
        0.0,
    )
    # another chunk of a gold document counts for cites_gold (document level), not for gold_cited (chunk level)
    assert right.cites_gold is True and right.gold_cited is False and not right.abstained
    assert elsewhere.cites_gold is False
    assert declined.abstained and declined.cites_gold is False  # the closest sources are given, never cited
    assert declined.correctness == {"f1": 0.0, "exact_match": 0.0}
    m = summarise([right, elsewhere, declined], seed=0)["metrics"]
    assert m["abstention_rate"]["mean"] == pytest.approx(1 / 3) and m["abstention_rate"]["n"] == 3
    assert m["answered_rate"]["mean"] == pytest.approx(2 / 3)
    assert m["citations_include_gold"]["mean"] == 0.5 and m["citations_include_gold"]["n"] == 2  # answered only
    assert m["f1_answered"]["mean"] == 0.5 and m["f1_answered"]["n"] == 2
    assert m["f1_all"]["mean"] == pytest.approx(1 / 3) and m["f1_all"]["n"] == 3
    assert m["exact_match_all"]["n"] == 3 and "f1" not in m
    assert "abstained_on_unanswerable" not in m  # the set marks no question unanswerable


def test_gold_documents_come_from_ids_chunks_and_spans() -> None:
    item = QAItem(
        id="1",
        question="q?",
        gold_doc_ids=("a",),
        gold_chunk_ids=("b::4",),
        gold_spans=(GoldSpan(0, 5, doc_id="c"), GoldSpan(0, 5, source="/x.md")),
    )
    assert gold_documents(item, {"d::0": 1}) == {"a", "b", "c", "d"}
    s = score_answer("1", _answer("x [1]", [_citation(1, "c::7")], ["SUPPORT"]), None, None, 0.5, gold_docs={"c"})
    assert s.cites_gold is True and s.gold_cited is None  # no gold chunk in the collection, but a gold document
    none = score_answer("2", _answer("x [1]", [_citation(1, "c::7")], ["SUPPORT"]), None, None, 0.5)
    assert none.cites_gold is None


def test_abstention_is_scored_against_what_the_set_says_is_answerable() -> None:
    no_answer = _answer("The sources do not contain the answer.", [], [], answerable=False)
    scores = [
        score_answer("a1", _answer("x [1]", [_citation(1, "g")], ["SUPPORT"]), None, None, 0.5),
        score_answer("a2", no_answer, None, None, 0.0),
        score_answer("u1", no_answer, None, None, 0.0, item_answerable=False),
        score_answer("u2", _answer("y [1]", [_citation(1, "o")], ["PARTIAL"]), None, None, 0.5, item_answerable=False),
        score_answer("u3", no_answer, None, None, 0.0, item_answerable=False),
    ]
    out = summarise(scores, seed=0)
    m = out["metrics"]
    assert m["answered_on_answerable"]["mean"] == 0.5 and m["answered_on_answerable"]["n"] == 2
    assert m["abstained_on_unanswerable"]["mean"] == pytest.approx(2 / 3) and m["abstained_on_unanswerable"]["n"] == 3
    assert m["abstention_rate"]["mean"] == pytest.approx(3 / 5)
    assert out["answered"] == 2 and out["abstained"] == 3
    assert "citations_include_gold" not in m  # no item has gold
    assert [p["item_answerable"] for p in out["per_answer"]] == [True, True, False, False, False]
