"""Frozen values passed between kenning's stages.

Every stage takes and returns these, never loose dicts: a loader yields :class:`Document`,
a chunker yields :class:`Chunk`, retrieval yields :class:`Hit`.

>>> from kenning.types import Section
>>> Section(level=1, title="Intro", start=0)
Section(level=1, title='Intro', start=0)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "DocKind",
    "Section",
    "Document",
    "Chunk",
    "Hit",
    "Skipped",
    "IndexReport",
    "ContextReport",
    "Usage",
    "Citation",
    "VerdictLabel",
    "Verdict",
    "Answer",
]

DocKind = Literal["markdown", "html", "rst", "text", "pdf", "beir"]


@dataclass(frozen=True, slots=True)
class Section:
    """A heading found in a document: its level (1 = top), its text and where it starts in ``Document.text``."""

    level: int
    title: str
    start: int


@dataclass(frozen=True, slots=True)
class Document:
    """A whole document as text, ready to chunk.

    ``doc_id`` is a hash of the content, so the same text from two places is stored once.
    ``source`` names where it came from: a file path, ``archive.tar.gz!/member/path`` or ``corpus.jsonl#id``.
    """

    doc_id: str
    source: str
    kind: DocKind
    text: str
    title: str = ""
    sections: tuple[Section, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True, slots=True)
class Chunk:
    """A span of a document: ``text == document.text[start:end]``; ``chunk_id`` is ``f"{doc_id}::{index}"``."""

    chunk_id: str
    doc_id: str
    index: int
    text: str
    start: int
    end: int
    n_tokens: int
    heading_path: tuple[str, ...] = ()
    context: str = ""  # prepended to ``text`` for embedding and BM25 only (see kenning.index.context)


@dataclass(frozen=True, slots=True)
class Hit:
    """One ranked search result.

    ``score`` is the score of the mode asked for (BM25, cosine, or fused RRF); ``ranks`` gives the 1-based rank each
    retriever gave this chunk before fusion (absent when that retriever did not return it).
    """

    rank: int
    score: float
    chunk_id: str
    doc_id: str
    text: str
    source: str
    kind: str
    title: str
    heading_path: tuple[str, ...]
    start: int
    end: int
    ranks: dict[str, int] = field(default_factory=dict, hash=False, compare=False)
    metadata: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True, slots=True)
class Skipped:
    """An input that was not indexed, and why (in words a user can act on)."""

    source: str
    reason: str


@dataclass(frozen=True, slots=True)
class IndexReport:
    """What one ``index()`` call did."""

    collection: str
    documents_seen: int
    documents_added: int
    documents_updated: int
    documents_unchanged: int
    documents_removed: int
    chunks_added: int
    chunks_removed: int
    chunks_embedded: int
    total_documents: int
    total_chunks: int
    seconds: float
    skipped: tuple[Skipped, ...] = ()
    published_version: int | None = None
    context: ContextReport | None = None  # LLM situating contexts written for this run, when asked for
    chunking_embedded: int = 0  # sentences the semantic chunker embedded to find its breakpoints
    chunking_embed_seconds: float = 0.0  # and the time that took (on top of embedding the chunks)


@dataclass(frozen=True, slots=True)
class ContextReport:
    """What giving chunks an LLM-written context cost in one run (cached contexts cost nothing)."""

    model: str
    written: int  # contexts the LLM wrote in this run
    reused: int  # contexts found in the cache
    empty: int  # replies with no usable text (the chunk is indexed with its headers only)
    cut: int  # replies longer than context.max_tokens, cut at a sentence end
    usage: Usage
    seconds: float


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens spent on model calls and what they cost (``cost_usd`` is None when no price is known)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    calls: int = 0
    cached_tokens: int = 0  # prompt tokens the provider read from its prompt cache (counted in prompt_tokens too)

    def __add__(self, other: Usage) -> Usage:
        both_unknown = self.cost_usd is None and other.cost_usd is None
        cost = None if both_unknown else (self.cost_usd or 0.0) + (other.cost_usd or 0.0)
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            cost,
            self.calls + other.calls,
            self.cached_tokens + other.cached_tokens,
        )

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True, slots=True)
class Citation:
    """A numbered source an answer may cite as ``[number]``, and the chunk it stands for.

    ``start``/``end`` locate the chunk's ``text`` in its document's text (character offsets), so a reader of the
    answer can open the source at the cited passage; ``doc_id`` names that document.
    """

    number: int
    chunk_id: str
    source: str
    title: str
    heading_path: tuple[str, ...]
    text: str
    cited: bool = True  # False: given to the generator but not cited in the answer
    rank: int = 0  # the chunk's retrieval rank (sources are numbered in prompt order, which differs)
    doc_id: str = ""
    start: int = 0
    end: int = 0


VerdictLabel = Literal["SUPPORT", "PARTIAL", "NOT_SUPPORTED"]


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether one claim is backed by the sources, with the quote that decides it.

    ``source_id`` is the chunk id (or, for ``kenning verify``, the id the input gave its source); ``start``/``end``
    locate the claim in the answer text; ``score`` is the verifier's confidence in SUPPORT, when it has one.
    """

    claim: str
    label: VerdictLabel
    evidence: str
    source_id: str
    reasoning: str
    start: int = 0
    end: int = 0
    score: float | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    """A grounded answer: its text with ``[n]`` citations, the sources behind them and a verdict per claim.

    ``answerable`` is False when kenning abstained: the text then says the sources do not contain the answer, the
    citations are the closest sources (none marked ``cited``) and there are no verdicts.
    """

    question: str
    text: str
    citations: tuple[Citation, ...]
    verdicts: tuple[Verdict, ...]
    mode: Literal["llm", "extractive", "agent"]
    model: str
    answerable: bool
    invalid_citations: tuple[int, ...] = ()
    usage: Usage = field(default_factory=Usage)
    seconds: float = 0.0
    verifier: str = ""
    notes: tuple[str, ...] = ()
    trace: tuple[dict[str, Any], ...] = field(default=(), hash=False, compare=False)
    confidence: float | None = None  # P(the sources answer the question), from retrieval signals (generate/abstain)

    @property
    def supported(self) -> bool:
        """True when every claim is SUPPORT."""
        return all(v.label == "SUPPORT" for v in self.verdicts)
