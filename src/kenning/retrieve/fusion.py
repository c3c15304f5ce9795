"""Reciprocal Rank Fusion (Cormack et al., 2009): ``score(d) = Σ_r w_r / (k + rank_r(d))``.

>>> import numpy as np
>>> pos, scores, ranks = rrf({"bm25": np.array([3, 1]), "dense": np.array([1, 2])}, k=60)
>>> pos.tolist(), ranks[1]
([1, 3, 2], {'bm25': 2, 'dense': 1})
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

__all__ = ["rrf"]


def rrf(
    rankings: Mapping[str, np.ndarray], *, k: float = 60.0, weights: Mapping[str, float] | None = None
) -> tuple[np.ndarray, np.ndarray, dict[int, dict[str, int]]]:
    """Fuse ranked position lists (best first). Returns positions by fused score, the scores, and per-list ranks.

    Ties in fused score are broken by the best single rank, then by position, so results are deterministic.
    """
    fused: dict[int, float] = {}
    ranks: dict[int, dict[str, int]] = {}
    for name, positions in rankings.items():
        w = 1.0 if weights is None else float(weights.get(name, 1.0))
        for r, pos in enumerate(positions.tolist(), start=1):
            fused[pos] = fused.get(pos, 0.0) + w / (k + r)
            ranks.setdefault(pos, {})[name] = r
    order = sorted(fused, key=lambda p: (-fused[p], min(ranks[p].values()), p))
    return (
        np.asarray(order, dtype=np.int64),
        np.asarray([fused[p] for p in order], dtype=np.float64),
        ranks,
    )
