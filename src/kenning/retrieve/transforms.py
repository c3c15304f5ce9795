"""Query transforms: let an LLM rewrite what is searched before retrieval runs.

A transform turns one question into a :class:`QueryPlan`: the searches to run (what BM25 matches and what dense
search embeds, for each) plus the tokens the LLM spent and notes for the user. :func:`search_plan` runs a plan and,
when it holds several searches, fuses their hits with Reciprocal Rank Fusion.

- ``hyde`` (Gao et al., 2022, "Precise Zero-Shot Dense Retrieval without Relevance Labels"): the LLM writes a short
  passage that would answer the question; dense search embeds the question followed by that passage, because a
  passage-shaped text lands nearer to answer passages than a short question does. BM25 keeps the question as the
  user wrote it: the made-up passage carries invented names and numbers that BM25 would match literally, and exact
  user terms are what BM25 contributes to a hybrid search. So HyDE changes nothing in ``bm25`` mode (noted).
- ``multi``: the LLM writes ``rewrites`` other phrasings; the question and each rewrite are searched in the same
  mode and the lists fused by RRF, so a passage that matches only a rewrite's wording can still surface.

An LLM failure never fails a search: the plan falls back to the plain question and says so in ``notes``.

>>> plan = plan_query("none", "what does VACUUM FULL lock?")
>>> plan.queries, plan.embed, plan.usage.calls
(('what does VACUUM FULL lock?',), ('what does VACUUM FULL lock?',), 0)
>>> plan_query("hyde", "q", mode="bm25").notes[0][:33]
'hyde only changes what is embedde'
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pydantic import BaseModel, Field

from ..errors import ConfigError, ProviderError
from ..providers.llm.base import LLM, Message, complete_json
from ..types import Hit, Usage
from .filters import Filters
from .fusion import rrf
from .searcher import Searcher

__all__ = [
    "QueryPlan",
    "HYDE_PROMPT",
    "MULTI_PROMPT",
    "PROMPT_VERSION",
    "TRANSFORMS",
    "plain_query",
    "hyde_query",
    "multi_query",
    "plan_query",
    "search_plan",
    "fuse_hits",
]

PROMPT_VERSION = "transforms-v1"
"""Bumped whenever a prompt below changes, so measured results can name the prompt they were taken with."""

HYDE_PROMPT = """\
Write one short passage (2 to 4 sentences) that answers the question below, in the style of the reference \
document or manual page that would contain the answer. State the answer directly with the specific terms such a \
document would use. Do not mention the question, do not hedge, and write nothing else.

Question: {question}"""

MULTI_PROMPT = """\
Rewrite the search question below in {n} different ways, so that a search engine can find passages that answer \
it even when they use other words. Use synonyms, the technical term and the everyday term, or a more specific or \
more general phrasing. Each rewrite must ask for the same information. Reply with only JSON: \
{{"queries": ["first rewrite", "second rewrite"]}}

Question: {question}"""

HYDE_MAX_TOKENS = 160  # 2-4 sentences; longer passages drift from the question and cost more on a local model


@dataclass(frozen=True, slots=True)
class QueryPlan:
    """The searches one question becomes: search ``i`` matches ``queries[i]`` with BM25 and embeds ``embed[i]``.

    ``usage`` is what the LLM spent writing the plan; ``notes`` say when a transform could not be applied.
    """

    question: str
    transform: str
    queries: tuple[str, ...]
    embed: tuple[str, ...]
    usage: Usage = Usage()
    notes: tuple[str, ...] = ()


class _Rewrites(BaseModel):
    queries: list[str] = Field(min_length=1, description="Other phrasings of the question.")


def plain_query(question: str, llm: LLM | None = None, *, mode: str = "hybrid", rewrites: int = 3) -> QueryPlan:
    """The question as written: one search, no model call."""
    return QueryPlan(question, "none", (question,), (question,))


def hyde_query(question: str, llm: LLM | None = None, *, mode: str = "hybrid", rewrites: int = 3) -> QueryPlan:
    """Dense search embeds the question followed by an LLM-written hypothetical answer passage (HyDE)."""
    if mode == "bm25":
        note = "hyde only changes what is embedded; bm25 mode searched the question as written"
        return dataclasses.replace(plain_query(question), notes=(note,))
    llm = _need(llm, "hyde")
    try:
        reply = llm.complete(
            [Message("user", HYDE_PROMPT.format(question=question))], max_tokens=HYDE_MAX_TOKENS, temperature=0.0
        )
    except ProviderError as exc:
        return _fallback(question, "hyde", f"the hypothetical passage could not be written ({exc})")
    passage = reply.text.strip()
    if not passage:
        return _fallback(question, "hyde", "the model wrote an empty hypothetical passage", reply.usage)
    return QueryPlan(question, "hyde", (question,), (f"{question}\n\n{passage}",), reply.usage)


def multi_query(question: str, llm: LLM | None = None, *, mode: str = "hybrid", rewrites: int = 3) -> QueryPlan:
    """The question plus up to ``rewrites`` LLM-written phrasings, each searched; results fused by RRF."""
    llm = _need(llm, "multi")
    prompt = MULTI_PROMPT.format(question=question, n=rewrites)
    try:
        parsed, usage = complete_json(
            llm, [Message("user", prompt)], _Rewrites, retries=1, max_tokens=60 * rewrites + 40
        )
    except ProviderError as exc:
        return _fallback(question, "multi", f"no rewrites could be written ({exc})")
    seen = {question.strip().casefold()}
    kept: list[str] = []
    for text in parsed.queries:
        text = " ".join(str(text).split())
        if text and text.casefold() not in seen:
            seen.add(text.casefold())
            kept.append(text)
    kept = kept[:rewrites]
    notes = () if kept else ("the model's rewrites all repeated the question",)
    searches = (question, *kept)
    return QueryPlan(question, "multi", searches, searches, usage, notes)


TRANSFORMS: dict[str, Callable[..., QueryPlan]] = {"none": plain_query, "hyde": hyde_query, "multi": multi_query}
"""Transform name → function ``(question, llm, *, mode, rewrites) -> QueryPlan``."""


def plan_query(
    transform: str, question: str, llm: LLM | None = None, *, mode: str = "hybrid", rewrites: int = 3
) -> QueryPlan:
    """The plan ``transform`` makes of ``question``; an unknown name raises :class:`ConfigError` naming the known."""
    fn = TRANSFORMS.get(transform)
    if fn is None:
        raise ConfigError(f"unknown query transform {transform!r}; known: {', '.join(TRANSFORMS)}")
    if rewrites <= 0:
        raise ConfigError(f"rewrites must be > 0, got {rewrites}")
    return fn(question, llm, mode=mode, rewrites=rewrites)


def search_plan(
    searcher: Searcher,
    plan: QueryPlan,
    *,
    mode: str | None = None,
    k: int | None = None,
    filters: Filters | None = None,
) -> list[Hit]:
    """Run every search of ``plan`` (one embedding batch) and fuse them when there are several."""
    lists = searcher.search_many(plan.queries, mode=mode, k=k, filters=filters, embed=plan.embed)
    if len(lists) == 1:
        return lists[0]
    names = ["query", *(f"rewrite{i}" for i in range(1, len(lists)))]
    return fuse_hits(dict(zip(names, lists, strict=True)), k=k or searcher.config.k, rrf_k=searcher.config.rrf_k)


def fuse_hits(lists: dict[str, Sequence[Hit]], *, k: int, rrf_k: float = 60.0) -> list[Hit]:
    """Hit lists fused by chunk id with RRF; each hit keeps its first list's ranks plus its rank in every list.

    >>> from kenning.types import Hit
    >>> def h(cid, rank):
    ...     return Hit(rank, 1.0, cid, "d", "t", "s", "text", "", (), 0, 1)
    >>> [x.chunk_id for x in fuse_hits({"a": [h("x", 1), h("y", 2)], "b": [h("y", 1), h("z", 2)]}, k=3)]
    ['y', 'x', 'z']
    """
    ids: dict[str, int] = {}
    first: dict[int, Hit] = {}
    rankings: dict[str, list[int]] = {}
    for name, hits in lists.items():
        positions = []
        for hit in hits:
            pos = ids.setdefault(hit.chunk_id, len(ids))
            first.setdefault(pos, hit)
            positions.append(pos)
        rankings[name] = positions
    order, scores, ranks = rrf(rankings, k=rrf_k)
    return [
        dataclasses.replace(first[pos], rank=new, score=float(score), ranks={**first[pos].ranks, **ranks[pos]})
        for new, (pos, score) in enumerate(zip(order[:k], scores[:k], strict=True), start=1)
    ]


def _need(llm: LLM | None, transform: str) -> LLM:
    if llm is None:
        raise ConfigError(f"query transform {transform!r} needs a language model; set [llm] or pass llm=")
    return llm


def _fallback(question: str, transform: str, why: str, usage: Usage | None = None) -> QueryPlan:
    """The plain question, with a note saying why ``transform`` was not applied."""
    note = f"{transform}: {why}; searched the question as written"
    return QueryPlan(question, transform, (question,), (question,), usage or Usage(), (note,))
