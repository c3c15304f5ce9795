"""The transformers backend of :class:`~kenning.providers.llm.local.LocalLLM`: GGUF files or model folders, CPU."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ...errors import MissingExtraError, ProviderError
from ..embedders import offline_hub
from .local import LocalOutput

__all__ = ["TransformersRunner"]


@contextlib.contextmanager
def _quiet_loading() -> Iterator[None]:
    """No progress bars or log lines while loading (transformers' GGUF dequantizer uses a bare tqdm)."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    try:
        import transformers.modeling_gguf_pytorch_utils as gguf_utils
    except ImportError:  # an older or newer layout: nothing to patch
        yield
        return
    original = getattr(gguf_utils, "tqdm", None)
    if original is None:
        yield
        return
    gguf_utils.tqdm = lambda iterable=None, *a, **kw: iterable  # type: ignore[assignment]
    try:
        yield
    finally:
        gguf_utils.tqdm = original


class TransformersRunner:
    """A causal LM loaded with transformers, in float32 on the CPU."""

    def __init__(self, path: str, *, kind: str, n_ctx: int | None) -> None:
        offline_hub()
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError as exc:
            raise MissingExtraError("Local LLMs", "local", exc.name or "transformers") from None
        self._torch = torch
        folder, extra = (str(Path(path).parent), {"gguf_file": Path(path).name}) if kind == "gguf" else (path, {})
        try:
            with _quiet_loading():
                self.tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True, **extra)
                self.model = AutoModelForCausalLM.from_pretrained(
                    folder, local_files_only=True, dtype=torch.float32, **extra
                )
        except ImportError as exc:  # e.g. gguf or accelerate missing
            raise MissingExtraError("Local LLMs", "local", exc.name or "gguf") from None
        except Exception as exc:  # the library raises many kinds; all mean "this file is not a usable model"
            raise ProviderError(f"cannot load the local model {path}: {type(exc).__name__}: {exc}") from exc
        self.model.eval()
        config_ctx = getattr(self.model.config, "max_position_embeddings", None) or 2048
        self.n_ctx = min(n_ctx, config_ctx) if n_ctx else config_ctx
        gen = self.model.generation_config
        eos = gen.eos_token_id if gen.eos_token_id is not None else self.tokenizer.eos_token_id
        self.eos_ids = {eos} if isinstance(eos, int) else set(eos or ())
        self.pad_id = gen.pad_token_id if gen.pad_token_id is not None else next(iter(self.eos_ids), 0)
        self.lock = threading.Lock()

    # -- prompt -----------------------------------------------------------------------------------------------------

    def prompt(self, messages: list[dict[str, str]], prefill: str = "") -> str:
        """The chat as the model was trained to read it, ending where the assistant's reply starts."""
        tok = self.tokenizer
        if getattr(tok, "chat_template", None):
            try:
                text = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
            except Exception:  # templates that refuse a system role: fold it into the first user turn
                text = tok.apply_chat_template(_fold_system(messages), add_generation_prompt=True, tokenize=False)
        else:
            text = "".join(f"{m['role']}: {m['content']}\n" for m in messages) + "assistant: "
        return text + prefill

    def _encode(self, prompt: str, max_tokens: int) -> tuple[Any, int]:
        ids = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
        n_prompt = int(ids["input_ids"].shape[1])
        room = self.n_ctx - n_prompt
        if room <= 0:
            raise ProviderError(
                f"local model: the prompt is {n_prompt} tokens, but the model reads at most {self.n_ctx}; "
                "retrieve fewer or smaller chunks"
            )
        return ids, min(max_tokens, room)

    def _generate_kwargs(self, ids: Any, max_new: int, temperature: float) -> dict[str, Any]:
        kw: dict[str, Any] = dict(ids)
        kw.update(max_new_tokens=max_new, pad_token_id=self.pad_id, do_sample=temperature > 0)
        if temperature > 0:
            kw.update(temperature=temperature, top_p=1.0)
        return kw

    def _output(self, text: str, n_prompt: int, new_ids: list[int], max_new: int) -> LocalOutput:
        stopped = bool(new_ids) and new_ids[-1] in self.eos_ids
        return LocalOutput(text, n_prompt, len(new_ids), "stop" if stopped or len(new_ids) < max_new else "length")

    # -- calls ------------------------------------------------------------------------------------------------------

    def complete(
        self, messages: list[dict[str, str]], max_tokens: int, temperature: float, json: bool | Mapping[str, Any]
    ) -> LocalOutput:
        prefill = "{" if json else ""  # no grammar here: starting the object is the best nudge a small model gets
        ids, max_new = self._encode(self.prompt(messages, prefill), max_tokens)
        n_prompt = int(ids["input_ids"].shape[1])
        with self.lock, self._torch.inference_mode():
            try:
                out = self.model.generate(**self._generate_kwargs(ids, max_new, temperature))
            except Exception as exc:
                raise ProviderError(f"local model failed to generate: {type(exc).__name__}: {exc}") from exc
        new_ids = out[0][n_prompt:].tolist()
        text = prefill + self.tokenizer.decode(new_ids, skip_special_tokens=True)
        return self._output(text, n_prompt, new_ids, max_new)

    def stream(
        self, messages: list[dict[str, str]], max_tokens: int, temperature: float
    ) -> Iterator[str | LocalOutput]:
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        torch = self._torch
        ids, max_new = self._encode(self.prompt(messages), max_tokens)
        n_prompt = int(ids["input_ids"].shape[1])
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        cancel = threading.Event()
        result: dict[str, Any] = {}

        class _Cancelled(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                return torch.full((input_ids.shape[0],), cancel.is_set(), dtype=torch.bool)

        def work() -> None:
            try:
                with torch.inference_mode():
                    result["out"] = self.model.generate(
                        **self._generate_kwargs(ids, max_new, temperature),
                        streamer=streamer,
                        stopping_criteria=StoppingCriteriaList([_Cancelled()]),
                    )
            except BaseException as exc:  # handed to the consumer below
                result["error"] = exc
                streamer.on_finalized_text("", stream_end=True)  # unblock the reader

        with self.lock:
            thread = threading.Thread(target=work, name="kenning-local-llm", daemon=True)
            thread.start()
            try:
                pieces = []
                for piece in streamer:
                    if piece:
                        pieces.append(piece)
                        yield piece
            finally:
                cancel.set()  # a consumer that stops early stops the generation too
                thread.join()
        if "error" in result:
            exc = result["error"]
            raise ProviderError(f"local model failed to generate: {type(exc).__name__}: {exc}") from exc
        new_ids = result["out"][0][n_prompt:].tolist()
        yield self._output("".join(pieces), n_prompt, new_ids, max_new)


def _fold_system(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    rest = [dict(m) for m in messages if m["role"] != "system"]
    if system and rest and rest[0]["role"] == "user":
        rest[0]["content"] = f"{system}\n\n{rest[0]['content']}"
    elif system:
        rest.insert(0, {"role": "user", "content": system})
    return rest
