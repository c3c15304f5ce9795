"""The Engine's drafters: the answer's first draft from the packed sources (a model, else extractive), and the
agent loop's answer. :meth:`Engine.ask` calls them between retrieval and verification."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .config import KenningConfig
from .errors import ConfigError, ProviderError
from .generate.answer import Draft, extractive_draft, llm_draft
from .generate.extractive import ExtractiveAnswerer
from .generate.parent import expand_to_parents
from .generate.reading import Reading, focus, read_sources
from .generate.screen import screen_sources
from .providers.llm.base import LLM
from .retrieve import Filters
from .types import Answer, Hit
from .verify.base import Verifier

if TYPE_CHECKING:
    from .providers.embedders import Embedder
    from .store import Store

__all__ = ["DraftingMixin"]

SPREAD_PASSAGE_TOKENS = 60  # a local model's passage of each theme's source (LazyGraphRAG's spread drafts)


class DraftingMixin:
    """_draft and _ask_agent."""

    config: KenningConfig
    _lock: threading.RLock

    if TYPE_CHECKING:  # Engine defines these

        @property
        def embedder(self) -> Embedder: ...
        def collection(self) -> Store: ...
        def search(self, query: str, **options: Any) -> list[Hit]: ...
        def fetch_chunk(self, chunk_id: str) -> Hit | None: ...
        def verifier(self, kind: str | None = None, *, llm: Any = None) -> Any: ...

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
        spread: bool = False,
    ) -> Draft:
        """The first draft of an answer from ``packed``. ``spread`` (LazyGraphRAG's themes): a local model reads a
        short passage of every source rather than the best few, so that no theme is dropped for reading less well
        against the question."""
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
        screened = screen_sources(packed, reading)  # sources that talk to the model (see generate/screen.py)
        notes += screened.notes(withheld=self.config.answer.screen)
        if self.config.answer.screen:
            packed, reading = screened.packed, screened.reading or reading
        if model is not None:
            from .providers.llm.local import LocalLLM

            given = packed
            if isinstance(model, LocalLLM):
                # A local model's prompt stays within local_context_tokens: with parent sections, focus picks each
                # source's best passage from its section instead of its chunk, so the section widens where the
                # passage may come from (the sentence next to the chunk), not the prompt.
                budget = self.config.answer.local_context_tokens
                wide: dict[str, Any] = {}
                if spread:  # a short passage of every source, however well it reads against the question
                    wide = {"per_source_tokens": SPREAD_PASSAGE_TOKENS, "relative": 0.0}
                    budget = max(budget, SPREAD_PASSAGE_TOKENS * len(packed))
                given = focus(packed, reading, budget_tokens=budget, tokenizer=self.config.chunking.tokenizer, **wide)
            try:
                return llm_draft(model, question, given, max_tokens=self.config.llm.max_tokens, on_token=on_token)
            except ProviderError as exc:
                notes.append(f"the language model failed ({exc}); answered extractively instead")
        answerer = ExtractiveAnswerer(self.embedder, max_sentences=self.config.answer.extractive_sentences)
        return extractive_draft(answerer, question, packed, reading)

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
        return result.answer(model.name, check.name, notes=notes, seconds=time.perf_counter() - t0)
