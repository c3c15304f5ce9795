"""Reciprocal Rank Fusion against hand-computed values, and filter parsing."""

from __future__ import annotations

import numpy as np
import pytest

from kenning.errors import ConfigError
from kenning.retrieve import Filters, rrf


def test_rrf_matches_the_formula() -> None:
    pos, scores, ranks = rrf({"bm25": np.array([7, 3, 5]), "dense": np.array([3, 9])}, k=60)
    expected = {7: 1 / 61, 3: 1 / 62 + 1 / 61, 5: 1 / 63, 9: 1 / 62}
    assert pos.tolist() == [3, 7, 9, 5]
    assert np.allclose(scores, [expected[p] for p in pos.tolist()], atol=1e-15)
    assert ranks[3] == {"bm25": 2, "dense": 1} and ranks[9] == {"dense": 2}


def test_rrf_weights_and_k() -> None:
    pos, scores, _ = rrf({"a": np.array([1]), "b": np.array([2])}, k=10, weights={"a": 1.0, "b": 3.0})
    assert pos.tolist() == [2, 1]
    assert scores.tolist() == pytest.approx([3 / 11, 1 / 11])


def test_rrf_ties_are_deterministic() -> None:
    # 1 and 2 both get 1/61 + 0: tie broken by best single rank, then by position
    a = rrf({"x": np.array([2]), "y": np.array([1])}, k=60)[0].tolist()
    b = rrf({"y": np.array([1]), "x": np.array([2])}, k=60)[0].tolist()
    assert a == b == [1, 2]


def test_filters_parse_and_reject_bad_specs() -> None:
    f = Filters.parse(["kind=html", "kind=markdown", "source=docs/", "lang=en"])
    assert f.kinds == ("html", "markdown") and f.sources == ("docs/",) and f.metadata == {"lang": ("en",)}
    assert not Filters.parse([])
    for bad in ["kind", "=x", "kind="]:
        with pytest.raises(ConfigError, match="field=value"):
            Filters.parse([bad])
