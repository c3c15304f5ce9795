"""The facade: settings → components, and the few verbs users call. Every door (CLI, HTTP server, MCP) goes
through it.

One Engine serves one collection to many threads: components are built once under a lock, searches and answers
read through the Engine's own opened collection (which picks up each newly published snapshot), and the writers
(:meth:`Engine.index`, :meth:`Engine.tune`) take turns on a per-Engine lock, each with its own
:class:`~kenning.index.Collection` holding the collection's file lock.

>>> from kenning import Engine
>>> engine = Engine("/tmp/kenning-home")                        # doctest: +SKIP
>>> report = engine.index(["docs/"])                            # doctest: +SKIP
>>> [h.chunk_id for h in engine.search("vacuum full", k=3)]     # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import errno
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TypedDict, Unpack

from .config import ChunkingConfig, ContextConfig, DenseConfig, KenningConfig, LexicalConfig, default_home
from .engine_context import ContextMixin
from .engine_documents import DocumentsMixin
from .engine_drafting import DraftingMixin
from .engine_graph import GraphMixin
from .engine_graphrag import GraphRAGMixin
from .engine_lazy import GRAPH_MODES, LazyMixin, graph_mode
from .engine_models import ModelsMixin
from .engine_plan import PlanMixin
from .errors import CollectionNotFound, ConfigError, IndexError_, InputError, storage_error
from .generate.abstain import DEFAULT_ABSTENTION, AbstentionModel, Signals, after_draft, term_coverage
from .generate.packing import citations_for, pack
from .generate.parent import chunk_sources
from .generate.reading import Reading, read_sources
from .index import index_paths
from .index.adopt import embedder_for, reranker_for
from .index.writer import ProgressFn
from .providers.embedders import Embedder, get_embedder
from .providers.llm.base import LLM, closing
from .rerank import LLMReranker, Reranker, rerank_with_usage
from .retrieve import MODES, Filters, Searcher, hit_from_row
from .retrieve.transforms import TRANSFORMS, QueryPlan, plan_query, search_plan
from .store import Store
from .store.registry import backend, location, redact
from .types import Answer, Hit, IndexReport, Usage
from .verify.answering import Verifiers, apply_strip, check_answer, check_policy, not_in_sources
from .verify.base import Verifier

if TYPE_CHECKING:
    from .train.tune import TuneOptions, TuneReport

__all__ = ["Engine", "SearchOptions", "SearchResult"]


class SearchOptions(TypedDict, total=False):
    """The keyword options of :meth:`Engine.search` and :meth:`Engine.search_with_usage`; each defaults to ``None``,
    which means the collection's ``retrieval`` setting."""

    mode: str | None  # bm25, dense, hybrid or lazy
    k: int | None  # how many hits
    filters: Filters | Sequence[str] | None  # a Filters, or expressions such as "kind=markdown"
    reranker: Reranker | None  # overrides the one ``rerank`` names
    rerank_depth: int | None  # how many first-stage hits the reranker reorders
    rerank: bool | str | None  # auto, llm or none; False: no reranking
    transform: str | None  # none, hyde or multi


class SearchResult(NamedTuple):
    """Ranked chunks, the tokens the query transform and LLM reranking spent on them, and notes on what degraded."""

    hits: list[Hit]
    usage: Usage
    notes: list[str]


class Engine(DocumentsMixin, ContextMixin, DraftingMixin, GraphMixin, GraphRAGMixin, LazyMixin, PlanMixin, ModelsMixin):
    """Index documents into a named collection and search it; safe to share between threads (one writer at a time).

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
        if self.home.exists() and not self.home.is_dir():
            raise ConfigError(
                f"the index home {self.home} is a file, not a folder; point --home (or $KENNING_HOME) at a folder"
            )
        self.collection_name = collection
        self.config = (config or KenningConfig.load(self.home)).for_collection(collection)
        self._embedder = embedder
        self._embedder_entry: dict | None = None  # the manifest's embedder entry _embedder was built from
        self._stores = backend(self.config.store.url)  # the registry's backend for [store] url
        self._collection: Store | None = None
        self._llm: LLM | None | bool = False  # False: not built yet
        self._local: LLM | None = None  # the packaged local generator, when answers use it
        self._verifiers = Verifiers(self.home)
        self._reranker: Reranker | None | bool = False  # False: not looked up yet
        self._llm_reranker: LLMReranker | None = None
        self._lock = threading.RLock()  # builds each lazy component once, however many threads ask at once
        self._writer = threading.Lock()  # one index or tune at a time through this Engine

    # -- components ---------------------------------------------------------------------------------------------

    @property
    def embedder(self) -> Embedder:
        """The embedder given or named in the settings; else the one the collection's published snapshot was built
        (or tuned) with, followed when another process publishes a switch. Reading it never writes: a switch killed
        halfway is finished by the next writer (:meth:`index`, :meth:`repair`)."""
        col = None if self._embedder_entry is None and self._embedder is not None else self._open_existing()
        entry = col.refresh()["embedder"] if col is not None else None
        if self._embedder is not None and (col is None or entry == self._embedder_entry):
            return self._embedder
        with self._lock:
            options = {
                "batch_size": self.config.embedder.batch_size,
                "max_seq_length": self.config.embedder.max_seq_length,
            }
            if self._embedder is not None and entry == self._embedder_entry:
                pass
            elif col is not None and "name" not in self.config.embedder.model_fields_set:
                self._embedder, self._embedder_entry = embedder_for(col, entry, **options), entry
            elif self._embedder is None:
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
        with self._lock:
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

    @property
    def store_location(self) -> str | Path:
        """Where this Engine's collections are kept: the home folder (SQLite) or the ``[store] url``."""
        return location(self.config.store.url, self.home)

    def sqlite_only(self, what: str) -> None:
        """Refuse ``what`` (a feature whose data lives in the SQLite store's files) on another store."""
        if not isinstance(self.store_location, Path):
            raise ConfigError(
                f"{what} keeps its data beside the SQLite store's files; collection {self.collection_name!r} is in "
                f"{self.store_name()}. Use a SQLite collection (no [store] url / --store) for it"
            )

    def store_name(self) -> str:
        """The store as a message may show it (a URL without its password)."""
        loc = self.store_location
        return redact(loc) if isinstance(loc, str) else str(loc)

    def _open_existing(self) -> Store | None:
        """The readers' collection, opened once and shared; None while the collection does not exist."""
        if self._collection is not None:
            return self._collection
        with self._lock, self._disk():
            if self._collection is None:
                try:
                    self._collection = self._stores.open(self.store_location, self.collection_name)
                except CollectionNotFound:
                    return None
            return self._collection

    @contextmanager
    def _disk(self) -> Iterator[None]:
        """A full, read-only or unwritable disk under the collection becomes a :class:`StorageError` naming the
        file (what was committed before stays), for every door alike."""
        where = self.home / "collections" / self.collection_name
        try:
            yield
        except (OSError, sqlite3.OperationalError) as exc:
            mapped = storage_error(exc, where)
            if mapped is None:
                raise
            raise mapped from exc
        except IndexError_ as exc:  # "cannot take the lock / open the file" whose cause is the disk, not damage
            cause = exc.__cause__ or exc.__context__
            mapped = storage_error(cause, where) if isinstance(cause, OSError | sqlite3.OperationalError) else None
            if mapped is None or mapped.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
                raise
            raise mapped from exc

    @contextmanager
    def _writing(
        self, config: KenningConfig | None = None, *, model: str = "", dim: int = 0, lock_file: bool = True
    ) -> Iterator[Store]:
        """A writer's own Collection under this Engine's writer lock and (``lock_file``) the collection's file lock;
        readers keep theirs. With ``config`` the collection is created when missing (``model``, ``dim``: the
        embedder's)."""
        with self._writer, self._disk():
            if config is not None:
                col = self._stores.create_or_open(
                    self.store_location, self.collection_name, config, model=model, dim=dim
                )
            else:
                col = self._stores.open(self.store_location, self.collection_name, write=True)
            try:
                if lock_file:
                    with col.locked():
                        yield col
                else:
                    yield col
            finally:
                col.close()

    def collection(self) -> Store:
        """The collection, opened for reading; raises :class:`CollectionNotFound` with a hint if it does not exist."""
        col = self._open_existing()
        if col is None:
            self._stores.open(self.store_location, self.collection_name)  # raises with the helpful message
        return col  # type: ignore[return-value]

    def _effective(self, col: Store | None) -> dict[str, Any]:
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

    def index(
        self, paths: Sequence[str | Path], *, progress: ProgressFn | None = None, ray: str | None = None
    ) -> IndexReport:
        """Add, update and remove documents so the collection matches ``paths``.

        A path that does not exist is skipped (and what was indexed from it is kept); when none exists and the
        collection does not either, :class:`InputError` names them and nothing is created. First finishes what an
        interrupted writer left (:meth:`Collection.recover`): its committed work is published, a damaged snapshot
        rebuilt, a half-done switch of embedder completed. ``ray`` (``HOST:PORT``, needs ``kenning[ray]``) parses,
        chunks and embeds on that Ray cluster's workers while this process writes (:mod:`kenning.index.distributed`).
        """
        if self.collection_name in self._stores.list_collections(self.store_location):
            with self._writing() as col:
                col.recover()
        if ray is not None:  # an unreachable cluster is named before a collection is created for it
            from .index.distributed import reachable

            reachable(ray)
        existing = self._open_existing()
        if existing is None and paths and not any(os.path.lexists(os.path.expanduser(p)) for p in paths):
            missing = ", ".join(str(p) for p in paths)
            raise InputError(f"no such file or folder: {missing}; nothing was indexed")
        settings = self._effective(existing)
        cfg = self.config.model_copy(update=settings)
        embedder = self.embedder
        context = settings["context"]
        situator = self.situator(context) if context.llm else None
        with (
            self._writing(cfg, model=embedder.name, dim=embedder.dim) as col,
            closing(situator.llm if situator and context.llm_model else None),
        ):
            report = index_paths(
                col,
                paths,
                ingest=cfg.ingest,
                chunking=settings["chunking"],
                embedder=embedder,
                commit_chunks=cfg.indexing.commit_chunks,
                progress=progress,
                context=context,
                situator=situator,
                ray=ray,
            )
            self._graph_after_index(col, progress=progress)  # a collection with a concept graph keeps it current
            return report

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
    ) -> SearchResult:
        """Ranked chunks for ``query``, the tokens its query transform and LLM reranking spent, and notes on what
        degraded (a :class:`SearchResult`). With a reranker, the top ``rerank_depth`` are reordered.

        The reranker is ``reranker`` when given, else the one ``rerank`` names (``auto``, ``llm``, ``none``; default
        ``retrieval.rerank``, see :meth:`reranker`); ``rerank=False`` turns reranking off for this call.
        ``transform`` (``none``, ``hyde``, ``multi``; default ``retrieval.transform``) lets an LLM reshape the query
        first (see :mod:`kenning.retrieve.transforms`).
        """
        if not query or not query.strip():
            raise ConfigError("the query is empty")
        mode = self.config.retrieval.mode if mode is None else mode
        if mode not in (*MODES, "lazy"):
            raise ConfigError(f"mode must be one of {', '.join((*MODES, 'lazy'))}; got {mode!r}")
        k = self.config.retrieval.k if k is None else k
        if not 0 < k <= 10_000:
            raise ConfigError(f"k must be between 1 and 10000; got {k}")
        if mode == "lazy":  # LazyGraphRAG over the concept graph (engine_lazy.py)
            lazy_hits, lazy_notes = self._lazy_ranking(query, k, filters)
            return SearchResult(lazy_hits, Usage(), lazy_notes)
        col = self.collection()
        flt = filters if isinstance(filters, Filters) else Filters.parse(filters)
        searcher = Searcher(col, self.embedder if mode != "bm25" else None, self.config.retrieval)
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
        with self._disk():
            hits = search_plan(searcher, plan, mode=mode, k=depth, filters=flt)
        usage, notes = plan.usage, list(plan.notes)
        if reranker is not None:
            reranked = rerank_with_usage(reranker, query, hits, k=k)
            hits, usage, notes = list(reranked.hits), usage + reranked.usage, notes + list(reranked.notes)
        return SearchResult(hits[:k], usage, notes)

    def _query_plan(self, query: str, transform: str | None, mode: str) -> QueryPlan:
        """The searches ``transform`` turns ``query`` into; the LLM is built only when the transform calls it."""
        name = transform or self.config.retrieval.transform
        needs_llm = name in TRANSFORMS and name != "none" and not (name == "hyde" and mode == "bm25")
        llm = self.retrieval_llm() if needs_llm else None
        return plan_query(name, query, llm, mode=mode, rewrites=self.config.retrieval.rewrites)

    def fetch_chunk(self, chunk_id: str) -> Hit | None:
        """One chunk by id (``doc_id::index``), as a Hit with rank 0, or None."""
        row = self.collection().fetch([chunk_id]).get(chunk_id)
        return hit_from_row(row, 0, 0.0) if row else None

    # -- answering ----------------------------------------------------------------------------------------------

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
        policy = check_policy(cfg.policy if policy is None else policy)
        parent = cfg.parent if parent is None else parent
        if parent not in ("none", "section"):
            raise ConfigError(f"parent must be none or section; got {parent!r}")
        self._check_not_empty()
        notes: list[str] = []
        graph = graph_mode(cfg.mode if mode is None else mode)
        model = self._model_for(llm, GRAPH_MODES[graph] if graph else mode, notes)
        kind = cfg.verifier if verifier is None else verifier
        if agent:
            check = self.verifier(kind, llm=model)[0] if verify and kind != "none" else None
            return self._ask_agent(question, model, check, notes, filters, on_step, t0)
        spent, whole = Usage(), False  # whole: a question about the whole corpus, which every claim is about
        if graph:  # LazyGraphRAG or GraphRAG: the sources come from the graph, not from the top k
            made = self._graph_draft(graph, question, model, notes, on_token, filters, self._draft)
            draft, packed, spent, whole = made.draft, made.packed, made.usage, made.whole
            reading = made.reading or read_sources(self.embedder, question, packed)
            confidence = self._retrieval_confidence(question, packed, reading)[0]
            if not packed:
                return not_in_sources(question, [], notes, model, confidence, t0, spent)
        else:
            depth = cfg.rerank_depth if "rerank_depth" in cfg.model_fields_set else None
            hits = self.search(
                question, k=cfg.k if k is None else k, filters=filters, reranker=reranker, rerank_depth=depth
            )
            packed = pack(hits, budget_tokens=cfg.context_tokens, tokenizer=self.config.chunking.tokenizer)
            reading = read_sources(self.embedder, question, packed)
            confidence, why = self._retrieval_confidence(question, hits, reading)
            if cfg.abstain and packed and why:
                return not_in_sources(question, packed, (*notes, f"abstained: {why}"), model, confidence, t0)
            draft = self._draft(question, packed, reading, model, notes, on_token, parent=parent)
        check: Verifier | None = None
        if verify and kind != "none":
            # a model that failed to draft (the answer fell back to extractive) is not asked to fact-check either:
            # None here means an extractive answer, never "the configured model"
            check, more = self._verifiers.get(kind, llm=model if draft.mode == "llm" or kind == "llm" else None)
            notes += more
        # a fact-checker chosen by auto that fails hands over to the offline one; one asked for by name fails loudly
        fallback = None if kind != "auto" else (lambda: self._verifiers.get("offline", llm=None)[0])
        checked = check_answer(
            check,
            draft,
            question,
            policy=policy,
            model=model,
            max_tokens=self.config.llm.max_tokens,
            fallback=fallback,
            about="" if whole else question,
        )
        draft, usage, notes = checked.draft, checked.draft.usage + checked.usage + spent, [*notes, *checked.notes]
        why = after_draft(not draft.answerable, checked.verdicts) if cfg.abstain and check is not None else None
        if why is not None:
            shown = chunk_sources(draft.packed, packed)
            return not_in_sources(question, shown, (*notes, f"abstained: {why}"), model, confidence, t0, usage)
        text, verdicts, stripped = apply_strip(policy, checked)
        return Answer(
            question=question,
            text=text,
            # numbered as the generator saw them, but each the retrieved chunk (not its section) with its offsets
            citations=citations_for(chunk_sources(draft.packed, packed), set(draft.cited)),
            verdicts=verdicts,
            mode=draft.mode,  # type: ignore[arg-type]
            model=draft.model,
            answerable=draft.answerable,
            invalid_citations=draft.invalid,
            usage=usage,
            seconds=time.perf_counter() - t0,
            verifier=checked.verifier,
            notes=(*notes, *stripped),
            confidence=round(confidence, 4),
        )

    def _retrieval_confidence(self, question: str, hits: Sequence[Hit], reading: Reading) -> tuple[float, str]:
        """P(answerable) from the retrieval signals, and why to abstain ("" when it is above the threshold)."""
        signals = self._signals(question, hits, reading)
        abstention = self._abstention()
        p = abstention.probability(signals)
        if p >= abstention.threshold:
            return p, ""
        why = (
            f"retrieval says the sources do not answer this (P(answerable) {p:.2f} < {abstention.threshold:.2f}: best "
            f"sentence similarity {signals.similarity:.2f}, question words covered {signals.coverage:.0%})"
        )
        return p, why

    def _check_not_empty(self) -> None:
        col = self.collection()
        if col.counts()[1] == 0:
            raise IndexError_(
                f"collection {col.name!r} is empty; index documents first: kenning index PATH --collection {col.name}"
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

        self.sqlite_only("kenning tune")
        self.collection()  # raises CollectionNotFound with its hint
        embedder = self.embedder
        try:
            with self._writing(lock_file=False) as col:  # tune takes the file lock itself, for each adoption
                return tune(col, embedder, self.config.retrieval, options, llm=llm, progress=progress, say=say)
        finally:  # the collection may have switched models: build them afresh from its manifest next time
            with self._lock:
                if "name" not in self.config.embedder.model_fields_set:
                    self._embedder = None
                self._reranker = False

    def _forget_collection(self) -> None:
        """Close the readers' collection (after the collection was deleted); the next read opens it afresh."""
        with self._lock:
            if self._collection is not None:
                self._collection.close()
                self._collection = None

    def close(self) -> None:
        """Release the collection and model clients; call it once no thread uses this Engine any more."""
        with self._lock:
            if self._collection is not None:
                self._collection.close()
                self._collection = None
            if self._llm and hasattr(self._llm, "close"):  # an HTTP client's connections; built by search or ask
                self._llm.close()
                self._llm = False
                self._llm_reranker = None
