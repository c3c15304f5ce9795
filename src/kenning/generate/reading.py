"""Reading the retrieved sources against a question, once, for every use that follows.

:func:`read_sources` splits the packed sources into sentences with their subjects (:mod:`.sentences`), embeds them
with the subject in front and scores each against the question. The extractive answerer picks from these scores,
abstention reads the best similarity from them, and :func:`focus` trims each source to its best passage so that a
small local model reads a short prompt (citations still point to the chunk, and the passage's offsets are exact).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..chunking import get_tokenizer
from ..providers.embedders import Embedder
from ..types import Hit
from .sentences import Sentence, key_terms, mentions, source_sentences, with_subject

__all__ = ["Reading", "read_sources", "focus"]


@dataclass(frozen=True, slots=True, eq=False)
class Reading:
    """The sentences of the packed sources, each with ``scores`` (for ranking), ``sims`` (plain cosine with the
    question, subject included) and unit ``vectors``."""

    sentences: tuple[Sentence, ...]
    scores: np.ndarray
    sims: np.ndarray
    vectors: np.ndarray

    @property
    def best_similarity(self) -> float:
        return float(self.sims.max()) if self.sims.size else 0.0


def read_sources(embedder: Embedder, question: str, packed: Sequence[Hit]) -> Reading:
    """Score every sentence of ``packed`` against ``question``: cosine of the question with the sentence *and its
    subject*, plus a bonus for each of the question's key terms the sentence or its subject names (a miss costs as
    much)."""
    sentences = tuple(source_sentences(packed))
    if not sentences:
        empty = np.zeros(0, dtype=np.float32)
        return Reading((), empty, empty, np.zeros((0, 1), dtype=np.float32))
    q = embedder.embed([question], is_query=True)[0]
    vecs = embedder.embed([with_subject(s) for s in sentences])
    sims = (vecs @ q).astype(np.float32)
    terms = key_terms(question)
    scores = sims
    if terms:
        named = np.array(
            [sum(mentions(f"{s.subject} {s.text}", t) for t in terms) / len(terms) for s in sentences],
            dtype=np.float32,
        )
        scores = (sims + 0.15 * (named - 0.5)).astype(np.float32)
    return Reading(sentences, scores, sims, vecs)


def focus(
    packed: Sequence[Hit],
    reading: Reading,
    *,
    budget_tokens: int,
    per_source_tokens: int = 120,
    relative: float = 0.75,
    tokenizer: str = "cl100k_base",
) -> list[Hit]:
    """The sources cut to their best passages, for a model that must read a short prompt.

    Sources are taken best first (by their best sentence's score); each becomes the contiguous passage grown from
    its best sentence towards the better neighbour while it fits ``per_source_tokens``, until ``budget_tokens`` are
    used. A source whose best sentence scores below ``relative`` times the best one's is left out. The passages keep
    the sources' order; each is an exact span of its chunk (offsets adjusted), and its subject is added to the
    heading path so the model knows what it is about.
    """
    if not packed or not reading.sentences:
        return list(packed[:1])
    tok = get_tokenizer(tokenizer)
    by_source: dict[int, list[int]] = {}
    for i, s in enumerate(reading.sentences):
        by_source.setdefault(s.source, []).append(i)
    best_of = {n: max(idx, key=lambda i: float(reading.scores[i])) for n, idx in by_source.items()}
    top = max(float(reading.scores[i]) for i in best_of.values())
    order = sorted(best_of, key=lambda n: -float(reading.scores[best_of[n]]))
    chosen: dict[int, Hit] = {}
    used = 0
    for number in order:
        if float(reading.scores[best_of[number]]) < relative * top and chosen:
            break
        room = min(per_source_tokens, budget_tokens - used)
        if room < 20:
            break
        passage, cost = _passage(packed[number - 1], reading, by_source[number], best_of[number], room, tok)
        chosen[number] = passage
        used += cost
    return [chosen[n] for n in sorted(chosen)]


def _passage(hit: Hit, reading: Reading, idx: list[int], best: int, room: int, tok) -> tuple[Hit, int]:  # noqa: ANN001
    lo = hi = idx.index(best)
    used = tok.count(reading.sentences[best].text)
    while True:
        options = []
        if lo > 0:
            options.append((float(reading.scores[idx[lo - 1]]), -1))
        if hi + 1 < len(idx):
            options.append((float(reading.scores[idx[hi + 1]]), 1))
        if not options:
            break
        _, step = max(options)
        grow = idx[lo - 1] if step < 0 else idx[hi + 1]
        cost = tok.count(reading.sentences[grow].text)
        if used + cost > room:
            break
        used += cost
        lo, hi = (lo - 1, hi) if step < 0 else (lo, hi + 1)
    first, last = reading.sentences[idx[lo]], reading.sentences[idx[hi]]
    path = hit.heading_path
    if first.subject and first.subject not in path:
        path = (*path, first.subject)
    passage = dataclasses.replace(
        hit,
        text=hit.text[first.start : last.end],
        start=hit.start + first.start,
        end=hit.start + last.end,
        heading_path=path,
    )
    return passage, used
