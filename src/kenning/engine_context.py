"""The situating contexts an index run writes for its chunks, and what they would cost (a part of
:class:`kenning.Engine`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import ContextConfig, KenningConfig
from .errors import ConfigError
from .providers.llm.base import LLM, closing

if TYPE_CHECKING:
    from .index import Collection
    from .index.context import ContextEstimate, Situator
    from .providers.embedders import Embedder

__all__ = ["ContextMixin"]


class ContextMixin:
    """Context settings, the model that writes LLM contexts, and their price before an index run spends it."""

    config: KenningConfig
    embedder: Embedder

    if TYPE_CHECKING:  # Engine and ModelsMixin define these; a stub here would shadow them in Engine's MRO

        def _open_existing(self) -> Collection | None: ...
        def _effective(self, col: Collection | None) -> dict[str, Any]: ...
        def answer_model(self, mode: str | None = None) -> LLM | None: ...

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
