"""Anthropic's Messages API (``POST /v1/messages``) over plain HTTP.

System messages go to the top-level ``system`` field; consecutive turns of one role are merged. Anthropic has no
JSON mode, so ``json=True`` prefills the assistant turn with ``{`` (and puts it back in front of the reply); a model
that refuses prefill gets the request again without it, and the prompt plus
:func:`~kenning.providers.llm.base.extract_json` do the rest.
"""

from __future__ import annotations

import contextlib
import json as _json
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import httpx

from ...errors import ConfigError, ProviderError
from ...types import Usage
from ._remote import RejectedRequest, RemoteLLM, SSEEvent, snippet
from .base import Completion, Message
from .pricing import ANTHROPIC_CACHE_READ, ANTHROPIC_CACHE_WRITE

__all__ = ["AnthropicLLM", "ANTHROPIC_BASE_URL", "ANTHROPIC_VERSION"]

ANTHROPIC_BASE_URL = "https://api.anthropic.com"
ANTHROPIC_VERSION = "2023-06-01"
_PATH = "/v1/messages"
_STOP = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length"}


class AnthropicLLM(RemoteLLM):
    """A Claude model behind the Messages API.

    >>> llm = AnthropicLLM("claude-3-5-haiku-latest")                     # doctest: +SKIP
    >>> llm.complete([Message("user", "Say hi")], max_tokens=5).text      # doctest: +SKIP
    'Hi!'

    ``base_url`` is the API root without ``/v1``. ``retry_backoff`` is the first wait between retries in seconds
    (doubling each time); 529 "overloaded" is retried like 429 and 5xx.
    """

    provider = "anthropic"

    def __init__(
        self,
        model: str,
        *,
        base_url: str = ANTHROPIC_BASE_URL,
        api_key: str | None = None,
        api_key_env: str = "ANTHROPIC_API_KEY",
        timeout: float = 60.0,
        max_retries: int = 3,
        retry_backoff: float = 0.5,
        prices: Mapping[str, tuple[float, float]] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not model:
            raise ConfigError("llm.model: the anthropic provider needs a model name, got ''")
        key = api_key if api_key is not None else os.environ.get(api_key_env, "")
        base_url = base_url.rstrip("/")
        base_url = base_url.removesuffix("/v1")
        headers = {"anthropic-version": ANTHROPIC_VERSION}
        if key:
            headers["x-api-key"] = key
        super().__init__(
            model,
            base_url=base_url,
            headers=headers,
            api_key_env=api_key_env,
            key_set=bool(key),
            timeout=timeout,
            max_retries=max_retries,
            retry_backoff=retry_backoff,
            prices=prices,
            transport=transport,
        )
        self._prefill = True  # set False once the model refuses a prefilled assistant turn

    # -- the LLM protocol -------------------------------------------------------------------------------------------

    def complete(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = 512,
        temperature: float = 0.0,
        json: bool | Mapping[str, Any] = False,
    ) -> Completion:
        prefill = "{" if json and self._prefill and (not messages or messages[-1].role != "assistant") else ""
        body = self._body(messages, max_tokens, temperature, prefill=prefill)
        try:
            data = self._http.post_json(_PATH, body)
        except RejectedRequest as exc:
            if not prefill or exc.status != 400 or not ("prefill" in exc.detail or "assistant" in exc.detail):
                raise
            self._prefill, prefill = False, ""
            data = self._http.post_json(_PATH, self._body(messages, max_tokens, temperature, prefill=""))
        return self._parse(data, prefill)

    def stream(
        self, messages: Sequence[Message], *, max_tokens: int = 512, temperature: float = 0.0
    ) -> Iterator[str | Completion]:
        body = self._body(messages, max_tokens, temperature, prefill="")
        body["stream"] = True
        events, is_sse = self._http.open_stream(_PATH, body)
        if not is_sse:  # the server ignored "stream": one JSON answer
            for ev in events:
                done = self._parse(self._http.decode(ev.data, self._http.url(_PATH)), "")
                if done.text:
                    yield done.text
                yield done
            return
        with contextlib.closing(events):  # a consumer that stops early frees the connection at once
            yield from self._read_stream(events)

    # -- request / response -----------------------------------------------------------------------------------------

    def _body(
        self, messages: Sequence[Message], max_tokens: int, temperature: float, *, prefill: str
    ) -> dict[str, Any]:
        system = [m for m in messages if m.role == "system"]
        turns: list[dict[str, Any]] = []
        for m in messages:
            if m.role == "system":
                continue
            if turns and turns[-1]["role"] == m.role:
                turns[-1]["parts"].append(m)
            else:
                turns.append({"role": m.role, "parts": [m]})
        rendered = [{"role": t["role"], "content": _content(t["parts"])} for t in turns]
        if prefill:
            rendered.append({"role": "assistant", "content": prefill})
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": max_tokens,
            "messages": rendered,
            "temperature": temperature,
        }
        if system:
            body["system"] = _content(system)
        return body

    def _usage(self, raw: dict[str, Any]) -> Usage:
        fresh = int(raw.get("input_tokens") or 0)
        written = int(raw.get("cache_creation_input_tokens") or 0)
        read = int(raw.get("cache_read_input_tokens") or 0)
        completion = int(raw.get("output_tokens") or 0)
        price = self._prices.lookup(self.model)
        cost = None
        if price is not None:
            prompt = fresh + ANTHROPIC_CACHE_WRITE * written + ANTHROPIC_CACHE_READ * read
            cost = (prompt * price[0] + completion * price[1]) / 1_000_000
        return Usage(fresh + written + read, completion, cost, calls=1, cached_tokens=read)

    def _parse(self, data: dict[str, Any], prefill: str) -> Completion:
        if data.get("type") == "error" or isinstance(data.get("error"), dict):
            err = data.get("error") or {}
            raise ProviderError(f"{self.name}: {self._http.url(_PATH)} answered an error: {err.get('message', err)}")
        content = data.get("content")
        if not isinstance(content, list):
            raise ProviderError(f"{self.name}: server returned no content: {snippet(_json.dumps(data))!r}")
        text = "".join(b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text")
        usage = data.get("usage")
        if not isinstance(usage, dict):
            raise ProviderError(f"{self.name}: server returned no usage: {snippet(_json.dumps(data))!r}")
        stop = data.get("stop_reason") or "stop"
        return Completion(
            text=prefill + text,
            model=self.name,
            usage=self._usage(usage),
            finish_reason=_STOP.get(stop, stop),
            raw=data,
        )

    def _read_stream(self, events: Iterator[SSEEvent]) -> Iterator[str | Completion]:
        url = self._http.url(_PATH)
        pieces: list[str] = []
        counts: dict[str, int] = {}
        stop = "stop"
        started = False
        for ev in events:
            try:
                data = _json.loads(ev.data)
            except ValueError:
                raise ProviderError(f"{self.name}: unparseable stream event from {url}: {snippet(ev.data)!r}") from None
            if not isinstance(data, dict):
                raise ProviderError(f"{self.name}: unexpected stream event from {url}: {snippet(ev.data)!r}")
            kind = data.get("type") or ev.event
            if kind == "error":
                err = data.get("error") or {}
                raise ProviderError(
                    f"{self.name}: the stream from {url} failed: {err.get('message', err)} [{err.get('type', '?')}]; "
                    "try again later"
                )
            if kind == "message_start":
                started = True
                counts.update(
                    {k: v for k, v in ((data.get("message") or {}).get("usage") or {}).items() if isinstance(v, int)}
                )
            elif kind == "content_block_delta":
                delta = data.get("delta") or {}
                if delta.get("type") == "text_delta" and delta.get("text"):
                    pieces.append(delta["text"])
                    yield delta["text"]
            elif kind == "message_delta":
                stop = (data.get("delta") or {}).get("stop_reason") or stop
                counts.update({k: v for k, v in (data.get("usage") or {}).items() if isinstance(v, int)})
            elif kind == "message_stop":
                break
        if not started:
            raise ProviderError(f"{self.name}: the stream from {url} ended before the message started")
        yield Completion(
            text="".join(pieces), model=self.name, usage=self._usage(counts), finish_reason=_STOP.get(stop, stop)
        )


def _content(parts: Sequence[Message]) -> str | list[dict[str, Any]]:
    """One turn's (or the system prompt's) content: a plain string, or text blocks when a part asks to be cached.

    A part with ``cache=True`` gets ``cache_control``, so Anthropic caches the prompt up to and including it (a
    document that many calls share is then read at a tenth of the price).
    """
    if not any(m.cache for m in parts):
        return "\n\n".join(m.content for m in parts)
    blocks: list[dict[str, Any]] = []
    for m in parts:
        block: dict[str, Any] = {"type": "text", "text": m.content}
        if m.cache:
            block["cache_control"] = {"type": "ephemeral"}
        blocks.append(block)
    return blocks
