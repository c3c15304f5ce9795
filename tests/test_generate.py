"""Answer generation pieces: packing order and budget, citation resolution, claims, extractive answers, policies."""

from __future__ import annotations

import pytest

from kenning.chunking import get_tokenizer
from kenning.generate import lost_in_the_middle_order, pack, resolve_citations
from kenning.generate.extractive import ExtractiveAnswerer
from kenning.generate.prompts import NOT_IN_SOURCES_ANSWER, answer_messages
from kenning.types import Verdict
from kenning.verify import claims_or_whole, split_claims
from kenning.verify.policy import strip_unsupported

from .factories import make_hit


def test_lost_in_the_middle_puts_the_best_at_both_ends() -> None:
    assert lost_in_the_middle_order([1, 2, 3, 4, 5, 6]) == [1, 3, 5, 6, 4, 2]
    assert lost_in_the_middle_order([1]) == [1] and lost_in_the_middle_order([]) == []


def test_pack_respects_the_budget_and_keeps_the_best() -> None:
    tok = get_tokenizer()
    hits = [
        make_hit(1, "alpha " * 100),
        make_hit(2, "beta " * 500),
        make_hit(3, "gamma " * 50),
        make_hit(4, "delta " * 50),
    ]
    packed = pack(hits, budget_tokens=260)
    assert [h.rank for h in packed] == [1, 4, 3]  # rank 2 does not fit; 1 first, 3 last…
    assert sum(tok.count(h.text) for h in packed) <= 260
    assert pack([], budget_tokens=100) == []


def test_prompt_numbers_sources_and_demands_citations() -> None:
    msgs = answer_messages("What is alpha?", [make_hit(1, "Alpha is a letter."), make_hit(2, "Beta follows alpha.")])
    assert msgs[0].role == "system" and "[1]" in msgs[0].content and NOT_IN_SOURCES_ANSWER in msgs[0].content
    assert "[1] T › H1\n<document>\nAlpha is a letter.\n</document>" in msgs[1].content
    assert "[2] T › H2\n<document>" in msgs[1].content and "untrusted" in msgs[0].content
    assert msgs[1].content.rstrip().endswith("Answer with citations:")


@pytest.mark.parametrize(
    ("text", "n", "expected", "cited", "invalid"),
    [
        ("A [1]. B [2].", 2, "A [1]. B [2].", {1, 2}, ()),
        ("A [7].", 4, "A.", set(), (7,)),
        ("A [1, 3] and [2-4].", 3, "A [1][3] and [2][3].", {1, 2, 3}, (4,)),
        ("A [0] [1].", 1, "A [1].", {1}, (0,)),
        ("No citations here.", 3, "No citations here.", set(), ()),
    ],
)
def test_resolve_citations(text: str, n: int, expected: str, cited: set[int], invalid: tuple[int, ...]) -> None:
    assert resolve_citations(text, n_sources=n) == (expected, cited, invalid)


def test_claims_keep_positions_and_citations() -> None:
    answer = "VACUUM FULL rewrites the table [1]. It needs an exclusive lock [2][3]; plain VACUUM does not.\nWhy?"
    claims = split_claims(answer)
    assert [c.text for c in claims] == [
        "VACUUM FULL rewrites the table.",
        "It needs an exclusive lock.",
        "plain VACUUM does not.",
    ]
    assert [c.citations for c in claims] == [(1,), (2, 3), ()]
    assert answer[claims[0].start : claims[0].end] == "VACUUM FULL rewrites the table [1]."
    assert claims_or_whole("A single claim without punctuation")[0].text == "A single claim without punctuation."
    assert claims_or_whole(NOT_IN_SOURCES_ANSWER) == []


def test_strip_policy_removes_only_unsupported_claims() -> None:
    text = "Kept claim [1]. Invented claim [2]. Another kept one [1]."
    claims = split_claims(text)
    verdicts = [
        Verdict(c.text, "NOT_SUPPORTED" if "Invented" in c.text else "SUPPORT", "", "", "", c.start, c.end)
        for c in claims
    ]
    assert strip_unsupported(text, verdicts) == "Kept claim [1]. Another kept one [1]."


def test_extractive_answer_cites_the_sentences_it_uses(embedder) -> None:
    hits = [
        make_hit(
            1, "VACUUM FULL rewrites the entire table into a new disk file. It requires an exclusive lock on the table."
        ),
        make_hit(2, "Tomatoes grow best in full sun with regular watering and support from stakes."),
        make_hit(3, "Plain VACUUM reclaims space for reuse within the same table and does not lock it exclusively."),
    ]
    packed = pack(hits)
    result = ExtractiveAnswerer(embedder).answer("What does VACUUM FULL do to the table?", packed)
    number_of = {h.chunk_id: i for i, h in enumerate(packed, start=1)}
    assert f"[{number_of['d1::0']}]" in result.text and number_of["d2::0"] not in result.cited
    for claim in split_claims(result.text):  # a verbatim source sentence, after its subject when it needs one
        (n,) = claim.citations
        assert claim.text.rstrip(".").split(": ", 1)[-1] in packed[n - 1].text
    off_topic = ExtractiveAnswerer(embedder).answer("Who won the 1998 football world cup?", packed)
    assert off_topic.text == NOT_IN_SOURCES_ANSWER and off_topic.cited == frozenset()
