"""The facade: settings → components, and the few verbs users call.

>>> from kenning import Engine
>>> engine = Engine("/tmp/kenning-home")                        # doctest: +SKIP
>>> report = engine.index(["docs/"])                            # doctest: +SKIP
>>> [h.chunk_id for h in engine.search("vacuum full", k=3)]     # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict, Unpack

from .config import ChunkingConfig, ContextConfig, DenseConfig, KenningConfig, LexicalConfig, default_home
from .engine_documents import DocumentsMixin
from .errors import CollectionNotFound, ConfigError, IndexError_, MissingExtraError, ProviderError
from .generate.abstain import DEFAULT_ABSTENTION, AbstentionModel, Signals, after_draft, term_coverage
from .generate.answer import Draft, extractive_draft, llm_draft, llm_redraft
from .generate.extractive import ExtractiveAnswerer
from .generate.packing import citations_for, pack
from .generate.parent import chunk_sources, expand_to_parents
from .generate.prompts import NOT_IN_SOURCES_ANSWER
from .generate.reading import Reading, focus, read_sources
from .index import Collection, index_paths, list_collections
from .index.adopt import embedder_for, reranker_for
from .index.writer import ProgressFn
from .providers.embedders import Embedder, get_embedder
from .providers.llm.base import LLM, closing
from .rerank import LLMReranker, Reranker, rerank_with_usage
from .retrieve import Filters, Searcher, hit_from_row
from .retrieve.transforms import TRANSFORMS, QueryPlan, plan_query, search_plan
from .types import Answer, Hit, IndexReport, Usage, Verdict
from .verify.base import Verifier

if TYPE_CHECKING:
    from .index.context import ContextEstimate, Situator
    from .train.tune import TuneOptions, TuneReport
from .verify.policy import attach_citations, strip_unsupported, verify_text

__all__ = ["Engine", "SearchOptions"]


class SearchOptions(TypedDict, total=False):
    """The keyword options of :meth:`Engine.search` and :meth:`Engine.search_with_usage`; each defaults to ``None``,
    which means the collection's ``retrieval`` setting."""

    mode: str | None  # bm25, dense or hybrid
    k: int | None  # how many hits
    filters: Filters | Sequence[str] | None  # a Filters, or expressions such as "kind=markdown"
    reranker: Reranker | None  # overrides the one ``rerank`` names
    rerank_depth: int | None  # how many first-stage hits the reranker reorders
    rerank: bool | str | None  # auto, llm or none; False: no reranking
    transform: str | None  # none, hyde or multi


class Engine(DocumentsMixin):
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
        self.config = (config or KenningConfig.load(self.home)).for_collection(collection)
        self._embedder = embedder
        self._collection: Collection | None = None
        self._llm: LLM | None | bool = False  # False: not built yet
        self._local: LLM | None = None  # the packaged local generator, when answers use it
        self._verifiers: dict[str, Verifier] = {}
        self._reranker: Reranker | None | bool = False  # False: not looked up yet
        self._llm_reranker: LLMReranker | None = None

    # -- components ---------------------------------------------------------------------------------------------

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            options = {
                "batch_size": self.config.embedder.batch_size,
                "max_seq_length": self.config.embedder.max_seq_length,
            }
            col = self._open_existing()
            if col is not None and "name" not in self.config.embedder.model_fields_set:
                col.snapshot()  # repairs a switch of embedder that was killed halfway, before it is read
                self._embedder = embedder_for(col, **options)  # the one it was built (or tuned) with
            else:
                self._embedder = get_embedder(self.config.embedder.name, **options)
        return self._embedder

    def reranker(self, kind: str | None = None) -> Reranker | None:
        """The reranker ``kind`` (default ``retrieval.rerank``) names.

        ``auto``: the collection's own (``kenning tune`` trains it), None when it has none; ``llm``: an
        :class:`LLMReranker` (``retrieval.llm_rerank`` style) over :meth:`retrieval_llm`; ``none``: None.
        """
        kind = kind or self.config.retrieval.rerank
        if kind not in ("auto", "none", "llm"):
            raise ConfigError(f"rerank must be auto, none or llm; got {kind!r}")
        if kind == "none":
            return None
        if kind == "llm":
            if self._llm_reranker is None:
                self._llm_reranker = LLMReranker(self.retrieval_llm(), style=self.config.retrieval.llm_rerank)
            return self._llm_reranker
        if self._reranker is False:
            self._reranker = reranker_for(self.collection())
        return self._reranker  # type: ignore[return-value]

    def rerank_depth(self) -> int:
        """Candidates the reranker sees: ``retrieval.rerank_depth`` when set, else the depth it was tuned for."""
        if "rerank_depth" in self.config.retrieval.model_fields_set:
            return self.config.retrieval.rerank_depth
        entry = self.collection().manifest.get("reranker") or {}
        return int(entry.get("depth", self.config.retrieval.rerank_depth))

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
        stages = (
            ("chunking", ChunkingConfig),
            ("context", ContextConfig),
            ("lexical", LexicalConfig),
            ("dense", DenseConfig),
        )
        for stage, model in stages:
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
        context = settings["context"]
        situator = self.situator(context) if context.llm else None
        with col.locked(), closing(situator.llm if situator and context.llm_model else None):
            return index_paths(
                col,
                paths,
                ingest=cfg.ingest,
                chunking=settings["chunking"],
                embedder=embedder,
                commit_chunks=cfg.indexing.commit_chunks,
                progress=progress,
                context=context,
                situator=situator,
            )

    def context_settings(self) -> ContextConfig:
        """The context settings an index run uses: the collection's own, overridden by fields set explicitly."""
        return self._effective(self._open_existing())["context"]

    def estimate_context(self, paths: Sequence[str | Path]) -> ContextEstimate:
        """What writing LLM contexts for the chunks an index run of ``paths`` would (re)make would cost: calls,
        tokens (and how many a prompt cache would serve), money and, once this model has run here, time."""
        from .index.context import estimate
        from .index.writer import changed_documents
        from .providers.llm.local import LocalLLM
        from .providers.llm.pricing import PriceTable

        existing = self._open_existing()  # None: nothing indexed yet, so nothing cached (and nothing is created)
        catalog = existing.catalog if existing is not None else None
        settings = self._effective(existing)
        situator = self.situator(settings["context"])
        docs = changed_documents(
            catalog,
            paths,
            ingest=self.config.ingest,
            chunking=settings["chunking"],
            context=settings["context"],
            embedder=self.embedder if settings["chunking"].strategy == "semantic" else None,
        )
        with closing(situator.llm if settings["context"].llm_model else None):
            return estimate(
                catalog,
                list(docs),
                situator,
                prices=PriceTable(self.config.llm.prices),
                local=isinstance(situator.llm, LocalLLM),
            )

    def context_llm(self, context: ContextConfig | None = None) -> LLM:
        """The model that writes situating contexts: ``context.llm_model``, else the configured LLM, else the packaged
        local generator."""
        context = context or self._effective(self._open_existing())["context"]
        if context.llm_model:
            from .providers.llm import get_llm, parse_llm_spec

            llm = get_llm(self.config.llm.model_copy(update=parse_llm_spec(context.llm_model)))
        else:
            llm = self.answer_model("generate")
        if llm is None:
            raise ConfigError("context.llm needs a language model: set context.llm_model or --llm PROVIDER:MODEL")
        return llm

    def situator(self, context: ContextConfig | None = None) -> Situator:
        """Writes (and caches) the LLM situating context of chunks, per ``context``."""
        from .index.context import Situator

        context = context or self._effective(self._open_existing())["context"]
        return Situator(self.context_llm(context), context, tokenizer=self.config.chunking.tokenizer)

    def searcher(self) -> Searcher:
        col = self.collection()
        mode = self.config.retrieval.mode
        needs_embedder = mode != "bm25"
        return Searcher(col, self.embedder if needs_embedder else None, self.config.retrieval)

    def search(self, query: str, **options: Unpack[SearchOptions]) -> list[Hit]:
        """Ranked chunks for ``query``: :meth:`search_with_usage` without what the LLM spent.

        Takes the same keyword options (:class:`SearchOptions`): ``mode``, ``k``, ``filters``, ``reranker``,
        ``rerank_depth``, ``rerank``, ``transform``.
        """
        return self.search_with_usage(query, **options)[0]

    def search_with_usage(
        self,
        query: str,
        *,
        mode: str | None = None,
        k: int | None = None,
        filters: Filters | Sequence[str] | None = None,
        reranker: Reranker | None = None,
        rerank_depth: int | None = None,
        rerank: bool | str | None = None,
        transform: str | None = None,
    ) -> tuple[list[Hit], Usage, list[str]]:
        """Ranked chunks for ``query``, the tokens its query transform and LLM reranking spent, and notes on what
        degraded. With a reranker, the top ``rerank_depth`` are reordered.

        The reranker is ``reranker`` when given, else the one ``rerank`` names (``auto``, ``llm``, ``none``; default
        ``retrieval.rerank``, see :meth:`reranker`); ``rerank=False`` turns reranking off for this call.
        ``transform`` (``none``, ``hyde``, ``multi``; default ``retrieval.transform``) lets an LLM reshape the query
        first (see :mod:`kenning.retrieve.transforms`).
        """
        col = self.collection()
        flt = filters if isinstance(filters, Filters) else Filters.parse(filters)
        mode = mode or self.config.retrieval.mode
        searcher = Searcher(col, self.embedder if mode != "bm25" else None, self.config.retrieval)
        k = k or self.config.retrieval.k
        kind = "none" if rerank is False else None if rerank is None or rerank is True else rerank
        if kind == "none":
            reranker = None
        elif reranker is None:
            reranker = self.reranker(kind)
        if reranker is None:
            depth = k
        elif rerank_depth or not isinstance(reranker, LLMReranker):
            depth = max(k, rerank_depth or self.rerank_depth())
        else:  # the depth a tuned cross-encoder was fitted for says nothing about an LLM
            depth = max(k, self.config.retrieval.rerank_depth)
        plan = self._query_plan(query, transform, mode)
        hits = search_plan(searcher, plan, mode=mode, k=depth, filters=flt)
        usage, notes = plan.usage, list(plan.notes)
        if reranker is not None:
            reranked = rerank_with_usage(reranker, query, hits, k=k)
            hits, usage, notes = list(reranked.hits), usage + reranked.usage, notes + list(reranked.notes)
        return hits[:k], usage, notes

    def _query_plan(self, query: str, transform: str | None, mode: str) -> QueryPlan:
        """The searches ``transform`` turns ``query`` into; the LLM is built only when the transform calls it."""
        name = transform or self.config.retrieval.transform
        needs_llm = name in TRANSFORMS and name != "none" and not (name == "hyde" and mode == "bm25")
        llm = self.retrieval_llm() if needs_llm else None
        return plan_query(name, query, llm, mode=mode, rewrites=self.config.retrieval.rewrites)

    def retrieval_llm(self) -> LLM:
        """The model query transforms and LLM reranking use: the configured LLM, else the packaged local one."""
        llm = self._configured_or_local_llm()
        if llm is None:
            raise ConfigError(
                "query transforms and LLM reranking need a language model: set [llm] in kenning.toml or --llm "
                "PROVIDER:MODEL, or install the packaged local one (pip install 'kenning[local]')"
            )
        return llm

    def fetch_chunk(self, chunk_id: str) -> Hit | None:
        """One chunk by id (``doc_id::index``), as a Hit with rank 0, or None."""
        row = self.collection().catalog.chunk_rows([chunk_id], by="chunk_id").get(chunk_id)
        return hit_from_row(row, 0, 0.0) if row else None

    # -- answering ----------------------------------------------------------------------------------------------

    @property
    def llm(self) -> LLM | None:
        """The configured language model (None: no model configured)."""
        if self._llm is False:
            from .providers.llm import get_llm

            self._llm = get_llm(self.config.llm)
        return self._llm  # type: ignore[return-value]

    def answer_model(self, mode: str | None = None) -> LLM | None:
        """The model that drafts answers in ``mode`` (auto / generate / extractive); None means extractive.

        ``auto``: the configured LLM, else the packaged local generator when ``kenning[local]`` is installed.
        """
        mode = mode or self.config.answer.mode
        if mode not in ("auto", "generate", "extractive"):
            raise ConfigError(f"answer mode must be auto, generate or extractive; got {mode!r}")
        if mode == "extractive":
            return None
        llm = self._configured_or_local_llm()
        if llm is None and mode == "generate":
            raise ConfigError(
                "--mode generate needs a language model: install the local one (pip install 'kenning[local]') "
                "or set --llm PROVIDER:MODEL"
            )
        return llm

    def _configured_or_local_llm(self) -> LLM | None:
        """The configured LLM, else the packaged local generator when ``kenning[local]`` is installed, else None."""
        if self.llm is not None:
            return self.llm
        from .providers.llm.local import DEFAULT_LOCAL_MODEL, LocalLLM, local_generator_available

        if local_generator_available():
            if self._local is None:
                self._local = LocalLLM(DEFAULT_LOCAL_MODEL)
            return self._local
        return None

    def verifier(self, kind: str | None = None, *, llm: LLM | None = None) -> tuple[Verifier, list[str]]:
        """The verifier to use and notes for the user (see :func:`kenning.verify.choose.choose_verifier`)."""
        from .providers.llm.local import LocalLLM
        from .verify.choose import choose_verifier

        llm = llm if llm is not None else self.llm
        remote = llm is not None and not isinstance(llm, LocalLLM)
        check, notes = choose_verifier(
            kind or self.config.answer.verifier, llm=llm, remote=remote, home=self.home, cache=self._verifiers
        )
        if check is None:
            raise ConfigError("verifier 'none' checks nothing; pass verify=False instead")
        return check, notes

    def ask(
        self,
        question: str,
        *,
        llm: LLM | None | bool = True,
        mode: str | None = None,
        agent: bool = False,
        verify: bool = True,
        verifier: str | None = None,
        policy: str | None = None,
        k: int | None = None,
        filters: Filters | Sequence[str] | None = None,
        reranker: Reranker | None = None,
        parent: str | None = None,
        on_step: Callable[[dict[str, Any]], None] | None = None,
        on_token: Callable[[str], None] | None = None,
    ) -> Answer:
        """Answer ``question`` from the collection with numbered citations and a verdict per claim.

        ``mode`` (default ``answer.mode``): ``auto`` drafts with the configured LLM, else the packaged local
        generator when installed, else extractively; ``generate`` requires a model; ``extractive`` uses none.
        ``llm`` overrides the model (an :class:`LLM`, or ``False`` for extractive). When retrieval signals say the
        sources do not answer, or the draft ends with nothing supported, the answer is "not in the sources"
        (``answerable=False``), with the closest sources and no claims. ``on_token`` receives the generator's text
        as it streams. ``agent=True`` lets the model search and fetch on its own within ``answer.agent_steps``.
        ``parent`` (default ``answer.parent``): ``section`` has the generator read each source's surrounding section
        (:mod:`kenning.generate.parent`); the answer's citations still carry the chunk's id, text and offsets.
        """
        t0 = time.perf_counter()
        if not question or not question.strip():
            raise ConfigError("the question is empty")
        cfg = self.config.answer
        policy = policy or cfg.policy
        if policy not in ("annotate", "strip", "retry"):
            raise ConfigError(f"policy must be annotate, strip or retry; got {policy!r}")
        parent = parent or cfg.parent
        if parent not in ("none", "section"):
            raise ConfigError(f"parent must be none or section; got {parent!r}")
        col = self.collection()
        if col.catalog.counts()[1] == 0:
            raise IndexError_(
                f"collection {col.name!r} is empty; index documents first: kenning index PATH --collection {col.name}"
            )
        notes: list[str] = []
        try:
            model = self.answer_model(mode) if llm is True else (llm or None)
        except (ProviderError, MissingExtraError) as exc:
            if (mode or cfg.mode) == "generate":
                raise
            model = None
            notes.append(f"the local generator could not be used ({exc}); answered extractively instead")
        kind = verifier or cfg.verifier
        if agent:
            check = self.verifier(kind, llm=model)[0] if verify and kind != "none" else None
            return self._ask_agent(question, model, check, notes, filters, on_step, t0)
        depth = cfg.rerank_depth if "rerank_depth" in cfg.model_fields_set else None
        hits = self.search(question, k=k or cfg.k, filters=filters, reranker=reranker, rerank_depth=depth)
        packed = pack(hits, budget_tokens=cfg.context_tokens, tokenizer=self.config.chunking.tokenizer)
        reading = read_sources(self.embedder, question, packed)
        signals = self._signals(question, hits, reading)
        abstention = self._abstention()
        confidence = abstention.probability(signals)
        if cfg.abstain and packed and confidence < abstention.threshold:
            why = (
                f"retrieval says the sources do not answer this (P(answerable) {confidence:.2f} < "
                f"{abstention.threshold:.2f}: best sentence similarity {signals.similarity:.2f}, question words "
                f"covered {signals.coverage:.0%})"
            )
            return self._abstained(question, packed, notes, why, model, confidence, t0)
        draft = self._draft(question, packed, reading, model, notes, on_token, parent=parent)
        check: Verifier | None = None
        if verify and kind != "none":
            # a model that failed to draft (the answer fell back to extractive) is not asked to fact-check either
            checker_llm = model if draft.mode == "llm" or kind == "llm" else None
            check, more = self.verifier(kind, llm=checker_llm)
            notes += more
        # Claims are checked against what the generator read (draft.packed): with parent sections, a verdict's
        # evidence may come from the section around a chunk rather than from the chunk itself.
        draft, verdicts, usage = self._check(check, draft, question)
        if policy == "retry" and model is not None and draft.mode == "llm":
            failing = [v.claim for v in verdicts if v.label != "SUPPORT"]
            if failing:
                try:
                    draft = llm_redraft(model, question, draft, failing, max_tokens=self.config.llm.max_tokens)
                    draft, verdicts, more_usage = self._check(check, draft, question)
                    usage = usage + more_usage
                    notes.append(f"regenerated once because {len(failing)} claim(s) were not supported")
                except ProviderError as exc:
                    notes.append(f"the retry failed ({exc}); kept the first answer")
        why = after_draft(not draft.answerable, verdicts) if cfg.abstain and check is not None else None
        if why is not None:
            shown = chunk_sources(draft.packed, packed)
            return self._abstained(question, shown, notes, why, model, confidence, t0, draft.usage + usage)
        text = draft.text
        if policy == "strip" and any(v.label == "NOT_SUPPORTED" for v in verdicts):
            text, verdicts = _strip(draft.text, verdicts)
            notes.append("unsupported claims were removed from the answer")
        return Answer(
            question=question,
            text=text,
            # numbered as the generator saw them, but each the retrieved chunk (not its section) with its offsets
            citations=citations_for(chunk_sources(draft.packed, packed), set(draft.cited)),
            verdicts=tuple(verdicts),
            mode=draft.mode,  # type: ignore[arg-type]
            model=draft.model,
            answerable=draft.answerable,
            invalid_citations=draft.invalid,
            usage=draft.usage + usage,
            seconds=time.perf_counter() - t0,
            verifier=check.name if check else "",
            notes=tuple(notes),
            confidence=round(confidence, 4),
        )

    def answerability(self, question: str, hits: Sequence[Hit]) -> tuple[Signals, float]:
        """The retrieval signals ``ask`` decides abstention on for these hits, and P(answerable) from them."""
        packed = pack(hits, budget_tokens=self.config.answer.context_tokens, tokenizer=self.config.chunking.tokenizer)
        signals = self._signals(question, hits, read_sources(self.embedder, question, packed))
        return signals, self._abstention().probability(signals)

    def _signals(self, question: str, hits: Sequence[Hit], reading: Reading) -> Signals:
        searcher = Searcher(self.collection(), None, self.config.retrieval)
        coverage = term_coverage(searcher.term_weights(question), hits, searcher.tokens)
        return Signals(reading.best_similarity, coverage)

    def _abstention(self) -> AbstentionModel:
        threshold = self.config.answer.abstain_threshold
        if threshold is None:
            return DEFAULT_ABSTENTION
        return dataclasses.replace(DEFAULT_ABSTENTION, threshold=threshold)

    @staticmethod
    def _abstained(
        question: str,
        packed: Sequence[Hit],
        notes: list[str],
        why: str,
        model: LLM | None,
        confidence: float,
        t0: float,
        usage: Usage | None = None,
    ) -> Answer:
        """ "Not in the sources": the closest sources shown (none marked cited), no claims."""
        return Answer(
            question=question,
            text=NOT_IN_SOURCES_ANSWER,
            citations=citations_for(sorted(packed, key=lambda h: h.rank), set()),
            verdicts=(),
            mode="llm" if model is not None else "extractive",
            model=model.name if model is not None else "extractive",
            answerable=False,
            usage=usage or Usage(),
            seconds=time.perf_counter() - t0,
            notes=(*notes, f"abstained: {why}"),
            confidence=round(confidence, 4),
        )

    def _draft(
        self,
        question: str,
        packed: list[Hit],
        reading: Reading,
        model: LLM | None,
        notes: list[str],
        on_token: Callable[[str], None] | None,
        *,
        parent: str = "none",
    ) -> Draft:
        if parent == "section" and packed:
            # After packing (which chose the sources by their chunks' sizes) and before drafting, so every drafter
            # reads the sections. The sources are read again because the extractive answerer and focus() pick
            # sentences from that reading; abstention has already decided on the chunks' reading, which it was
            # fitted on.
            docs = self.collection().catalog.document_texts([h.doc_id for h in packed])
            answer = self.config.answer
            tokenizer = self.config.chunking.tokenizer
            packed = expand_to_parents(packed, docs, budget_tokens=answer.parent_tokens, tokenizer=tokenizer)
            reading = read_sources(self.embedder, question, packed)
        if model is not None:
            from .providers.llm.local import LocalLLM

            given = packed
            if isinstance(model, LocalLLM):
                # A local model's prompt stays within local_context_tokens: with parent sections, focus picks each
                # source's best passage from its section instead of its chunk, so the section widens where the
                # passage may come from (the sentence next to the chunk), not the prompt.
                given = focus(
                    packed,
                    reading,
                    budget_tokens=self.config.answer.local_context_tokens,
                    tokenizer=self.config.chunking.tokenizer,
                )
            try:
                return llm_draft(model, question, given, max_tokens=self.config.llm.max_tokens, on_token=on_token)
            except ProviderError as exc:
                notes.append(f"the language model failed ({exc}); answered extractively instead")
        answerer = ExtractiveAnswerer(self.embedder, max_sentences=self.config.answer.extractive_sentences)
        return extractive_draft(answerer, question, packed, reading)

    @staticmethod
    def _check(check: Verifier | None, draft: Draft, question: str) -> tuple[Draft, list[Verdict], Usage]:
        """Verdicts on the draft's claims; a supported claim the model left uncited gets its evidence's citation."""
        if check is None or not draft.answerable:
            return draft, [], Usage()
        checked = verify_text(check, draft.text, draft.packed, question=question, cite_evidence=True)
        text, verdicts, added = attach_citations(draft.text, checked.verdicts, draft.packed)
        if added:
            draft = dataclasses.replace(draft, text=text, cited=draft.cited | added)
        return draft, verdicts, checked.usage

    def _ask_agent(
        self,
        question: str,
        model: LLM | None,
        check: Verifier | None,
        notes: list[str],
        filters: Filters | Sequence[str] | None,
        on_step: Callable[[dict[str, Any]], None] | None,
        t0: float,
    ) -> Answer:
        from .agent import Agent

        if model is None:
            raise ConfigError("the agent needs a language model: add --llm PROVIDER:MODEL (e.g. openai:gpt-4o-mini)")
        if check is None:
            check, _ = self.verifier("lexical")
        agent = Agent(
            model,
            search=lambda q: self.search(q, k=self.config.answer.k, filters=filters),
            fetch=self.fetch_chunk,
            verifier=check,
            max_steps=self.config.answer.agent_steps,
            on_step=on_step,
        )
        result = agent.run(question)
        cited = set(range(1, len(result.sources) + 1))
        return Answer(
            question=question,
            text=result.text,
            citations=citations_for(result.sources, cited),
            verdicts=tuple(result.verdicts),
            mode="agent",
            model=model.name,
            answerable=bool(result.sources),
            invalid_citations=result.invalid,
            usage=result.usage,
            seconds=time.perf_counter() - t0,
            verifier=check.name,
            notes=tuple(notes + result.notes),
            trace=tuple(result.trace),
        )

    def tune(
        self,
        options: TuneOptions | None = None,
        *,
        llm: LLM | None = None,
        progress: ProgressFn | None = None,
        say: Callable[[str], None] | None = None,
    ) -> TuneReport:
        """Adapt the embedder and train a reranker from the collection's own chunks; adopt what wins (see
        :mod:`kenning.train.tune`). ``llm`` writes extra questions when ``options.llm_queries`` asks for some."""
        from .train.tune import tune

        col = self.collection()
        try:
            report = tune(col, self.embedder, self.config.retrieval, options, llm=llm, progress=progress, say=say)
        finally:  # the collection may have switched models: read it afresh next time
            self.close()
            self._embedder = None
            self._reranker = False
        return report

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
            "context": col.manifest.get("context"),
            "snapshot": col.manifest.get("snapshot"),
            "reranker": col.manifest.get("reranker"),
            "stale": col.is_stale(),
        }

    def close(self) -> None:
        if self._collection is not None:
            self._collection.close()
            self._collection = None
        if self._llm and hasattr(self._llm, "close"):  # an HTTP client's connections; built by search or ask
            self._llm.close()
            self._llm = False
            self._llm_reranker = None


def _strip(text: str, verdicts: list[Verdict]) -> tuple[str, list[Verdict]]:
    """Remove NOT_SUPPORTED claims from ``text``; the other verdicts are moved to where their claims now are."""
    new = strip_unsupported(text, verdicts)
    kept, pos = [], 0
    for v in verdicts:
        span = text[v.start : v.end]
        if v.label == "NOT_SUPPORTED":
            kept.append(dataclasses.replace(v, start=0, end=0))
            continue
        at = new.find(span, pos)
        if at >= 0:
            kept.append(dataclasses.replace(v, start=at, end=at + len(span)))
            pos = at + len(span)
        else:
            kept.append(v)
    return new, kept
