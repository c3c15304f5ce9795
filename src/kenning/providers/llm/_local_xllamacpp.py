"""The llama.cpp backend of :class:`~kenning.providers.llm.local.LocalLLM`, through ``xllamacpp`` (prebuilt, no compiler).

xllamacpp runs llama.cpp's own server code in this process: the chat is rendered with the GGUF file's chat template,
``json=True`` (or a JSON schema) constrains decoding with llama.cpp's grammar, and every reply carries llama.cpp's
timings (prompt and generation tokens per second). The server's request queue serialises generations, and the
prompt prefix of the previous request is reused (the system prompt is not evaluated twice).

llama.cpp also opens an HTTP listener on a random loopback port; it is given a random API key that never leaves
this process, so nothing else on the machine can use it.
"""

from __future__ import annotations

import os
import queue
import secrets
import threading
from collections.abc import Iterator, Mapping
from typing import Any

from ...errors import MissingExtraError, ProviderError
from .local import LocalOutput

__all__ = ["XLlamaCppRunner", "cpu_threads", "DEFAULT_N_CTX"]

DEFAULT_N_CTX = 8192  # a RAG prompt and its answer; a model's full window (often 32k+) would allocate far more memory


def cpu_threads() -> int:
    """The CPU cores this process may run on (its affinity mask, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _available_memory() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


class XLlamaCppRunner:
    """A GGUF model loaded by llama.cpp (via xllamacpp), shared by every caller in the process."""

    def __init__(self, path: str, *, n_ctx: int | None, threads: int | None) -> None:
        try:
            import xllamacpp
        except ImportError:
            raise MissingExtraError("Local LLMs", "local", "xllamacpp") from None
        size = os.path.getsize(path)
        free = _available_memory()
        if free is not None and size + (512 << 20) > free:
            raise ProviderError(
                f"the local model {os.path.basename(path)} needs about {(size >> 20) + 512:,} MB of memory and "
                f"{free >> 20:,} MB is available; use a smaller model (--llm local:qwen2.5-0.5b) or --mode extractive"
            )
        with open(path, "rb") as fh:
            if fh.read(4) != b"GGUF":
                raise ProviderError(f"cannot load the local model {path}: not a GGUF file (no GGUF magic bytes)")
        params = xllamacpp.CommonParams()
        params.model.path = path
        params.n_ctx = n_ctx or DEFAULT_N_CTX
        self.threads = threads or cpu_threads()
        params.cpuparams.n_threads = self.threads
        params.cpuparams_batch.n_threads = self.threads
        params.n_parallel = 1
        params.warmup = False
        params.verbosity = -1
        params.api_keys = [secrets.token_hex(16)]  # the loopback listener llama.cpp opens serves nobody else
        try:
            self.server = xllamacpp.Server(params)
        except Exception as exc:  # RuntimeError("Failed to init server") for a truncated or unsupported file
            raise ProviderError(
                f"cannot load the local model {path}: {exc}; the file may be truncated or of an unsupported "
                "architecture (re-install the model package, or run with --mode extractive)"
            ) from None
        self.n_ctx = params.n_ctx

    def _request(
        self, messages: list[dict[str, str]], max_tokens: int, temperature: float, json: bool | Mapping[str, Any]
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": temperature,
            "seed": 0,
            "cache_prompt": True,
        }
        if isinstance(json, Mapping):
            body["response_format"] = {"type": "json_schema", "json_schema": {"schema": dict(json)}}
        elif json:
            body["response_format"] = {"type": "json_object"}
        return body

    def _fail(self, reply: Mapping[str, Any]) -> ProviderError:
        error = reply.get("error") or {}
        if error.get("type") == "exceed_context_size_error":
            return ProviderError(
                f"local model: the prompt is {error.get('n_prompt_tokens')} tokens but the context window is "
                f"{error.get('n_ctx')}; give fewer or smaller sources (answer.context_tokens) or a larger n_ctx"
            )
        return ProviderError(f"local model: llama.cpp refused the request: {error.get('message') or error}")

    def complete(
        self, messages: list[dict[str, str]], max_tokens: int, temperature: float, json: bool | Mapping[str, Any]
    ) -> LocalOutput:
        reply = self.server.handle_chat_completions(self._request(messages, max_tokens, temperature, json))
        if not isinstance(reply, dict) or "error" in reply or not reply.get("choices"):
            raise self._fail(reply if isinstance(reply, dict) else {"error": {"message": repr(reply)[:200]}})
        choice = reply["choices"][0]
        usage = reply.get("usage") or {}
        return LocalOutput(
            text=(choice.get("message") or {}).get("content") or "",
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", 0)),
            finish_reason=choice.get("finish_reason") or "stop",
            timings=reply.get("timings") or {},
        )

    def stream(
        self, messages: list[dict[str, str]], max_tokens: int, temperature: float
    ) -> Iterator[str | LocalOutput]:
        body = self._request(messages, max_tokens, temperature, False)
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
        items: queue.Queue[Any] = queue.Queue()
        stop = threading.Event()
        done = object()

        def on_chunk(chunk: Any) -> bool:
            items.put(chunk)
            return stop.is_set()  # True asks llama.cpp to stop generating

        def work() -> None:
            try:
                self.server.handle_chat_completions(body, on_chunk)
            except Exception as exc:  # handed to the consumer, which raises it in its own thread
                items.put(exc)
            finally:
                items.put(done)

        worker = threading.Thread(target=work, name="kenning-llm-stream", daemon=True)
        worker.start()
        pieces: list[str] = []
        finish, usage, timings = "length", {}, {}
        try:
            while (chunk := items.get()) is not done:
                if isinstance(chunk, Exception):
                    raise ProviderError(f"local model failed while generating: {chunk}") from None
                if not isinstance(chunk, dict):
                    continue
                if "error" in chunk:
                    raise self._fail(chunk)
                usage = chunk.get("usage") or usage
                timings = chunk.get("timings") or timings
                for choice in chunk.get("choices") or ():
                    text = (choice.get("delta") or {}).get("content")
                    if text:
                        pieces.append(text)
                        yield text
                    finish = choice.get("finish_reason") or finish
        finally:
            stop.set()
            worker.join()
        yield LocalOutput(
            text="".join(pieces),
            prompt_tokens=int(usage.get("prompt_tokens", timings.get("prompt_n", 0) + timings.get("cache_n", 0))),
            completion_tokens=int(usage.get("completion_tokens", timings.get("predicted_n", len(pieces)))),
            finish_reason=finish,
            timings=timings,
        )
