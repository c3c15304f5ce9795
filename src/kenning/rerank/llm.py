"""An LLM as reranker: it reads the query and the top candidates and says which answer it best.

Two styles, both with prompts visible below:

- ``listwise`` (RankGPT, Sun et al., 2023): one prompt lists the numbered candidates; the model replies with the
  numbers best first. One call per query. Each passage is cut to a token budget so that all of them fit a small
  local model's context window (kenning's local runner opens 8192 tokens; the default budget assumes 4096 so the
  prompt also fits the smaller windows common on Ollama and llama.cpp servers). Candidates the model leaves out keep
  their first-stage order after the ranked ones; numbers that name no candidate, and repeats, are ignored.
- ``pointwise``: one call per candidate asking for a 0–3 relevance grade; a stable sort by grade keeps the
  first-stage order among equal grades. Costs ``len(hits)`` calls but each prompt is small and independent.

A model failure (an unreachable server, no valid JSON after a retry) never fails the search: the first-stage order
is kept and the result's ``notes`` say why (:meth:`LLMReranker.rerank_with_usage`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from ..chunking.tokens import get_tokenizer
from ..errors import ConfigError, ProviderError, check_choice
from ..providers.llm.base import LLM, Message, complete_json
from ..providers.llm.fence import UNTRUSTED_RULE, fence, fenced_sources
from ..types import Hit, Usage
from .base import Reranked, reordered

__all__ = ["LLMReranker", "RERANK_SYSTEM", "LISTWISE_PROMPT", "POINTWISE_PROMPT", "PROMPT_VERSION", "STYLES"]

PROMPT_VERSION = "llm-rerank-v2"
"""Bumped whenever a prompt below changes, so measured results can name the prompt they were taken with."""

STYLES = ("listwise", "pointwise")

RERANK_SYSTEM = f"You judge how well passages answer a search query. {UNTRUSTED_RULE}"
"""The system message of both styles: each passage is fenced (:mod:`kenning.providers.llm.fence`)."""

LISTWISE_PROMPT = """\
Below are {n} numbered passages and a search query. Rank the passages by how well they answer the query, most \
relevant first. Reply with only JSON: {{"ranking": [numbers of the passages, best first]}}. You may leave out \
passages that are unrelated to the query.

{passages}

Query: {query}"""

POINTWISE_PROMPT = """\
How well does the passage answer the search query?
3 = it answers the query; 2 = it partly answers it; 1 = same topic but no answer; 0 = unrelated.
Reply with only JSON: {{"relevance": 0, 1, 2 or 3}}

Passage:
{passage}

Query: {query}"""

PROMPT_OVERHEAD_TOKENS = 480  # the instructions, the query and the reply, reserved before passages share the rest
PASSAGE_OVERHEAD_TOKENS = 12  # each passage's "[n]" line and fence tags


class _Ranking(BaseModel):
    ranking: list[int] = Field(description="Passage numbers, best first.")

    @model_validator(mode="before")
    @classmethod
    def _bare_list(cls, data: Any) -> Any:
        return {"ranking": data} if isinstance(data, list) else data  # small models often drop the wrapper


class _Grade(BaseModel):
    relevance: int = Field(ge=0, le=3, description="0 unrelated … 3 answers the query.")


class LLMReranker:
    """Reorders hits with a chat model, listwise (one call) or pointwise (one call per hit).

    :meth:`rerank_with_usage` returns, with the hits, the tokens that call spent and notes on what degraded; the
    reranker keeps no per-call state, so one may serve many threads. ``context_tokens`` is the window the listwise
    prompt must fit; ``passage_tokens`` fixes each passage's budget instead (pointwise default 400). Passages are cut with the ``cl100k_base`` tokenizer, which
    counts within ~10–20% of the models' own tokenizers on English; the overhead reserve absorbs the difference.

    >>> from kenning.rerank import LLMReranker
    >>> reranker = LLMReranker(llm, style="listwise")             # doctest: +SKIP
    >>> reranker.rerank("vacuum full", hits, k=10)                # doctest: +SKIP
    """

    def __init__(
        self,
        llm: LLM,
        *,
        style: Literal["listwise", "pointwise"] | str = "listwise",
        context_tokens: int = 4096,
        passage_tokens: int | None = None,
        retries: int = 1,
    ) -> None:
        check_choice("LLM rerank style", style, STYLES)
        if context_tokens <= PROMPT_OVERHEAD_TOKENS:
            raise ConfigError(f"context_tokens must be > {PROMPT_OVERHEAD_TOKENS}, got {context_tokens}")
        if passage_tokens is not None and passage_tokens <= 0:
            raise ConfigError(f"passage_tokens must be > 0, got {passage_tokens}")
        self.llm = llm
        self.style = style
        self.context_tokens = context_tokens
        self.passage_tokens = passage_tokens
        self.retries = retries
        self._tok = get_tokenizer("cl100k_base")

    @property
    def name(self) -> str:
        return f"llm-{self.style}:{self.llm.name}"

    def rerank(self, query: str, hits: list[Hit], *, k: int | None = None) -> list[Hit]:
        return list(self.rerank_with_usage(query, hits, k=k).hits)

    def rerank_with_usage(self, query: str, hits: list[Hit], *, k: int | None = None) -> Reranked:
        """The hits reordered, with the tokens this call spent (failed tries included) and notes on what degraded."""
        if not hits:
            return Reranked(())
        spent: list[Usage] = []  # this call's, appended by _ask as each model call returns
        notes: list[str] = []
        try:
            if self.style == "listwise":
                order, scores = self._listwise(query, hits, spent, notes)
            else:
                order, scores = self._pointwise(query, hits, spent)
        except ProviderError as exc:
            notes.append(f"LLM reranking failed ({exc}); kept the first-stage order")
            order, scores = list(range(len(hits))), [h.score for h in hits]
        return Reranked(tuple(reordered(hits, order, scores, k=k)), sum(spent, Usage()), tuple(notes))

    # -- styles -------------------------------------------------------------------------------------------------

    def _listwise(
        self, query: str, hits: list[Hit], spent: list[Usage], notes: list[str]
    ) -> tuple[list[int], list[float]]:
        n = len(hits)
        budget = self.passage_tokens or max(
            16, (self.context_tokens - PROMPT_OVERHEAD_TOKENS - PASSAGE_OVERHEAD_TOKENS * n) // n
        )
        passages = fenced_sources(("", self._cut(h.text, budget)) for h in hits)
        prompt = LISTWISE_PROMPT.format(n=n, passages=passages, query=query)
        parsed = self._ask(prompt, _Ranking, spent, max_tokens=16 + 6 * n)
        order: list[int] = []
        for number in parsed.ranking:
            if 1 <= number <= n and number - 1 not in order:
                order.append(number - 1)
        if not order:
            notes.append("the LLM ranked none of the candidates; kept the first-stage order")
        order += [i for i in range(n) if i not in order]
        return order, [float(n - pos) for pos in _positions(order)]

    def _pointwise(self, query: str, hits: list[Hit], spent: list[Usage]) -> tuple[list[int], list[float]]:
        budget = self.passage_tokens or 400
        grades = []
        for h in hits:
            prompt = POINTWISE_PROMPT.format(passage=fence(self._cut(h.text, budget)), query=query)
            grades.append(float(self._ask(prompt, _Grade, spent, max_tokens=20).relevance))
        order = sorted(range(len(hits)), key=lambda i: (-grades[i], hits[i].rank))
        return order, grades

    def _ask(self, prompt: str, schema: type[Any], spent: list[Usage], *, max_tokens: int) -> Any:
        parsed, usage = complete_json(
            self.llm,
            [Message("system", RERANK_SYSTEM), Message("user", prompt)],
            schema,
            retries=self.retries,
            max_tokens=max_tokens,
        )
        spent.append(usage)
        return parsed

    def _cut(self, text: str, budget: int) -> str:
        """``text`` cut to ``budget`` tokens, whitespace collapsed (a passage is one paragraph in its fence)."""
        text = " ".join(text.split())
        ids = self._tok.encode(text)
        return text if len(ids) <= budget else self._tok.decode(ids[:budget]) + " …"


def _positions(order: list[int]) -> list[int]:
    """``out[i]`` is where candidate ``i`` ended up in ``order`` (0 = first)."""
    out = [0] * len(order)
    for pos, i in enumerate(order):
        out[i] = pos
    return out
