"""The facade: settings → components, and the few verbs users call.

>>> from kenning import Engine
>>> engine = Engine("/tmp/kenning-home")                        # doctest: +SKIP
>>> report = engine.index(["docs/"])                            # doctest: +SKIP
>>> [h.chunk_id for h in engine.search("vacuum full", k=3)]     # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .config import ChunkingConfig, DenseConfig, KenningConfig, LexicalConfig, default_home
from .errors import CollectionNotFound
from .index import Collection, index_paths, list_collections
from .index.writer import ProgressFn
from .providers.embedders import Embedder, get_embedder
from .rerank import Reranker
from .retrieve import Filters, Searcher
from .types import Hit, IndexReport

__all__ = ["Engine"]


class Engine:
    """Index documents into a named collection and search it.

    Settings come from ``config`` (or ``<home>/kenning.toml``). A collection remembers the embedder, chunking and
    BM25 settings it was built with; only settings given explicitly override them.
    """

    def __init__(
        self,
        home: str | Path | None = None,
        *,
        collection: str = "default",
        config: KenningConfig | None = None,
        embedder: Embedder | None = None,
    ) -> None:
        self.home = Path(home).expanduser() if home is not None else default_home()
        self.collection_name = collection
        self.config = config or KenningConfig.load(self.home)
        self._embedder = embedder
        self._collection: Collection | None = None

    # -- components ---------------------------------------------------------------------------------------------

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            name = self.config.embedder.name
            col = self._open_existing()
            if col is not None and "name" not in self.config.embedder.model_fields_set:
                name = col.manifest["embedder"]["name"]
            self._embedder = get_embedder(
                name, batch_size=self.config.embedder.batch_size, max_seq_length=self.config.embedder.max_seq_length
            )
        return self._embedder

    def _open_existing(self) -> Collection | None:
        if self._collection is None:
            try:
                self._collection = Collection.open(self.home, self.collection_name)
            except CollectionNotFound:
                return None
        return self._collection

    def collection(self) -> Collection:
        """The collection, opened for reading; raises :class:`CollectionNotFound` with a hint if it does not exist."""
        col = self._open_existing()
        if col is None:
            Collection.open(self.home, self.collection_name)  # raises with the helpful message
        return col  # type: ignore[return-value]

    def _effective(self, col: Collection | None) -> dict[str, Any]:
        """Chunking/BM25/dense settings: the collection's own, overridden only by fields set explicitly."""
        out: dict[str, Any] = {}
        for stage, model in (("chunking", ChunkingConfig), ("lexical", LexicalConfig), ("dense", DenseConfig)):
            given = getattr(self.config, stage)
            if col is None:
                out[stage] = given
                continue
            stored = dict(col.manifest.get(stage, {}))
            stored.update({f: getattr(given, f) for f in given.model_fields_set})
            out[stage] = model.model_validate(stored)
        return out

    # -- verbs --------------------------------------------------------------------------------------------------

    def index(self, paths: Sequence[str | Path], *, progress: ProgressFn | None = None) -> IndexReport:
        """Add, update and remove documents so the collection matches ``paths``."""
        existing = self._open_existing()
        settings = self._effective(existing)
        cfg = self.config.model_copy(update=settings)
        embedder = self.embedder
        if self._collection is not None:
            self._collection.close()
            self._collection = None
        col = Collection.create_or_open(self.home, self.collection_name, cfg, model=embedder.name, dim=embedder.dim)
        self._collection = col
        with col.locked():
            return index_paths(
                col,
                paths,
                ingest=cfg.ingest,
                chunking=settings["chunking"],
                embedder=embedder,
                commit_chunks=cfg.indexing.commit_chunks,
                progress=progress,
            )

    def searcher(self) -> Searcher:
        col = self.collection()
        mode = self.config.retrieval.mode
        needs_embedder = mode != "bm25"
        return Searcher(col, self.embedder if needs_embedder else None, self.config.retrieval)

    def search(
        self,
        query: str,
        *,
        mode: str | None = None,
        k: int | None = None,
        filters: Filters | Sequence[str] | None = None,
        reranker: Reranker | None = None,
        rerank_depth: int = 30,
    ) -> list[Hit]:
        """Ranked chunks for ``query``. With a ``reranker``, the top ``rerank_depth`` are reordered."""
        col = self.collection()
        flt = filters if isinstance(filters, Filters) else Filters.parse(filters)
        mode = mode or self.config.retrieval.mode
        searcher = Searcher(col, self.embedder if mode != "bm25" else None, self.config.retrieval)
        k = k or self.config.retrieval.k
        depth = max(k, rerank_depth) if reranker else k
        hits = searcher.search(query, mode=mode, k=depth, filters=flt)
        if reranker is not None:
            hits = reranker.rerank(query, hits, k=k)
        return hits[:k]

    def collections(self) -> list[str]:
        return list_collections(self.home)

    def info(self) -> dict[str, Any]:
        col = self.collection()
        docs, chunks = col.catalog.counts()
        return {
            "collection": col.name,
            "folder": str(col.folder),
            "documents": docs,
            "chunks": chunks,
            "embedder": col.manifest["embedder"],
            "chunking": col.manifest["chunking"],
            "snapshot": col.manifest.get("snapshot"),
            "stale": col.is_stale(),
        }

    def close(self) -> None:
        if self._collection is not None:
            self._collection.close()
            self._collection = None
