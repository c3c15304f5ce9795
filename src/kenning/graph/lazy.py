"""LazyGraphRAG search: the concept graph's communities steer a budget of relevance tests.

Nothing is summarised at index time; at query time:

1. chunks are ranked by similarity to the question (the collection's hybrid search, ``depth`` deep);
2. communities are ranked by their chunks (the reciprocal ranks of their chunks among those), communities none of
   whose chunks ranked coming after, largest first;
3. relevance tests run **best-first within** a community (its ranked chunks, then its most central ones) and
   **breadth-first across** communities (one test per community per round), until ``budget`` tests are spent;
4. a community whose test passes is **deepened**: its sub-communities join the frontier right after it (so the
   region that answers gets more of the budget, each sub-community its own best-first queue); a community that fails
   twice in a row leaves the frontier.

A test passes when its score is within ``margin`` of the best score any test reached (and above ``floor``): what
counts as relevant adapts to the question, so a question about one thing keeps to the communities that hold it and a
question about the whole corpus ("what are the main themes?"), to which every community is about as relevant, spreads
over all of them. :func:`groups` then orders what was found by top-level community: the answer's context, one group a
theme.

>>> from kenning.graph.types import Community
>>> top = Community("concept", 0, 0, None, "vacuum", (0,), ("a::0", "a::1"))
>>> sub = Community("concept", 2, 1, 0, "vacuum full", (0,), ("a::1",))
>>> other = Community("concept", 1, 0, None, "replication", (1,), ("b::0",))
>>> scores = {"a::0": 0.2, "a::1": 0.8, "b::0": 0.75}
>>> test = FixedTest(scores)
>>> result = lazy_search(["a::1", "b::0", "a::0"], [top, other, sub], test, budget=3, margin=0.1)
>>> [(f.chunk_id, f.top) for f in result.found], result.tests, result.deepened
([('a::1', 0), ('b::0', 1)], 3, (0,))
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from .types import Community

__all__ = ["RelevanceTest", "FixedTest", "Trial", "Found", "LazyResult", "lazy_search", "groups"]

MISSES_TO_LEAVE = 2  # consecutive failed tests after which a community leaves the frontier


class RelevanceTest(Protocol):
    """Scores chunks against the question, a batch at a time (a round of the search); higher is more relevant."""

    name: str

    def scores(self, chunk_ids: Sequence[str]) -> list[float]: ...


@dataclass(frozen=True, slots=True)
class FixedTest:
    """A test with known scores (for examples and tests)."""

    table: Mapping[str, float]
    name: str = "fixed"

    def scores(self, chunk_ids: Sequence[str]) -> list[float]:
        return [float(self.table.get(c, 0.0)) for c in chunk_ids]


@dataclass(frozen=True, slots=True)
class Trial:
    """One relevance test: the chunk, the community it was tested in, its score, and whether it passed."""

    chunk_id: str
    community: int
    score: float
    passed: bool


@dataclass(frozen=True, slots=True)
class Found:
    """A chunk that passed, the community it was found in and that community's top-level ancestor."""

    chunk_id: str
    community: int
    top: int
    score: float


@dataclass(frozen=True, slots=True)
class LazyResult:
    """What the search found (best first within each round), every test it ran, and the communities it deepened.

    ``tests`` ≤ ``budget``; ``notes`` say why the search stopped early or found nothing."""

    found: tuple[Found, ...]
    tested: tuple[Trial, ...]
    budget: int
    deepened: tuple[int, ...]
    communities: int
    best: float
    notes: tuple[str, ...] = ()

    @property
    def tests(self) -> int:
        return len(self.tested)


def _community_order(rank: Mapping[str, int], communities: Sequence[Community]) -> dict[int, float]:
    """Each community's score: the sum of 1/(60 + rank) over its ranked chunks (``rank``: 1-based; reciprocal rank)."""
    return {c.id: sum(1.0 / (60 + rank[ch]) for ch in c.chunk_ids if ch in rank) for c in communities}


def lazy_search(
    ranked: Sequence[str],
    communities: Sequence[Community],
    test: RelevanceTest,
    *,
    budget: int,
    margin: float,
    floor: float = float("-inf"),
    centrality: Callable[[Community], Sequence[str]] | None = None,
) -> LazyResult:
    """Spend at most ``budget`` relevance tests on the chunks of ``communities``, steered by ``ranked`` (chunk ids,
    most similar to the question first).

    ``centrality(community)`` orders a community's chunks that ``ranked`` does not hold (default: as stored).
    A test passes when its score is at least ``max(floor, best - margin)``, ``best`` being the highest score seen by
    the end of the search (what passed against a lower best early on is judged again at the end).
    """
    if budget <= 0:
        return LazyResult((), (), budget, (), len(communities), float("-inf"), ("the relevance-test budget is 0",))
    by_id = {c.id: c for c in communities}
    children: dict[int, list[Community]] = defaultdict(list)
    for c in communities:
        if c.parent is not None and c.parent in by_id:
            children[c.parent].append(c)
    rank = {c: i for i, c in enumerate(ranked, start=1)}
    score = _community_order(rank, communities)

    def order(cs: Sequence[Community]) -> list[Community]:
        return sorted(cs, key=lambda c: (-score[c.id], -len(c.chunk_ids), c.id))

    def candidates(c: Community) -> deque[str]:
        mine = set(c.chunk_ids)
        first = sorted((ch for ch in c.chunk_ids if ch in rank), key=rank.__getitem__)
        rest = [ch for ch in (centrality(c) if centrality else c.chunk_ids) if ch in mine and ch not in rank]
        return deque(first + rest)

    def ancestor(c: Community) -> int:
        while c.parent is not None and c.parent in by_id:
            c = by_id[c.parent]
        return c.id

    tops = [c for c in communities if c.parent is None or c.parent not in by_id]
    frontier: list[Community] = order(tops)
    queues: dict[int, deque[str]] = {c.id: candidates(c) for c in frontier}
    misses: dict[int, int] = defaultdict(int)
    seen: set[str] = set()
    tested: list[Trial] = []
    deepened: list[int] = []
    best = float("-inf")
    while frontier and len(tested) < budget:
        batch: list[tuple[Community, str]] = []
        for c in list(frontier):
            queue = queues[c.id]
            while queue and queue[0] in seen:
                queue.popleft()
            if not queue:
                frontier.remove(c)
                continue
            chunk = queue.popleft()
            seen.add(chunk)
            batch.append((c, chunk))
            if len(tested) + len(batch) >= budget:
                break
        if not batch:
            break
        scores = test.scores([chunk for _, chunk in batch])
        best = max(best, *scores)
        bar = max(floor, best - margin)
        for (c, chunk), s in zip(batch, scores, strict=True):
            passed = s >= bar
            tested.append(Trial(chunk, c.id, s, passed))
            if passed:
                misses[c.id] = 0
                kids = order(children.get(c.id, []))
                if kids and c in frontier and c.id not in deepened:
                    at = frontier.index(c)
                    frontier[at + 1 : at + 1] = kids
                    for k in kids:
                        queues[k.id] = candidates(k)
                    deepened.append(c.id)
            else:
                misses[c.id] += 1
                if misses[c.id] >= MISSES_TO_LEAVE and c in frontier:
                    frontier.remove(c)
    bar = max(floor, best - margin)
    found = tuple(
        Found(t.chunk_id, t.community, ancestor(by_id[t.community]), t.score) for t in tested if t.score >= bar
    )
    notes: list[str] = []
    if not communities:
        notes.append("the concept graph has no communities")
    elif not found:
        notes.append(f"no chunk passed the relevance test in {len(tested)} tests")
    return LazyResult(found, tuple(tested), budget, tuple(deepened), len(communities), best, tuple(notes))


def groups(result: LazyResult, *, per_group: int = 2, max_groups: int = 10) -> list[list[Found]]:
    """What was found, by top-level community (a theme): the best ``per_group`` of each, the groups in order of
    their best score, at most ``max_groups`` of them.

    >>> r = LazyResult((Found("a", 5, 0, 0.4), Found("b", 6, 1, 0.9), Found("c", 5, 0, 0.5)), (), 3, (), 2, 0.9)
    >>> [[f.chunk_id for f in g] for g in groups(r)]
    [['b'], ['c', 'a']]
    """
    by_top: dict[int, list[Found]] = defaultdict(list)
    for f in result.found:
        by_top[f.top].append(f)
    ranked = sorted(by_top.values(), key=lambda fs: -max(f.score for f in fs))
    return [sorted(fs, key=lambda f: -f.score)[:per_group] for fs in ranked[:max_groups]]
