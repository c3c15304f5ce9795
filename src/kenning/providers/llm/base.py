"""The LLM interface: chat messages in, text (or validated JSON) out, with token usage.

Every provider (OpenAI-compatible HTTP, Anthropic Messages, a local model file) implements :class:`LLM`; everything
above it (answers, the verifier, the agent) only sees this Protocol and :func:`complete_json`.

>>> Message("user", "hi")
Message(role='user', content='hi', cache=False)
"""

from __future__ import annotations

import json as _json
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, ValidationError

from ...errors import ProviderError
from ...types import Usage

__all__ = ["Message", "Completion", "LLM", "Role", "closing", "complete_json", "extract_json"]

Role = Literal["system", "user", "assistant"]
T = TypeVar("T", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class Message:
    """One chat turn. ``cache=True`` marks a long prefix that many calls share (a document): providers with explicit
    prompt caching (Anthropic's ``cache_control``) cache the prompt up to it; others cache prefixes on their own."""

    role: Role
    content: str
    cache: bool = False


@dataclass(frozen=True, slots=True)
class Completion:
    """One model reply, with what it cost.

    ``finish_reason`` is ``stop`` (the model ended), ``length`` (``max_tokens`` cut it) or what the provider said.
    ``usage_estimated`` is True when the server reported no token counts and kenning counted them itself
    (with the ``cl100k_base`` tokenizer), so ``usage`` is close but not exact.
    """

    text: str
    model: str
    usage: Usage
    finish_reason: str = "stop"
    raw: Any = field(default=None, compare=False, repr=False)
    usage_estimated: bool = False


@runtime_checkable
class LLM(Protocol):
    """A chat model.

    ``complete`` returns the whole reply. ``json=True`` asks the provider for JSON output where it supports it; a JSON
    Schema (a mapping) instead of True constrains the output to that schema where the provider can (llama.cpp's
    grammar), and means plain JSON output elsewhere.
    ``stream`` yields text pieces as they arrive and, last, the full :class:`Completion` with its usage.
    Failures raise :class:`~kenning.errors.ProviderError` with a message that says what to do.
    """

    name: str

    def complete(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = 512,
        temperature: float = 0.0,
        json: bool | Mapping[str, Any] = False,
    ) -> Completion: ...

    def stream(
        self, messages: Sequence[Message], *, max_tokens: int = 512, temperature: float = 0.0
    ) -> Iterator[str | Completion]: ...


@contextmanager
def closing(llm: LLM | None) -> Iterator[None]:
    """Close an LLM client built for one call (its HTTP connections) when the call ends; ``None`` and models without
    ``close`` pass through."""
    try:
        yield
    finally:
        if llm is not None and hasattr(llm, "close"):
            llm.close()


_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.S)


def extract_json(text: str) -> Any:
    """The first JSON value in a model's reply, tolerating code fences and prose around it."""
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    decoder = _json.JSONDecoder()
    for cand in candidates:
        for i, ch in enumerate(cand):
            if ch in "{[":
                try:
                    return decoder.raw_decode(cand, i)[0]
                except ValueError:
                    continue
    raise ValueError("no JSON object in the reply")


def _problem(exc: Exception) -> str:
    """One line saying what was wrong with a reply, specific enough for the model to fix it."""
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in exc.errors()[:5])
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def complete_json(
    llm: LLM,
    messages: Sequence[Message],
    schema: type[T],
    *,
    retries: int = 2,
    max_tokens: int = 1024,
) -> tuple[T, Usage]:
    """Ask for JSON matching ``schema``; on malformed or invalid output, say what was wrong and ask again.

    Returns the validated object and the usage of every attempt. After ``retries`` failed retries it raises
    :class:`ProviderError` (callers decide how to degrade); it never lets a parse error escape.
    """
    convo = list(messages)
    usage = Usage()
    problem = ""
    for _attempt in range(retries + 1):
        reply = llm.complete(convo, max_tokens=max_tokens, temperature=0.0, json=schema.model_json_schema())
        usage = usage + reply.usage
        try:
            return schema.model_validate(extract_json(reply.text)), usage
        except (ValueError, ValidationError) as exc:
            problem = _problem(exc)
            convo += [
                Message("assistant", reply.text),
                Message(
                    "user",
                    f"That was not valid JSON for the required format ({problem}). "
                    "Reply again with only the JSON object, nothing else.",
                ),
            ]
    raise ProviderError(f"{llm.name} did not return valid JSON after {retries + 1} tries ({problem})")
