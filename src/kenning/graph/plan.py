"""The cost advisor: what each way of answering would cost a collection, before a token is paid, and which to choose.

Four modes, one :class:`ModeCost` row each: ``vector`` (the index as built: no LLM at index time), ``contextual``
(an LLM writes a situating sentence per chunk, :mod:`kenning.index.context`), ``lazygraphrag`` (a concept graph built
without an LLM; LLM work only at query time, within the relevance-test budget) and ``graphrag`` (an LLM extracts
entities and relationships and writes community reports). A row gives the index-time :class:`Spend` still to pay
(what the caches already hold is not paid again), what earlier builds recorded, a query's cost, and
:class:`Check` lines that put a recorded build beside what this advisor estimates for it, so its estimates can be
checked.

The choice follows the design's three questions (:func:`decide`): will the index serve more than ~1000 queries, do
answers need an auditable trail, will people ask thematic (whole-corpus) questions?

>>> answer_call(200, k=6, context_tokens=3000).calls
1
>>> Spend(1, 100, 10, 0.5) + Spend(2, 50, 5, None)
Spend(calls=3, prompt_tokens=150, completion_tokens=15, cost_usd=None, seconds=None)
>>> decide(thematic=True, reuse=False, audit=None).mode
'lazygraphrag'
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..chunking import get_tokenizer
from ..errors import InputError
from ..generate.prompts import ANSWER_SYSTEM
from ..providers.llm.fence import fence
from ..providers.llm.pricing import PriceTable

__all__ = [
    "MODES",
    "MODE_TITLES",
    "REUSE_QUERIES",
    "QUESTIONS",
    "CONCEPT_CHUNKS_PER_SECOND",
    "Spend",
    "Check",
    "ModeCost",
    "Decision",
    "Plan",
    "Rule",
    "RULES",
    "decide",
    "money",
    "answer_call",
    "relevance_calls",
    "global_search_calls",
    "concept_seconds",
    "reports_expected",
    "COMMUNITIES_PER_MILLION_TOKENS",
]

MODES: tuple[str, ...] = ("vector", "contextual", "lazygraphrag", "graphrag")
MODE_TITLES: dict[str, str] = {
    "vector": "vector",
    "contextual": "contextual chunks",
    "lazygraphrag": "LazyGraphRAG",
    "graphrag": "GraphRAG",
}
REUSE_QUERIES = 1000  # the design's threshold: above it, an expensive index can pay for itself
QUESTIONS: tuple[tuple[str, str], ...] = (
    ("thematic", "thematic (whole-corpus) questions?"),
    ("reuse", f"reuse above ~{REUSE_QUERIES:,} queries?"),
    ("audit", "auditable trail needed?"),
)

# Concept extraction speed per extractor, measured here (kenning.graph.concepts' extractors over 400 SciFact abstracts
# of ~310 tokens, one process on 2 CPU cores shared with other work, load ~12): spacy 12.5 chunks/s, ngrams 1,750.
# An idle machine is faster, so these are on the slow side. They serve until a concept graph was built on the
# collection; then its own recorded seconds are used.
CONCEPT_CHUNKS_PER_SECOND: dict[str, float] = {"spacy": 12.5, "ngrams": 1750.0}

# Reply lengths before any reply was recorded: an answer is one to three cited sentences (ANSWER_SYSTEM asks for
# that); a relevance test is "yes" or "no"; a GraphRAG map reply is a few rated points; a reduce reply is an answer.
ANSWER_REPLY_TOKENS = 120
YES_NO_REPLY_TOKENS = 2
QUESTION_TOKENS = 20  # a typical question
MAP_REPLY_TOKENS = 300
REDUCE_REPLY_TOKENS = 500
MAP_PROMPT_TOKENS = 600  # microsoft/graphrag's map instructions are ~550 tokens
REDUCE_PROMPT_TOKENS = 700  # and its reduce instructions ~650
# Communities per million corpus tokens at levels 0, 1, 2, 3+ in the GraphRAG paper (Edge et al. 2024, "From Local
# to Global"): its podcast (~1M tokens) and news (~1.7M tokens) corpora had about 33, 350, 1,000 and 1,300 per million
# tokens. Global search maps over the reports of one level, so a query's cost grows with this number.
COMMUNITIES_PER_MILLION_TOKENS: tuple[float, ...] = (33.0, 350.0, 1000.0, 1300.0)
# kenning.graph.relevance's yes/no prompt around an empty question and chunk (cl100k, message overhead included)
YES_NO_PROMPT_TOKENS = 132


@dataclass(frozen=True, slots=True)
class Spend:
    """LLM calls, tokens, money (None: the model's price is unknown; 0 for local models) and seconds (None: not
    known yet). An estimate or a record; ``+`` adds two (an unknown part makes the sum unknown)."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = 0.0
    seconds: float | None = None

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Spend) -> Spend:
        return Spend(
            self.calls + other.calls,
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            None if self.cost_usd is None or other.cost_usd is None else self.cost_usd + other.cost_usd,
            None if self.seconds is None or other.seconds is None else self.seconds + other.seconds,
        )

    def times(self, n: int) -> Spend:
        """This spend ``n`` times (a query's cost over ``n`` queries)."""
        return Spend(
            self.calls * n,
            self.prompt_tokens * n,
            self.completion_tokens * n,
            None if self.cost_usd is None else self.cost_usd * n,
            None if self.seconds is None else self.seconds * n,
        )


@dataclass(frozen=True, slots=True)
class Check:
    """A recorded build beside the advisor's estimate of the same build.

    >>> Check("tokens", estimated=1100, actual=1000).line()
    'estimated 1,100 tokens, actual 1,000 (+10.0 %)'
    """

    what: str  # tokens or seconds
    estimated: float
    actual: float

    @property
    def error(self) -> float | None:
        """(estimated − actual) / actual; None when nothing was recorded."""
        return None if not self.actual else (self.estimated - self.actual) / self.actual

    def line(self) -> str:
        fmt = "{:,.0f}" if self.what == "tokens" else "{:,.1f}"
        what = "tokens" if self.what == "tokens" else "s"
        err = "" if self.error is None else f" ({self.error * 100:+.1f} %)"
        return f"estimated {fmt.format(self.estimated)} {what}, actual {fmt.format(self.actual)}{err}"


@dataclass(frozen=True, slots=True)
class ModeCost:
    """One mode's costs on one collection.

    ``index``: what building it now would take (cached work excluded: a re-build pays only the rest); ``cached_calls``:
    LLM calls its caches already hold; ``paid``: what earlier builds recorded (None: never built); ``per_query``: one
    question's LLM cost; ``checks``: recorded builds beside their estimates; ``notes``: the assumptions behind the
    numbers, in words."""

    mode: str
    title: str
    index: Spend
    per_query: Spend
    cached_calls: int = 0
    paid: Spend | None = None
    built: bool = False
    checks: tuple[Check, ...] = ()
    notes: tuple[str, ...] = ()

    def total(self, queries: int) -> Spend:
        """Building it (what is left to pay) and answering ``queries`` questions."""
        return self.index + self.per_query.times(queries)


@dataclass(frozen=True, slots=True)
class Decision:
    """The recommendation: ``mode`` (None while it depends on an unanswered question), the reasons in words, each
    question's answer (None: not answered) and, for each unanswered question, where each answer would lead."""

    mode: str | None
    reasons: tuple[str, ...]
    answers: tuple[tuple[str, bool | None], ...]
    branches: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Plan:
    """The cost advisor's answer for one collection (:meth:`kenning.Engine.plan`)."""

    collection: str
    model: str  # the LLM the LLM costs are for, provider:model
    local: bool  # a model run here: money 0
    documents: int
    chunks: int
    chunk_tokens: int
    queries: int | None
    rows: tuple[ModeCost, ...]
    decision: Decision
    prices_as_of: str

    def row(self, mode: str) -> ModeCost:
        for r in self.rows:
            if r.mode == mode:
                return r
        raise InputError(f"no cost row for mode {mode!r}; the modes are {', '.join(MODES)}")


# -- the decision ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rule:
    """One line of the decision table: answers (None: either) → mode, with the reason."""

    thematic: bool | None
    reuse: bool | None
    audit: bool | None
    mode: str
    reason: str

    def matches(self, thematic: bool, reuse: bool, audit: bool) -> bool:
        pairs = ((self.thematic, thematic), (self.reuse, reuse), (self.audit, audit))
        return all(want is None or want == got for want, got in pairs)


RULES: tuple[Rule, ...] = (
    Rule(
        False,
        None,
        None,
        "vector",
        "no whole-corpus questions: vector (hybrid) search finds the few chunks a question needs; add contextual "
        "chunks when chunks are ambiguous out of their document and the one-off LLM cost is acceptable",
    ),
    Rule(
        True,
        True,
        True,
        "graphrag",
        "thematic questions asked often enough to spread GraphRAG's index cost (about 1000x a vector index) over "
        "many queries, and its entities, relationships and community reports are an auditable trail",
    ),
    Rule(
        True,
        True,
        False,
        "lazygraphrag",
        "thematic questions without a need for an auditable trail: LazyGraphRAG answers them at a vector index's "
        "index cost, spending LLM calls only within each question's relevance budget",
    ),
    Rule(
        True,
        False,
        None,
        "lazygraphrag",
        "thematic questions, but too few queries to pay back a GraphRAG index: LazyGraphRAG defers all LLM work to "
        "query time and still cites the chunks behind every claim",
    ),
)


def decide(*, thematic: bool | None, reuse: bool | None, audit: bool | None) -> Decision:
    """The design's three-question decision, read from :data:`RULES` (each answer matches exactly one rule).

    >>> decide(thematic=False, reuse=None, audit=None).mode
    'vector'
    >>> decide(thematic=True, reuse=True, audit=True).mode
    'graphrag'
    >>> d = decide(thematic=None, reuse=True, audit=True)
    >>> d.mode, d.branches
    (None, ('thematic: yes → GraphRAG; no → vector',))
    >>> decide(thematic=False, reuse=None, audit=True).branches
    ('reuse: either answer → vector',)
    """
    given = {"thematic": thematic, "reuse": reuse, "audit": audit}
    names = [q for q, _ in QUESTIONS]
    outcomes: dict[tuple[bool, ...], Rule] = {}
    for combo in itertools.product(*[(v,) if v is not None else (True, False) for v in given.values()]):
        values = dict(zip(given, combo, strict=True))
        outcomes[combo] = next(r for r in RULES if r.matches(**values))
    modes = {r.mode for r in outcomes.values()}
    keys = list(given)
    branches = []
    for q in names:
        if given[q] is not None:
            continue
        i = keys.index(q)
        reach = {
            v: " or ".join(MODE_TITLES[m] for m in MODES if any(c[i] == v and r.mode == m for c, r in outcomes.items()))
            for v in (True, False)
        }
        if reach[True] == reach[False]:
            branches.append(f"{q}: either answer → {reach[True]}")
        else:
            branches.append(f"{q}: yes → {reach[True]}; no → {reach[False]}")
    answers = tuple((q, given[q]) for q in names)
    if len(modes) == 1:
        reasons = tuple(dict.fromkeys(r.reason for r in outcomes.values()))
        return Decision(modes.pop(), reasons, answers, tuple(branches))
    open_ = [q for q in names if given[q] is None]
    why = f"the choice depends on {', '.join(open_)}, not answered yet (--{' / --'.join(open_)})"
    return Decision(None, (why,), answers, tuple(branches))


# -- what one call costs --------------------------------------------------------------------------------------------


def money(prices: PriceTable, model: str, prompt_tokens: int, completion_tokens: int, *, local: bool) -> float | None:
    """USD for these tokens with ``model`` (``provider:model``): 0 for a model run here, None when its price is not
    in the table."""
    if local:
        return 0.0
    return prices.cost(model.split(":", 1)[-1], prompt_tokens, completion_tokens)


def _count(text: str, tokenizer: str) -> int:
    return get_tokenizer(tokenizer).count(text)


def answer_call(mean_chunk_tokens: float, *, k: int, context_tokens: int, tokenizer: str = "cl100k_base") -> Spend:
    """One answer call (money not set): the answer prompt with ``k`` sources of the corpus's mean chunk size, within
    ``context_tokens``, and a reply of a few cited sentences."""
    sources = min(k * (mean_chunk_tokens + _count(fence(""), tokenizer) + 8), context_tokens)
    prompt = _count(ANSWER_SYSTEM, tokenizer) + int(sources) + QUESTION_TOKENS + 20
    return Spend(1, prompt, ANSWER_REPLY_TOKENS)


def relevance_calls(budget: int, mean_chunk_tokens: float, *, overhead: int = YES_NO_PROMPT_TOKENS) -> Spend:
    """``budget`` yes/no relevance tests by an LLM, each reading the question and one chunk with ``overhead`` tokens
    of instructions around them (money not set).

    >>> relevance_calls(10, 200, overhead=80)
    Spend(calls=10, prompt_tokens=3000, completion_tokens=20, cost_usd=0.0, seconds=None)
    """
    per_call = overhead + int(mean_chunk_tokens) + QUESTION_TOKENS
    return Spend(budget, budget * per_call, budget * YES_NO_REPLY_TOKENS)


def global_search_calls(
    report_tokens: Sequence[int],
    *,
    batch_tokens: int = 1_500,
    budget_tokens: int = 1_500,
    map_overhead: int = MAP_PROMPT_TOKENS,
    reduce_overhead: int = REDUCE_PROMPT_TOKENS,
) -> Spend:
    """GraphRAG global search over reports of these sizes (money not set): map calls over batches of reports of up to
    ``batch_tokens``, then one reduce call over the best points, within ``budget_tokens``.

    >>> global_search_calls([800, 800, 800], map_overhead=100, reduce_overhead=100)
    Spend(calls=4, prompt_tokens=3780, completion_tokens=1400, cost_usd=0.0, seconds=None)
    """
    batches: list[int] = []
    for t in report_tokens:
        if batches and batches[-1] + t <= batch_tokens:
            batches[-1] += t
        else:
            batches.append(t)
    maps = len(batches)
    map_prompt = sum(b + map_overhead + QUESTION_TOKENS for b in batches)
    reduce_prompt = reduce_overhead + min(maps * MAP_REPLY_TOKENS, budget_tokens) + QUESTION_TOKENS
    return Spend(maps + 1, map_prompt + reduce_prompt, maps * MAP_REPLY_TOKENS + REDUCE_REPLY_TOKENS)


def reports_expected(corpus_tokens: int, level: int, at_most: float) -> int:
    """Community reports a GraphRAG graph of this corpus would have at ``level``, before one was built: the paper's
    communities per million tokens (:data:`COMMUNITIES_PER_MILLION_TOKENS`), at least 1 and at most ``at_most`` (all
    the reports the build estimate expects, every level together).

    >>> reports_expected(1_000_000, 1, at_most=10_000), reports_expected(1_000_000, 7, at_most=500)
    (350, 500)
    """
    rate = COMMUNITIES_PER_MILLION_TOKENS[min(level, len(COMMUNITIES_PER_MILLION_TOKENS) - 1)]
    return max(1, min(round(corpus_tokens * rate / 1e6), round(at_most)))


def concept_seconds(
    chunks: int, to_extract: int, extractor: str, history: Mapping[str, object] | None = None
) -> tuple[float | None, str]:
    """CPU seconds to (re)build the concept graph over ``chunks`` chunks of which ``to_extract`` are not in the concept
    cache, and where the rates come from: the last build's (``history``: its stats; extraction per extracted chunk,
    the graph and its communities per chunk), else :data:`CONCEPT_CHUNKS_PER_SECOND` for ``extractor`` (None when
    it was never measured).

    >>> concept_seconds(125, 125, "spacy")[0]
    10.0
    >>> last = {"chunks": 50, "extracted": 20, "seconds_extract": 4.0, "seconds_graph": 0.5, "seconds_communities": 0.5}
    >>> concept_seconds(100, 10, "spacy", last)
    (4.0, 'the last build here: 0.2000 s per chunk extracted, 0.0200 s per chunk for the graph')
    """
    stats = history or {}
    nums = {k: stats.get(k) for k in ("chunks", "extracted", "seconds_extract", "seconds_graph", "seconds_communities")}
    if all(isinstance(v, int | float) for v in nums.values()) and nums["chunks"] and nums["extracted"]:
        v = {k: float(x) for k, x in nums.items()}  # type: ignore[arg-type]
        extract = v["seconds_extract"] / v["extracted"]
        graph = (v["seconds_graph"] + v["seconds_communities"]) / v["chunks"]
        how = f"the last build here: {extract:.4f} s per chunk extracted, {graph:.4f} s per chunk for the graph"
        return round(to_extract * extract + chunks * graph, 3), how
    rate = CONCEPT_CHUNKS_PER_SECOND.get(extractor)
    if rate is None:
        return None, f"no measured speed for the {extractor!r} extractor yet"
    how = f"{extractor} extraction at {rate:,} chunks/s (measured on 2 busy CPU cores; no build here extracted any)"
    graphed = ("chunks", "seconds_graph", "seconds_communities")
    if all(isinstance(stats.get(k), int | float) for k in graphed) and stats["chunks"]:
        # a build that found every concept cached still measured the graph and its communities
        graph = (float(stats["seconds_graph"]) + float(stats["seconds_communities"])) / float(stats["chunks"])
        how += f"; the graph at {graph:.4f} s per chunk, as the last build here"
        return round(to_extract / rate + chunks * graph, 3), how
    return round(to_extract / rate, 3), how


def priced(spend: Spend, prices: PriceTable, model: str, *, local: bool) -> Spend:
    """``spend`` with its money set for ``model``."""
    cost = money(prices, model, spend.prompt_tokens, spend.completion_tokens, local=local) if spend.calls else 0.0
    return Spend(spend.calls, spend.prompt_tokens, spend.completion_tokens, cost, spend.seconds)


def mean(values: Sequence[int]) -> float:
    return sum(values) / len(values) if values else 0.0
