"""Reciprocal Rank Fusion (Cormack et al., 2009): ``score(d) = Σ_r w_r / (k + rank_r(d))``.

>>> ids, scores, ranks = rrf({"bm25": ["c", "a"], "dense": ["a", "b"]}, k=60)
>>> ids, ranks["a"]
(['a', 'c', 'b'], {'bm25': 2, 'dense': 1})
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import TypeVar

__all__ = ["rrf"]


K = TypeVar("K", bound=Hashable)


def rrf(
    rankings: Mapping[str, Sequence[K]], *, k: float = 60.0, weights: Mapping[str, float] | None = None
) -> tuple[list[K], list[float], dict[K, dict[str, int]]]:
    """Fuse ranked lists of ids (best first). Returns the ids by fused score, the scores, and per-list ranks.

    Ties in fused score are broken by the best single rank, then by id, so results are deterministic.
    """
    fused: dict = {}
    ranks: dict = {}
    for name, ids in rankings.items():
        w = 1.0 if weights is None else float(weights.get(name, 1.0))
        for r, pos in enumerate(ids, start=1):
            fused[pos] = fused.get(pos, 0.0) + w / (k + r)
            ranks.setdefault(pos, {})[name] = r
    order = sorted(fused, key=lambda p: (-fused[p], min(ranks[p].values()), p))
    return order, [fused[p] for p in order], ranks
