"""The one way GraphRAG calls its LLM: by content, through the catalog's ``llm_calls`` cache, counting what it paid.

A call's key is blake2b of the prompt's id (``graphrag.extract@1``), the model's name and the canonical JSON of the
typed input; a key found in the cache costs nothing. A miss calls the model, validates the reply against the
prompt's output type (one retry that says what was wrong), and stores it at once with its tokens, cost and seconds,
so a build killed halfway keeps what it paid for. A reply still malformed after the retry is a *failure*: counted,
named (which prompt, which item), never cached (the next build tries it again), and the caller skips that item.

>>> from kenning.graph.graphrag.prompts import EXTRACT, ExtractInput
>>> call_key(EXTRACT, "local:qwen2.5-0.5b", ExtractInput(text="x")) == call_key(
...     EXTRACT, "local:qwen2.5-0.5b", ExtractInput(text="x"))
True
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from ...index import graph_tables
from ...index.catalog import Catalog
from ...providers.llm.base import LLM, Message, extract_json
from ...types import Usage
from ..types import LLMCall
from .prompts import Prompt, canonical

__all__ = ["call_key", "CachedCaller", "CallFailure", "PromptCounts"]

O = TypeVar("O", bound=BaseModel)  # noqa: E741


def call_key(prompt: Prompt, model: str, inp: BaseModel) -> str:
    """The cache key of one call: blake2b(prompt id, model, canonical JSON of the input)."""
    blob = f"{prompt.id}\0{model}\0{canonical(inp)}"
    return hashlib.blake2b(blob.encode(), digest_size=16).hexdigest()


@dataclass(frozen=True, slots=True)
class CallFailure:
    """A call whose reply stayed malformed (or the model refused): which prompt, which item, why."""

    prompt: str
    item: str
    error: str


@dataclass(slots=True)
class PromptCounts:
    """One prompt's calls in a build: all of them (``calls``, tokens as first paid) and the ones paid now."""

    calls: int = 0
    paid: int = 0
    failed: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    paid_prompt_tokens: int = 0
    paid_completion_tokens: int = 0
    cost_usd: float = 0.0
    seconds: float = 0.0


@dataclass
class CachedCaller:
    """Calls prompts on ``llm`` through ``catalog``'s cache (``catalog=None``: no cache; ``store=False``: read the
    cache, never write it, as a reader must)."""

    catalog: Catalog | None
    llm: LLM
    store: bool = True
    retries: int = 1
    counts: dict[str, PromptCounts] = field(default_factory=dict)
    failures: list[CallFailure] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)  # what was paid now (queries report it on their Draft)

    @property
    def model(self) -> str:
        return self.llm.name

    def key(self, prompt: Prompt, inp: BaseModel) -> str:
        return call_key(prompt, self.model, inp)

    def call(self, prompt: Prompt[Any, O], inp: BaseModel, *, item: str = "") -> O | None:
        """The prompt's typed output for ``inp`` (cached or paid), or None when the reply stayed malformed (the
        failure is recorded; nothing is cached). A model that cannot be reached raises :class:`ProviderError`."""
        counts = self.counts.setdefault(prompt.id, PromptCounts())
        key = self.key(prompt, inp)
        hit = graph_tables.cached_llm_call(self.catalog, key) if self.catalog is not None else None
        if hit is not None:
            out = self._parse(prompt, hit.output)
            if out is not None:
                counts.calls += 1
                counts.prompt_tokens += hit.prompt_tokens
                counts.completion_tokens += hit.completion_tokens
                return out
        return self._pay(prompt, inp, key, counts, item)

    def _pay(self, prompt: Prompt[Any, O], inp: BaseModel, key: str, counts: PromptCounts, item: str) -> O | None:
        convo: list[Message] = prompt.messages(inp)
        spent = Usage()
        t0 = time.perf_counter()
        problem = ""
        out: O | None = None
        text = ""
        for _attempt in range(self.retries + 1 if prompt.json else 1):
            reply = self.llm.complete(
                convo, max_tokens=prompt.max_tokens, temperature=0.0, json=prompt.schema() if prompt.json else False
            )
            spent = spent + reply.usage
            text = reply.text
            out, problem = self._parse_with_problem(prompt, text)
            if out is not None:
                break
            convo = [
                *convo,
                Message("assistant", text),
                Message("user", f"That was not valid JSON in the required form ({problem}). Reply with the JSON only."),
            ]
        seconds = time.perf_counter() - t0
        self.usage = self.usage + spent
        counts.calls += 1
        counts.paid += 1
        counts.prompt_tokens += spent.prompt_tokens
        counts.completion_tokens += spent.completion_tokens
        counts.paid_prompt_tokens += spent.prompt_tokens
        counts.paid_completion_tokens += spent.completion_tokens
        counts.cost_usd += spent.cost_usd or 0.0
        counts.seconds += seconds
        if out is None:
            counts.failed += 1
            self.failures.append(CallFailure(prompt.id, item, problem))
            return None
        if self.catalog is not None and self.store:
            stored = text if prompt.json else out.model_dump_json()
            graph_tables.put_llm_call(
                self.catalog,
                LLMCall(
                    key, prompt.id, self.model, stored, spent.prompt_tokens, spent.completion_tokens,
                    spent.cost_usd, seconds,
                ),
            )  # fmt: skip
        return out

    @staticmethod
    def _parse_with_problem(prompt: Prompt[Any, O], text: str) -> tuple[O | None, str]:
        if not prompt.json:
            return (prompt.output.model_validate({"text": text}), "") if text.strip() else (None, "empty reply")
        try:
            return prompt.output.model_validate(extract_json(text)), ""
        except (ValueError, ValidationError) as exc:
            if isinstance(exc, ValidationError):
                return None, "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:3])
            return None, str(exc).splitlines()[0] if str(exc) else type(exc).__name__

    def _parse(self, prompt: Prompt[Any, O], text: str) -> O | None:
        """A cached reply as the prompt's output (free-text replies are stored as :class:`Answer` JSON)."""
        if not prompt.json:
            try:
                return prompt.output.model_validate_json(text)
            except ValidationError:
                return None
        return self._parse_with_problem(prompt, text)[0]

    # -- what was spent ---------------------------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Paid and cached calls, paid tokens, money and seconds, failures, and a per-prompt breakdown."""
        per = {name: {k: getattr(c, k) for k in PromptCounts.__slots__} for name, c in sorted(self.counts.items())}
        calls = sum(c.calls for c in self.counts.values())
        paid = sum(c.paid for c in self.counts.values())
        cost = self.usage.cost_usd
        return {
            "model": self.model,
            "calls_paid": paid,
            "calls_cached": calls - paid,
            "prompt_tokens": sum(c.paid_prompt_tokens for c in self.counts.values()),
            "completion_tokens": sum(c.paid_completion_tokens for c in self.counts.values()),
            "cost_usd": None if cost is None else round(cost, 6),
            "llm_seconds": round(sum(c.seconds for c in self.counts.values()), 3),
            "failures": len(self.failures),
            "failed": [{"prompt": f.prompt, "item": f.item, "error": f.error} for f in self.failures],
            "per_prompt": per,
        }
