"""Reciprocal Rank Fusion against hand-computed values, and filter parsing."""

from __future__ import annotations

import numpy as np
import pytest

from kenning.errors import ConfigError
from kenning.retrieve import Filters, rrf


def test_rrf_matches_the_formula() -> None:
    ids, scores, ranks = rrf({"bm25": ["g", "c", "e"], "dense": ["c", "i"]}, k=60)
    expected = {"g": 1 / 61, "c": 1 / 62 + 1 / 61, "e": 1 / 63, "i": 1 / 62}
    assert ids == ["c", "g", "i", "e"]
    assert np.allclose(scores, [expected[c] for c in ids], atol=1e-15)
    assert ranks["c"] == {"bm25": 2, "dense": 1} and ranks["i"] == {"dense": 2}


def test_rrf_weights_and_k() -> None:
    ids, scores, _ = rrf({"a": ["x::1"], "b": ["x::2"]}, k=10, weights={"a": 1.0, "b": 3.0})
    assert ids == ["x::2", "x::1"]
    assert scores == pytest.approx([3 / 11, 1 / 11])


def test_rrf_ties_are_deterministic() -> None:
    # both get 1/61 + 0: the tie is broken by best single rank, then by chunk id, whatever the lists' order
    a = rrf({"x": ["doc::2"], "y": ["doc::1"]}, k=60)[0]
    b = rrf({"y": ["doc::1"], "x": ["doc::2"]}, k=60)[0]
    assert a == b == ["doc::1", "doc::2"]


def test_filters_parse_and_reject_bad_specs() -> None:
    f = Filters.parse(["kind=html", "kind=markdown", "source=docs/", "lang=en"])
    assert f.kinds == ("html", "markdown") and f.sources == ("docs/",) and f.metadata == {"lang": ("en",)}
    assert not Filters.parse([])
    for bad in ["kind", "=x", "kind="]:
        with pytest.raises(ConfigError, match="field=value"):
            Filters.parse([bad])
