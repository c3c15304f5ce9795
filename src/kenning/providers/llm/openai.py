"""Any OpenAI-compatible Chat Completions server: OpenAI, vLLM, Ollama, llama.cpp server, LM Studio.

Plain HTTP with one reused httpx client; no SDK. A local server needs no key: without one no ``Authorization``
header is sent, and only a 401/403 answer becomes an error naming the variable to set.
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
from ._remote import RejectedRequest, RemoteLLM, SSEEvent, estimate_usage, snippet
from .base import Completion, Message

__all__ = ["OpenAICompatibleLLM", "OPENAI_BASE_URL"]

OPENAI_BASE_URL = "https://api.openai.com/v1"
_PATH = "/chat/completions"


class OpenAICompatibleLLM(RemoteLLM):
    """A chat model behind ``POST {base_url}/chat/completions``.

    >>> llm = OpenAICompatibleLLM("gpt-4o-mini")                                      # doctest: +SKIP
    >>> llm.complete([Message("user", "Say hi")], max_tokens=5).text                  # doctest: +SKIP
    'Hi!'
    >>> ollama = OpenAICompatibleLLM("llama3.2", base_url="http://localhost:11434/v1")  # doctest: +SKIP

    ``api_key`` wins over the ``api_key_env`` variable. ``retry_backoff`` is the first wait between retries in
    seconds (doubling each time). ``prices`` ({model: (USD per 1M prompt, per 1M completion)}) extends
    :data:`~kenning.providers.llm.pricing.DEFAULT_PRICES`.
    """

    provider = "openai"

    def __init__(
        self,
        model: str,
        *,
        base_url: str = OPENAI_BASE_URL,
        api_key: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        timeout: float = 60.0,
        max_retries: int = 3,
        retry_backoff: float = 0.5,
        prices: Mapping[str, tuple[float, float]] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not model:
            raise ConfigError("llm.model: an OpenAI-compatible provider needs a model name, got ''")
        key = api_key if api_key is not None else os.environ.get(api_key_env, "")
        super().__init__(
            model,
            base_url=base_url.rstrip("/"),
            headers={"authorization": f"Bearer {key}"} if key else {},
            api_key_env=api_key_env,
            key_set=bool(key),
            timeout=timeout,
            max_retries=max_retries,
            retry_backoff=retry_backoff,
            prices=prices,
            transport=transport,
        )
        # Learned from a server's 400 answers, then kept: which length field it takes, whether it takes these.
        self._length_field = "max_tokens"
        self._send_temperature = True
        self._send_stream_options = True

    # -- the LLM protocol -------------------------------------------------------------------------------------------

    def complete(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = 512,
        temperature: float = 0.0,
        json: bool | Mapping[str, Any] = False,
    ) -> Completion:
        body = self._body(messages, max_tokens, temperature, json=json, stream=False)
        data = self._send(body, lambda b: self._http.post_json(_PATH, b))
        return self._parse(data, messages)

    def stream(
        self, messages: Sequence[Message], *, max_tokens: int = 512, temperature: float = 0.0
    ) -> Iterator[str | Completion]:
        body = self._body(messages, max_tokens, temperature, json=False, stream=True)
        events, is_sse = self._send(body, lambda b: self._http.open_stream(_PATH, b))
        if not is_sse:  # the server ignored "stream": one JSON answer
            for ev in events:
                done = self._parse(self._http.decode(ev.data, self._http.url(_PATH)), messages)
                if done.text:
                    yield done.text
                yield done
            return
        with contextlib.closing(events):  # a consumer that stops early frees the connection at once
            yield from self._read_stream(events, messages)

    # -- request ----------------------------------------------------------------------------------------------------

    def _body(
        self,
        messages: Sequence[Message],
        max_tokens: int,
        temperature: float,
        *,
        json: bool | Mapping[str, Any],
        stream: bool,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            self._length_field: max_tokens,
        }
        if self._send_temperature:
            body["temperature"] = temperature
        if json:
            body["response_format"] = {"type": "json_object"}
        if stream:
            body["stream"] = True
            if self._send_stream_options:
                body["stream_options"] = {"include_usage": True}
        return body

    def _send(self, body: dict[str, Any], send: Any) -> Any:
        """Send, and when a 400 names a field this server does not take, adjust the request and send it again."""
        for _ in range(4):
            try:
                return send(body)
            except RejectedRequest as exc:
                if exc.status not in (400, 422) or not (fixed := self._adapt(body, exc.detail)):
                    raise
                body = fixed
        return send(body)

    def _adapt(self, body: dict[str, Any], detail: str) -> dict[str, Any] | None:
        body = dict(body)
        if "response_format" in detail and "response_format" in body:
            del body["response_format"]  # no JSON mode here (or not for this prompt): rely on the prompt
        elif "max_completion_tokens" in detail and "max_tokens" in body:
            body["max_completion_tokens"] = body.pop("max_tokens")
            self._length_field = "max_completion_tokens"
        elif "temperature" in detail and "temperature" in body:
            del body["temperature"]
            self._send_temperature = False
        elif "stream_options" in detail and "stream_options" in body:
            del body["stream_options"]
            self._send_stream_options = False
        else:
            return None
        return body

    # -- response ---------------------------------------------------------------------------------------------------

    def _usage(self, raw: Any, model: str) -> Usage | None:
        if not isinstance(raw, dict) or not isinstance(raw.get("prompt_tokens"), int):
            return None
        prompt, completion = raw["prompt_tokens"], int(raw.get("completion_tokens") or 0)
        details = raw.get("prompt_tokens_details")
        cached = details.get("cached_tokens") if isinstance(details, dict) else None
        # the prompt prefix OpenAI (and llama.cpp servers) read from their automatic cache; billed like the rest here
        cached = cached if isinstance(cached, int) else 0
        return Usage(prompt, completion, self._cost(model, prompt, completion), calls=1, cached_tokens=cached)

    def _cost(self, reported_model: str, prompt: int, completion: int) -> float | None:
        spent = self._prices.cost(self.model, prompt, completion)
        return spent if spent is not None else self._prices.cost(reported_model, prompt, completion)

    def _finish(self, text: str, usage: Usage | None, messages: Sequence[Message], **kw: Any) -> Completion:
        estimated = usage is None
        if usage is None:
            guess = estimate_usage(messages, text)
            spent = self._prices.cost(self.model, guess.prompt_tokens, guess.completion_tokens)
            usage = Usage(guess.prompt_tokens, guess.completion_tokens, spent, calls=1)
        return Completion(text=text, model=self.name, usage=usage, usage_estimated=estimated, **kw)

    def _parse(self, data: dict[str, Any], messages: Sequence[Message]) -> Completion:
        url = self._http.url(_PATH)
        if isinstance(data.get("error"), dict | str):
            err = data["error"]
            raise ProviderError(
                f"{self.name}: {url} answered an error: {err.get('message', err) if isinstance(err, dict) else err}"
            )
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise ProviderError(f"{self.name}: server returned no choices: {snippet(_json.dumps(data))!r}")
        choice = choices[0]
        message = choice.get("message")
        if not isinstance(message, dict):
            raise ProviderError(
                f"{self.name}: server returned a choice with no message: {snippet(_json.dumps(data))!r}"
            )
        finish = choice.get("finish_reason") or "stop"
        text = _content_text(message.get("content"))
        if not text and message.get("refusal"):
            text, finish = str(message["refusal"]), "refusal"
        usage = self._usage(data.get("usage"), str(data.get("model") or ""))
        return self._finish(text, usage, messages, finish_reason=finish, raw=data)

    def _read_stream(self, events: Iterator[SSEEvent], messages: Sequence[Message]) -> Iterator[str | Completion]:
        url = self._http.url(_PATH)
        pieces: list[str] = []
        usage: Usage | None = None
        finish = "stop"
        reported_model = ""
        for ev in events:
            if ev.data.strip() == "[DONE]":
                break
            try:
                chunk = _json.loads(ev.data)
            except ValueError:
                raise ProviderError(f"{self.name}: unparseable stream event from {url}: {snippet(ev.data)!r}") from None
            if not isinstance(chunk, dict):
                raise ProviderError(f"{self.name}: unexpected stream event from {url}: {snippet(ev.data)!r}")
            if chunk.get("error"):
                err = chunk["error"]
                raise ProviderError(
                    f"{self.name}: the stream from {url} failed: {err.get('message', err) if isinstance(err, dict) else err}"
                )
            reported_model = chunk.get("model") or reported_model
            usage = self._usage(chunk.get("usage"), reported_model) or usage
            for choice in chunk.get("choices") or ():
                piece = _content_text((choice.get("delta") or {}).get("content"))
                if piece:
                    pieces.append(piece)
                    yield piece
                finish = choice.get("finish_reason") or finish
        yield self._finish("".join(pieces), usage, messages, finish_reason=finish)


def _content_text(content: Any) -> str:
    """Message content as text: a string, or a list of parts (``{"type": "text", "text": …}``) as some servers send."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return str(content)
