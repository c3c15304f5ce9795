"""LazyGraphRAG's relevance tests, by name: each scores a batch of chunks against the question.

* ``similarity`` (offline, the default): the cosine between the question and the chunk's vector as it was indexed
  (nothing is embedded but the question, so a budget of tests costs milliseconds);
* ``sentences`` (offline): the best cosine between the question and a sentence of the chunk (the sentence read with
  its subject, as answers read sources: :func:`kenning.generate.reading.read_sources`) — finer, and slower: every
  tested chunk's sentences are embedded;
* ``reranker``: the collection's tuned cross-encoder (``kenning tune`` adopts one only where it measurably helps);
* ``llm``: the configured model answers yes or no for each chunk, the chunk fenced as untrusted text.

A test is built for one question (:func:`relevance_test`) and carries the ``margin`` within which a score counts as
as relevant as the best one found (see :mod:`kenning.graph.lazy`).

>>> sorted(RELEVANCE_TESTS)
['llm', 'reranker', 'sentences', 'similarity']
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..generate.reading import read_sources
from ..providers.embedders import Embedder
from ..providers.llm.base import LLM, Message
from ..providers.llm.fence import UNTRUSTED_RULE, fence
from ..rerank.cross_encoder import CrossEncoderReranker
from ..types import Hit, Usage

__all__ = [
    "RELEVANCE_TESTS",
    "CentralityTest",
    "SimilarityTest",
    "SentenceTest",
    "RerankerTest",
    "LLMTest",
    "relevance_test",
]

Lookup = Callable[[Sequence[str]], Mapping[str, Hit]]
Vectors = Callable[[Sequence[str]], Mapping[str, np.ndarray]]


@dataclass(slots=True)
class SimilarityTest:
    """Cosine of the question with each chunk's stored vector; passes within 0.1 of the best (MiniLM cosines of a
    chunk on the question's subject sit ~0.2–0.3 above those of one on another)."""

    embedder: Embedder
    question: str
    vectors: Vectors
    margin: float = 0.10
    name: str = "similarity"
    _q: np.ndarray | None = None

    def scores(self, chunk_ids: Sequence[str]) -> list[float]:
        if self._q is None:
            q = self.embedder.embed([self.question], is_query=True)[0]
            self._q = q / (np.linalg.norm(q) or 1.0)
        found = self.vectors(chunk_ids)
        out = []
        for c in chunk_ids:
            v = found.get(c)
            out.append(-1.0 if v is None else float(v @ self._q) / float(np.linalg.norm(v) or 1.0))
        return out


@dataclass(slots=True)
class SentenceTest:
    """Best sentence cosine with the question; passes within 0.1 of the best."""

    embedder: Embedder
    question: str
    lookup: Lookup
    margin: float = 0.10
    name: str = "sentences"

    def scores(self, chunk_ids: Sequence[str]) -> list[float]:
        hits = self.lookup(chunk_ids)
        present = [c for c in chunk_ids if c in hits]
        reading = read_sources(self.embedder, self.question, [hits[c] for c in present])
        best = np.full(len(present), -1.0, dtype=np.float32)
        for s, sim in zip(reading.sentences, reading.sims, strict=True):
            best[s.source - 1] = max(best[s.source - 1], sim)
        bare = [i for i, b in enumerate(best) if b < -0.5]  # no sentence (code, a table): the chunk as a whole
        if bare:
            q = self.embedder.embed([self.question], is_query=True)[0]
            vecs = self.embedder.embed([hits[present[i]].text for i in bare])
            for i, v in zip(bare, vecs @ q, strict=True):
                best[i] = float(v)
        table = dict(zip(present, best.tolist(), strict=True))
        return [float(table.get(c, -1.0)) for c in chunk_ids]


@dataclass(slots=True)
class RerankerTest:
    """The collection's cross-encoder; passes within 2 logits of the best."""

    reranker: CrossEncoderReranker
    question: str
    lookup: Lookup
    margin: float = 2.0
    name: str = "reranker"

    def scores(self, chunk_ids: Sequence[str]) -> list[float]:
        hits = self.lookup(chunk_ids)
        texts = [hits[c].text if c in hits else "" for c in chunk_ids]
        return [float(s) for s in self.reranker.scores(self.question, texts)]


_YES_NO = (
    "Decide whether the passage helps answer the question (it states something the answer would use). "
    "Reply with one word: yes or no. " + UNTRUSTED_RULE
)


@dataclass(slots=True)
class LLMTest:
    """The model's yes (1) or no (0) per chunk; only a yes passes."""

    llm: LLM
    question: str
    lookup: Lookup
    margin: float = 0.5
    name: str = "llm"
    usage: Usage = field(default_factory=Usage)

    def scores(self, chunk_ids: Sequence[str]) -> list[float]:
        hits = self.lookup(chunk_ids)
        out = []
        for c in chunk_ids:
            if c not in hits:
                out.append(0.0)
                continue
            reply = self.llm.complete(
                [
                    Message("system", _YES_NO),
                    Message("user", f"Question: {self.question}\n\nPassage:\n{fence(hits[c].text)}\n\nyes or no?"),
                ],
                max_tokens=3,
            )
            self.usage = self.usage + reply.usage
            out.append(1.0 if reply.text.strip().lower().startswith("yes") else 0.0)
        return out


@dataclass(frozen=True, slots=True)
class CentralityTest:
    """For a question about the whole corpus, to which every chunk is relevant: how representative each chunk is of
    its community (1 for the most central, falling with its place), so each theme is told by its most central
    chunks. Everything passes (``margin`` is infinite)."""

    place: Mapping[str, float]
    margin: float = float("inf")
    name: str = "corpus"

    def scores(self, chunk_ids: Sequence[str]) -> list[float]:
        return [float(self.place.get(c, 0.0)) for c in chunk_ids]


RELEVANCE_TESTS: dict[str, Callable[..., Any]] = {
    "similarity": SimilarityTest,
    "sentences": SentenceTest,
    "reranker": RerankerTest,
    "llm": LLMTest,
}


def relevance_test(
    name: str,
    question: str,
    lookup: Lookup,
    *,
    embedder: Embedder,
    vectors: Vectors,
    reranker: Any = None,
    llm: LLM | None = None,
) -> SimilarityTest | SentenceTest | RerankerTest | LLMTest:
    """The test ``name`` names for ``question``; ``auto``: the LLM when one is configured, else the collection's
    cross-encoder when it has one, else similarity."""
    if name == "auto":
        name = "llm" if llm is not None else "reranker" if isinstance(reranker, CrossEncoderReranker) else "similarity"
    if name not in RELEVANCE_TESTS:
        raise ConfigError(f"graph.relevance must be auto or one of {', '.join(sorted(RELEVANCE_TESTS))}; got {name!r}")
    if name == "llm":
        if llm is None:
            raise ConfigError("graph.relevance = llm needs a model: configure [llm] or pass --llm")
        return LLMTest(llm, question, lookup)
    if name == "reranker":
        if not isinstance(reranker, CrossEncoderReranker):
            raise ConfigError("graph.relevance = reranker needs the collection's tuned reranker (kenning tune)")
        return RerankerTest(reranker, question, lookup)
    if name == "sentences":
        return SentenceTest(embedder, question, lookup)
    return SimilarityTest(embedder, question, vectors)
