"""Extractive answers: no language model, only the best-supported sentences of the top chunks, each cited.

This is the offline default, so the main job always gives a grounded answer. Sentences of the packed sources are
scored against the question with the collection's embedder (cosine) plus a small bonus for the chunk's retrieval
rank; the best few that do not repeat each other are kept, in source order, each followed by its ``[n]``. When even
the best sentence is far from the question, the answer says the sources do not contain it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..chunking.split import sentence_ends
from ..providers.embedders import Embedder
from ..types import Hit
from .prompts import NOT_IN_SOURCES_ANSWER

__all__ = ["ExtractiveAnswerer", "candidate_sentences"]

_HEADING = re.compile(r"^\s*#{1,6}\s")
_WORD = re.compile(r"[A-Za-z0-9]+")


@dataclass(frozen=True, slots=True)
class _Sentence:
    source: int  # 1-based number of the packed source
    start: int
    end: int
    text: str


def candidate_sentences(packed: Sequence[Hit], *, min_words: int = 5, max_chars: int = 600) -> list[_Sentence]:
    """Sentences of each source (lines first, then sentence ends), skipping headings and fragments."""
    out: list[_Sentence] = []
    for number, hit in enumerate(packed, start=1):
        text = hit.text
        for line in re.finditer(r"[^\n]+", text):
            if _HEADING.match(line.group(0)):
                continue
            s, e = line.span()
            cuts = [s, *sentence_ends(text, s, e), e]
            for a, b in zip(cuts, cuts[1:], strict=False):
                piece = text[a:b].strip()
                if len(_WORD.findall(piece)) < min_words or len(piece) > max_chars:
                    continue
                lead = len(text[a:b]) - len(text[a:b].lstrip())
                out.append(_Sentence(number, a + lead, a + lead + len(piece), piece))
    return out


class ExtractiveAnswerer:
    """Builds an answer from source sentences.

    >>> answerer = ExtractiveAnswerer(embedder)                    # doctest: +SKIP
    >>> text, cited = answerer.answer("When to use VACUUM FULL?", packed)  # doctest: +SKIP
    """

    def __init__(
        self,
        embedder: Embedder,
        *,
        max_sentences: int = 3,
        min_similarity: float = 0.30,
        redundancy: float = 0.85,
        rank_bonus: float = 0.05,
    ) -> None:
        self.embedder = embedder
        self.max_sentences = max_sentences
        self.min_similarity = min_similarity
        self.redundancy = redundancy
        self.rank_bonus = rank_bonus

    def answer(self, question: str, packed: Sequence[Hit]) -> tuple[str, set[int]]:
        """The answer text with ``[n]`` markers, and the source numbers it cites."""
        sentences = candidate_sentences(packed)
        if not sentences:
            return NOT_IN_SOURCES_ANSWER, set()
        q = self.embedder.embed([question], is_query=True)[0]
        vecs = self.embedder.embed([s.text for s in sentences])
        sims = vecs @ q
        # a source's retrieval rank: packed order is lost-in-the-middle, so recover it from the hit ranks
        rank_of = {n: hit.rank for n, hit in enumerate(packed, start=1)}
        scores = sims + self.rank_bonus / np.array([rank_of[s.source] for s in sentences], dtype=np.float32)
        order = np.argsort(-scores, kind="stable")
        if sims[order[0]] < self.min_similarity:
            return NOT_IN_SOURCES_ANSWER, set()
        chosen: list[int] = []
        for i in order.tolist():
            if len(chosen) >= self.max_sentences or sims[i] < self.min_similarity:
                break
            if any(float(vecs[i] @ vecs[j]) > self.redundancy for j in chosen):
                continue
            chosen.append(i)
        # read in a natural order: by the source's retrieval rank, then position in it
        chosen.sort(key=lambda i: (rank_of[sentences[i].source], sentences[i].start))
        parts = []
        for i in chosen:
            s = sentences[i]
            body = s.text.rstrip()
            end = body[-1] if body[-1] in ".!?" else "."
            body = body[:-1] if body[-1] in ".!?" else body
            parts.append(f"{body} [{s.source}]{end}")
        return " ".join(parts), {sentences[i].source for i in chosen}
