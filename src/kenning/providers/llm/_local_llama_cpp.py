"""The llama-cpp-python backend of :class:`~kenning.providers.llm.local.LocalLLM`: GGUF files, natively, on the CPU.

The chat is rendered with the GGUF file's own chat template and decoded token by token here, so ``complete`` and
``stream`` are one code path and both report the exact prompt and completion token counts. ``json=True`` constrains
decoding with llama.cpp's JSON grammar.
"""

from __future__ import annotations

import atexit
import codecs
import threading
import weakref
from collections.abc import Iterator

from ...errors import MissingExtraError, ProviderError
from .local import LocalOutput

__all__ = ["LlamaCppRunner"]

DEFAULT_N_CTX = 8192  # enough for a RAG prompt; a model's full window (often 128k) would allocate gigabytes


class LlamaCppRunner:
    """A GGUF model loaded with llama.cpp."""

    def __init__(self, path: str, *, n_ctx: int | None, threads: int) -> None:
        try:
            import llama_cpp
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter
        except ImportError:
            raise MissingExtraError("Local LLMs with llama.cpp", "local", "llama-cpp-python") from None
        self._llama_cpp = llama_cpp
        try:
            self.llm = llama_cpp.Llama(model_path=path, n_ctx=n_ctx or DEFAULT_N_CTX, n_threads=threads, verbose=False)
        except Exception as exc:  # ValueError for a bad file; anything else means the same to the user
            raise ProviderError(f"cannot load the local model {path}: {type(exc).__name__}: {exc}") from exc
        llm = self.llm
        atexit.register(_close, weakref.ref(llm))  # before interpreter teardown, or its __del__ fails noisily
        self.stop_ids = {llm.token_eos()}
        template = llm.metadata.get("tokenizer.chat_template")
        self._formatter = None
        if template:
            eos = llm.detokenize([llm.token_eos()], special=True).decode("utf-8", "replace")
            bos = (
                llm.detokenize([llm.token_bos()], special=True).decode("utf-8", "replace")
                if llm.token_bos() >= 0
                else ""
            )
            self._formatter = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)
            eos_ids = llm.tokenize(eos.encode(), add_bos=False, special=True)
            if len(eos_ids) == 1:
                self.stop_ids.add(eos_ids[0])
        self.lock = threading.Lock()

    def prompt_tokens(self, messages: list[dict[str, str]]) -> list[int]:
        """The chat rendered with the model's template, as tokens, ending where the assistant's reply starts."""
        if self._formatter is not None:
            text = self._formatter(messages=messages).prompt
            return self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        text = "".join(f"{m['role']}: {m['content']}\n" for m in messages) + "assistant: "
        return self.llm.tokenize(text.encode("utf-8"), add_bos=True, special=True)

    def _run(
        self, messages: list[dict[str, str]], max_tokens: int, temperature: float, json: bool
    ) -> Iterator[str | LocalOutput]:
        prompt = self.prompt_tokens(messages)
        room = self.llm.n_ctx() - len(prompt)
        if room <= 0:
            raise ProviderError(
                f"local model: the prompt is {len(prompt)} tokens, but the context window is {self.llm.n_ctx()}; "
                "retrieve fewer or smaller chunks (or raise n_ctx)"
            )
        max_new = min(max_tokens, room)
        grammar = None
        if json:
            from llama_cpp.llama_grammar import JSON_GBNF, LlamaGrammar

            grammar = LlamaGrammar.from_string(JSON_GBNF, verbose=False)
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        pieces: list[str] = []
        n_new, finish = 0, "length"
        with self.lock:
            tokens = self.llm.generate(
                prompt, temp=temperature, top_k=0, top_p=1.0, min_p=0.0, repeat_penalty=1.0, grammar=grammar
            )
            try:
                for token in tokens:
                    if token in self.stop_ids:
                        finish = "stop"
                        break
                    n_new += 1
                    piece = decoder.decode(self.llm.detokenize([token]))
                    if piece:
                        pieces.append(piece)
                        yield piece
                    if n_new >= max_new:
                        break
            finally:
                tokens.close()
        tail = decoder.decode(b"", final=True)
        if tail:
            pieces.append(tail)
            yield tail
        yield LocalOutput("".join(pieces), len(prompt), n_new, finish)

    def complete(self, messages: list[dict[str, str]], max_tokens: int, temperature: float, json: bool) -> LocalOutput:
        *_, out = self._run(messages, max_tokens, temperature, json)
        assert isinstance(out, LocalOutput)
        return out

    def stream(
        self, messages: list[dict[str, str]], max_tokens: int, temperature: float
    ) -> Iterator[str | LocalOutput]:
        return self._run(messages, max_tokens, temperature, False)


def _close(ref: weakref.ref) -> None:
    llm = ref()
    if llm is not None:
        llm.close()
