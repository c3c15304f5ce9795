"""Bootstrap intervals and paired tests: against scipy where it has the same procedure, plus hand cases."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sp

from kenning.errors import ConfigError, InputError
from kenning.evaluate import RunScores, evaluate_run
from kenning.evaluate.stats import bootstrap_ci, bootstrap_cis, compare_runs, paired_test


def _per_query(values: np.ndarray) -> dict[str, float]:
    return {f"q{i:03d}": float(v) for i, v in enumerate(values)}


def _ndcg_like(rng: np.random.Generator, n: int, shift: float = 0.0) -> np.ndarray:
    return np.clip(rng.beta(2, 2, n) + shift, 0, 1)


@pytest.mark.parametrize("confidence", [0.9, 0.95])
def test_bootstrap_ci_matches_scipy_percentile(confidence: float) -> None:
    values = _ndcg_like(np.random.default_rng(7), 150)
    ours = bootstrap_ci(_per_query(values), resamples=20_000, confidence=confidence, seed=1)
    ref = sp.bootstrap(
        (values,),
        np.mean,
        n_resamples=20_000,
        confidence_level=confidence,
        method="percentile",
        random_state=np.random.default_rng(2),
    ).confidence_interval
    se = values.std(ddof=1) / np.sqrt(values.size)
    # two independent Monte-Carlo estimates of the same quantiles: they agree to a few hundredths of a standard error
    assert ours.low == pytest.approx(ref.low, abs=0.05 * se)
    assert ours.high == pytest.approx(ref.high, abs=0.05 * se)
    assert ours.mean == pytest.approx(values.mean())
    assert ours.n == 150 and ours.resamples == 20_000 and ours.confidence == confidence
    # and the interval is roughly mean ± z·SE, as it should be for a mean of 150 values
    z = sp.norm.ppf(0.5 + confidence / 2)
    assert ours.high - ours.low == pytest.approx(2 * z * se, rel=0.1)


def test_bootstrap_is_seeded_and_covers_the_mean() -> None:
    values = _per_query(_ndcg_like(np.random.default_rng(3), 80))
    a = bootstrap_ci(values, resamples=2_000, seed=5)
    b = bootstrap_ci(values, resamples=2_000, seed=5)
    c = bootstrap_ci(values, resamples=2_000, seed=6)
    assert a == b and a != c
    assert a.low < a.mean < a.high


def test_bootstrap_on_run_scores_uses_the_averaged_queries() -> None:
    run = {"q1": {"d1": 1.0}, "q2": {"x": 1.0}, "q3": {"d3": 1.0}}
    qrels = {"q1": {"d1": 1}, "q2": {"d2": 1}, "q3": {"d3": 1}, "q4": {"d4": 0}}  # q4: nothing relevant
    scores = evaluate_run(run, qrels, metrics=("hit@1", "mrr@10"))
    cis = bootstrap_cis(scores, resamples=1_000)
    assert set(cis) == {"hit@1", "mrr@10"}
    assert cis["hit@1"].n == 3 and cis["hit@1"].mean == pytest.approx(scores.mean["hit@1"])
    # every metric sees the same resamples: hit@1 and mrr@10 are equal per query here, so are their intervals
    assert (cis["hit@1"].low, cis["hit@1"].high) == (cis["mrr@10"].low, cis["mrr@10"].high)
    with pytest.raises(ConfigError, match="name the metric"):
        bootstrap_ci(scores)
    assert bootstrap_ci(scores, "hit@1", resamples=1_000) == cis["hit@1"]


def test_constant_values_give_a_zero_width_interval() -> None:
    ci = bootstrap_ci({"a": 0.5, "b": 0.5, "c": 0.5}, resamples=500)
    assert (ci.low, ci.mean, ci.high) == (0.5, 0.5, 0.5)


def test_paired_permutation_matches_scipy_random() -> None:
    rng = np.random.default_rng(11)
    a = _ndcg_like(rng, 60)
    b = np.clip(a + rng.normal(0.03, 0.12, 60), 0, 1)
    ours = paired_test(_per_query(a), _per_query(b), resamples=20_000, seed=0)
    ref = sp.permutation_test(
        (b, a),
        lambda x, y, axis: np.mean(x - y, axis=axis),
        permutation_type="samples",
        vectorized=True,
        n_resamples=20_000,
        alternative="two-sided",
        random_state=np.random.default_rng(1),
    )
    assert 0.005 < ref.pvalue < 0.5  # an informative case, not one pinned at 0 or 1
    assert ours.p_value == pytest.approx(ref.pvalue, abs=0.01)
    assert ours.diff == pytest.approx(ref.statistic)
    assert ours.method == "permutation" and ours.n == 60


def test_paired_permutation_is_exact_for_few_queries_like_scipy() -> None:
    a = np.array([0.1, 0.4, 0.35, 0.8, 0.5, 0.0, 0.9, 0.3])
    b = np.array([0.3, 0.5, 0.30, 0.9, 0.7, 0.2, 0.9, 0.6])
    ours = paired_test(_per_query(a), _per_query(b), resamples=10_000)
    ref = sp.permutation_test(
        (b, a), lambda x, y, axis: np.mean(x - y, axis=axis), permutation_type="samples", vectorized=True
    )
    assert ours.p_value == pytest.approx(ref.pvalue, abs=1e-12)  # both enumerate all 2^8 sign patterns
    assert (ours.better, ours.worse, ours.tied) == (6, 1, 1)


def test_identical_runs_have_p_one_and_zero_difference() -> None:
    values = _per_query(_ndcg_like(np.random.default_rng(0), 50))
    for method in ("permutation", "bootstrap"):
        r = paired_test(values, dict(values), method=method, resamples=2_000)
        assert r.p_value == pytest.approx(1.0)
        assert (r.diff, r.low, r.high) == (0.0, 0.0, 0.0)
        assert r.tied == 50 and not r.significant()


def test_clearly_different_runs_have_a_small_p_value() -> None:
    rng = np.random.default_rng(4)
    a = _ndcg_like(rng, 100)
    b = np.clip(a + 0.15 + rng.normal(0, 0.05, 100), 0, 1)
    for method in ("permutation", "bootstrap"):
        r = paired_test(_per_query(a), _per_query(b), method=method, resamples=5_000)
        assert r.p_value <= 1 / 5_001 + 1e-12  # no resample was as extreme as what was observed
        assert r.significant(0.001)
        assert 0.1 < r.low < r.diff < r.high < 0.2
        assert r.mean_candidate - r.mean_baseline == pytest.approx(r.diff)


def test_bootstrap_test_agrees_with_permutation_on_a_borderline_case() -> None:
    rng = np.random.default_rng(21)
    a = _ndcg_like(rng, 200)
    b = np.clip(a + rng.normal(0.02, 0.15, 200), 0, 1)
    perm = paired_test(_per_query(a), _per_query(b), resamples=20_000)
    boot = paired_test(_per_query(a), _per_query(b), method="bootstrap", resamples=20_000)
    ttest = sp.ttest_rel(b, a).pvalue
    assert perm.p_value == pytest.approx(ttest, abs=0.03)
    assert boot.p_value == pytest.approx(ttest, abs=0.03)


def test_compare_runs_and_query_alignment() -> None:
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}, "q3": {"c": 1}}
    base = evaluate_run({"q1": {"a": 1.0}, "q2": {"x": 1.0}, "q3": {"x": 1.0}}, qrels, metrics=("hit@1", "mrr@10"))
    cand = evaluate_run({"q3": {"c": 1.0}, "q1": {"a": 1.0}, "q2": {"b": 1.0}}, qrels, metrics=("hit@1", "mrr@10"))
    out = compare_runs(base, cand, resamples=1_000)
    assert set(out) == {"hit@1", "mrr@10"}
    assert out["hit@1"].diff == pytest.approx(2 / 3)
    assert (out["hit@1"].better, out["hit@1"].worse, out["hit@1"].tied) == (2, 0, 1)
    # exact with 3 queries: the differences are (0, 1, 1); 4 of the 8 sign patterns reach |mean| = 2/3
    assert out["hit@1"].p_value == pytest.approx(0.5)
    # per-query dicts are paired by query id, not by order
    a, b = {"x": 0.1, "y": 0.9, "z": 0.5}, {"z": 0.5, "y": 0.9, "x": 0.1}
    assert paired_test(a, b).diff == 0.0 and paired_test(a, b).tied == 3


def test_errors() -> None:
    with pytest.raises(InputError, match="same queries"):
        paired_test({"a": 1.0, "b": 0.0}, {"a": 1.0, "c": 0.0})
    with pytest.raises(InputError, match="no per-query values"):
        bootstrap_ci({})
    with pytest.raises(InputError, match="finite"):
        bootstrap_ci({"a": float("nan")})
    with pytest.raises(ConfigError, match="resamples"):
        bootstrap_ci({"a": 1.0}, resamples=0)
    with pytest.raises(ConfigError, match="confidence"):
        bootstrap_ci({"a": 1.0}, confidence=95)
    with pytest.raises(ConfigError, match="method"):
        paired_test({"a": 1.0}, {"a": 1.0}, method="t-test")
    scores = RunScores(per_query={"q": {"m@1": 1.0}}, mean={"m@1": 1.0}, queries=("q",))
    with pytest.raises(InputError, match="no value for metric"):
        bootstrap_ci(scores, "ndcg@10")
