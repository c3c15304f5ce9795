"""What a GraphRAG build will cost, before a token is spent.

Prompt tokens of the extraction calls are exact: the prompt templates rendered around each chunk's text, counted as
kenning counts a call whose server reports no usage (``cl100k_base`` plus 4 tokens per message and 3 per reply).
Everything else depends on what the model writes, so it comes from :class:`Rates`: stated assumptions
(:data:`DEFAULT_RATES`) for a first build, or — better — the measured rates of an earlier build of the same
collection and model (``history``: that build's ``stats``). Calls already in the cache (``cached(key)``) are not
counted; merges and reports are assumed to be re-paid in proportion to the chunks that are.

>>> from kenning.config import GraphConfig
>>> est = estimate_graphrag_build([("d::0", "VACUUM reclaims storage.")], model="gpt-4o-mini", config=GraphConfig())
>>> est.calls >= 1 and est.prompt_tokens > 100 and est.cost_usd is not None
True
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ...chunking import get_tokenizer
from ...config import GraphConfig
from ...providers.llm.base import Message
from ...providers.llm.pricing import PriceTable
from .calls import call_key
from .prompts import EXTRACT, GLEAN, MERGE, REPORT, ExtractInput, GleanInput, MergeInput, Prompt, ReportInput

__all__ = ["GraphRAGEstimate", "Rates", "DEFAULT_RATES", "estimate_graphrag_build", "rates_from_history", "count"]


@dataclass(frozen=True, slots=True)
class GraphRAGEstimate:
    """Calls, tokens, money (None: price unknown) and seconds (None: no earlier run to time by) of a build, and
    the assumptions they rest on."""

    calls: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    seconds: float | None
    assumptions: tuple[str, ...]
    cached_calls: int = 0
    per_prompt: tuple[tuple[str, int, int, int], ...] = ()  # (prompt id, calls, prompt tokens, completion tokens)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True, slots=True)
class Rates:
    """What a build's model writes, per chunk and per call. ``source``: "assumed" or "measured"."""

    extract_completion_per_token: float = 0.8  # completion tokens of an extraction per chunk token …
    extract_completion_base: float = 150.0  # … plus this much per call (never more than the prompt's max_tokens)
    extract_prompt_scale: float = 1.0  # measured/counted extraction prompt tokens (the model's tokenizer, retries)
    entities_per_chunk: float = 6.0
    merges_per_chunk: float = 0.5
    merge_prompt_extra: float = 90.0  # tokens of the descriptions a merge call reads (beyond the template)
    merge_completion: float = 60.0
    reports_per_chunk: float = 0.4
    report_prompt_extra: float = 600.0  # tokens of the entity/relationship lines a report reads
    report_completion: float = 350.0
    glean_completion: float = 120.0
    seconds_per_token: float | None = None
    source: str = "assumed"


DEFAULT_RATES = Rates()


def count(messages: Sequence[Message], tokenizer: str = "cl100k_base") -> int:
    """Prompt tokens of one call, counted as kenning counts calls whose server reports no usage."""
    tok = get_tokenizer(tokenizer)
    return sum(tok.count(m.content) + 4 for m in messages) + 3


def _template(prompt: Prompt, inp: Any, tokenizer: str) -> int:
    return count(prompt.messages(inp), tokenizer)


def rates_from_history(history: Mapping[str, Any]) -> Rates:
    """The rates an earlier build measured (its ``GraphBuild.stats``), falling back to the defaults for what it did
    not measure (a prompt it never called)."""
    per = history.get("per_prompt") or {}
    chunks = max(1, int(history.get("chunks") or 0) - int(history.get("chunks_failed") or 0))
    chunk_tokens = max(1, int(history.get("chunk_tokens") or 0))
    r = DEFAULT_RATES
    up: dict[str, Any] = {"source": "measured"}
    ext = per.get(EXTRACT.id)
    if ext and ext.get("calls"):
        up["extract_completion_per_token"] = ext["completion_tokens"] / chunk_tokens
        up["extract_completion_base"] = 0.0
        # the model's own tokenizer and chat template, and retries after a malformed reply, against kenning's count
        counted = int(history.get("extract_prompt_counted") or 0)
        if counted:
            up["extract_prompt_scale"] = ext["prompt_tokens"] / counted
    up["entities_per_chunk"] = (history.get("entities") or 0) / chunks or r.entities_per_chunk
    for key, prompt, extra, out in (
        ("merge", MERGE, "merge_prompt_extra", "merge_completion"),
        ("report", REPORT, "report_prompt_extra", "report_completion"),
    ):
        got = per.get(prompt.id)
        calls = got.get("calls", 0) if got else 0
        up[f"{key}s_per_chunk"] = calls / chunks
        if calls:
            base = _template(prompt, _EMPTY[prompt.id], "cl100k_base")
            up[extra] = max(0.0, got["prompt_tokens"] / calls - base)
            up[out] = got["completion_tokens"] / calls
    glean = per.get(GLEAN.id)
    if glean and glean.get("calls"):
        up["glean_completion"] = glean["completion_tokens"] / glean["calls"]
    paid = int(history.get("prompt_tokens") or 0) + int(history.get("completion_tokens") or 0)
    if paid and history.get("llm_seconds"):
        up["seconds_per_token"] = float(history["llm_seconds"]) / paid
    return dataclasses.replace(r, **up)


_EMPTY: dict[str, Any] = {
    MERGE.id: MergeInput(name="", descriptions=[]),
    REPORT.id: ReportInput(entities=[], relationships=[]),
}


def estimate_graphrag_build(
    chunks: Sequence[tuple[str, str]],
    *,
    model: str,
    config: GraphConfig,
    tokenizer: str = "cl100k_base",
    prices: PriceTable | None = None,
    cached: Callable[[str], bool] | None = None,
    history: Mapping[str, Any] | None = None,
) -> GraphRAGEstimate:
    """Calls, tokens, money and time to build the entity graph of ``chunks`` (``(chunk_id, text)``) with ``model``
    (see the module for what is exact and what is assumed)."""
    rates = rates_from_history(history) if history else DEFAULT_RATES
    tok = get_tokenizer(tokenizer)
    per: dict[str, list[float]] = {p.id: [0, 0.0, 0.0] for p in (EXTRACT, GLEAN, MERGE, REPORT)}
    cached_calls = paid_chunks = 0
    for _chunk_id, text in chunks:
        inp = ExtractInput(text=text)
        if cached is not None and cached(call_key(EXTRACT, model, inp)):
            cached_calls += 1
            continue
        paid_chunks += 1
        _add(per[EXTRACT.id], 1, _template(EXTRACT, inp, tokenizer) * rates.extract_prompt_scale,
             min(EXTRACT.max_tokens, rates.extract_completion_per_token * tok.count(text) + rates.extract_completion_base))  # fmt: skip
        names = tok.count(", ".join(["an entity name"] * round(rates.entities_per_chunk)))
        for _ in range(config.gleanings):
            glean = _template(GLEAN, GleanInput(text=text, found=[]), tokenizer) + names
            _add(per[GLEAN.id], 1, glean, rates.glean_completion)
    merges = rates.merges_per_chunk * paid_chunks
    reports = rates.reports_per_chunk * paid_chunks
    merge_in = _template(MERGE, _EMPTY[MERGE.id], tokenizer) + rates.merge_prompt_extra
    report_in = _template(REPORT, _EMPTY[REPORT.id], tokenizer) + rates.report_prompt_extra
    _add(per[MERGE.id], round(merges), merges * merge_in, merges * rates.merge_completion)
    _add(per[REPORT.id], round(reports), reports * report_in, reports * rates.report_completion)
    calls = int(sum(v[0] for v in per.values()))
    prompt = sum(v[1] for v in per.values())
    completion = sum(v[2] for v in per.values())
    p, c = round(prompt), round(completion)
    money = _money(model, p, c, prices or PriceTable())
    seconds = None if rates.seconds_per_token is None else round((p + c) * rates.seconds_per_token, 1)
    breakdown = tuple((k, int(v[0]), round(v[1]), round(v[2])) for k, v in per.items() if v[0])
    return GraphRAGEstimate(
        calls, p, c, money, seconds, _assumptions(rates, config, cached_calls), cached_calls, breakdown
    )


def _money(model: str, prompt: int, completion: int, prices: PriceTable) -> float | None:
    """USD for the tokens: 0 for a local model; a ``provider:`` prefix (an LLM's name) is not part of the price key."""
    if model.startswith("local:"):
        return 0.0
    spent = prices.cost(model, prompt, completion)
    return spent if spent is not None or ":" not in model else prices.cost(model.split(":", 1)[1], prompt, completion)


def _add(acc: list[float], calls: float, prompt: float, completion: float) -> None:
    acc[0] += calls
    acc[1] += prompt
    acc[2] += completion


def _assumptions(rates: Rates, config: GraphConfig, cached_calls: int) -> tuple[str, ...]:
    how = "measured on the last build" if rates.source == "measured" else "assumed (no earlier build to measure)"
    out = [
        "extraction prompt tokens: exact (templates + chunk texts)"
        + (f", x{rates.extract_prompt_scale:.3f} as the last build measured" if rates.source == "measured" else ""),
        f"extraction output: {rates.extract_completion_per_token:.2f} tokens per chunk token"
        f" + {rates.extract_completion_base:.0f} per call, {how}",
        f"merges: {rates.merges_per_chunk:.2f} per chunk, {rates.merge_prompt_extra:.0f} description tokens in, "
        f"{rates.merge_completion:.0f} out, {how}",
        f"reports: {rates.reports_per_chunk:.2f} per chunk, {rates.report_prompt_extra:.0f} tokens of entities and "
        f"relationships in, {rates.report_completion:.0f} out, {how}",
    ]
    if config.gleanings:
        out.append(f"gleanings: {config.gleanings} per chunk, {rates.glean_completion:.0f} tokens out each, {how}")
    if cached_calls:
        out.append(
            f"{cached_calls} extractions cached; merges and reports re-paid in proportion to the chunks that are not"
        )
    if rates.seconds_per_token is None:
        out.append("time: unknown until this model has built here once")
    return tuple(out)
