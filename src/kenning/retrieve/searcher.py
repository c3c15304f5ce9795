"""Search over one collection: BM25, dense, or both fused with RRF, with filters applied before fusion."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..config import RetrievalConfig
from ..errors import ConfigError, check_choice
from ..index.catalog import ChunkRow
from ..index.collection import Collection
from ..index.snapshot import Snapshot
from ..providers.embedders import Embedder
from ..types import Hit
from .filters import Filters
from .fusion import rrf

__all__ = ["Searcher", "Ranking", "MODES", "hit_from_row"]

MODES = ("bm25", "dense", "hybrid")


@dataclass(frozen=True, slots=True)
class Ranking:
    """Positions in a snapshot, best first, before they are turned into :class:`Hit` values."""

    positions: np.ndarray
    scores: np.ndarray
    ranks: dict[int, dict[str, int]]


class Searcher:
    """Answers queries against a collection's published snapshot.

    >>> searcher = Searcher(collection, embedder)           # doctest: +SKIP
    >>> searcher.search("vacuum full", k=5)[0].chunk_id     # doctest: +SKIP
    '3f2a…::4'
    """

    def __init__(self, collection: Collection, embedder: Embedder | None, config: RetrievalConfig | None = None):
        self.collection = collection
        self.embedder = embedder
        self.config = config or RetrievalConfig()

    def search(
        self,
        query: str,
        *,
        mode: str | None = None,
        k: int | None = None,
        filters: Filters | None = None,
    ) -> list[Hit]:
        return self.search_many([query], mode=mode, k=k, filters=filters)[0]

    def search_many(
        self,
        queries: Sequence[str],
        *,
        mode: str | None = None,
        k: int | None = None,
        filters: Filters | None = None,
        embed: Sequence[str] | None = None,
    ) -> list[list[Hit]]:
        snap = self.collection.snapshot()
        rankings = self.rank_many(queries, mode=mode, k=k, filters=filters, snapshot=snap, embed=embed)
        return [self._hits(snap, r, mode or self.config.mode) for r in rankings]

    def rank_many(
        self,
        queries: Sequence[str],
        *,
        mode: str | None = None,
        k: int | None = None,
        filters: Filters | None = None,
        snapshot: Snapshot | None = None,
        embed: Sequence[str] | None = None,
    ) -> list[Ranking]:
        """Rank positions for each query; the cheap core that evaluation and benchmarks call directly.

        ``embed`` (one text per query) is what dense search embeds instead of the query itself, while BM25 still
        matches the query: HyDE embeds a hypothetical answer but keeps the user's exact words for BM25.
        """
        if embed is not None and len(embed) != len(queries):
            raise ConfigError(f"embed needs one text per query, got {len(embed)} for {len(queries)}")
        mode = mode or self.config.mode
        check_choice("mode", mode, MODES)
        k = k or self.config.k
        if k <= 0:
            raise ConfigError(f"k must be > 0, got {k}")
        snap = snapshot or self.collection.snapshot()
        if snap is None or snap.n_chunks == 0:
            return [Ranking(np.zeros(0, np.int64), np.zeros(0), {}) for _ in queries]
        mask = None
        if filters:
            where, params = filters.sql()
            mask = snap.filter_mask(where, params, self.collection.catalog)
        depth = max(k, self.config.candidates) if mode == "hybrid" else k
        qvecs = None
        if mode in ("dense", "hybrid"):
            if self.embedder is None:
                raise ConfigError(f"mode {mode!r} needs an embedder")
            qvecs = self.embedder.embed(list(queries if embed is None else embed), is_query=True)
        out = []
        for i, query in enumerate(queries):
            lists: dict[str, tuple[np.ndarray, np.ndarray]] = {}
            if mode in ("bm25", "hybrid"):
                lists["bm25"] = snap.lexical.search(query, depth, mask)
            if qvecs is not None:
                lists["dense"] = snap.dense.search(qvecs[i], depth, mask)
            if mode == "hybrid":
                weights = {"bm25": self.config.bm25_weight, "dense": self.config.dense_weight}
                pos, scores, ranks = rrf({n: p for n, (p, _) in lists.items()}, k=self.config.rrf_k, weights=weights)
                out.append(Ranking(pos[:k], scores[:k], ranks))
            else:
                pos, scores = lists[mode]
                out.append(Ranking(pos[:k], scores[:k], {int(p): {mode: r} for r, p in enumerate(pos[:k].tolist(), 1)}))
        return out

    def term_weights(self, query: str) -> dict[str, float]:
        """The query's tokens as BM25 sees them, each with its IDF over this collection's chunks."""
        snap = self.collection.snapshot()
        if snap is None:
            return {}
        return snap.lexical.idf(query)

    def tokens(self, text: str) -> list[str]:
        """``text`` tokenized the way the lexical index tokenizes (stop words out, stemmed)."""
        snap = self.collection.snapshot()
        return snap.lexical.tokens(text) if snap is not None else []

    def _hits(self, snap: Snapshot | None, ranking: Ranking, mode: str) -> list[Hit]:
        if snap is None or not ranking.positions.size:
            return []
        rows = snap.chunk_rows(ranking.positions.tolist(), self.collection.catalog)
        hits = []
        for pos, score in zip(ranking.positions.tolist(), ranking.scores.tolist(), strict=True):
            row = rows.get(pos)
            if row is None:  # an old snapshot without its own rows: deleted since it was published
                continue
            hits.append(hit_from_row(row, len(hits) + 1, float(score), ranking.ranks.get(pos, {})))
        return hits


def hit_from_row(row: ChunkRow, rank: int, score: float, ranks: dict[str, int] | None = None) -> Hit:
    """A catalog row as a search result."""
    return Hit(
        rank=rank,
        score=score,
        chunk_id=row.chunk_id,
        doc_id=row.doc_id,
        text=row.text,
        source=row.source,
        kind=row.kind,
        title=row.title,
        heading_path=row.heading_path,
        start=row.start,
        end=row.end,
        ranks=dict(ranks or {}),
        metadata=row.metadata,
    )
