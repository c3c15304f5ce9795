"""What the HTTP API returns: kenning's result types as JSON, with the offsets a client needs to highlight.

Every offset is a character offset into the source document's text (``GET …/documents/{doc_id}`` returns it):
a citation's ``start``/``end`` bound the cited chunk, a verdict's ``evidence_start``/``evidence_end`` the quote that
decided it (when the quote is found in its chunk), and a verdict's ``start``/``end`` its claim in the answer text.
:func:`answer_events` streams an answer as server-sent events, for ``/ask`` and the OpenAI-compatible endpoint.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

from ..errors import KenningError
from ..types import Answer, Citation, Hit, Usage, Verdict

log = logging.getLogger("kenning.serve")

__all__ = [
    "answer_events",
    "hit_json",
    "answer_json",
    "usage_json",
    "citation_json",
    "verdict_json",
    "document_json",
    "shown_source",
]


def shown_source(source: str, uploads: str | None) -> str:
    """A source as clients see it: an uploaded file by its name under ``uploads/``, not by the server's path to it.

    >>> shown_source("/srv/home/server/uploads/pg/notes.md", "/srv/home/server/uploads")
    'uploads/pg/notes.md'
    >>> shown_source("/data/manual.tar.gz!/vacuum.html", "/srv/home/server/uploads")
    '/data/manual.tar.gz!/vacuum.html'
    """
    if uploads and source.startswith(uploads.rstrip("/") + "/"):
        return "uploads/" + source[len(uploads.rstrip("/")) + 1 :]
    return source


def usage_json(usage: Usage) -> dict[str, Any]:
    return {**dataclasses.asdict(usage), "total_tokens": usage.total_tokens}


def hit_json(hit: Hit, uploads: str | None = None) -> dict[str, Any]:
    out = dataclasses.asdict(hit)
    out["heading_path"] = list(hit.heading_path)
    out["source"] = shown_source(hit.source, uploads)
    return out


def citation_json(c: Citation, uploads: str | None = None) -> dict[str, Any]:
    out = dataclasses.asdict(c)
    out["heading_path"] = list(c.heading_path)
    out["source"] = shown_source(c.source, uploads)
    return out


def document_json(doc: Any, uploads: str | None = None) -> dict[str, Any]:
    """A :class:`~kenning.index.catalog.DocumentRow` (``text`` and ``chunks`` only when one was asked for)."""
    out = dataclasses.asdict(doc)
    out["sources"] = [shown_source(s, uploads) for s in doc.sources]
    if doc.text is None:
        del out["text"], out["chunks"]
    return out


def verdict_json(v: Verdict, by_chunk: dict[str, Citation]) -> dict[str, Any]:
    out = dataclasses.asdict(v)
    cited = by_chunk.get(v.source_id)
    out["citation"] = cited.number if cited else None
    out["evidence_start"] = out["evidence_end"] = None
    if cited and v.evidence:
        at = cited.text.find(v.evidence.strip())
        if at >= 0:
            out["evidence_start"] = cited.start + at
            out["evidence_end"] = cited.start + at + len(v.evidence.strip())
    return out


def answer_json(answer: Answer, uploads: str | None = None) -> dict[str, Any]:
    by_chunk = {c.chunk_id: c for c in answer.citations}
    return {
        "question": answer.question,
        "text": answer.text,
        "answerable": answer.answerable,
        "mode": answer.mode,
        "model": answer.model,
        "verifier": answer.verifier,
        "confidence": answer.confidence,
        "citations": [citation_json(c, uploads) for c in answer.citations],
        "verdicts": [verdict_json(v, by_chunk) for v in answer.verdicts],
        "invalid_citations": list(answer.invalid_citations),
        "usage": usage_json(answer.usage),
        "seconds": round(answer.seconds, 4),
        "notes": list(answer.notes),
    }


async def answer_events(
    run: Callable[[Callable[[str], None]], Answer], uploads: str | None = None
) -> AsyncIterator[dict[str, str]]:
    """Run ``run(on_token)`` on a worker thread and relay its tokens, then its answer, as server-sent events."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    streamed = threading.Event()

    def on_token(text: str) -> None:
        streamed.set()
        loop.call_soon_threadsafe(queue.put_nowait, ("token", text))

    def work() -> None:
        try:
            result: tuple[str, Any] = ("answer", run(on_token))
        except KenningError as exc:
            result = ("error", {"detail": str(exc), "error": type(exc).__name__})
        except Exception as exc:  # the stream must end with an event, not a dropped connection
            log.exception("ask failed")
            result = ("error", {"detail": f"internal error: {type(exc).__name__}: {exc}", "error": "InternalError"})
        loop.call_soon_threadsafe(queue.put_nowait, result)

    task = loop.run_in_executor(None, work)
    while True:
        kind, value = await queue.get()
        if kind == "token":
            yield {"event": "token", "data": json.dumps({"text": value})}
            continue
        if kind == "answer":
            if not streamed.is_set():  # an extractive answer is not streamed: send its text as one token
                yield {"event": "token", "data": json.dumps({"text": value.text})}
            yield {"event": "answer", "data": json.dumps(answer_json(value, uploads))}
        else:
            yield {"event": "error", "data": json.dumps(value)}
        break
    await task
