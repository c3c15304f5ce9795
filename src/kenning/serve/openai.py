"""An OpenAI-compatible chat endpoint: ``POST /v1/chat/completions`` where ``model`` names the collection.

Any OpenAI client (or chat UI) gets kenning's answer as the assistant message, with its numbered sources listed
under it, and the full citations and per-claim verdicts in an extra ``kenning`` field of the response (the final
chunk, when streaming). The last user message is the question. ``GET /v1/models`` lists the collections.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from ..engine import Engine
from .auth import caller
from .keys import ApiKey
from .views import answer_events, answer_json

__all__ = ["add_openai_routes", "sources_footer"]


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: str
    content: str | list[dict[str, Any]] | None = None


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow")  # temperature, max_tokens … are accepted and ignored
    model: str = Field(description="The collection to answer from.")
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False


def _question(messages: list[ChatMessage]) -> str:
    for m in reversed(messages):
        if m.role == "user":
            if isinstance(m.content, str):
                return m.content
            if isinstance(m.content, list):
                return " ".join(p.get("text", "") for p in m.content if p.get("type") == "text")
    raise HTTPException(400, "messages: no user message to answer")


def sources_footer(answer: dict[str, Any]) -> str:
    """The cited sources of an answer (as :func:`~kenning.serve.views.answer_json` gives it) as plain text under
    it, for chat UIs that show only the message."""
    cited = [c for c in answer["citations"] if c["cited"]]
    if not cited:
        return ""
    lines = [
        f"[{c['number']}] {c['title'] or c['source']} — {c['source']} (characters {c['start']}–{c['end']})"
        for c in cited
    ]
    return "\n\nSources:\n" + "\n".join(lines)


def add_openai_routes(app: FastAPI, engine_for: Callable[[ApiKey, str], Engine]) -> None:
    @app.get("/v1/models", tags=["openai"])
    def models(key: Annotated[ApiKey, Depends(caller)]) -> dict[str, Any]:
        names = [n for n in app.state.engines.names() if key.sees(n)]
        return {
            "object": "list",
            "data": [{"id": n, "object": "model", "created": 0, "owned_by": "kenning"} for n in names],
        }

    @app.post("/v1/chat/completions", tags=["openai"], response_model=None)
    async def chat(body: ChatRequest, key: Annotated[ApiKey, Depends(caller)]) -> dict[str, Any] | StreamingResponse:
        engine = engine_for(key, body.model)
        question = _question(body.messages)
        made = int(time.time())
        ident = "chatcmpl-" + uuid.uuid4().hex[:24]
        if not body.stream:
            answer = answer_json(await asyncio.to_thread(engine.ask, question), app.state.uploads)
            return {
                "id": ident,
                "object": "chat.completion",
                "created": made,
                "model": body.model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": answer["text"] + sources_footer(answer)},
                        "finish_reason": "stop",
                    }
                ],
                "usage": _usage(answer["usage"]),
                "kenning": answer,
            }
        return StreamingResponse(
            _stream(engine, question, body.model, ident, made, app.state.uploads), media_type="text/event-stream"
        )


def _usage(usage: dict[str, Any]) -> dict[str, int]:
    return {k: usage[k] for k in ("prompt_tokens", "completion_tokens", "total_tokens")}


def _chunk(ident: str, made: int, model: str, delta: dict, finish: Literal["stop"] | None = None, **extra: Any) -> str:
    body = {
        "id": ident,
        "object": "chat.completion.chunk",
        "created": made,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }
    return f"data: {json.dumps(body)}\n\n"


async def _stream(
    engine: Engine, question: str, model: str, ident: str, made: int, uploads: str | None
) -> AsyncIterator[str]:
    yield _chunk(ident, made, model, {"role": "assistant", "content": ""})
    async for event in answer_events(lambda on_token: engine.ask(question, on_token=on_token), uploads):
        data = json.loads(event["data"])
        if event["event"] == "token":
            yield _chunk(ident, made, model, {"content": data["text"]})
        elif event["event"] == "answer":
            # the streamed draft may differ from the final text (citations attached, claims stripped): the final
            # answer is in kenning.text; the sources follow the streamed text
            footer = sources_footer(data)
            if footer:
                yield _chunk(ident, made, model, {"content": footer})
            yield _chunk(
                ident,
                made,
                model,
                {},
                "stop",
                usage=_usage(data["usage"]),
                kenning=data,
            )
        else:
            yield f"data: {json.dumps({'error': {'message': data['detail'], 'type': data['error']}})}\n\n"
    yield "data: [DONE]\n\n"
