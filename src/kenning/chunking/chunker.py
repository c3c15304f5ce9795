"""Document → chunks, by a strategy named in :data:`STRATEGIES`.

- ``fixed``: windows of ``size`` tokens that overlap by ``overlap`` tokens.
- ``recursive``: paragraphs, then lines, then sentences, then words, packed into chunks of at most ``size`` tokens;
  a sentence is only cut when it alone exceeds ``size``.
- ``structure``: split at the document's headings first (Markdown, HTML, reST), pack small neighbouring sections
  whole into one chunk, and split large sections recursively. Every chunk carries its heading path, which starts
  with the document's title.
- ``semantic``: break where the embeddings of neighbouring sentences differ most (see :mod:`.semantic`); needs an
  embedder, and costs one embedding per sentence (counted in :attr:`Chunker.stats`).

A strategy is a function ``(chunker, tokenized_text, document) -> [(start, end, heading_path), ...]``; the chunker
strips whitespace from each span, numbers the spans and counts their tokens, so every strategy gets exact offsets
and ids for free.

>>> from kenning.config import ChunkingConfig
>>> from kenning.types import Document, Section
>>> doc = Document("d1", "x.md", "markdown", "# Intro\\nHello there.\\n", sections=(Section(1, "Intro", 0),))
>>> [c.chunk_id for c in Chunker(ChunkingConfig()).chunk(doc)]
['d1::0']
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..config import ChunkingConfig
from ..errors import ConfigError
from ..types import Chunk, Document, Section
from .split import fixed_windows, merge_spans, recursive_spans, strip_span
from .tokens import TokenizedText, get_tokenizer

if TYPE_CHECKING:
    from ..providers.embedders import Embedder

__all__ = ["Chunker", "ChunkerStats", "STRATEGIES", "Span", "section_ranges"]

Span = tuple[int, int, tuple[str, ...]]


def section_ranges(text_len: int, sections: tuple[Section, ...]) -> list[tuple[int, int, tuple[str, ...]]]:
    """``(start, end, heading_path)`` for the text before the first heading and for each section."""
    out: list[tuple[int, int, tuple[str, ...]]] = []
    ordered = sorted(sections, key=lambda s: s.start)
    first = ordered[0].start if ordered else text_len
    if first > 0:
        out.append((0, first, ()))
    stack: list[Section] = []
    for i, sec in enumerate(ordered):
        while stack and stack[-1].level >= sec.level:
            stack.pop()
        stack.append(sec)
        end = ordered[i + 1].start if i + 1 < len(ordered) else text_len
        if end > sec.start:
            out.append((sec.start, end, tuple(s.title for s in stack)))
    return out


def common_prefix(paths: list[tuple[str, ...]]) -> tuple[str, ...]:
    first = paths[0]
    n = len(first)
    for p in paths[1:]:
        n = min(n, len(p))
        for i in range(n):
            if p[i] != first[i]:
                n = i
                break
    return first[:n] if n else first


@dataclass
class ChunkerStats:
    """What chunking has cost so far. Only strategies that embed (``semantic``) add to it."""

    sentences: int = 0  # sentence embeddings the strategy used
    embedded: int = 0  # of those, computed by the embedder (the rest came from the run's cache)
    seconds: float = 0.0  # time spent inside the embedder


class Chunker:
    """Splits documents into :class:`~kenning.types.Chunk` values according to a :class:`ChunkingConfig`."""

    def __init__(self, config: ChunkingConfig | None = None, *, embedder: Embedder | None = None) -> None:
        self.config = config or ChunkingConfig()
        if self.config.strategy not in STRATEGIES:
            raise ConfigError(
                f"unknown chunking strategy {self.config.strategy!r}; known: {', '.join(sorted(STRATEGIES))}"
            )
        if self.config.strategy in NEEDS_EMBEDDER and embedder is None:
            raise ConfigError(
                f"chunking strategy {self.config.strategy!r} needs an embedder to compare sentences: pass "
                "Chunker(config, embedder=...) (indexing passes the collection's), or choose another strategy"
            )
        self.tokenizer = get_tokenizer(self.config.tokenizer)
        self.embedder = embedder
        self.stats = ChunkerStats()
        # Sentence vectors by a hash of the sentence, for this chunker's lifetime (one indexing run): boilerplate
        # repeated across documents is embedded once.
        self.sentence_cache: dict[bytes, np.ndarray] = {}

    def chunk(self, doc: Document) -> list[Chunk]:
        tt = self.tokenizer.tokenize(doc.text)
        spans = STRATEGIES[self.config.strategy](self, tt, doc)
        chunks = []
        for s, e, path in spans:
            s, e = strip_span(doc.text, s, e)
            if e <= s:
                continue
            idx = len(chunks)
            chunks.append(
                Chunk(
                    chunk_id=f"{doc.doc_id}::{idx}",
                    doc_id=doc.doc_id,
                    index=idx,
                    text=doc.text[s:e],
                    start=s,
                    end=e,
                    n_tokens=tt.count(s, e),
                    heading_path=path,
                )
            )
        return chunks


def recursive_chunks(
    tt: TokenizedText, start: int, end: int, path: tuple[str, ...], size: int, overlap: int
) -> list[Span]:
    """``text[start:end]`` split at the largest separators that fit, packed into spans of at most ``size`` tokens."""
    pieces = recursive_spans(tt, start, end, size)
    return [(s, e, path) for s, e in merge_spans(tt, pieces, size, overlap)]


def titled_sections(doc: Document) -> list[Span]:
    """:func:`section_ranges` with the document's title put in front of every heading path."""
    title = (doc.title,) if doc.title else ()
    out = []
    for s, e, path in section_ranges(len(doc.text), doc.sections):
        if title and path[:1] != title:
            path = title + path  # "VACUUM › Notes", not just "Notes", when the page title is no heading
        out.append((s, e, path))
    return out


def _fixed(chunker: Chunker, tt: TokenizedText, doc: Document) -> list[Span]:
    cfg = chunker.config
    return [(s, e, ()) for s, e in fixed_windows(tt, 0, len(doc.text), cfg.size, cfg.overlap)]


def _recursive(chunker: Chunker, tt: TokenizedText, doc: Document) -> list[Span]:
    return recursive_chunks(tt, 0, len(doc.text), (), chunker.config.size, chunker.config.overlap)


def _structure(chunker: Chunker, tt: TokenizedText, doc: Document) -> list[Span]:
    size, overlap = chunker.config.size, chunker.config.overlap
    out: list[Span] = []
    group: list[Span] = []  # whole small sections packed together
    group_tokens = 0

    def flush() -> None:
        nonlocal group, group_tokens
        if group:
            out.append((group[0][0], group[-1][1], common_prefix([g[2] for g in group])))
        group, group_tokens = [], 0

    for s, e, path in titled_sections(doc):
        if not doc.text[s:e].strip():
            continue
        n = tt.count(s, e)
        if n > size:
            flush()
            out.extend(recursive_chunks(tt, s, e, path, size, overlap))
            continue
        if group_tokens + n > size:
            flush()
        group.append((s, e, path))
        group_tokens += n
    flush()
    return out


def _semantic(chunker: Chunker, tt: TokenizedText, doc: Document) -> list[Span]:
    from .semantic import semantic_spans  # lazy: it builds on this module's helpers

    return semantic_spans(chunker, tt, doc)


# The registry: a new strategy is one function and one entry here, never another branch in Chunker.chunk.
STRATEGIES: dict[str, Callable[[Chunker, TokenizedText, Document], list[Span]]] = {
    "fixed": _fixed,
    "recursive": _recursive,
    "structure": _structure,
    "semantic": _semantic,
}
NEEDS_EMBEDDER = frozenset({"semantic"})
