"""A scriptable HTTP server on 127.0.0.1 that speaks the OpenAI Chat Completions and Anthropic Messages wire formats.

Tests queue the replies it gives (status, headers, a JSON body or a list of server-sent events, delays) and read
back what the client sent (path, headers, JSON body, arrival time). Each :class:`Dialect` knows one API's formats,
so a contract test can be written once and run against every provider.

    def test_x(llm_server, dialect):
        llm_server.reply(dialect.ok("hello"))
        llm = dialect.make(llm_server)
        assert llm.complete([Message("user", "hi")]).text == "hello"
"""

from __future__ import annotations

import json
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from kenning.providers.llm.anthropic import AnthropicLLM
from kenning.providers.llm.openai import OpenAICompatibleLLM

__all__ = [
    "Reply",
    "Recorded",
    "FakeLLMServer",
    "Dialect",
    "OPENAI",
    "ANTHROPIC",
    "DIALECTS",
    "llm_server",
    "openai_client",
    "closed_port_url",
]


@dataclass
class Reply:
    """One scripted answer. ``body``: a dict (sent as JSON), str or bytes; ``events``: SSE frames, sent chunked."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    events: list[str] | None = None
    delay: float = 0.0  # before the status line
    event_delay: float = 0.0  # between SSE frames


@dataclass
class Recorded:
    """One request as the server received it."""

    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: Any  # parsed JSON, or None
    at: float  # time.monotonic() on arrival


class FakeLLMServer:
    """The server: ``reply(...)`` queues answers (given in order, one per request), ``requests`` records requests.

    With nothing queued it asks ``responder`` (when set) for a reply to the request, so a test can answer by content
    (one canned reply per prompt, in whatever order the client asks); else it answers 418 so a test that forgot a
    reply fails loudly rather than hanging.
    """

    def __init__(self) -> None:
        self.replies: queue.Queue[Reply] = queue.Queue()
        self.responder: Callable[[Recorded], Reply] | None = None
        self.requests: list[Recorded] = []
        self.stopping = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._httpd.daemon_threads = True
        self._httpd.handle_error = lambda request, client_address: None  # clients that hang up are expected
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def reply(self, *replies: Reply) -> None:
        for r in replies:
            self.replies.put(r)

    def start(self) -> FakeLLMServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()  # wakes handlers sleeping in a scripted delay
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


def _handler(server: FakeLLMServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # no 40 ms delayed-ACK stalls between header and body writes

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
            pass

        def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
            raw = self.rfile.read(int(self.headers.get("content-length") or 0))
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = None
            recorded = Recorded(
                "POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body, time.monotonic()
            )
            server.requests.append(recorded)
            try:
                reply = server.replies.get_nowait()
            except queue.Empty:
                if server.responder is not None:
                    reply = server.responder(recorded)
                else:
                    reply = Reply(418, {"error": {"message": "test server: no reply scripted", "type": "test"}})
            if reply.delay and server.stopping.wait(reply.delay):
                return
            try:
                self._send(reply)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout tests)

        def _send(self, reply: Reply) -> None:
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            if reply.events is not None:
                self.send_header("content-type", "text/event-stream")
                self.send_header("transfer-encoding", "chunked")
                self.end_headers()
                for frame in reply.events:
                    if reply.event_delay and server.stopping.wait(reply.event_delay):
                        return
                    data = frame.encode()
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")
                return
            if isinstance(reply.body, dict | list):
                data = json.dumps(reply.body).encode()
                ctype = "application/json"
            else:
                data = reply.body.encode() if isinstance(reply.body, str) else (reply.body or b"")
                ctype = "text/plain"
            if not any(k.lower() == "content-type" for k in reply.headers):
                self.send_header("content-type", ctype)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


@pytest.fixture
def llm_server() -> Iterator[FakeLLMServer]:
    server = FakeLLMServer().start()
    try:
        yield server
    finally:
        server.stop()


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (connections are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# -- wire formats ------------------------------------------------------------------------------------------------------


def _sse(data: Any, event: str | None = None) -> str:
    payload = data if isinstance(data, str) else json.dumps(data)
    return (f"event: {event}\n" if event else "") + f"data: {payload}\n\n"


@dataclass(frozen=True)
class Dialect:
    """One API's wire format and client: how to build the client against the server and how replies look."""

    name: str
    key_env: str
    path: str
    model: str

    def make(self, server: FakeLLMServer | str, **kw: Any) -> OpenAICompatibleLLM | AnthropicLLM:
        url = server if isinstance(server, str) else server.url
        kw.setdefault("retry_backoff", 0.01)
        kw.setdefault("timeout", 5.0)
        if self.name == "openai":
            return OpenAICompatibleLLM(self.model, base_url=url + "/v1", api_key_env=self.key_env, **kw)
        return AnthropicLLM(self.model, base_url=url, api_key_env=self.key_env, **kw)

    def ok(self, text: str, *, prompt_tokens: int = 11, completion_tokens: int = 7, truncated: bool = False) -> Reply:
        """A successful, non-streamed reply."""
        if self.name == "openai":
            return Reply(
                body={
                    "id": "chatcmpl-1",
                    "object": "chat.completion",
                    "created": 1_700_000_000,
                    "model": self.model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": text},
                            "finish_reason": "length" if truncated else "stop",
                        }
                    ],
                    "usage": {
                        "prompt_tokens": prompt_tokens,
                        "completion_tokens": completion_tokens,
                        "total_tokens": prompt_tokens + completion_tokens,
                    },
                }
            )
        return Reply(
            body={
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "model": self.model,
                "content": [{"type": "text", "text": text}],
                "stop_reason": "max_tokens" if truncated else "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": prompt_tokens, "output_tokens": completion_tokens},
            }
        )

    def stream(
        self, pieces: list[str], *, prompt_tokens: int = 11, completion_tokens: int = 7, usage: bool = True
    ) -> Reply:
        """A successful streamed reply: SSE frames exactly as the real API sends them."""
        if self.name == "openai":
            head = {
                "id": "chatcmpl-1",
                "object": "chat.completion.chunk",
                "created": 1_700_000_000,
                "model": self.model,
            }
            frames = [_sse({**head, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]})]
            frames += [
                _sse({**head, "choices": [{"index": 0, "delta": {"content": p}, "finish_reason": None}]})
                for p in pieces
            ]
            frames.append(_sse({**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}))
            if usage:
                counts = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens}
                frames.append(_sse({**head, "choices": [], "usage": {**counts, "total_tokens": sum(counts.values())}}))
            frames.append(_sse("[DONE]"))
            return Reply(events=frames)
        msg = {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": prompt_tokens, "output_tokens": 1},
        }
        frames = [
            _sse({"type": "message_start", "message": msg}, "message_start"),
            _sse(
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
                "content_block_start",
            ),
            _sse({"type": "ping"}, "ping"),
        ]
        frames += [
            _sse(
                {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}},
                "content_block_delta",
            )
            for p in pieces
        ]
        frames += [
            _sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
            _sse(
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                    "usage": {"output_tokens": completion_tokens},
                },
                "message_delta",
            ),
            _sse({"type": "message_stop"}, "message_stop"),
        ]
        return Reply(events=frames)

    def continuation(self, text: str) -> str:
        """What the model writes for a JSON request whose answer should read ``text``.

        The Anthropic client prefills the assistant turn with ``{`` (and puts it back), so the model continues after it.
        """
        return text[1:] if self.name == "anthropic" and text.startswith("{") else text

    def empty(self) -> Reply:
        """A 200 answer in the right envelope but without the reply in it."""
        if self.name == "openai":
            return Reply(body={"id": "chatcmpl-1", "object": "chat.completion", "model": self.model, "choices": []})
        return Reply(body={"id": "msg_1", "type": "message", "role": "assistant", "model": self.model})

    def error(self, status: int, message: str, *, headers: dict[str, str] | None = None) -> Reply:
        """An error answer in the API's own error shape."""
        if self.name == "openai":
            body: dict[str, Any] = {"error": {"message": message, "type": "invalid_request_error", "code": None}}
        else:
            body = {"type": "error", "error": {"type": "api_error", "message": message}}
        return Reply(status, body, headers=dict(headers or {}))


OPENAI = Dialect("openai", "KENNING_TEST_OPENAI_KEY", "/v1/chat/completions", "gpt-4o-mini")
ANTHROPIC = Dialect("anthropic", "KENNING_TEST_ANTHROPIC_KEY", "/v1/messages", "claude-3-5-haiku-20241022")
DIALECTS = [OPENAI, ANTHROPIC]


def openai_client(server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch, **kw: Any) -> Iterator[OpenAICompatibleLLM]:
    """An OpenAI-format client of ``server`` with the test key set, closed after, for a fixture to ``yield from``."""
    monkeypatch.setenv(OPENAI.key_env, "sk-test")
    with OPENAI.make(server, **kw) as client:
        yield client
