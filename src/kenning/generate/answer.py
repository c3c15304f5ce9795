"""Drafting an answer from packed sources: with a language model, or extractively with none.

A :class:`Draft` is an answer before verification: its text with valid ``[n]`` markers only, which sources it cites,
which citation numbers it invented (dropped from the text), and what it cost. A reply that repeats the answer
prompt's own instructions (a model a document talked into printing its prompt) is replaced by the abstention.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ..providers.llm.base import LLM, Completion
from ..providers.llm.fence import echoes_prompt
from ..types import Hit, Usage
from .citations import NOT_IN_SOURCES, resolve_citations
from .extractive import ExtractiveAnswerer
from .prompts import ANSWER_RULES, NOT_IN_SOURCES_ANSWER, answer_messages, retry_messages
from .reading import Reading

__all__ = ["Draft", "llm_draft", "llm_redraft", "extractive_draft"]


@dataclass(frozen=True, slots=True)
class Draft:
    text: str
    packed: tuple[Hit, ...]
    cited: frozenset[int]
    invalid: tuple[int, ...]
    mode: str
    model: str
    usage: Usage = field(default_factory=Usage)

    @property
    def answerable(self) -> bool:
        return bool(self.text.strip()) and not NOT_IN_SOURCES.search(self.text)


def _from_reply(text: str, packed: Sequence[Hit], mode: str, model: str, usage: Usage) -> Draft:
    if echoes_prompt(text, ANSWER_RULES):
        text = NOT_IN_SOURCES_ANSWER
    cleaned, cited, invalid = resolve_citations(text, n_sources=len(packed))
    if not cleaned:
        cleaned = NOT_IN_SOURCES_ANSWER
    return Draft(cleaned, tuple(packed), frozenset(cited), invalid, mode, model, usage)


def llm_draft(
    llm: LLM,
    question: str,
    packed: Sequence[Hit],
    *,
    max_tokens: int = 700,
    on_token: Callable[[str], None] | None = None,
) -> Draft:
    """Ask the model to answer from the numbered sources only, citing them inline.

    With ``on_token``, the reply is streamed and each piece handed to it as it arrives (to show on a terminal or
    send as server-sent events); the draft is the same either way.
    """
    if not packed:
        return Draft(NOT_IN_SOURCES_ANSWER, (), frozenset(), (), "llm", llm.name)
    messages = answer_messages(question, packed)
    if on_token is None:
        reply = llm.complete(messages, max_tokens=max_tokens)
    else:
        reply = None
        for item in llm.stream(messages, max_tokens=max_tokens):
            if isinstance(item, Completion):
                reply = item
            else:
                on_token(item)
        assert reply is not None, "an LLM stream ends with its Completion"
    return _from_reply(reply.text, packed, "llm", reply.model or llm.name, reply.usage)


def llm_redraft(
    llm: LLM, question: str, previous: Draft, unsupported: Sequence[str], *, max_tokens: int = 700
) -> Draft:
    """One more try, told which claims the verifier did not find in the sources."""
    reply = llm.complete(retry_messages(question, previous.packed, previous.text, unsupported), max_tokens=max_tokens)
    draft = _from_reply(reply.text, previous.packed, "llm", reply.model or llm.name, reply.usage)
    return Draft(
        draft.text, draft.packed, draft.cited, draft.invalid, draft.mode, draft.model, previous.usage + draft.usage
    )


def extractive_draft(
    answerer: ExtractiveAnswerer, question: str, packed: Sequence[Hit], reading: Reading | None = None
) -> Draft:
    """The best source sentences, each cited; no model call."""
    if not packed:
        return Draft(NOT_IN_SOURCES_ANSWER, (), frozenset(), (), "extractive", "extractive")
    result = answerer.answer(question, packed, reading)
    return Draft(result.text, tuple(packed), result.cited, (), "extractive", "extractive")
