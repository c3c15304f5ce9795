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
from typing import Any

from .config import ChunkingConfig, DenseConfig, KenningConfig, LexicalConfig, default_home
from .errors import CollectionNotFound, ConfigError, IndexError_, ProviderError
from .generate.answer import Draft, extractive_draft, llm_draft, llm_redraft
from .generate.extractive import ExtractiveAnswerer
from .generate.packing import citations_for, pack
from .index import Collection, index_paths, list_collections
from .index.writer import ProgressFn
from .providers.embedders import Embedder, get_embedder
from .providers.llm.base import LLM
from .rerank import Reranker
from .retrieve import Filters, Searcher, hit_from_row
from .types import Answer, Hit, IndexReport, Usage, Verdict
from .verify.base import Verifier
from .verify.policy import strip_unsupported, verify_text

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
        self._llm: LLM | None | bool = False  # False: not built yet
        self._verifiers: dict[str, Verifier] = {}

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

    def fetch_chunk(self, chunk_id: str) -> Hit | None:
        """One chunk by id (``doc_id::index``), as a Hit with rank 0, or None."""
        row = self.collection().catalog.chunk_rows([chunk_id], by="chunk_id").get(chunk_id)
        return hit_from_row(row, 0, 0.0) if row else None

    # -- answering ----------------------------------------------------------------------------------------------

    @property
    def llm(self) -> LLM | None:
        """The configured language model (None: extractive answers)."""
        if self._llm is False:
            from .providers.llm import get_llm

            self._llm = get_llm(self.config.llm)
        return self._llm  # type: ignore[return-value]

    def verifier(self, kind: str | None = None, *, llm: LLM | None = None) -> tuple[Verifier, list[str]]:
        """The verifier to use and notes for the user (e.g. that the trained one is missing)."""
        kind = kind or self.config.answer.verifier
        llm = llm if llm is not None else self.llm
        notes: list[str] = []
        if kind == "auto":
            kind = "llm" if llm is not None and self.config.llm.provider in ("openai", "anthropic") else "offline"
        if kind == "llm":
            if llm is None:
                raise ConfigError(
                    "verifier 'llm' needs a language model: set --llm PROVIDER:MODEL (or [llm] in kenning.toml)"
                )
            from .verify.llm_verifier import LLMVerifier

            return LLMVerifier(llm), notes
        if kind in ("offline", "trained"):
            # "offline" uses the trained model only where its training measured it better than the lexical verifier
            # on held-out claims; "trained" uses it whenever it exists (to compare, or after retraining elsewhere).
            from .verify.offline import OfflineVerifier, default_verifier_dir, read_manifest

            folder = default_verifier_dir(self.home)
            manifest = read_manifest(folder)
            if manifest is None:
                if kind == "trained":
                    return OfflineVerifier(folder), notes  # raises ConfigError: how to train it
                notes.append(
                    "claims checked by the lexical verifier; kenning train verifier makes a model, used once it "
                    "measures better than lexical on held-out claims"
                )
            elif kind == "trained" or manifest.get("beats_lexical"):
                if "offline" not in self._verifiers:
                    self._verifiers["offline"] = OfflineVerifier(folder)
                return self._verifiers["offline"], notes
            else:
                held = manifest.get("heldout", {})
                notes.append(
                    "the lexical verifier judged: the trained one did not measurably beat it on held-out claims "
                    f"({held.get('binary_accuracy', '?')} vs {held.get('lexical_accuracy', '?')} accuracy on "
                    f"{held.get('pairs', '?')} pairs); use --verifier trained to use it anyway"
                )
            kind = "lexical"
        if kind == "lexical":
            from .verify.offline import LexicalVerifier

            if "lexical" not in self._verifiers:
                self._verifiers["lexical"] = LexicalVerifier()
            return self._verifiers["lexical"], notes
        raise ConfigError(f"verifier must be one of auto, llm, offline, trained, lexical, none; got {kind!r}")

    def ask(
        self,
        question: str,
        *,
        llm: LLM | None | bool = True,
        agent: bool = False,
        verify: bool = True,
        verifier: str | None = None,
        policy: str | None = None,
        k: int | None = None,
        filters: Filters | Sequence[str] | None = None,
        reranker: Reranker | None = None,
        on_step: Callable[[dict[str, Any]], None] | None = None,
    ) -> Answer:
        """Answer ``question`` from the collection with numbered citations and a verdict per claim.

        ``llm=True`` uses the configured model (none configured: an extractive answer); pass an :class:`LLM` to use
        that one, or ``False`` to force an extractive answer. ``agent=True`` lets the model search and fetch on its
        own within ``answer.agent_steps`` steps.
        """
        t0 = time.perf_counter()
        if not question or not question.strip():
            raise ConfigError("the question is empty")
        cfg = self.config.answer
        policy = policy or cfg.policy
        if policy not in ("annotate", "strip", "retry"):
            raise ConfigError(f"policy must be annotate, strip or retry; got {policy!r}")
        col = self.collection()
        if col.catalog.counts()[1] == 0:
            raise IndexError_(
                f"collection {col.name!r} is empty; index documents first: kenning index PATH --collection {col.name}"
            )
        model = self.llm if llm is True else (llm or None)
        notes: list[str] = []
        check: Verifier | None = None
        if verify and (verifier or cfg.verifier) != "none":
            check, more = self.verifier(verifier, llm=model)
            notes += more
        if agent:
            return self._ask_agent(question, model, check, notes, filters, on_step, t0)
        hits = self.search(question, k=k or cfg.k, filters=filters, reranker=reranker, rerank_depth=cfg.rerank_depth)
        packed = pack(hits, budget_tokens=cfg.context_tokens, tokenizer=self.config.chunking.tokenizer)
        draft = self._draft(question, packed, model, notes)
        verdicts, usage = self._check(check, draft)
        if policy == "retry" and model is not None and draft.mode == "llm":
            failing = [v.claim for v in verdicts if v.label != "SUPPORT"]
            if failing:
                try:
                    draft = llm_redraft(model, question, draft, failing, max_tokens=self.config.llm.max_tokens)
                    verdicts, more_usage = self._check(check, draft)
                    usage = usage + more_usage
                    notes.append(f"regenerated once because {len(failing)} claim(s) were not supported")
                except ProviderError as exc:
                    notes.append(f"the retry failed ({exc}); kept the first answer")
        text = draft.text
        if policy == "strip" and any(v.label == "NOT_SUPPORTED" for v in verdicts):
            text, verdicts = _strip(draft.text, verdicts)
            notes.append("unsupported claims were removed from the answer")
        return Answer(
            question=question,
            text=text,
            citations=citations_for(draft.packed, set(draft.cited)),
            verdicts=tuple(verdicts),
            mode=draft.mode,  # type: ignore[arg-type]
            model=draft.model,
            answerable=draft.answerable,
            invalid_citations=draft.invalid,
            usage=draft.usage + usage,
            seconds=time.perf_counter() - t0,
            verifier=check.name if check else "",
            notes=tuple(notes),
        )

    def _draft(self, question: str, packed: list[Hit], model: LLM | None, notes: list[str]) -> Draft:
        if model is not None:
            try:
                return llm_draft(model, question, packed, max_tokens=self.config.llm.max_tokens)
            except ProviderError as exc:
                notes.append(f"the language model failed ({exc}); answered extractively instead")
        answerer = ExtractiveAnswerer(self.embedder, max_sentences=self.config.answer.extractive_sentences)
        return extractive_draft(answerer, question, packed)

    @staticmethod
    def _check(check: Verifier | None, draft: Draft) -> tuple[list[Verdict], Usage]:
        if check is None or not draft.answerable:
            return [], Usage()
        verdicts = verify_text(check, draft.text, draft.packed)
        return verdicts, check.usage

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
