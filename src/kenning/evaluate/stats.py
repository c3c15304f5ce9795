"""How sure a score is: bootstrap confidence intervals and paired significance tests over per-query values.

Both work on the per-query values of one metric, from a :class:`~kenning.evaluate.metrics.RunScores` (over its
``queries``: the ones its ``mean`` averages) or from a plain ``{qid: value}`` mapping.

* :func:`bootstrap_ci` — percentile bootstrap of the mean: resample the queries with replacement ``resamples``
  times, take the ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` quantiles of the resampled means (numpy's
  linear interpolation, as ``scipy.stats.bootstrap(method="percentile")``).
* :func:`paired_test` — two configurations on the same queries. The p-value is two-sided, from a *randomization
  (sign-flip permutation) test* of the per-query differences by default: under "no difference" each query's two
  values are exchangeable, so each difference's sign is flipped at random; p = share of flipped mean differences at
  least as far from 0 as the observed one, counting the observed one (``(hits + 1) / (resamples + 1)``), or exact
  over all ``2^n`` sign patterns when that is no more than ``resamples``. ``method="bootstrap"`` gives the paired
  bootstrap test instead (resampled mean differences, shifted to mean 0, compared with the observed one). The
  confidence interval of the mean difference is always the paired percentile bootstrap.

Everything is seeded (numpy ``default_rng(seed)``) and vectorised; the same inputs and seed give the same numbers.

>>> ci = bootstrap_ci({"q1": 1.0, "q2": 0.0, "q3": 1.0, "q4": 1.0}, resamples=2000, seed=0)
>>> round(ci.mean, 2), 0.0 <= ci.low <= ci.mean <= ci.high <= 1.0
(0.75, True)
>>> paired_test({"q1": 0.5, "q2": 0.2}, {"q1": 0.5, "q2": 0.2}).p_value
1.0
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError, InputError
from .metrics import RunScores

__all__ = ["ConfidenceInterval", "PairedComparison", "bootstrap_ci", "bootstrap_cis", "paired_test", "compare_runs"]

PerQuery = RunScores | Mapping[str, float] | Mapping[str, Mapping[str, float]]
_CELLS_PER_BATCH = 4_000_000  # resamples × queries held at once (32 MB of int64 indices)


@dataclass(frozen=True, slots=True)
class ConfidenceInterval:
    """The mean of a metric over ``n`` queries and its percentile-bootstrap interval ``[low, high]``."""

    metric: str
    mean: float
    low: float
    high: float
    confidence: float
    n: int
    resamples: int


@dataclass(frozen=True, slots=True)
class PairedComparison:
    """``candidate`` against ``baseline`` on the same ``n`` queries.

    ``diff`` is ``mean_candidate - mean_baseline`` with its bootstrap interval ``[low, high]``; ``p_value`` is
    two-sided (see the module doc for ``method``); ``better``/``worse``/``tied`` count queries where the candidate
    scored higher, lower or the same.
    """

    metric: str
    mean_baseline: float
    mean_candidate: float
    diff: float
    low: float
    high: float
    p_value: float
    method: str
    confidence: float
    n: int
    resamples: int
    better: int
    worse: int
    tied: int

    def significant(self, alpha: float = 0.05) -> bool:
        return self.p_value < alpha


# ---------------------------------------------------------------------------------------------------- inputs


def _values(scores: PerQuery, metric: str | None) -> tuple[list[str], np.ndarray]:
    """Query ids and their values of ``metric``."""
    if isinstance(scores, RunScores):
        if metric is None:
            if len(scores.mean) != 1:
                raise ConfigError(f"name the metric: these scores hold {', '.join(scores.mean)}")
            metric = next(iter(scores.mean))
        qids = list(scores.queries)
        table: Mapping[str, object] = scores.per_query
    else:
        qids = list(scores)
        table = scores
    out = np.empty(len(qids), dtype=np.float64)
    for i, qid in enumerate(qids):
        value = table[qid]
        if isinstance(value, Mapping):
            if metric is None:
                raise ConfigError(f"name the metric: query {qid!r} holds {', '.join(value)}")
            if metric not in value:
                raise InputError(f"query {qid!r} has no value for metric {metric!r}; it has {', '.join(value)}")
            value = value[metric]
        out[i] = float(value)  # type: ignore[arg-type]
    if not qids:
        raise InputError("no per-query values to resample")
    if not np.all(np.isfinite(out)):
        raise InputError(f"metric {metric or 'values'}: every per-query value must be a finite number")
    return qids, out


def _check(resamples: int, confidence: float) -> None:
    if isinstance(resamples, bool) or not isinstance(resamples, int) or resamples <= 0:
        raise ConfigError(f"resamples must be a positive integer, got {resamples!r}")
    if not 0 < confidence < 1:
        raise ConfigError(f"confidence must be between 0 and 1, got {confidence!r}")


def _metric_names(scores: PerQuery, metrics: Sequence[str] | str | None) -> list[str]:
    if isinstance(metrics, str):
        return [metrics]
    if metrics is not None:
        return list(metrics)
    if isinstance(scores, RunScores):
        return list(scores.mean)
    raise ConfigError("name the metrics to compare")


# ---------------------------------------------------------------------------------------------------- kernels


def _bootstrap_means(values: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Means of ``resamples`` resamples (with replacement) of the last axis of ``values`` (1-d or 2-d: rows share
    the resampled indices)."""
    n = values.shape[-1]
    out = np.empty(values.shape[:-1] + (resamples,), dtype=np.float64)
    step = max(1, _CELLS_PER_BATCH // n)
    for start in range(0, resamples, step):
        m = min(step, resamples - start)
        idx = rng.integers(0, n, size=(m, n))
        out[..., start : start + m] = values[..., idx].mean(axis=-1)
    return out


def _interval(means: np.ndarray, confidence: float) -> tuple[float, float]:
    alpha = (1 - confidence) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return float(low), float(high)


def _sign_flip_p(diffs: np.ndarray, resamples: int, rng: np.random.Generator) -> float:
    """Two-sided randomization test of mean(diffs) == 0 by random (or, when few, all) sign flips."""
    n = diffs.size
    observed = abs(diffs.mean())
    tolerance = 1e-9 * max(observed, np.abs(diffs).max(initial=0.0) / max(n, 1)) + 1e-15
    if n <= 16 and 2**n <= resamples:  # exact: every sign pattern once
        patterns = ((np.arange(2**n)[:, None] >> np.arange(n)) & 1) * 2 - 1
        flipped = np.abs((patterns * diffs).mean(axis=1))
        return float(np.mean(flipped >= observed - tolerance))
    hits = 0
    step = max(1, _CELLS_PER_BATCH // n)
    for start in range(0, resamples, step):
        m = min(step, resamples - start)
        signs = rng.integers(0, 2, size=(m, n), dtype=np.int8) * 2 - 1
        hits += int(np.count_nonzero(np.abs((signs * diffs).mean(axis=1)) >= observed - tolerance))
    return (hits + 1) / (resamples + 1)


# ---------------------------------------------------------------------------------------------------- public


def bootstrap_ci(
    scores: PerQuery,
    metric: str | None = None,
    *,
    resamples: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> ConfidenceInterval:
    """Percentile-bootstrap confidence interval of the mean of ``metric`` over the queries.

    >>> from kenning.evaluate import evaluate_run
    >>> s = evaluate_run({"a": {"d": 1.0}, "b": {"x": 1.0}}, {"a": {"d": 1}, "b": {"d": 1}}, metrics=("hit@1",))
    >>> bootstrap_ci(s, "hit@1", resamples=500).mean
    0.5
    """
    _check(resamples, confidence)
    _, values = _values(scores, metric)
    means = _bootstrap_means(values, resamples, np.random.default_rng(seed))
    low, high = _interval(means, confidence)
    name = metric or (next(iter(scores.mean)) if isinstance(scores, RunScores) else "value")
    return ConfidenceInterval(name, float(values.mean()), low, high, confidence, int(values.size), resamples)


def bootstrap_cis(
    scores: RunScores,
    metrics: Sequence[str] | None = None,
    *,
    resamples: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, ConfidenceInterval]:
    """:func:`bootstrap_ci` for several metrics of one run, every metric on the same resamples of the queries."""
    _check(resamples, confidence)
    names = _metric_names(scores, metrics)
    table = np.stack([_values(scores, m)[1] for m in names])
    means = _bootstrap_means(table, resamples, np.random.default_rng(seed))
    out = {}
    for i, name in enumerate(names):
        low, high = _interval(means[i], confidence)
        out[name] = ConfidenceInterval(name, float(table[i].mean()), low, high, confidence, table.shape[1], resamples)
    return out


def paired_test(
    baseline: PerQuery,
    candidate: PerQuery,
    metric: str | None = None,
    *,
    method: str = "permutation",
    resamples: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> PairedComparison:
    """Is ``candidate`` different from ``baseline`` on ``metric``? Both must score the same queries.

    >>> a = {f"q{i}": 0.2 for i in range(30)}
    >>> b = {f"q{i}": 0.9 for i in range(30)}
    >>> paired_test(a, b).p_value < 0.001
    True
    """
    _check(resamples, confidence)
    if method not in ("permutation", "bootstrap"):
        raise ConfigError(f"method must be 'permutation' or 'bootstrap', got {method!r}")
    qa, va = _values(baseline, metric)
    qb, vb = _values(candidate, metric)
    if qa != qb:
        if set(qa) != set(qb):
            only_a, only_b = len(set(qa) - set(qb)), len(set(qb) - set(qa))
            raise InputError(
                f"a paired test needs the same queries in both runs: {only_a} only in the baseline, "
                f"{only_b} only in the candidate"
            )
        order = {q: i for i, q in enumerate(qb)}
        vb = vb[[order[q] for q in qa]]
    diffs = vb - va
    rng = np.random.default_rng(seed)
    boot = _bootstrap_means(diffs, resamples, rng)
    low, high = _interval(boot, confidence)
    observed = float(diffs.mean())
    if method == "permutation":
        p = _sign_flip_p(diffs, resamples, rng)
    else:
        tolerance = 1e-9 * abs(observed) + 1e-15
        hits = int(np.count_nonzero(np.abs(boot - observed) >= abs(observed) - tolerance))
        p = (hits + 1) / (resamples + 1)
    return PairedComparison(
        metric=metric or (next(iter(baseline.mean)) if isinstance(baseline, RunScores) else "value"),
        mean_baseline=float(va.mean()),
        mean_candidate=float(vb.mean()),
        diff=observed,
        low=low,
        high=high,
        p_value=min(1.0, p),
        method=method,
        confidence=confidence,
        n=int(diffs.size),
        resamples=resamples,
        better=int(np.count_nonzero(diffs > 0)),
        worse=int(np.count_nonzero(diffs < 0)),
        tied=int(np.count_nonzero(diffs == 0)),
    )


def compare_runs(
    baseline: RunScores,
    candidate: RunScores,
    metrics: Sequence[str] | None = None,
    *,
    method: str = "permutation",
    resamples: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, PairedComparison]:
    """:func:`paired_test` for each metric (default: every metric of ``baseline``)."""
    return {
        m: paired_test(baseline, candidate, m, method=method, resamples=resamples, confidence=confidence, seed=seed)
        for m in _metric_names(baseline, metrics)
    }
