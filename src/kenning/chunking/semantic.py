"""The ``semantic`` chunking strategy: break where neighbouring sentences stop talking about the same thing.

The algorithm of Greg Kamradt's "5 levels of text splitting" and LangChain's ``SemanticChunker``:

1. Cut the document into sentences. Paragraphs, headings and list items count as sentences too, so a heading never
   glues itself to the paragraph before it. The sentences tile the text, so every chunk stays an exact slice.
2. Embed each sentence (one embedding per sentence: this is the strategy's cost, counted in
   :class:`~kenning.chunking.chunker.ChunkerStats`; a sentence seen before in the run is not embedded again).
3. Take the cosine distance between each pair of neighbours and break where it exceeds the
   ``semantic_percentile``-th percentile of that document's distances.
4. Enforce ``size``: a group larger than ``size`` tokens is split by the recursive splitter; a group smaller than
   ``size / 8`` tokens joins the neighbour it is closest to, when the two fit in ``size``.

Unlike LangChain's, it respects structure: when the document has headings, no chunk crosses the start of a
top-level section (those are forced breaks, left out of the percentile), and every chunk carries the heading path
its sentences share, as with the ``structure`` strategy.
"""

from __future__ import annotations

import bisect
import hashlib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from ..ingest.budget import paused_budget
from .chunker import Span, common_prefix, recursive_chunks, titled_sections
from .split import sentence_spans

if TYPE_CHECKING:
    from ..types import Document
    from .chunker import Chunker
    from .tokens import TokenizedText

__all__ = ["semantic_spans"]

# Sentence vectors kept for reuse within one run; past this many the cache stops growing (the run stays correct,
# it just embeds repeats again) so a very large corpus does not hold every sentence vector in memory.
_CACHE_LIMIT = 200_000


def semantic_spans(chunker: Chunker, tt: TokenizedText, doc: Document) -> list[Span]:
    """The ``semantic`` strategy: see the module docstring."""
    cfg = chunker.config
    text = doc.text
    # Sentences, each with its heading path and its top-level region (no chunk crosses a region boundary).
    top = min((sec.level for sec in doc.sections), default=0)
    top_starts = {sec.start for sec in doc.sections if sec.level == top}
    sents: list[tuple[int, int]] = []
    paths: list[tuple[str, ...]] = []
    regions: list[int] = []
    region = -1
    for s, e, path in titled_sections(doc):
        if region < 0 or s in top_starts:
            region += 1  # the text before the first heading, and each top-level section, start a region
        for a, b in sentence_spans(text, s, e):
            sents.append((a, b))
            paths.append(path)
            regions.append(region)
    if not sents:
        return []
    # Whitespace between sentence spans (dropped blank pieces) belongs to the sentence before, so groups still tile.
    # (A section of blank lines gives no sentence; its whitespace, too, goes to the sentence before.)
    sents = [(a, sents[i + 1][0] if i + 1 < len(sents) else b) for i, (a, b) in enumerate(sents)]

    dist = _neighbour_distances(chunker, [text[a:b].strip() for a, b in sents], regions)
    inside = [d for i, d in enumerate(dist) if regions[i] == regions[i + 1]]
    threshold = float(np.percentile(inside, cfg.semantic_percentile)) if inside else np.inf
    groups: list[list[int]] = [[0, 1]]  # [first sentence, one past the last]
    for i, d in enumerate(dist):
        if regions[i] != regions[i + 1] or d > threshold:
            groups.append([i + 1, i + 2])
        else:
            groups[-1][1] = i + 2

    def tokens(g: list[int]) -> int:
        return tt.count(sents[g[0]][0], sents[g[1] - 1][1])

    _merge_small(groups, tokens, dist, regions, cfg.size)

    starts = [a for a, _ in sents]

    def path_of(s: int, e: int) -> tuple[str, ...]:
        lo = bisect.bisect_right(starts, s) - 1
        hi = bisect.bisect_left(starts, e)
        return common_prefix(paths[max(lo, 0) : max(hi, lo + 1)])

    out: list[Span] = []
    for g in groups:
        s, e = sents[g[0]][0], sents[g[1] - 1][1]
        if tokens(g) <= cfg.size:
            out.append((s, e, path_of(s, e)))
        else:  # a long run on one topic: split it like the recursive strategy, each piece with its own path
            out.extend((a, b, path_of(a, b)) for a, b, _ in recursive_chunks(tt, s, e, (), cfg.size, cfg.overlap))
    return out


def _merge_small(
    groups: list[list[int]], tokens: Callable[[list[int]], int], dist: list[float], regions: list[int], size: int
) -> None:
    """Join each group under ``size / 8`` tokens to the more similar neighbour in its region, while both fit."""
    floor = max(1, size // 8)
    i = 0
    while i < len(groups):
        g = groups[i]
        if tokens(g) >= floor:
            i += 1
            continue
        options = []  # (distance across the boundary, index of the left group of the pair)
        if i > 0 and regions[groups[i - 1][0]] == regions[g[0]] and tokens([groups[i - 1][0], g[1]]) <= size:
            options.append((dist[g[0] - 1], i - 1))
        if (
            i + 1 < len(groups)
            and regions[groups[i + 1][0]] == regions[g[0]]
            and tokens([g[0], groups[i + 1][1]]) <= size
        ):
            options.append((dist[g[1] - 1], i))
        if not options:
            i += 1
            continue
        _, left = min(options)
        groups[left][1] = groups[left + 1][1]
        del groups[left + 1]
        i = left  # the merged group may still be small


def _neighbour_distances(chunker: Chunker, texts: list[str], regions: list[int]) -> list[float]:
    """Cosine distance between each sentence and the next (0 across region boundaries, which break anyway)."""
    n = len(texts)
    # Only sentences that have a neighbour in their own region are worth embedding.
    need = [
        i for i in range(n) if (i > 0 and regions[i - 1] == regions[i]) or (i + 1 < n and regions[i + 1] == regions[i])
    ]
    if not need:
        return [0.0] * (n - 1)
    vecs = _embed(chunker, [texts[i] for i in need])
    row = {i: k for k, i in enumerate(need)}
    out = []
    for i in range(n - 1):
        if regions[i] != regions[i + 1]:
            out.append(0.0)
        else:  # rows are L2-normalised, so the dot product is the cosine
            out.append(float(1.0 - vecs[row[i]] @ vecs[row[i + 1]]))
    return out


def _embed(chunker: Chunker, texts: list[str]) -> np.ndarray:
    """Embed ``texts`` through the chunker's run cache (keyed by a hash of the text), counting the cost."""
    cache = chunker.sentence_cache
    keys = [hashlib.blake2b(t.encode("utf-8"), digest_size=16).digest() for t in texts]
    missing: dict[bytes, str] = {}
    for k, t in zip(keys, texts, strict=True):
        if k not in cache and k not in missing:
            missing[k] = t
    stats = chunker.stats
    stats.sentences += len(texts)
    if missing:
        t0 = time.perf_counter()
        with paused_budget():  # the model's time is not the file's: only reading and splitting count against it
            vecs = np.asarray(chunker.embedder.embed(list(missing.values())), dtype=np.float32)  # type: ignore[union-attr]
        stats.seconds += time.perf_counter() - t0
        stats.embedded += len(missing)
        fresh = dict(zip(missing, vecs, strict=True))
        if len(cache) < _CACHE_LIMIT:
            cache.update(fresh)
    else:
        fresh = {}
    return np.stack([cache[k] if k in cache else fresh[k] for k in keys])
