"""Hard negatives: chunks kenning's own hybrid search ranks high for a query that are *not* its positive.

Mined negatives teach far more than random ones, but some are unlabelled positives (a second passage that answers the
query too), and training a model to push those away makes it worse. Candidates are therefore dropped when:

* ``same_section`` — the candidate is the positive's chunk, or shares its document and heading path;
* ``near_duplicate`` — its words overlap the positive's (Jaccard ≥ ``duplicate_jaccard``): the same text elsewhere;
* ``margin`` — the current embedder scores it at ≥ ``margin`` × the positive's score (the "TopK-PercPos" filter of
  NV-Retriever, Moreira et al. 2024): so close to the positive that it is more likely a missed positive.

The rest, best ranked first (after skipping the top ``skip_top``), are the negatives. Every drop is counted.

>>> _jaccard("a b c", "a b d")
0.5
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..providers.embedders import Embedder
from ..retrieve import Searcher
from ..store.base import Store
from .pairs import Pair

__all__ = ["Mined", "MiningReport", "mine_negatives"]

_WORD = re.compile(r"\w+")


@dataclass(frozen=True, slots=True)
class Mined:
    """A training pair with its hard negatives (texts), best ranked first."""

    pair: Pair
    negatives: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class MiningReport:
    """How many candidates the search gave, how many each filter dropped, and how many were kept."""

    queries: int
    candidates: int
    kept: int
    dropped: dict[str, int]
    without_negative: int
    depth: int
    margin: float


def mine_negatives(
    pairs: Sequence[Pair],
    collection: Store,
    searcher: Searcher,
    embedder: Embedder,
    *,
    per_query: int = 3,
    depth: int = 30,
    margin: float = 0.95,
    skip_top: int = 0,
    duplicate_jaccard: float = 0.8,
    batch: int = 64,
    progress: Callable[[str, int, int | None], None] | None = None,
) -> tuple[list[Mined], MiningReport]:
    """Up to ``per_query`` hard negatives for each pair (see the module doc for the filters)."""
    dropped: Counter[str] = Counter()
    out: list[Mined] = []
    candidates = kept = without = 0
    if not collection.counts()[1]:
        return [Mined(p, ()) for p in pairs], MiningReport(len(pairs), 0, 0, {}, len(pairs), depth, margin)
    rows_by_chunk = collection.catalog.chunk_rows([p.chunk_id for p in pairs], by="chunk_id")
    # each positive's stored vector (a zero row when it is not published): scored exactly as the candidates are
    positive_vecs = collection.vectors([p.chunk_id for p in pairs])
    for start in range(0, len(pairs), batch):
        part = pairs[start : start + batch]
        queries = [p.query for p in part]
        rankings = searcher.rank_many(queries, mode="hybrid", k=depth + 1)
        qvecs = embedder.embed(queries, is_query=True)
        found = list(dict.fromkeys(c for r in rankings for c in r.ids))
        rows = collection.fetch(found)
        vec_of = dict(zip(found, collection.vectors(found), strict=True))
        for i, (pair, ranking) in enumerate(zip(part, rankings, strict=True)):
            positive_row = rows_by_chunk.get(pair.chunk_id)
            positive_score = float(positive_vecs[start + i] @ qvecs[i])
            ranked = [c for c in ranking.ids if c in rows]
            scores = (np.stack([vec_of[c] for c in ranked]) @ qvecs[i]).tolist() if ranked else []
            positive_words = _words(pair.positive)
            chosen: list[str] = []
            for rank, (chunk_id, score) in enumerate(zip(ranked, scores, strict=True)):
                row = rows[chunk_id]
                candidates += 1
                if row.chunk_id == pair.chunk_id or (
                    positive_row is not None
                    and row.doc_id == positive_row.doc_id
                    and row.heading_path == positive_row.heading_path
                ):
                    dropped["same_section"] += 1
                elif _jaccard_sets(_words(row.text), positive_words) >= duplicate_jaccard:
                    dropped["near_duplicate"] += 1
                elif positive_score > 0 and score >= margin * positive_score:
                    dropped["margin"] += 1
                elif rank < skip_top:
                    dropped["skip_top"] += 1
                elif len(chosen) < per_query:
                    chosen.append(row.text)
                    kept += 1
            without += not chosen
            out.append(Mined(pair, tuple(chosen)))
        if progress:
            progress("mining negatives", min(start + batch, len(pairs)), len(pairs))
    report = MiningReport(len(pairs), candidates, kept, dict(dropped), without, depth, margin)
    return out, report


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def _jaccard_sets(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


def _jaccard(a: str, b: str) -> float:
    return _jaccard_sets(_words(a), _words(b))
