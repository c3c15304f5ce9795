"""Retrieval metrics: hand-computed cases, then agreement with pytrec_eval (trec_eval) on many random runs."""

from __future__ import annotations

import math
import random
import time
from pathlib import Path

import pytest
import pytrec_eval

import kenning.evaluate as ev
from kenning.errors import ConfigError, InputError
from kenning.evaluate import (
    METRICS,
    RunScores,
    average_precision,
    evaluate_run,
    hit_rate_at_k,
    mrr_at_k,
    ndcg_at_k,
    precision_at_k,
    read_trec_qrels,
    read_trec_run,
    recall_at_k,
    trec_ranking,
    write_trec_run,
)

TOL = 1e-6


def test_public_surface_is_exported() -> None:
    for name in ev.__all__:
        assert getattr(ev, name) is not None, name
    assert set(METRICS) == {"ndcg@k", "recall@k", "precision@k", "mrr@k", "hit@k", "map@k"}


# ------------------------------------------------------------------------------------------- hand-computed cases


def test_ranking_is_score_descending_then_doc_id_descending() -> None:
    scores = {"d1": 0.5, "d10": 0.5, "d2": 0.5, "a": 0.9, "z": 0.1}
    # string order, not numeric: "d2" > "d10" > "d1"
    assert [d for d, _ in trec_ranking(scores)] == ["a", "d2", "d10", "d1", "z"]
    assert trec_ranking(scores, 2) == [("a", 0.9), ("d2", 0.5)]
    big = {f"d{i:04d}": float(i % 7) for i in range(500)}  # deep run, shallow cut: the heap path
    assert trec_ranking(big, 10) == trec_ranking(big)[:10]


def test_ties_are_broken_by_doc_id_descending_in_every_metric() -> None:
    run = {"q": {"a": 1.0, "b": 1.0, "c": 1.0}}  # ranked c, b, a
    qrels = {"q": {"a": 1}}
    assert mrr_at_k(run, qrels, 10) == {"q": pytest.approx(1 / 3)}
    assert mrr_at_k(run, qrels, 2) == {"q": 0.0}
    assert hit_rate_at_k(run, qrels, 2) == {"q": 0.0}
    assert hit_rate_at_k(run, qrels, 3) == {"q": 1.0}
    assert precision_at_k(run, qrels, 1) == {"q": 0.0}
    assert recall_at_k(run, qrels, 2) == {"q": 0.0}
    assert ndcg_at_k(run, qrels, 3) == {"q": pytest.approx(1 / math.log2(4))}
    assert average_precision(run, qrels, 3) == {"q": pytest.approx(1 / 3)}


def test_ndcg_uses_graded_gains_and_ideal_from_all_judged_documents() -> None:
    run = {"q": {"d1": 3.0, "d2": 2.0, "d3": 1.0}}  # d1 unjudged, d2 grade 3, d3 grade 1; d4 (grade 2) not found
    qrels = {"q": {"d2": 3, "d3": 1, "d4": 2}}
    dcg3 = 0 + 3 / math.log2(3) + 1 / math.log2(4)
    idcg3 = 3 + 2 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at_k(run, qrels, 3)["q"] == pytest.approx(dcg3 / idcg3, abs=1e-12)
    assert ndcg_at_k(run, qrels, 1)["q"] == 0.0
    assert ndcg_at_k(run, qrels, 2)["q"] == pytest.approx((3 / math.log2(3)) / (3 + 2 / math.log2(3)), abs=1e-12)
    perfect = {"q": {"d2": 3.0, "d4": 2.0, "d3": 1.0}}
    assert ndcg_at_k(perfect, qrels, 10)["q"] == pytest.approx(1.0, abs=1e-12)


def test_negative_grades_count_as_zero_gain_and_not_relevant() -> None:
    run = {"q": {"a": 3.0, "b": 2.0, "c": 1.0}}
    qrels = {"q": {"a": -1, "b": 2, "c": 1}}
    expected = (2 / math.log2(3) + 1 / math.log2(4)) / (2 + 1 / math.log2(3))
    assert ndcg_at_k(run, qrels, 10)["q"] == pytest.approx(expected, abs=1e-12)
    assert mrr_at_k(run, qrels, 10)["q"] == 0.5
    assert recall_at_k(run, qrels, 1)["q"] == 0.0


def test_recall_precision_and_average_precision() -> None:
    run = {"q": {"r1": 0.9, "n1": 0.8, "r2": 0.7, "n2": 0.6}}
    qrels = {"q": {"r1": 1, "r2": 2, "r3": 1, "n1": 0}}  # three relevant; r3 never retrieved; n1 judged non-relevant
    assert recall_at_k(run, qrels, 1)["q"] == pytest.approx(1 / 3)
    assert recall_at_k(run, qrels, 3)["q"] == pytest.approx(2 / 3)
    assert precision_at_k(run, qrels, 3)["q"] == pytest.approx(2 / 3)
    assert precision_at_k(run, qrels, 10)["q"] == pytest.approx(2 / 10)  # divides by k even if fewer retrieved
    assert average_precision(run, qrels)["q"] == pytest.approx((1 / 1 + 2 / 3) / 3)
    assert average_precision(run, qrels, 2)["q"] == pytest.approx((1 / 1) / 3)
    assert mrr_at_k(run, qrels, 1)["q"] == 1.0
    assert hit_rate_at_k(run, qrels, 1)["q"] == 1.0


def test_missing_queries_score_zero_and_extra_run_queries_are_ignored() -> None:
    run = {"q1": {"a": 1.0}, "q3": {}, "extra": {"a": 1.0}}
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}, "q3": {"c": 1}}
    for fn in (ndcg_at_k, recall_at_k, precision_at_k, mrr_at_k, hit_rate_at_k, average_precision):
        values = fn(run, qrels, 5)
        assert set(values) == {"q1", "q2", "q3"}, fn.__name__
        assert values["q2"] == 0.0 and values["q3"] == 0.0, fn.__name__
    scores = evaluate_run(run, qrels, metrics=("mrr@10", "recall@5"))
    assert scores.mean == {"mrr@10": pytest.approx(1 / 3), "recall@5": pytest.approx(1 / 3)}
    assert scores.missing == ("q2", "q3")
    assert scores.ignored == ("extra",)
    assert scores.queries == ("q1", "q2", "q3")


def test_queries_without_a_relevant_document_are_scored_but_not_averaged() -> None:
    run = {"q1": {"a": 1.0}, "q2": {"a": 1.0}}
    qrels = {"q1": {"a": 1}, "q2": {"a": 0}}  # q2: a judged non-relevant, nothing relevant to find
    scores = evaluate_run(run, qrels, metrics=("ndcg@10", "hit@1"))
    assert isinstance(scores, RunScores)
    assert scores.per_query["q2"] == {"ndcg@10": 0.0, "hit@1": 0.0}
    assert scores.queries == ("q1",)
    assert scores.mean == {"ndcg@10": 1.0, "hit@1": 1.0}


def test_evaluate_run_keys_are_the_names_given_and_aliases_work() -> None:
    run = {"q": {"a": 2.0, "b": 1.0}}
    qrels = {"q": {"b": 1}}
    scores = evaluate_run(run, qrels, metrics=("NDCG@2", "p@1", "success@2", "accuracy@1", "map@100", "mrr@10"))
    assert scores.mean == {
        "NDCG@2": pytest.approx(1 / math.log2(3)),
        "p@1": 0.0,
        "success@2": 1.0,
        "accuracy@1": 0.0,
        "map@100": 0.5,
        "mrr@10": 0.5,
    }
    assert set(evaluate_run(run, qrels).mean) == {"ndcg@10", "recall@10", "recall@100", "mrr@10"}


@pytest.mark.parametrize("name", ["bleu@10", "ndcg", "ndcg@", "ndcg@0", "ndcg@-1", "ndcg@ten", "recall@1.5", ""])
def test_unknown_or_malformed_metric_names_raise_config_error(name: str) -> None:
    with pytest.raises(ConfigError) as err:
        evaluate_run({"q": {"a": 1.0}}, {"q": {"a": 1}}, metrics=(name,))
    message = str(err.value)
    assert repr(name) in message
    if "@" not in name or name.startswith("bleu"):
        assert "ndcg@k" in message and "hit@k" in message and "map@k" in message


@pytest.mark.parametrize("k", [0, -3, 2.5, True, "10", None])
def test_metric_functions_reject_bad_k(k: object) -> None:
    with pytest.raises(ConfigError, match="k must be a positive integer"):
        recall_at_k({"q": {"a": 1.0}}, {"q": {"a": 1}}, k)  # type: ignore[arg-type]


def test_evaluate_run_input_errors() -> None:
    with pytest.raises(InputError, match="no query with a relevant document"):
        evaluate_run({"q": {"a": 1.0}}, {"q": {"a": 0}})
    with pytest.raises(InputError, match="run for query 'q': score of document 'a' is NaN"):
        evaluate_run({"q": {"a": float("nan")}}, {"q": {"a": 1}})
    with pytest.raises(ConfigError, match="empty"):
        evaluate_run({"q": {"a": 1.0}}, {"q": {"a": 1}}, metrics=())


def test_ignore_identical_ids_drops_the_query_itself_like_beir() -> None:
    run = {"q1": {"q1": 9.0, "d": 1.0}}
    qrels = {"q1": {"d": 1}}
    assert evaluate_run(run, qrels, metrics=("mrr@10",)).mean["mrr@10"] == 0.5
    assert evaluate_run(run, qrels, metrics=("mrr@10",), ignore_identical_ids=True).mean["mrr@10"] == 1.0


# ------------------------------------------------------------------------------------------- against pytrec_eval

CUTS = (1, 3, 5, 10, 20, 100)
OURS = {
    "ndcg": (ndcg_at_k, "ndcg_cut"),
    "recall": (recall_at_k, "recall"),
    "precision": (precision_at_k, "P"),
    "hit": (hit_rate_at_k, "success"),
    "map": (average_precision, "map_cut"),
}


def random_case(seed: int) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, int]]]:
    """Graded qrels and a run with many tied scores, ids whose string and numeric order differ, and query gaps."""
    rng = random.Random(seed)
    pool = [f"d{i}" for i in range(rng.randint(5, 150))]
    qrels: dict[str, dict[str, int]] = {}
    run: dict[str, dict[str, float]] = {}
    for q in range(rng.randint(1, 25)):
        qid = f"q{q}"
        judged = rng.sample(pool, rng.randint(1, min(len(pool), 30)))
        qrels[qid] = {d: rng.choice((-1, 0, 0, 1, 1, 1, 2, 3)) for d in judged}
        roll = rng.random()
        if roll < 0.1:
            continue  # query missing from the run
        if roll < 0.15:
            run[qid] = {}
            continue
        retrieved = rng.sample(pool, rng.randint(1, len(pool)))
        levels = rng.choice((3, 10, 1000))  # few levels: many ties
        scale = rng.choice((1.0, 1e-3, 250.0))
        run[qid] = {d: scale * rng.randint(-levels, levels) / levels for d in retrieved}
    for extra in range(rng.randint(0, 3)):
        run[f"x{extra}"] = {d: rng.random() for d in rng.sample(pool, min(5, len(pool)))}
    return run, qrels


def pytrec(run: dict, qrels: dict, measures: set[str]) -> dict[str, dict[str, float]]:
    return pytrec_eval.RelevanceEvaluator(qrels, measures).evaluate(run)


def assert_close(ours: dict[str, float], theirs: dict[str, dict[str, float]], key: str, qrels: dict) -> None:
    assert set(ours) == set(qrels)
    for qid, value in ours.items():
        if qid in theirs:
            assert abs(value - theirs[qid][key]) < TOL, (qid, key, value, theirs[qid][key])
        else:  # pytrec_eval leaves out qrels queries the run lacks; kenning scores them 0
            assert value == 0.0, (qid, key, value)


@pytest.mark.parametrize("seed", range(60))
def test_agrees_with_pytrec_eval_on_random_runs(seed: int) -> None:
    run, qrels = random_case(seed)
    cuts = ",".join(map(str, CUTS))
    theirs = pytrec(run, qrels, {f"{m}.{cuts}" for _, m in OURS.values()} | {"recip_rank", "map"})
    for fn, measure in OURS.values():
        for k in CUTS:
            assert_close(fn(run, qrels, k), theirs, f"{measure}_{k}", qrels)
    assert_close(average_precision(run, qrels), theirs, "map", qrels)
    for k in CUTS:
        # MRR@k is recip_rank cut at k: the reciprocal rank when the first relevant document is within k, else 0
        cut = {q: {"mrr": v["recip_rank"] if v["recip_rank"] >= 1 / k - 1e-12 else 0.0} for q, v in theirs.items()}
        assert_close(mrr_at_k(run, qrels, k), cut, "mrr", qrels)


@pytest.mark.parametrize("seed", range(20))
def test_mrr_at_k_equals_pytrec_recip_rank_on_the_run_cut_at_k(seed: int, tmp_path: Path) -> None:
    run, qrels = random_case(1000 + seed)
    for k in (1, 2, 10):
        path = tmp_path / f"run{k}.trec"
        write_trec_run(run, path, depth=k)
        theirs = pytrec(read_trec_run(path), qrels, {"recip_rank"})
        assert_close(mrr_at_k(run, qrels, k), theirs, "recip_rank", qrels)


@pytest.mark.parametrize("seed", range(20))
def test_evaluate_run_means_agree_with_pytrec_eval(seed: int) -> None:
    run, qrels = random_case(2000 + seed)
    if not any(g > 0 for grades in qrels.values() for g in grades.values()):
        pytest.skip("random qrels without a relevant document")
    names = ("ndcg@10", "recall@5", "precision@3", "mrr@10", "hit@20", "map@100")
    scores = evaluate_run(run, qrels, metrics=names)
    theirs = pytrec(run, qrels, {"ndcg_cut.10", "recall.5", "P.3", "success.20", "map_cut.100"})
    keys = dict(zip(names, ("ndcg_cut_10", "recall_5", "P_3", None, "success_20", "map_cut_100"), strict=True))
    counted = [q for q in qrels if any(g > 0 for g in qrels[q].values())]
    assert scores.queries == tuple(counted)
    for name, key in keys.items():
        if key is None:
            continue
        expected = sum(theirs[q][key] if q in theirs else 0.0 for q in counted) / len(counted)
        assert abs(scores.mean[name] - expected) < TOL, name
        for q in qrels:
            assert abs(scores.per_query[q][name] - (theirs[q][key] if q in theirs else 0.0)) < TOL


def test_scifact_sized_run_is_scored_fast() -> None:
    rng = random.Random(7)
    qrels = {f"q{q}": {f"d{rng.randrange(5000)}": 1 for _ in range(2)} for q in range(300)}
    run = {q: {f"d{rng.randrange(5000)}": rng.random() for _ in range(100)} for q in qrels}
    best = math.inf
    for _ in range(3):
        start = time.perf_counter()
        evaluate_run(run, qrels)
        best = min(best, time.perf_counter() - start)
    assert best < 0.1, f"evaluate_run took {best * 1000:.1f} ms on 300 queries x 100 docs"


# ------------------------------------------------------------------------------------------- TREC files


def test_trec_run_round_trip_and_file_format(tmp_path: Path) -> None:
    run = {"q2": {"d1": 0.5, "d10": 0.5, "d2": 0.25, "d3": 1 / 3}, "q1": {"a": -1.5}, "q3": {}}
    path = tmp_path / "out" / "run.trec"
    write_trec_run(run, path, tag="bm25", depth=3)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines == [
        "q2 Q0 d10 1 0.5 bm25",
        "q2 Q0 d1 2 0.5 bm25",
        f"q2 Q0 d3 3 {1 / 3!r} bm25",
        "q1 Q0 a 1 -1.5 bm25",
    ]
    assert read_trec_run(path) == {"q2": {"d10": 0.5, "d1": 0.5, "d3": 1 / 3}, "q1": {"a": -1.5}}
    assert not list(path.parent.glob(".*tmp"))


@pytest.mark.parametrize("seed", range(10))
def test_trec_run_read_back_scores_the_same_in_pytrec_eval(seed: int, tmp_path: Path) -> None:
    run, qrels = random_case(3000 + seed)
    path = tmp_path / "run.trec"
    write_trec_run(run, path, depth=1000)
    back = read_trec_run(path)
    assert back == {q: dict(d) for q, d in run.items() if d}
    measures = {"ndcg_cut.10", "recall.100", "P.5", "recip_rank", "map", "success.1"}
    direct = pytrec(run, qrels, measures)
    reread = pytrec(back, qrels, measures)
    for qid, values in direct.items():
        if run.get(qid):
            assert reread[qid] == pytest.approx(values, abs=1e-12)
    # and cut at depth 10, the file scores exactly what kenning scores at 10
    write_trec_run(run, path, depth=10)
    theirs = pytrec(read_trec_run(path), qrels, {"ndcg_cut.10", "recall.10"})
    assert_close(ndcg_at_k(run, qrels, 10), theirs, "ndcg_cut_10", qrels)
    assert_close(recall_at_k(run, qrels, 10), theirs, "recall_10", qrels)


def test_write_trec_run_rejects_unwritable_values(tmp_path: Path) -> None:
    path = tmp_path / "run.trec"
    with pytest.raises(InputError, match="whitespace"):
        write_trec_run({"q 1": {"a": 1.0}}, path)
    with pytest.raises(InputError, match="document id 'a b'"):
        write_trec_run({"q1": {"a b": 1.0}}, path)
    with pytest.raises(InputError, match="NaN"):
        write_trec_run({"q1": {"a": float("nan")}}, path)
    with pytest.raises(InputError, match="finite"):
        write_trec_run({"q1": {"a": float("inf")}}, path)
    with pytest.raises(ConfigError, match="tag"):
        write_trec_run({"q1": {"a": 1.0}}, path, tag="my run")
    with pytest.raises(ConfigError, match="depth"):
        write_trec_run({"q1": {"a": 1.0}}, path, depth=0)
    assert not path.exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("q1 Q0 d1 1 0.5 tag\nq1 Q0 d2 2 0.4\n", r"run\.trec:2: expected 6 fields"),
        ("q1 Q0 d1 1 high tag\n", r"run\.trec:1: score must be a finite number, got 'high'"),
        ("q1 Q0 d1 1 nan tag\n", r"run\.trec:1: score must be a finite number"),
        (
            "q1 Q0 d1 1 0.5 t\n\nq1 Q0 d1 2 0.4 t\n",
            r"run\.trec:3: document d1 appears twice for query q1 \(first on line 1\)",
        ),
        (b"q1 Q0 d1 1 0.5 t\nq1 Q0 \xff 2 0.4 t\n", r"run\.trec:2: not valid UTF-8"),
    ],
)
def test_read_trec_run_errors_name_file_and_line(tmp_path: Path, content: str | bytes, message: str) -> None:
    path = tmp_path / "run.trec"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(InputError, match=message):
        read_trec_run(path)


def test_read_trec_run_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="TREC run file not found"):
        read_trec_run(tmp_path / "nope.trec")


def test_read_trec_qrels(tmp_path: Path) -> None:
    path = tmp_path / "qrels.txt"
    path.write_bytes(b"\xef\xbb\xbf301 0 d1 2\r\n301 0 d2 0\r\n\r\n302 0 d1 1\r\n301 0 d1 2\r\n")
    assert read_trec_qrels(path) == {"301": {"d1": 2, "d2": 0}, "302": {"d1": 1}}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("301 0 d1 1\n301 0 d2\n", r"qrels\.txt:2: expected 4 fields"),
        ("301 0 d1 yes\n", r"qrels\.txt:1: relevance must be an integer, got 'yes'"),
        ("301 0 d1 1\n301 0 d1 2\n", r"qrels\.txt:2: query 301 judges document d1 again with relevance 2, but line 1"),
    ],
)
def test_read_trec_qrels_errors_name_file_and_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "qrels.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=message):
        read_trec_qrels(path)


def test_collapsed_runs_keep_kenning_order_under_pytrec_evals_single_precision() -> None:
    """RRF sums 1e-9 apart are one float32 to trec_eval, which would then order them by doc id; collapsing must
    leave scores that stay strictly decreasing in float32 so pytrec_eval scores kenning's own order."""
    import numpy as np

    from kenning.evaluate.beir_eval import collapse_to_documents

    tied = 1 / 61 + 1 / 63
    scores = np.array([tied, tied - 1e-9, tied - 2e-9, 1 / 62 + 1 / 64, 0.01])
    docs = {"c0": ["a"], "c1": ["z"], "c2": ["m"], "c3": ["b"], "c4": ["c"]}  # doc-id order: z first of the ties
    run = {"q": collapse_to_documents(list(docs), scores.tolist(), docs, depth=10)}
    assert list(run["q"]) == ["a", "z", "m", "b", "c"]
    values = [np.float32(x) for x in run["q"].values()]
    assert all(x > y for x, y in zip(values, values[1:], strict=False))
    for gold in ("a", "z", "m"):
        qrels = {"q": {gold: 1}}
        theirs = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(run)["q"]["recip_rank"]
        assert theirs == evaluate_run(run, qrels, metrics=("mrr@10",)).per_query["q"]["mrr@10"]
        assert theirs == 1 / (list(run["q"]).index(gold) + 1)
