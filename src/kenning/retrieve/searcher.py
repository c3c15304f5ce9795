"""Search over one collection: BM25, dense, or both fused with RRF, with filters applied before fusion."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..config import RetrievalConfig
from ..errors import ConfigError, check_choice
from ..index.catalog import ChunkRow
from ..providers.embedders import Embedder
from ..store.base import Scored, Store
from ..types import Hit
from .filters import Filters
from .fusion import rrf

__all__ = ["Searcher", "Ranking", "MODES", "hit_from_row"]

MODES = ("bm25", "dense", "hybrid")


@dataclass(frozen=True, slots=True)
class Ranking:
    """Chunk ids, best first, with their fused (or single-list) scores and each list's rank of them."""

    ids: tuple[str, ...]
    scores: tuple[float, ...]
    ranks: dict[str, dict[str, int]]


class Searcher:
    """Answers queries against any :class:`~kenning.store.Store` (the SQLite collection, PostgreSQL…).

    >>> searcher = Searcher(store, embedder)                # doctest: +SKIP
    >>> searcher.search("vacuum full", k=5)[0].chunk_id     # doctest: +SKIP
    '3f2a…::4'
    """

    def __init__(self, store: Store, embedder: Embedder | None, config: RetrievalConfig | None = None):
        self.store = store
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
        rankings = self.rank_many(queries, mode=mode, k=k, filters=filters, embed=embed)
        wanted = list(dict.fromkeys(c for r in rankings for c in r.ids))
        rows = self.store.fetch(wanted) if wanted else {}
        return [_hits(rows, r) for r in rankings]

    def rank_many(
        self,
        queries: Sequence[str],
        *,
        mode: str | None = None,
        k: int | None = None,
        filters: Filters | None = None,
        embed: Sequence[str] | None = None,
    ) -> list[Ranking]:
        """Rank chunk ids for each query; the cheap core that evaluation and benchmarks call directly.

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
        depth = max(k, self.config.candidates) if mode == "hybrid" else k
        qvecs = None
        if mode in ("dense", "hybrid"):
            if self.embedder is None:
                raise ConfigError(f"mode {mode!r} needs an embedder")
            qvecs = self.embedder.embed(list(queries if embed is None else embed), is_query=True)
        out = []
        for i, query in enumerate(queries):
            lists: dict[str, Scored] = {}
            if mode in ("bm25", "hybrid"):
                lists["bm25"] = self.store.lexical_search(query, depth, filters)
            if qvecs is not None:
                lists["dense"] = self.store.dense_search(qvecs[i], depth, filters)
            if mode == "hybrid":
                weights = {"bm25": self.config.bm25_weight, "dense": self.config.dense_weight}
                ids, scores, ranks = rrf({n: s.ids for n, s in lists.items()}, k=self.config.rrf_k, weights=weights)
                out.append(Ranking(tuple(ids[:k]), tuple(scores[:k]), ranks))
            else:
                got = lists[mode].top(k)
                out.append(Ranking(got.ids, got.scores, {c: {mode: r} for r, c in enumerate(got.ids, 1)}))
        return out

    def term_weights(self, query: str) -> dict[str, float]:
        """The query's tokens as BM25 sees them, each with its IDF over this collection's chunks."""
        return self.store.term_weights(query)

    def tokens(self, text: str) -> list[str]:
        """``text`` tokenized the way the lexical index tokenizes (stop words out, stemmed)."""
        return self.store.tokens(text)


def _hits(rows: dict[str, ChunkRow], ranking: Ranking) -> list[Hit]:
    hits: list[Hit] = []
    for chunk_id, score in zip(ranking.ids, ranking.scores, strict=True):
        row = rows.get(chunk_id)
        if row is None:  # published meanwhile without it (deleted)
            continue
        hits.append(hit_from_row(row, len(hits) + 1, float(score), ranking.ranks.get(chunk_id, {})))
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
