"""Abstention: say "not in the sources" when the retrieved chunks do not answer the question.

Two signals are read before anything is generated, both cheap and both on a scale that does not depend on the
corpus:

- ``similarity``: the best cosine between the question and a source sentence read with its subject
  (:mod:`.sentences`); off-topic questions stay low.
- ``coverage``: the share of the question's words, weighted by their IDF in the collection, that the top sources
  contain; a near-topic question whose specific words (a name, a parameter, a drug) occur nowhere in the top chunks
  scores low even when the topic matches.

A logistic model turns them into the probability that the sources answer the question; below ``threshold`` kenning
abstains without calling the generator. The weights were fitted by ``bench/abstention.py`` on questions kenning can
see (SciFact train queries against SciFact with and without their gold abstracts, and against the PostgreSQL manual),
and are checked there on other sets (Python FAQ, PubMedQA). After drafting, the generator's own "not in the sources"
and a draft with no supported claim also end in abstention (:func:`after_draft`).

>>> model = AbstentionModel(weights=(10.0, 4.0), bias=-7.0, threshold=0.5)
>>> round(model.probability(Signals(similarity=0.62, coverage=0.9)), 3)
0.943
>>> model.abstains(Signals(similarity=0.15, coverage=0.2))
True
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from ..types import Hit, Verdict

__all__ = ["Signals", "AbstentionModel", "DEFAULT_ABSTENTION", "term_coverage", "after_draft"]


@dataclass(frozen=True, slots=True)
class Signals:
    """What retrieval says about answerability, before any text is generated."""

    similarity: float
    coverage: float


@dataclass(frozen=True, slots=True)
class AbstentionModel:
    """``P(answerable) = sigmoid(w · (similarity, coverage) + bias)``; abstain below ``threshold``."""

    weights: tuple[float, float]
    bias: float
    threshold: float
    fitted_on: str = ""

    def probability(self, signals: Signals) -> float:
        z = self.weights[0] * signals.similarity + self.weights[1] * signals.coverage + self.bias
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))

    def abstains(self, signals: Signals) -> bool:
        return self.probability(signals) < self.threshold


# Fitted by `python bench/abstention.py` on 200 SciFact train questions (answerable against SciFact; unanswerable with
# their gold abstracts removed, or asked of the PostgreSQL manual), threshold at 93 % answered; see bench/README.md.
DEFAULT_ABSTENTION = AbstentionModel(
    weights=(5.444, 2.067),
    bias=-4.455,
    threshold=0.313,
    fitted_on="SciFact train, bench/abstention.py, 2026-11-26",
)


def term_coverage(
    weights: Mapping[str, float], hits: Sequence[Hit], tokenize: Callable[[str], Iterable[str]], *, top: int = 3
) -> float:
    """IDF-weighted share of the question's tokens (``weights``: token → IDF) found in the ``top`` best hits."""
    total = sum(weights.values())
    if total <= 0:
        return 0.0
    best = sorted(hits, key=lambda h: h.rank)[:top]
    seen: set[str] = set()
    for hit in best:
        seen.update(tokenize(hit.text))
        seen.update(tokenize(" ".join((hit.title, *hit.heading_path))))
    return sum(w for t, w in weights.items() if t in seen) / total


def after_draft(generator_abstained: bool, verdicts: Sequence[Verdict]) -> str | None:
    """Why a drafted answer should become "not in the sources", or None to keep it.

    A draft whose every claim the verifier finds NOT_SUPPORTED rests on nothing in the sources. One with PARTIAL
    claims is kept, each claim showing its verdict: on PubMedQA and the Python FAQ, abstaining also on "no SUPPORT"
    declined a third of the answerable questions, because offline verifiers rarely give SUPPORT to a paraphrase.
    """
    if generator_abstained:
        return "the generator found no answer in the sources"
    if verdicts and all(v.label == "NOT_SUPPORTED" for v in verdicts):
        return "the verifier found none of the draft's claims in the sources"
    return None
