"""The cost advisor on a collection: each mode's calls, tokens, money and time before they are paid, beside what the
last builds recorded, and the three-question recommendation (a part of :class:`kenning.Engine`; the arithmetic and
the decision table live in :mod:`kenning.graph.plan`).

>>> plan = engine.plan(model="openai:gpt-4o-mini", queries=50, thematic=True)   # doctest: +SKIP
>>> plan.row("graphrag").index.cost_usd, plan.decision.mode                       # doctest: +SKIP
(0.0123, 'lazygraphrag')
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .config import KenningConfig
from .errors import InputError
from .graph.plan import (
    MODE_TITLES,
    MODES,
    REUSE_QUERIES,
    Check,
    Decision,
    ModeCost,
    Plan,
    Spend,
    answer_call,
    concept_seconds,
    decide,
    global_search_calls,
    mean,
    priced,
    relevance_calls,
    reports_expected,
)
from .providers.llm.base import LLM

if TYPE_CHECKING:
    from .graph.graphrag import GraphRAGEstimate
    from .index import Collection
    from .index.catalog import Catalog
    from .providers.llm.pricing import PriceTable
    from .types import Chunk, Document

__all__ = ["PlanMixin", "Plan", "ModeCost", "Spend", "Check", "Decision", "MODES", "MODE_TITLES", "REUSE_QUERIES"]


class _Corpus:
    """The collection's documents and chunks as the estimators read them."""

    def __init__(self, catalog: Catalog) -> None:
        from .types import Chunk, Document

        # counted at index time with the collection's tokenizer
        tokens = {span.chunk_id: span.n_tokens for span in catalog.chunk_spans()}
        by_doc: dict[str, list[Chunk]] = {}
        kinds: dict[str, tuple[str, str]] = {}
        for row in catalog.iter_chunks():
            by_doc.setdefault(row.doc_id, []).append(
                Chunk(row.chunk_id, row.doc_id, row.index, row.text, row.start, row.end, tokens.get(row.chunk_id, 0))
            )
            kinds[row.doc_id] = (row.kind, row.title)
        texts = catalog.document_texts(list(by_doc))
        self.docs: list[tuple[Document, list[Chunk]]] = [
            (Document(d, "", kinds[d][0], texts[d][0], kinds[d][1], texts[d][1]), chunks)  # type: ignore[arg-type]
            for d, chunks in by_doc.items()
            if d in texts
        ]
        self.chunk_tokens = [c.n_tokens for _, chunks in self.docs for c in chunks]
        self.pairs = [(c.chunk_id, c.text) for _, chunks in self.docs for c in chunks]


class PlanMixin:
    """``plan``: the cost advisor."""

    config: KenningConfig
    collection_name: str

    if TYPE_CHECKING:  # Engine and its other mixins define these; a stub here would shadow them in Engine's MRO

        @property
        def llm(self) -> LLM | None: ...
        def collection(self) -> Collection: ...
        def _effective(self, col: Collection | None) -> dict[str, Any]: ...
        def graphrag_estimate(self, *, model: str | None = None) -> GraphRAGEstimate: ...

    def plan(
        self,
        *,
        model: str | None = None,
        queries: int | None = None,
        audit: bool | None = None,
        thematic: bool | None = None,
    ) -> Plan:
        """Per mode (vector, contextual chunks, LazyGraphRAG, GraphRAG): the index-time LLM calls, tokens, money and
        time still to pay (cached work left out), one query's cost, what the last builds recorded beside what this
        advisor estimates for them, and the recommendation from the three questions (None: not answered).

        ``model`` (``PROVIDER:MODEL``) is the LLM the LLM costs are for; default: ``[graph] llm_model``, else
        ``[llm]``, else the packaged local generator (money 0). ``queries``: how many questions the index will
        serve (above :data:`REUSE_QUERIES` counts as reuse). Money is None where the model's price is unknown: add
        it to ``[llm.prices]`` in kenning.toml. A missing collection raises :class:`CollectionNotFound`; an empty
        one :class:`InputError`."""
        from .providers.llm.local import LocalLLM
        from .providers.llm.pricing import PRICES_AS_OF, PriceTable

        if queries is not None and queries < 0:
            raise InputError(f"queries must be 0 or more, got {queries}")
        col = self.collection()
        catalog = col.catalog
        documents, chunks = catalog.counts()
        if not chunks:
            raise InputError(
                f"collection {self.collection_name!r} has no chunks: nothing to plan for; index documents first "
                f"(kenning index -c {self.collection_name} PATHS)"
            )
        llm = self._plan_llm(model)
        local = isinstance(llm, LocalLLM)
        prices = PriceTable(self.config.llm.prices)
        corpus = _Corpus(catalog)
        answer = priced(
            answer_call(
                mean(corpus.chunk_tokens),
                k=self.config.answer.k,
                context_tokens=self.config.answer.context_tokens,
                tokenizer=self.config.chunking.tokenizer,
            ),
            prices,
            llm.name,
            local=local,
        )
        args = (catalog, corpus, llm, prices, local, answer)
        rows = (
            self._vector_row(answer),
            self._contextual_row(col, *args),
            self._lazy_row(*args, model_given=model is not None),
            self._graphrag_row(*args),
        )
        reuse = None if queries is None else queries > REUSE_QUERIES
        return Plan(
            self.collection_name,
            llm.name,
            local,
            documents,
            chunks,
            sum(corpus.chunk_tokens),
            queries,
            rows,
            decide(thematic=thematic, reuse=reuse, audit=audit),
            PRICES_AS_OF,
        )

    def _plan_llm(self, spec: str | None) -> LLM:
        """The model priced: ``spec``, else ``[graph] llm_model``, else ``[llm]``, else the packaged local generator.
        Building it contacts nothing and loads nothing."""
        from .providers.llm import get_llm, parse_llm_spec
        from .providers.llm.packaged import DEFAULT_LOCAL_MODEL

        spec = spec or self.config.graph.llm_model
        if spec:
            llm = get_llm(self.config.llm.model_copy(update=parse_llm_spec(spec)))
        elif self.config.llm.provider != "none":
            llm = get_llm(self.config.llm)
        else:
            llm = get_llm(self.config.llm.model_copy(update=parse_llm_spec(f"local:{DEFAULT_LOCAL_MODEL}")))
        if llm is None:
            raise InputError(f"--llm {spec!r} names no model; the cost advisor prices an LLM: give PROVIDER:MODEL")
        return llm

    # -- the rows ---------------------------------------------------------------------------------------------------

    def _vector_row(self, answer: Spend) -> ModeCost:
        return ModeCost(
            "vector",
            MODE_TITLES["vector"],
            index=Spend(),
            per_query=answer,
            built=True,
            notes=(
                "the index exists: vector and BM25 indexing call no LLM",
                "per query: one answer call (none with extractive answers)",
            ),
        )

    def _contextual_row(
        self,
        col: Collection,
        catalog: Catalog,
        corpus: _Corpus,
        llm: LLM,
        prices: PriceTable,
        local: bool,
        answer: Spend,
    ) -> ModeCost:
        from .index.context import Situator, estimate
        from .index.graph_tables import context_call_totals

        context = self._effective(col)["context"]
        situator = Situator(llm, context, tokenizer=self.config.chunking.tokenizer)
        left = estimate(catalog, corpus.docs, situator, prices=prices, local=local)
        recorded = _spend(context_call_totals(catalog, llm.name))
        checks: tuple[Check, ...] = ()
        if recorded.calls:
            whole = estimate(None, corpus.docs, situator, prices=prices, local=local)
            per_call = (whole.prompt_tokens + whole.completion_tokens) / max(1, whole.calls)
            checks = (Check("tokens", per_call * recorded.calls, recorded.tokens),)
        return ModeCost(
            "contextual",
            MODE_TITLES["contextual"],
            index=Spend(left.calls, left.prompt_tokens, left.completion_tokens, left.cost_usd, left.seconds),
            per_query=answer,
            cached_calls=left.cached,
            paid=recorded if recorded.calls else None,
            built=bool(context.llm) and left.calls == 0,
            checks=checks,
            notes=(
                f"one call per chunk: {left.line()}",
                *(
                    ("checked per recorded call: the estimate for that many contexts against their tokens",)
                    * bool(checks)
                ),
            ),
        )

    def _lazy_row(
        self,
        catalog: Catalog,
        corpus: _Corpus,
        llm: LLM,
        prices: PriceTable,
        local: bool,
        answer: Spend,
        *,
        model_given: bool,
    ) -> ModeCost:
        from .graph.concepts import concept_key, get_extractor
        from .index import graph_tables

        graph = self.config.graph
        chunks = len(corpus.pairs)
        extractor = get_extractor(graph.extractor)  # loads nothing until it extracts
        keys = {concept_key(extractor.id, text) for _, text in corpus.pairs}
        to_extract = len(keys) - len(graph_tables.cached_concepts(catalog, list(keys)))
        build = graph_tables.last_build(catalog, "concept")
        stats = build.stats if build is not None and build.stats.get("extractor") == extractor.id else {}
        seconds, how = concept_seconds(chunks, to_extract, graph.extractor, stats)
        llm_tests = graph.relevance == "llm" or (
            graph.relevance == "auto" and (model_given or self.config.llm.provider != "none")
        )
        per_query = answer
        if llm_tests and graph.budget:
            tests = priced(relevance_calls(graph.budget, mean(corpus.chunk_tokens)), prices, llm.name, local=local)
            per_query = tests + answer
        recorded = _build_seconds(build.stats) if build is not None else None
        checks: tuple[Check, ...] = ()
        first = concept_seconds(int(stats.get("chunks") or 0), int(stats.get("extracted") or 0), graph.extractor)[0]
        if recorded is not None and stats.get("extracted") and first is not None:
            checks = (Check("seconds", first, recorded),)
        test = "an LLM yes/no" if llm_tests else "the reranker or sentence similarity (no LLM)"
        current = build is not None and build.data_version == catalog.data_version()
        notes = [
            f"the concept graph calls no LLM; {to_extract:,} of {chunks:,} chunks to extract (the rest cached); "
            f"CPU time from {how}",
            f"per query: {graph.budget} relevance tests by {test}, then one answer call",
        ]
        if build is not None and not current:
            notes.append("built from an older version of the collection: rebuild it")
        return ModeCost(
            "lazygraphrag",
            MODE_TITLES["lazygraphrag"],
            index=Spend(seconds=seconds),
            per_query=per_query,
            paid=Spend(seconds=recorded) if recorded is not None else None,
            built=current,
            checks=checks,
            notes=tuple(notes),
        )

    def _graphrag_row(
        self,
        catalog: Catalog,
        corpus: _Corpus,
        llm: LLM,
        prices: PriceTable,
        local: bool,
        answer: Spend,
    ) -> ModeCost:
        from .graph.graphrag import DEFAULT_RATES, KIND, estimate_graphrag_build, reports_at_level
        from .graph.graphrag.estimate import count
        from .graph.graphrag.prompts import MAP, REDUCE, MapInput, ReduceInput
        from .graph.graphrag.reports import report_text
        from .index import graph_tables

        tokenizer = self.config.chunking.tokenizer
        left = self.graphrag_estimate(model=llm.name)
        index = priced(
            Spend(left.calls, left.prompt_tokens, left.completion_tokens, seconds=left.seconds),
            prices,
            llm.name,
            local=local,
        )
        build = graph_tables.last_build(catalog, KIND)
        recorded = _spend(graph_tables.llm_call_totals(catalog, "graphrag."))
        checks: tuple[Check, ...] = ()
        if build is not None:
            per = build.stats.get("per_prompt") or {}
            used = sum(int(p.get("prompt_tokens", 0)) + int(p.get("completion_tokens", 0)) for p in per.values())
            first = estimate_graphrag_build(corpus.pairs, model=llm.name, config=self.config.graph, tokenizer=tokenizer)
            if used:
                checks = (Check("tokens", first.total_tokens, used),)
        level = self.config.graph.community_level
        reported = reports_at_level(graph_tables.communities(catalog, KIND), level) if build is not None else []
        if reported:
            sizes = [count_tokens(report_text(c.report), tokenizer) for c in reported]
            where = f"{len(sizes)} reports at level {level} as written here"
        else:
            reports = reports_expected(
                sum(corpus.chunk_tokens), level, DEFAULT_RATES.reports_per_chunk * len(corpus.pairs)
            )
            sizes = [round(DEFAULT_RATES.report_completion)] * reports
            where = (
                f"~{reports:,} reports of ~{sizes[0]} tokens at level {level} (no entity graph here yet; "
                "communities per million tokens as in the GraphRAG paper's corpora)"
            )
        search = global_search_calls(
            sizes,
            map_overhead=count(MAP.messages(MapInput(question="", reports=[])), tokenizer),
            reduce_overhead=count(REDUCE.messages(ReduceInput(question="", points=[])), tokenizer),
        )
        return ModeCost(
            "graphrag",
            MODE_TITLES["graphrag"],
            index=index,
            per_query=priced(search, prices, llm.name, local=local),
            cached_calls=left.cached_calls,
            paid=recorded if recorded.calls else None,
            built=build is not None and build.data_version == catalog.data_version(),
            checks=checks,
            notes=(
                *left.assumptions,
                f"per query (global search): map over {where}, then one reduce call",
                *(
                    ("checked against the last build's tokens: a first-build estimate (assumed rates, nothing cached)",)
                    * bool(checks)
                ),
            ),
        )


def count_tokens(text: str, tokenizer: str) -> int:
    from .chunking import get_tokenizer

    return get_tokenizer(tokenizer).count(text)


def _spend(totals: dict[str, float]) -> Spend:
    return Spend(
        int(totals["calls"]),
        int(totals["prompt_tokens"]),
        int(totals["completion_tokens"]),
        float(totals["cost_usd"]),
        float(totals["seconds"]),
    )


def _build_seconds(stats: dict[str, Any]) -> float | None:
    parts: Sequence[Any] = [stats.get(k) for k in ("seconds_extract", "seconds_graph", "seconds_communities")]
    if all(isinstance(p, int | float) for p in parts):
        return float(sum(parts))
    seconds = stats.get("seconds")
    return float(seconds) if isinstance(seconds, int | float) else None
