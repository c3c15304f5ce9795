"""HTTP plumbing shared by the remote providers: one reused httpx client, retries with backoff, SSE, usage estimates.

Retry policy (the same for every remote provider): 408, 429, 500, 502, 503, 504 and 529 answers, timeouts and
connection errors are tried again up to ``max_retries`` times, waiting ``retry_backoff * 2**attempt`` seconds with
±50 % jitter, or what the server's ``Retry-After`` / ``retry-after-ms`` header asks. Other statuses (400, 401, 403,
404 …) fail at once. Every failure ends as a :class:`~kenning.errors.ProviderError` that says what to do.
"""

from __future__ import annotations

import email.utils
import json as _json
import random
import time
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Self, TypeVar

import httpx

from ...errors import ConfigError, ProviderError
from ...types import Usage
from .base import Message
from .pricing import PriceTable

__all__ = ["HTTPTransport", "RemoteLLM", "RejectedRequest", "SSEEvent", "iter_sse", "estimate_usage", "snippet"]

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504, 529})
MAX_BACKOFF = 30.0
T = TypeVar("T")


class RejectedRequest(ProviderError):
    """The server refused the request with a status that retrying cannot fix (400, 401, 404 …)."""

    def __init__(self, message: str, *, status: int, detail: str) -> None:
        super().__init__(message)
        self.status = status
        self.detail = detail


class _Retryable(Exception):
    def __init__(self, problem: str, *, kind: str, retry_after: float | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.kind = kind  # "status" | "timeout" | "connect"
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class SSEEvent:
    """One server-sent event: its ``event:`` name (``message`` when absent) and its joined ``data:`` lines."""

    event: str
    data: str


def iter_sse(lines: Iterator[str]) -> Iterator[SSEEvent]:
    """Parse server-sent events from text lines (the format of https://html.spec.whatwg.org/#server-sent-events)."""
    event, data = "", []
    for line in lines:
        line = line.rstrip("\r")
        if not line:
            if data:
                yield SSEEvent(event or "message", "\n".join(data))
            event, data = "", []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
    if data:
        yield SSEEvent(event or "message", "\n".join(data))


def snippet(text: str, limit: int = 200) -> str:
    """A short, single-line excerpt of a server's answer for an error message."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"


def error_detail(resp: httpx.Response) -> str:
    """The human message inside an error body, whichever of the usual shapes the server used."""
    try:
        body = resp.json()
    except ValueError:
        return snippet(resp.text) or resp.reason_phrase
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict) and err.get("message"):
            kind = err.get("type") or err.get("code")
            return f"{err['message']}" + (f" [{kind}]" if kind else "")
        if isinstance(err, str):
            return err
        for key in ("message", "detail"):
            if isinstance(body.get(key), str):
                return body[key]
    return snippet(resp.text)


def _retry_after(resp: httpx.Response) -> float | None:
    ms = resp.headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = resp.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class HTTPTransport:
    """One provider's connection: base URL, fixed headers, timeouts and the retry policy.

    ``key_env`` and ``model`` only shape error messages (which variable to fix, which model was not found).
    ``transport`` lets a caller plug in any httpx transport (a proxy, a test double).
    """

    def __init__(
        self,
        *,
        provider: str,
        model: str,
        base_url: str,
        headers: Mapping[str, str],
        key_env: str | None,
        key_set: bool,
        timeout: float,
        max_retries: int,
        retry_backoff: float,
        max_retry_wait: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"llm.base_url: must start with http:// or https://, got {base_url!r}")
        self.provider = provider
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.key_env = key_env
        self.key_set = key_set
        self.timeout = timeout
        self.max_retries = max_retries
        self.retry_backoff = retry_backoff
        self.max_retry_wait = max_retry_wait
        self._client = httpx.Client(
            headers={"content-type": "application/json", **headers},
            timeout=httpx.Timeout(timeout),
            transport=transport,
            follow_redirects=True,
        )

    def close(self) -> None:
        self._client.close()

    def url(self, path: str) -> str:
        return self.base_url + path

    # -- requests -------------------------------------------------------------------------------------------------

    def post_json(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST ``body``, retrying as the policy says, and return the decoded JSON object of a 2xx answer."""
        url = self.url(path)

        def once() -> httpx.Response:
            try:
                resp = self._client.post(url, json=body)
            except httpx.HTTPError as exc:
                raise self._transport_problem(exc) from exc
            self._check(resp, url)
            return resp

        resp = self._retrying(url, once)
        return self.decode(resp.text, url, status=resp.status_code)

    def open_stream(self, path: str, body: dict[str, Any]) -> tuple[Generator[SSEEvent, None, None], bool]:
        """POST ``body`` and return the answer's events, plus whether it really is an event stream.

        Retries happen only before the answer starts; a stream that breaks halfway raises ProviderError. A server
        that ignores ``stream: true`` and answers plain JSON yields one event named ``json`` holding that body.
        """
        url = self.url(path)

        def once() -> httpx.Response:
            request = self._client.build_request("POST", url, json=body)
            try:
                resp = self._client.send(request, stream=True)
            except httpx.HTTPError as exc:
                raise self._transport_problem(exc) from exc
            if not resp.is_success:
                try:
                    resp.read()
                except httpx.HTTPError as exc:
                    raise self._transport_problem(exc) from exc
                finally:
                    resp.close()
                self._check(resp, url)
            return resp

        resp = self._retrying(url, once)
        is_sse = "text/event-stream" in resp.headers.get("content-type", "")
        return self._events(resp, url, is_sse), is_sse

    def _events(self, resp: httpx.Response, url: str, is_sse: bool) -> Generator[SSEEvent, None, None]:
        try:
            if is_sse:
                yield from iter_sse(resp.iter_lines())
            else:
                resp.read()
                yield SSEEvent("json", resp.text)
        except httpx.TimeoutException:
            raise ProviderError(
                f"{self.provider}: the stream from {url} stalled (no data for {self.timeout:g} s); "
                "try again, or raise llm.timeout"
            ) from None
        except httpx.HTTPError as exc:
            raise ProviderError(f"{self.provider}: the stream from {url} broke off: {exc}") from None
        finally:
            resp.close()

    def decode(self, text: str, url: str, *, status: int = 200) -> dict[str, Any]:
        try:
            data = _json.loads(text)
        except ValueError:
            raise ProviderError(
                f"{self.provider}: {url} answered {status} with a body that is not JSON: {snippet(text)!r}. "
                "Is base_url the API root of a compatible server?"
            ) from None
        if not isinstance(data, dict):
            raise ProviderError(f"{self.provider}: {url} answered JSON that is not an object: {snippet(text)!r}")
        return data

    # -- policy ---------------------------------------------------------------------------------------------------

    def _transport_problem(self, exc: httpx.HTTPError) -> _Retryable:
        if isinstance(exc, httpx.TimeoutException):
            return _Retryable(f"no answer within {self.timeout:g} s", kind="timeout")
        if isinstance(exc, httpx.ConnectError):
            return _Retryable(f"connection failed: {exc}", kind="connect")
        if isinstance(exc, httpx.TransportError):
            return _Retryable(f"connection error: {exc}", kind="connect")
        raise ProviderError(f"{self.provider}: request failed: {exc}") from exc

    def _check(self, resp: httpx.Response, url: str) -> None:
        status = resp.status_code
        if resp.is_success:
            return
        detail = error_detail(resp)
        if status in RETRY_STATUSES:
            raise _Retryable(f"{status} {resp.reason_phrase}: {detail}", kind="status", retry_after=_retry_after(resp))
        if status in (401, 403):
            if self.key_set:
                msg = (
                    f"{self.key_env} rejected ({status}) by {self.base_url}: {detail}. "
                    f"Check the key in ${self.key_env} (and that it may use model {self.model!r})."
                )
            else:
                msg = (
                    f"{self.base_url} needs an API key ({status}: {detail}). "
                    f"Set the environment variable {self.key_env}."
                )
        elif status == 404:
            msg = (
                f"{self.provider} model {self.model!r} not found at {url} (404: {detail}). "
                f"Check the model name, and that base_url ({self.base_url}) is the API root."
            )
        else:
            msg = f"{self.provider}: {url} rejected the request ({status} {resp.reason_phrase}): {detail}"
        raise RejectedRequest(msg, status=status, detail=detail)

    def _retrying(self, url: str, once: Callable[[], T]) -> T:
        tries = self.max_retries + 1
        problem: _Retryable | None = None
        for attempt in range(tries):
            try:
                return once()
            except _Retryable as exc:
                problem = exc
            if problem.retry_after is not None and problem.retry_after > self.max_retry_wait:
                raise ProviderError(
                    f"{self.provider}: {url} answered {problem.problem} and asks to wait "
                    f"{problem.retry_after:.0f} s; try again later"
                )
            if attempt + 1 < tries:
                time.sleep(self._delay(attempt, problem.retry_after))
        assert problem is not None
        n = f"{tries} {'try' if tries == 1 else 'tries'}"
        if problem.kind == "connect":
            raise ProviderError(f"cannot reach {self.base_url} — is the server running? ({problem.problem}; {n})")
        if problem.kind == "timeout":
            raise ProviderError(
                f"{self.provider}: {problem.problem} from {url} ({n}); the server may be busy — "
                "try again, or raise llm.timeout"
            )
        raise ProviderError(f"{self.provider}: {url} answered {problem.problem} ({n}); try again later")

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return retry_after
        return min(MAX_BACKOFF, self.retry_backoff * 2**attempt) * random.uniform(0.5, 1.5)


def estimate_usage(messages: Sequence[Message], text: str) -> Usage:
    """Token counts for a call whose server reported none: ``cl100k_base`` counts plus OpenAI's per-message overhead."""
    from ...chunking.tokens import get_tokenizer

    tok = get_tokenizer("cl100k_base")
    prompt = sum(tok.count(m.content) + 4 for m in messages) + 3
    return Usage(prompt_tokens=prompt, completion_tokens=tok.count(text), calls=1)


class RemoteLLM:
    """What the HTTP chat clients share: their name, one transport with its retry policy, prices, and closing.

    Subclasses set ``provider`` (the ``PROVIDER`` of ``PROVIDER:MODEL``) and build their own auth headers.
    """

    provider = ""

    def __init__(
        self,
        model: str,
        *,
        base_url: str,
        headers: dict[str, str],
        api_key_env: str,
        key_set: bool,
        timeout: float,
        max_retries: int,
        retry_backoff: float,
        prices: Mapping[str, tuple[float, float]] | None,
        transport: httpx.BaseTransport | None,
    ) -> None:
        self.model = model
        self.name = f"{self.provider}:{model}"
        self.base_url = base_url
        self._http = HTTPTransport(
            provider=self.name,
            model=model,
            base_url=base_url,
            headers=headers,
            key_env=api_key_env,
            key_set=key_set,
            timeout=timeout,
            max_retries=max_retries,
            retry_backoff=retry_backoff,
            transport=transport,
        )
        self._prices = PriceTable(prices)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.model!r}, base_url={self.base_url!r})"

    def close(self) -> None:
        """Close the HTTP connections."""
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
