"""GraphRAG on a collection: build the entity graph with an LLM, estimate that build first, and answer local and
global questions from it (a part of :class:`kenning.Engine`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal

from .config import KenningConfig
from .errors import ConfigError, IndexError_
from .providers.llm.base import LLM, closing

if TYPE_CHECKING:
    from .generate.answer import Draft
    from .graph.graphrag import GraphRAGEstimate
    from .graph.types import GraphBuild
    from .providers.embedders import Embedder
    from .store import Store

__all__ = ["GraphRAGMixin"]

NO_LLM = (
    "GraphRAG needs a language model: pass --llm PROVIDER:MODEL (e.g. --llm local for the packaged model, or "
    "--llm openai:gpt-4o-mini), set [graph] llm_model, or set [llm] provider and model in kenning.toml"
)
SCOPES = ("local", "global")


class GraphRAGMixin:
    """``build_graphrag``, ``graphrag_estimate`` and ``graphrag_draft``."""

    config: KenningConfig
    embedder: Embedder

    if TYPE_CHECKING:  # Engine and ModelsMixin define these; a stub here would shadow them in Engine's MRO

        @property
        def llm(self) -> LLM | None: ...
        def collection(self) -> Store: ...
        def _writing(self, config: KenningConfig | None = None, **kw: Any) -> Any: ...

    @contextmanager
    def _graphrag_llm(self, llm: LLM | None) -> Iterator[LLM]:
        """``llm`` when given; else ``[graph] llm_model`` (built for this call, closed after); else the configured
        ``[llm]``; none of them → :class:`ConfigError` saying how to configure one."""
        if llm is not None:
            yield llm
            return
        if self.config.graph.llm_model:
            from .providers.llm import get_llm, parse_llm_spec

            own = get_llm(self.config.llm.model_copy(update=parse_llm_spec(self.config.graph.llm_model)))
            if own is None:
                raise ConfigError(f"graph.llm_model {self.config.graph.llm_model!r} names no model; {NO_LLM}")
            with closing(own):
                yield own
            return
        if self.llm is None:
            raise ConfigError(NO_LLM)
        yield self.llm

    def build_graphrag(
        self, *, llm: LLM | None = None, progress: Callable[[str, int, int | None], None] | None = None
    ) -> GraphBuild:
        """Build (or update, paying only for what changed) the collection's entity graph, community reports
        included; returns the build record with what it made and spent (``stats``)."""
        self.sqlite_only("GraphRAG (the entity graph)")
        from .graph.graphrag import build_graphrag

        self.collection()  # raises CollectionNotFound with its hint
        with self._graphrag_llm(llm) as model, self._writing() as col:
            return build_graphrag(
                col.catalog,
                model,
                self.config.graph,
                progress=progress,
                tokenizer=self.config.chunking.tokenizer,
            )

    def graphrag_estimate(self, *, model: str | None = None) -> GraphRAGEstimate:
        """What building the entity graph would cost with ``model`` (default: the model a build would use), cached
        calls left out, calibrated by the last build of that model on this collection when there is one."""
        self.sqlite_only("GraphRAG (the entity graph)")
        from .graph.graphrag import KIND, estimate_graphrag_build
        from .index import graph_tables
        from .providers.llm.pricing import PriceTable

        if model is None:
            with self._graphrag_llm(None) as llm:
                model = llm.name
        catalog = self.collection().catalog
        chunks = [(row.chunk_id, row.text) for row in catalog.iter_chunks()]
        last = graph_tables.last_build(catalog, KIND)
        history = last.stats if last is not None and last.settings.get("model") == model else None
        return estimate_graphrag_build(
            chunks,
            model=model,
            config=self.config.graph,
            tokenizer=self.config.chunking.tokenizer,
            prices=PriceTable(self.config.llm.prices),
            cached=lambda key: graph_tables.cached_llm_call(catalog, key) is not None,
            history=history,
        )

    def graphrag_draft(
        self, question: str, *, scope: Literal["local", "global"] = "global", llm: LLM | None = None
    ) -> Draft:
        """A draft answer to ``question`` from the entity graph: ``local`` around the entities it names, ``global``
        by map-reduce over the community reports at ``graph.community_level``. Its ``[n]`` cite chunks, so the
        verifier checks it like any other draft. No entity graph yet → :class:`IndexError_` saying how to build one."""
        self.sqlite_only("GraphRAG (the entity graph)")
        from .graph.graphrag import KIND, NO_GRAPH, global_search, local_search
        from .index import graph_tables

        if not question or not question.strip():
            raise ConfigError("the question is empty")
        if scope not in SCOPES:
            raise ConfigError(f"scope must be one of {', '.join(SCOPES)}; got {scope!r}")
        catalog = self.collection().catalog
        if graph_tables.last_build(catalog, KIND) is None:
            raise IndexError_(NO_GRAPH)
        tokenizer = self.config.chunking.tokenizer
        with self._graphrag_llm(llm) as model:
            if scope == "local":
                return local_search(catalog, model, question, embedder=self.embedder, tokenizer=tokenizer)
            return global_search(
                catalog,
                model,
                question,
                level=self.config.graph.community_level,
                embedder=self.embedder,
                tokenizer=tokenizer,
            )
