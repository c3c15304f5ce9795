"""Remote LLM providers against a local server speaking each API's real wire format.

The contract tests run once per provider (``dialect`` is parametrized over OpenAI and Anthropic); the tests after
them check what only one API has (JSON mode, prefill, Anthropic's ``error`` event), then the registry and prices.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pydantic import BaseModel

from kenning.chunking import get_tokenizer
from kenning.config import LLMConfig
from kenning.errors import ConfigError, ProviderError
from kenning.providers.llm import (
    LLM,
    Completion,
    Message,
    PriceTable,
    complete_json,
    cost,
    get_llm,
    parse_llm_spec,
    registered_llms,
)
from kenning.providers.llm.anthropic import AnthropicLLM
from kenning.providers.llm.openai import OpenAICompatibleLLM

from .llm_servers import ANTHROPIC, DIALECTS, OPENAI, Dialect, FakeLLMServer, Reply, closed_port_url, llm_server

__all__ = ["llm_server"]  # the fixture, imported for pytest

KEY = "sk-test-123"
CHAT = [Message("system", "Answer briefly."), Message("user", "What is the capital of France?")]


class Capital(BaseModel):
    city: str
    country: str


@pytest.fixture(params=DIALECTS, ids=lambda d: d.name)
def dialect(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Dialect:
    monkeypatch.setenv(request.param.key_env, KEY)
    return request.param


@pytest.fixture
def make(llm_server: FakeLLMServer, dialect: Dialect) -> Iterator[Callable[..., Any]]:
    """Build the dialect's client against the server (or another URL); every client is closed afterwards."""
    made: list[Any] = []

    def build(url: str | None = None, **kw: Any) -> Any:
        llm = dialect.make(url or llm_server, **kw)
        made.append(llm)
        return llm

    yield build
    for llm in made:
        llm.close()


def drain(items: Iterator[str | Completion]) -> tuple[list[str], Completion]:
    items = list(items)
    assert items and isinstance(items[-1], Completion), items
    assert all(isinstance(p, str) for p in items[:-1])
    return items[:-1], items[-1]


# -- contract: every provider ----------------------------------------------------------------------------------------


def test_is_an_llm(make: Callable[..., Any]) -> None:
    llm = make()
    assert isinstance(llm, LLM)
    assert llm.name.endswith(llm.model)


def test_complete(llm_server: FakeLLMServer, dialect: Dialect, make: Callable[..., Any]) -> None:
    llm_server.reply(dialect.ok("Paris.", prompt_tokens=21, completion_tokens=3))
    done = make().complete(CHAT, max_tokens=64)
    assert done.text == "Paris."
    assert done.model == f"{dialect.name}:{dialect.model}"
    assert (done.usage.prompt_tokens, done.usage.completion_tokens, done.usage.calls) == (21, 3, 1)
    assert done.finish_reason == "stop"
    assert not done.usage_estimated
    (req,) = llm_server.requests
    assert req.path == dialect.path
    assert req.body["model"] == dialect.model
    assert req.body["max_tokens"] == 64
    assert req.body["temperature"] == 0.0
    assert "stream" not in req.body


def test_truncated_reply_says_length(llm_server: FakeLLMServer, dialect: Dialect, make: Callable[..., Any]) -> None:
    llm_server.reply(dialect.ok("The capital of", truncated=True))
    assert make().complete(CHAT, max_tokens=3).finish_reason == "length"


def test_stream(llm_server: FakeLLMServer, dialect: Dialect, make: Callable[..., Any]) -> None:
    pieces = ["The capital", " of France", " is Paris."]
    llm_server.reply(dialect.stream(pieces, prompt_tokens=25, completion_tokens=9))
    got, done = drain(make().stream(CHAT, max_tokens=50))
    assert got == pieces
    assert done.text == "".join(pieces) == "The capital of France is Paris."
    assert (done.usage.prompt_tokens, done.usage.completion_tokens, done.usage.calls) == (25, 9, 1)
    assert done.finish_reason == "stop"
    assert not done.usage_estimated
    (req,) = llm_server.requests
    assert req.body["stream"] is True
    assert req.body["max_tokens"] == 50


def test_stream_retries_before_it_starts(llm_server: FakeLLMServer, dialect: Dialect, make: Callable[..., Any]) -> None:
    llm_server.reply(dialect.error(503, "busy"), dialect.stream(["ok"]))
    got, done = drain(make().stream(CHAT))
    assert got == ["ok"] and done.text == "ok"
    assert len(llm_server.requests) == 2


def test_stream_stopped_early_leaves_client_usable(
    llm_server: FakeLLMServer, dialect: Dialect, make: Callable[..., Any]
) -> None:
    llm_server.reply(dialect.stream(["a", "b", "c"]), dialect.ok("again"))
    llm = make()
    for piece in llm.stream(CHAT):
        assert piece == "a"
        break
    assert llm.complete(CHAT).text == "again"


def test_stream_that_stalls_is_an_error(llm_server: FakeLLMServer, dialect: Dialect, make: Callable[..., Any]) -> None:
    reply = dialect.stream(["never"])
    reply.event_delay = 2.0
    llm_server.reply(reply)
    start = time.monotonic()
    with pytest.raises(ProviderError, match="stalled"):
        drain(make(timeout=0.2).stream(CHAT))
    assert time.monotonic() - start < 1.5


def test_complete_json_retries_malformed_reply(
    llm_server: FakeLLMServer, dialect: Dialect, make: Callable[..., Any]
) -> None:
    llm_server.reply(
        dialect.ok("Sure! The city is Paris", prompt_tokens=30, completion_tokens=6),
        dialect.ok(
            dialect.continuation('{"city": "Paris", "country": "France"}'), prompt_tokens=50, completion_tokens=12
        ),
    )
    capital, usage = complete_json(make(), CHAT, Capital)
    assert capital == Capital(city="Paris", country="France")
    assert (usage.prompt_tokens, usage.completion_tokens, usage.calls) == (80, 18, 2)
    first, second = llm_server.requests
    assert len(second.body["messages"]) > len(first.body["messages"])  # the complaint was sent back
    assert "not valid JSON" in str(second.body["messages"])


def test_complete_json_invalid_fields_then_valid(
    llm_server: FakeLLMServer, dialect: Dialect, make: Callable[..., Any]
) -> None:
    llm_server.reply(
        dialect.ok(dialect.continuation('{"city": "Paris"}')),
        dialect.ok(dialect.continuation('{"city": "Paris", "country": "France"}')),
    )
    capital, usage = complete_json(make(), CHAT, Capital)
    assert capital.country == "France" and usage.calls == 2


def test_complete_json_malformed_forever(llm_server: FakeLLMServer, dialect: Dialect, make: Callable[..., Any]) -> None:
    llm_server.reply(*[dialect.ok("I cannot do JSON, sorry.") for _ in range(3)])
    with pytest.raises(ProviderError, match="did not return valid JSON after 3 tries"):
        complete_json(make(), CHAT, Capital, retries=2)
    assert len(llm_server.requests) == 3


def test_429_is_retried_after_the_wait_the_server_asks(
    llm_server: FakeLLMServer, dialect: Dialect, make: Callable[..., Any]
) -> None:
    llm_server.reply(dialect.error(429, "rate limited", headers={"retry-after": "0.3"}), dialect.ok("fine"))
    assert make().complete(CHAT).text == "fine"
    first, second = llm_server.requests
    assert second.at - first.at >= 0.28


def test_5xx_backoff_grows(llm_server: FakeLLMServer, dialect: Dialect, make: Callable[..., Any]) -> None:
    llm_server.reply(dialect.error(502, "bad gateway"), dialect.error(504, "gateway timeout"), dialect.ok("fine"))
    assert make(retry_backoff=0.1).complete(CHAT).text == "fine"
    a, b, c = (r.at for r in llm_server.requests)
    assert b - a >= 0.05 and c - b >= 0.1  # 0.1 then 0.2 s, each ±50 %


def test_5xx_every_time_is_an_error_naming_the_status(
    llm_server: FakeLLMServer, dialect: Dialect, make: Callable[..., Any]
) -> None:
    llm_server.reply(*[dialect.error(500, "boom") for _ in range(3)])
    with pytest.raises(ProviderError, match=r"500.*boom.*3 tries"):
        make(max_retries=2).complete(CHAT)
    assert len(llm_server.requests) == 3


def test_401_names_the_key_variable_and_is_not_retried(
    llm_server: FakeLLMServer, dialect: Dialect, make: Callable[..., Any]
) -> None:
    llm_server.reply(dialect.error(401, "invalid api key"))
    with pytest.raises(ProviderError, match=rf"{dialect.key_env} rejected \(401\).*invalid api key"):
        make().complete(CHAT)
    assert len(llm_server.requests) == 1


def test_without_a_key_no_auth_header_is_sent(
    llm_server: FakeLLMServer, dialect: Dialect, make: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(dialect.key_env)
    llm_server.reply(dialect.ok("local servers need no key"), dialect.error(403, "key required"))
    llm = make()
    assert llm.complete(CHAT).text == "local servers need no key"
    headers = llm_server.requests[0].headers
    assert "authorization" not in headers and "x-api-key" not in headers
    with pytest.raises(ProviderError, match=rf"needs an API key \(403.*Set the environment variable {dialect.key_env}"):
        llm.complete(CHAT)


def test_404_says_model_not_found(llm_server: FakeLLMServer, dialect: Dialect, make: Callable[..., Any]) -> None:
    llm_server.reply(dialect.error(404, "The model does not exist"))
    with pytest.raises(ProviderError, match=rf"model '{dialect.model}' not found.*404"):
        make().complete(CHAT)
    assert len(llm_server.requests) == 1


def test_400_is_not_retried(llm_server: FakeLLMServer, dialect: Dialect, make: Callable[..., Any]) -> None:
    llm_server.reply(dialect.error(400, "messages: field required"))
    with pytest.raises(ProviderError, match=r"rejected the request \(400.*messages: field required"):
        make().complete(CHAT)
    assert len(llm_server.requests) == 1


def test_timeout_after_retries(llm_server: FakeLLMServer, dialect: Dialect, make: Callable[..., Any]) -> None:
    llm_server.reply(Reply(delay=3.0), Reply(delay=3.0))
    start = time.monotonic()
    with pytest.raises(ProviderError, match=r"no answer within 0.2 s .*2 tries"):
        make(timeout=0.2, max_retries=1).complete(CHAT)
    assert time.monotonic() - start < 2.0
    assert len(llm_server.requests) == 2


def test_connection_refused(dialect: Dialect, make: Callable[..., Any]) -> None:
    url = closed_port_url()
    with pytest.raises(ProviderError, match=rf"cannot reach {url}.*is the server running\?"):
        make(url, max_retries=1).complete(CHAT)


def test_body_that_is_not_json(llm_server: FakeLLMServer, dialect: Dialect, make: Callable[..., Any]) -> None:
    llm_server.reply(Reply(200, "<html>502 from some proxy</html>", headers={"content-type": "text/html"}))
    with pytest.raises(ProviderError, match="not JSON.*some proxy"):
        make().complete(CHAT)


def test_envelope_without_a_reply(llm_server: FakeLLMServer, dialect: Dialect, make: Callable[..., Any]) -> None:
    llm_server.reply(dialect.empty())
    with pytest.raises(ProviderError, match="server returned no (choices|content)"):
        make().complete(CHAT)


def test_unparseable_stream_event(llm_server: FakeLLMServer, dialect: Dialect, make: Callable[..., Any]) -> None:
    llm_server.reply(Reply(events=["data: {not json\n\n"]))
    with pytest.raises(ProviderError, match="unparseable stream event"):
        drain(make().stream(CHAT))


def test_cost_from_a_configured_price_table(
    llm_server: FakeLLMServer, dialect: Dialect, make: Callable[..., Any]
) -> None:
    llm_server.reply(
        dialect.ok("a", prompt_tokens=1000, completion_tokens=500),
        dialect.stream(["b"], prompt_tokens=2000, completion_tokens=100),
    )
    llm = make(prices={dialect.model: (1.0, 2.0)})
    assert llm.complete(CHAT).usage.cost_usd == pytest.approx(0.002)
    _, done = drain(llm.stream(CHAT))
    assert done.usage.cost_usd == pytest.approx(0.0022)


def test_cost_unknown_model_is_none(llm_server: FakeLLMServer, dialect: Dialect) -> None:
    other = Dialect(dialect.name, dialect.key_env, dialect.path, "my-own-finetune")
    llm_server.reply(other.ok("a"))
    with other.make(llm_server) as llm:
        assert llm.complete(CHAT).usage.cost_usd is None


# -- OpenAI-compatible only ------------------------------------------------------------------------------------------


@pytest.fixture
def openai_llm(llm_server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[OpenAICompatibleLLM]:
    monkeypatch.setenv(OPENAI.key_env, KEY)
    with OPENAI.make(llm_server) as llm:
        yield llm


def test_openai_request_shape(llm_server: FakeLLMServer, openai_llm: OpenAICompatibleLLM) -> None:
    llm_server.reply(OPENAI.ok("{}"), OPENAI.stream(["x"]))
    openai_llm.complete(CHAT, json=True)
    drain(openai_llm.stream(CHAT))
    plain, streamed = llm_server.requests
    assert plain.headers["authorization"] == f"Bearer {KEY}"
    assert plain.body["messages"] == [{"role": m.role, "content": m.content} for m in CHAT]
    assert plain.body["response_format"] == {"type": "json_object"}
    assert streamed.body["stream_options"] == {"include_usage": True}
    assert "response_format" not in streamed.body


def test_openai_stream_without_usage_is_estimated(llm_server: FakeLLMServer, openai_llm: OpenAICompatibleLLM) -> None:
    llm_server.reply(OPENAI.stream(["The capital of France", " is Paris."], usage=False))
    _, done = drain(openai_llm.stream(CHAT))
    assert done.usage_estimated
    assert done.usage.completion_tokens == get_tokenizer().count("The capital of France is Paris.")
    assert done.usage.prompt_tokens >= sum(get_tokenizer().count(m.content) for m in CHAT)


def test_openai_server_that_ignores_stream(llm_server: FakeLLMServer, openai_llm: OpenAICompatibleLLM) -> None:
    llm_server.reply(OPENAI.ok("all at once"))
    got, done = drain(openai_llm.stream(CHAT))
    assert got == ["all at once"] and done.usage.prompt_tokens == 11


def test_openai_json_mode_unsupported_falls_back_to_the_prompt(
    llm_server: FakeLLMServer, openai_llm: OpenAICompatibleLLM
) -> None:
    llm_server.reply(
        OPENAI.error(
            400, "Invalid parameter: 'response_format' of type 'json_object' is not supported with this model."
        ),
        OPENAI.ok('{"city": "Paris", "country": "France"}'),
    )
    capital, usage = complete_json(openai_llm, CHAT, Capital)
    assert capital.city == "Paris" and usage.calls == 1
    first, second = llm_server.requests
    assert "response_format" in first.body and "response_format" not in second.body


def test_openai_learns_max_completion_tokens(llm_server: FakeLLMServer, openai_llm: OpenAICompatibleLLM) -> None:
    llm_server.reply(
        OPENAI.error(
            400,
            "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.",
        ),
        OPENAI.ok("one"),
        OPENAI.ok("two"),
    )
    assert openai_llm.complete(CHAT, max_tokens=9).text == "one"
    assert openai_llm.complete(CHAT, max_tokens=9).text == "two"
    first, second, third = (r.body for r in llm_server.requests)
    assert first["max_tokens"] == 9 and second["max_completion_tokens"] == 9 and third["max_completion_tokens"] == 9
    assert "max_tokens" not in third


def test_openai_error_inside_stream(llm_server: FakeLLMServer, openai_llm: OpenAICompatibleLLM) -> None:
    llm_server.reply(Reply(events=['data: {"error": {"message": "model crashed"}}\n\n']))
    with pytest.raises(ProviderError, match="model crashed"):
        drain(openai_llm.stream(CHAT))


def test_retry_after_longer_than_we_wait_fails_at_once(
    llm_server: FakeLLMServer, openai_llm: OpenAICompatibleLLM
) -> None:
    llm_server.reply(OPENAI.error(429, "daily quota", headers={"retry-after": "3600"}))
    with pytest.raises(ProviderError, match="asks to wait 3600 s"):
        openai_llm.complete(CHAT)
    assert len(llm_server.requests) == 1


def test_retry_after_ms(llm_server: FakeLLMServer, openai_llm: OpenAICompatibleLLM) -> None:
    llm_server.reply(OPENAI.error(429, "slow down", headers={"retry-after-ms": "250"}), OPENAI.ok("ok"))
    assert openai_llm.complete(CHAT).text == "ok"
    first, second = llm_server.requests
    assert second.at - first.at >= 0.23


def test_base_url_must_be_http() -> None:
    with pytest.raises(ConfigError, match="base_url"):
        OpenAICompatibleLLM("m", base_url="localhost:11434/v1")


# -- Anthropic only --------------------------------------------------------------------------------------------------


@pytest.fixture
def claude(llm_server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[AnthropicLLM]:
    monkeypatch.setenv(ANTHROPIC.key_env, KEY)
    with ANTHROPIC.make(llm_server) as llm:
        yield llm


def test_anthropic_request_shape(llm_server: FakeLLMServer, claude: AnthropicLLM) -> None:
    llm_server.reply(ANTHROPIC.ok("ok"))
    chat = [*CHAT, Message("user", "And of Spain?"), Message("system", "Be terse.")]
    claude.complete(chat, max_tokens=33)
    (req,) = llm_server.requests
    assert req.headers["x-api-key"] == KEY
    assert req.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in req.headers
    assert req.body["system"] == "Answer briefly.\n\nBe terse."
    assert req.body["messages"] == [
        {"role": "user", "content": "What is the capital of France?\n\nAnd of Spain?"}  # one role per turn
    ]
    assert req.body["max_tokens"] == 33


def test_anthropic_base_url_with_v1(llm_server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch) -> None:
    llm_server.reply(ANTHROPIC.ok("ok"))
    with AnthropicLLM(ANTHROPIC.model, base_url=llm_server.url + "/v1/") as llm:
        llm.complete(CHAT)
    assert llm_server.requests[0].path == "/v1/messages"


def test_anthropic_json_prefills_the_brace(llm_server: FakeLLMServer, claude: AnthropicLLM) -> None:
    llm_server.reply(ANTHROPIC.ok('"city": "Paris", "country": "France"}'))
    done = claude.complete(CHAT, json=True)
    assert done.text == '{"city": "Paris", "country": "France"}'
    assert llm_server.requests[0].body["messages"][-1] == {"role": "assistant", "content": "{"}


def test_anthropic_model_without_prefill(llm_server: FakeLLMServer, claude: AnthropicLLM) -> None:
    llm_server.reply(
        ANTHROPIC.error(400, "This model does not support assistant message prefill."),
        ANTHROPIC.ok('{"city": "Paris", "country": "France"}'),
        ANTHROPIC.ok('{"city": "Rome", "country": "Italy"}'),
    )
    assert complete_json(claude, CHAT, Capital)[0].city == "Paris"
    assert complete_json(claude, CHAT, Capital)[0].city == "Rome"
    bodies = [r.body for r in llm_server.requests]
    assert [b["messages"][-1]["role"] for b in bodies] == ["assistant", "user", "user"]


def test_anthropic_529_overloaded_is_retried(llm_server: FakeLLMServer, claude: AnthropicLLM) -> None:
    llm_server.reply(
        Reply(529, {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
        ANTHROPIC.ok("ok"),
    )
    assert claude.complete(CHAT).text == "ok"
    assert len(llm_server.requests) == 2


def test_anthropic_error_event_in_stream(llm_server: FakeLLMServer, claude: AnthropicLLM) -> None:
    frames = ANTHROPIC.stream(["Par"]).events[:4]
    frames.append(
        'event: error\ndata: {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}\n\n'
    )
    llm_server.reply(Reply(events=frames))
    got: list[str] = []
    with pytest.raises(ProviderError, match=r"Overloaded \[overloaded_error\]"):
        for item in claude.stream(CHAT):
            got.append(item)
    assert got == ["Par"]


# -- registry and prices ---------------------------------------------------------------------------------------------


def test_get_llm_none_means_no_model() -> None:
    assert get_llm(LLMConfig()) is None
    assert get_llm(LLMConfig(provider="none", model="ignored")) is None


def test_get_llm_builds_each_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    llm = get_llm(LLMConfig(provider="openai", model="gpt-4o-mini", timeout=5, max_retries=1))
    assert isinstance(llm, OpenAICompatibleLLM) and llm.base_url == "https://api.openai.com/v1"
    llm.close()
    llm = get_llm(LLMConfig(provider="openai", model="llama3.2", base_url="http://localhost:11434/v1/"))
    assert llm.base_url == "http://localhost:11434/v1" and llm.name == "openai:llama3.2"
    llm.close()
    llm = get_llm(LLMConfig(provider="anthropic", model="claude-sonnet-4-20250514"))
    assert isinstance(llm, AnthropicLLM)
    llm.close()


def test_get_llm_errors() -> None:
    with pytest.raises(ConfigError, match="needs a model name"):
        get_llm(LLMConfig(provider="openai"))
    with pytest.raises(ConfigError, match="unknown provider 'bogus'.*none, openai, anthropic, local"):
        get_llm(LLMConfig.model_construct(provider="bogus", model="x"))


@pytest.mark.parametrize(
    ("spec", "fields"),
    [
        ("openai:gpt-4o-mini", {"provider": "openai", "model": "gpt-4o-mini"}),
        ("anthropic:claude-3-5-haiku-latest", {"provider": "anthropic", "model": "claude-3-5-haiku-latest"}),
        ("local", {"provider": "local", "model": "qwen2.5-1.5b"}),
        ("local:smollm2", {"provider": "local", "model": "smollm2"}),
        ("local:/models/qwen.gguf", {"provider": "local", "model": "/models/qwen.gguf"}),
        ("none", {"provider": "none", "model": ""}),
        ("gpt-4.1", {"provider": "openai", "model": "gpt-4.1"}),
        ("claude-sonnet-4-20250514", {"provider": "anthropic", "model": "claude-sonnet-4-20250514"}),
        (
            "ollama:qwen2.5:0.5b",
            {"provider": "openai", "model": "qwen2.5:0.5b", "base_url": "http://localhost:11434/v1"},
        ),
    ],
)
def test_parse_llm_spec(spec: str, fields: dict[str, str]) -> None:
    assert parse_llm_spec(spec) == fields
    LLMConfig(**fields)  # always a valid config


@pytest.mark.parametrize(
    ("spec", "message"),
    [("bogus:x", "unknown provider 'bogus'"), ("openai:", "needs a model"), ("mystery", "PROVIDER:MODEL")],
)
def test_parse_llm_spec_errors(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_llm_spec(spec)


def test_registered_llms() -> None:
    assert registered_llms() == ["none", "openai", "anthropic", "local"]


def test_prices() -> None:
    assert cost("gpt-4o-mini", 1_000_000, 1_000_000) == pytest.approx(0.75)
    assert cost("gpt-4o-mini-2024-07-18", 1_000_000, 0) == pytest.approx(0.15)  # a dated snapshot
    assert cost("openai/gpt-4o", 0, 1_000_000) == pytest.approx(10.0)  # a vendor prefix
    assert cost("claude-3-5-haiku-20241022", 1_000_000, 0) == pytest.approx(0.8)
    assert cost("claude-3-5-haiku-latest", 1_000_000, 0) == pytest.approx(0.8)
    assert cost("gpt-4o-mini-realtime-preview", 1, 1) is None  # another model, not a snapshot
    assert cost("qwen2.5:0.5b", 1, 1) is None
    assert cost("gpt-4o", 1_000_000, 0, prices={"gpt-4o": (1.0, 1.0)}) == pytest.approx(1.0)  # config wins
    assert PriceTable({"mine": (2.0, 4.0)}).lookup("mine") == (2.0, 4.0)
