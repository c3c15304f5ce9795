"""Language models behind one small Protocol (:class:`LLM`), a plain registry and lazy imports.

Providers: ``openai`` (any OpenAI-compatible server), ``anthropic`` (Messages API), ``local`` (a model file on the
CPU; the Qwen2.5 1.5B and 0.5B and SmolLM2 GGUFs are packaged), and ``none`` (no model: extractive answers). ``--llm PROVIDER:MODEL`` specs parse into
:class:`~kenning.config.LLMConfig` fields:

>>> parse_llm_spec("openai:gpt-4o-mini")
{'provider': 'openai', 'model': 'gpt-4o-mini'}
>>> parse_llm_spec("ollama:llama3.2:3b")
{'provider': 'openai', 'model': 'llama3.2:3b', 'base_url': 'http://localhost:11434/v1'}
>>> parse_llm_spec("local")
{'provider': 'local', 'model': 'qwen2.5-1.5b'}
>>> get_llm(LLMConfig()) is None
True
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ...config import LLMConfig
from ...errors import ConfigError
from .base import LLM, Completion, Message, Role, closing, complete_json, extract_json
from .packaged import DEFAULT_LOCAL_MODEL
from .pricing import DEFAULT_PRICES, PRICES_AS_OF, PriceTable, cost

__all__ = [
    "LLM",
    "Message",
    "Role",
    "Completion",
    "closing",
    "complete_json",
    "extract_json",
    "get_llm",
    "parse_llm_spec",
    "registered_llms",
    "cost",
    "PriceTable",
    "DEFAULT_PRICES",
    "PRICES_AS_OF",
    "OpenAICompatibleLLM",
    "AnthropicLLM",
    "LocalLLM",
]

_LAZY = {"OpenAICompatibleLLM": ".openai", "AnthropicLLM": ".anthropic", "LocalLLM": ".local"}


def __getattr__(name: str) -> Any:
    """The provider classes, imported on first use (httpx, torch and transformers load only when needed)."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _openai(config: LLMConfig) -> LLM:
    from .openai import OPENAI_BASE_URL, OpenAICompatibleLLM

    return OpenAICompatibleLLM(
        config.model,
        base_url=config.base_url or os.environ.get("OPENAI_BASE_URL") or OPENAI_BASE_URL,
        api_key_env=config.api_key_env or "OPENAI_API_KEY",
        timeout=config.timeout,
        max_retries=config.max_retries,
        prices=config.prices,
    )


def _anthropic(config: LLMConfig) -> LLM:
    from .anthropic import ANTHROPIC_BASE_URL, AnthropicLLM

    return AnthropicLLM(
        config.model,
        base_url=config.base_url or os.environ.get("ANTHROPIC_BASE_URL") or ANTHROPIC_BASE_URL,
        api_key_env=config.api_key_env or "ANTHROPIC_API_KEY",
        timeout=config.timeout,
        max_retries=config.max_retries,
        prices=config.prices,
    )


def _local(config: LLMConfig) -> LLM:
    from .local import LocalLLM

    return LocalLLM(config.model or DEFAULT_LOCAL_MODEL)


_REGISTRY: dict[str, Callable[[LLMConfig], LLM]] = {"openai": _openai, "anthropic": _anthropic, "local": _local}

# spec shorthands: name → the LLMConfig fields they stand for (the model comes after the colon)
_ALIASES: dict[str, dict[str, str]] = {
    "ollama": {"provider": "openai", "base_url": "http://localhost:11434/v1"},
    "vllm": {"provider": "openai", "base_url": "http://localhost:8000/v1"},
    "lmstudio": {"provider": "openai", "base_url": "http://localhost:1234/v1"},
    "llamacpp": {"provider": "openai", "base_url": "http://localhost:8080/v1"},
}


def registered_llms() -> list[str]:
    """Provider names ``get_llm`` knows, ``none`` first."""
    return ["none", *_REGISTRY]


def get_llm(config: LLMConfig) -> LLM | None:
    """The model ``config`` names, or None for ``provider="none"`` (answers are then extractive).

    Remote providers read their key from ``config.api_key_env`` (default ``OPENAI_API_KEY`` /
    ``ANTHROPIC_API_KEY``) and their URL from ``config.base_url``, else ``OPENAI_BASE_URL`` / ``ANTHROPIC_BASE_URL``,
    else the public API. Nothing is loaded or contacted until the first call.
    """
    if config.provider == "none":
        return None
    make = _REGISTRY.get(config.provider)
    if make is None:
        raise ConfigError(
            f"llm.provider: unknown provider {config.provider!r}; use one of {', '.join(registered_llms())}"
        )
    return make(config)


def parse_llm_spec(spec: str) -> dict[str, Any]:
    """``PROVIDER:MODEL`` (as given to ``--llm``) → the :class:`LLMConfig` fields it sets.

    Accepts ``none``, ``local`` (= ``local:qwen2.5-1.5b``), ``local:PATH``, ``openai:MODEL``, ``anthropic:MODEL``, and the
    shorthands ``ollama:``, ``vllm:``, ``lmstudio:``, ``llamacpp:`` for OpenAI-compatible servers on their default
    local ports. A bare ``gpt-…``/``o3…``/``claude-…`` name or ``.gguf`` path picks its provider. Merge the result into
    the config: ``KenningConfig.load(home, llm=parse_llm_spec(spec))``.
    """
    spec = spec.strip()
    provider, sep, model = spec.partition(":")
    provider_l = provider.lower()
    if not sep:
        if provider_l in ("none", ""):
            return {"provider": "none", "model": ""}
        if provider_l == "local":
            return {"provider": "local", "model": DEFAULT_LOCAL_MODEL}
        if provider_l.startswith("claude"):
            return {"provider": "anthropic", "model": spec}
        if provider_l.startswith(("gpt-", "o1", "o3", "o4", "chatgpt")):
            return {"provider": "openai", "model": spec}
        if provider_l.endswith(".gguf") or Path(spec).expanduser().is_dir():
            return {"provider": "local", "model": spec}
        raise ConfigError(f"--llm: expected PROVIDER:MODEL (providers: {', '.join(registered_llms())}), got {spec!r}")
    if provider_l in _ALIASES:
        if not model:
            raise ConfigError(f"--llm: {provider}: needs a model name, e.g. {provider}:llama3.2")
        return {
            "provider": _ALIASES[provider_l]["provider"],
            "model": model,
            "base_url": _ALIASES[provider_l]["base_url"],
        }
    if provider_l == "none":
        return {"provider": "none", "model": ""}
    if provider_l not in _REGISTRY:
        known = ", ".join([*registered_llms(), *_ALIASES])
        raise ConfigError(f"--llm: unknown provider {provider!r} in {spec!r}; use one of {known}")
    if provider_l == "local":
        return {"provider": "local", "model": model or DEFAULT_LOCAL_MODEL}
    if not model:
        raise ConfigError(f"--llm: {provider}: needs a model name, e.g. {provider}:{_EXAMPLE[provider_l]}")
    return {"provider": provider_l, "model": model}


_EXAMPLE = {"openai": "gpt-4o-mini", "anthropic": "claude-3-5-haiku-latest"}
