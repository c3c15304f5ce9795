"""Span metrics (the Chroma chunking benchmark's recall, precision, IoU and precision Ω) on hand-computed cases, an
independent transcription of the reference algorithm, the Chroma loader, source resolution and the scorer."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from kenning.evaluate.chroma import evaluate_spans, load_chroma, omega_scores, resolve_sources, span_eval_set
from kenning.evaluate.spans import ChunkIndex, Span, doc_metrics, precision_omega, span_metrics, union_ranges

# ------------------------------------------------------------------------------------------ hand-computed


def test_perfect_match_scores_one() -> None:
    m = span_metrics([Span("a", 5, 25)], [Span("a", 5, 25)])
    assert m.as_dict() == {"recall": 1.0, "precision": 1.0, "iou": 1.0, "hit": 1.0, "span_recall": 1.0, "rr": 1.0}


def test_partial_overlap() -> None:
    # gold [10,20); chunks [0,15) and [30,40): 5 characters found, 25 retrieved, 5 gold characters missed
    m = span_metrics([Span("a", 0, 15), Span("a", 30, 40)], [Span("a", 10, 20)])
    assert m.recall == 0.5
    assert m.precision == 5 / 25
    assert m.iou == 5 / (25 + 5)
    assert (m.hit, m.span_recall, m.rr) == (1.0, 1.0, 1.0)


def test_overlapping_chunks_count_twice_in_precision() -> None:
    # the numerator is the union of intersections (10), the denominator the sum of chunk lengths (20)
    m = span_metrics([Span("a", 0, 10), Span("a", 5, 15)], [Span("a", 0, 10)])
    assert (m.recall, m.precision, m.iou) == (1.0, 0.5, 0.5)


def test_chunks_of_other_documents_count_in_precision_and_rank() -> None:
    m = span_metrics([Span("b", 0, 100), Span("a", 0, 10)], [Span("a", 0, 10)])
    assert m.recall == 1.0
    assert m.precision == 10 / 110
    assert m.iou == 10 / 110
    assert m.rr == 0.5


def test_two_gold_spans_one_found() -> None:
    m = span_metrics([Span("a", 95, 110)], [Span("a", 0, 10), Span("a", 100, 120)])
    assert m.recall == 10 / 30
    assert m.precision == 10 / 15
    assert m.iou == 10 / (15 + 10 + 10)
    assert (m.hit, m.span_recall) == (1.0, 0.5)


def test_touching_is_not_overlapping_and_nothing_scores_zero() -> None:
    m = span_metrics([Span("a", 0, 10)], [Span("a", 10, 20)])
    assert (m.recall, m.precision, m.iou, m.hit, m.rr) == (0.0, 0.0, 0.0, 0.0, 0.0)
    assert span_metrics([], [Span("a", 0, 5)]).as_dict() == dict.fromkeys(m.as_dict(), 0.0)


def test_doc_metrics() -> None:
    m = doc_metrics(["x", "y", "x", "z"], ["z", "w"])
    assert (m.hit, m.span_recall, m.rr, m.recall) == (1.0, 0.5, 0.25, 0.0)


def test_union_ranges() -> None:
    assert union_ranges([(5, 8), (0, 2), (2, 3), (7, 9)]) == [(0, 3), (5, 9)]
    assert union_ranges([]) == []


def test_precision_omega_hand_cases() -> None:
    index = ChunkIndex([Span("a", 0, 50), Span("a", 50, 100), Span("a", 100, 150), Span("b", 0, 40)])
    # gold [40,60) meets chunks [0,50) and [50,100): 20 found characters over their union of 100
    assert precision_omega(index, [Span("a", 40, 60)]) == 0.2
    # a chunk that only touches the gold ([0,50) ends where [50,60) starts) still counts, as in the reference
    assert precision_omega(index, [Span("a", 50, 60)]) == 0.1
    # a gold span no chunk covers adds its uncovered part to the denominator
    assert precision_omega(index, [Span("b", 30, 60)]) == 10 / 60
    assert precision_omega(index, [Span("c", 0, 10)]) == 0.0


# ------------------------------------------------------------------------------------------ reference


def _reference_scores(chunks: list[tuple[int, int]], refs: list[tuple[int, int]]) -> tuple[float, float, float]:
    """chunking_evaluation's ``_scores_from_dataset_and_retrievals`` for one query, restated step by step:
    inclusive intersections, a running list of unused highlights, the union of intersections."""

    def union(rs: list[tuple[int, int]]) -> list[tuple[int, int]]:
        if not rs:
            return []
        rs = sorted(rs)
        out = [rs[0]]
        for s, e in rs[1:]:
            if s <= out[-1][1]:
                out[-1] = (out[-1][0], max(out[-1][1], e))
            else:
                out.append((s, e))
        return out

    def minus(rs: list[tuple[int, int]], t: tuple[int, int]) -> list[tuple[int, int]]:
        out = []
        for s, e in rs:
            if e < t[0] or s > t[1]:
                out.append((s, e))
            elif s < t[0] and e > t[1]:
                out += [(s, t[0]), (t[1], e)]
            elif s < t[0]:
                out.append((s, t[0]))
            elif e > t[1]:
                out.append((t[1], e))
        return out

    numerator: list[tuple[int, int]] = []
    unused = list(refs)
    for cs, ce in chunks:
        for rs, re_ in refs:
            a, b = max(cs, rs), min(ce, re_)
            if a <= b:
                unused = minus(unused, (a, b))
                numerator = union([(a, b), *numerator])
    num = sum(e - s for s, e in numerator)
    recall_den = sum(e - s for s, e in refs)
    prec_den = sum(e - s for s, e in chunks)
    iou_den = prec_den + sum(e - s for s, e in unused)
    return (
        num / recall_den if recall_den else 0.0,
        num / prec_den if prec_den else 0.0,
        num / iou_den if iou_den else 0.0,
    )


def test_matches_the_reference_algorithm_on_random_cases() -> None:
    rng = random.Random(7)
    for _ in range(500):
        refs = []
        for _ in range(rng.randint(1, 3)):  # non-overlapping references, as in the Chroma set
            s = rng.randrange(0, 400)
            refs.append((s, s + rng.randint(1, 60)))
        refs = union_ranges(refs)
        chunks = []
        for _ in range(rng.randint(0, 5)):
            s = rng.randrange(0, 450)
            chunks.append((s, s + rng.randint(1, 120)))
        m = span_metrics([Span("d", s, e) for s, e in chunks], [Span("d", s, e) for s, e in refs])
        want = _reference_scores(chunks, refs)
        assert (m.recall, m.precision, m.iou) == pytest.approx(want, abs=1e-12), (chunks, refs)


# ------------------------------------------------------------------------------------------ data and scorer


def test_load_chroma_shared_set(shared_data: Path) -> None:
    folder = shared_data / "chunking" / "chroma"
    if not folder.is_dir():
        pytest.skip("the Chroma set is not in shared/data")
    data = load_chroma(folder)
    assert len(data.queries) == 472
    assert sum(len(q.spans) for q in data.queries) == 790
    assert set(data.groups) == {"chatlogs", "finance", "pubmed", "state_of_the_union", "wikitexts"}
    assert len(data.fingerprint) == 32 and data.kind == "chroma"


def test_load_chroma_checks_reference_text(tmp_path: Path) -> None:
    from kenning.errors import InputError

    (tmp_path / "corpora").mkdir()
    (tmp_path / "corpora" / "c.md").write_text("Hello world. Goodbye world.", encoding="utf-8")
    refs = json.dumps([{"content": "Goodbye", "start_index": 0, "end_index": 7}])
    (tmp_path / "questions_df.csv").write_text(
        'question,references,corpus_id\n"Q?","' + refs.replace('"', '""') + '",c\n', encoding="utf-8"
    )
    with pytest.raises(InputError, match="does not match"):
        load_chroma(tmp_path)


def test_resolve_sources() -> None:
    docs = {
        "d1": ["/data/pg.tar.gz!/html/sql-vacuum.html"],
        "d2": ["/data/a/intro.md", "/data/b/intro.md"],
        "d3": ["/data/c/intro.md"],
    }
    got = resolve_sources(docs, ["sql-vacuum.html", "html/sql-vacuum.html", "d3", "intro.md", "b/intro.md", "nope"])
    assert got == {"sql-vacuum.html": "d1", "html/sql-vacuum.html": "d1", "d3": "d3", "b/intro.md": "d2"}


def _tiny_eval(root: Path) -> tuple[Path, Path]:
    corpus = root / "corpus"
    corpus.mkdir(parents=True)
    texts = {
        "vacuum.txt": "VACUUM reclaims storage occupied by dead tuples.\n\nVACUUM FULL rewrites the whole table and "
        "takes an exclusive lock on it while it works.",
        "index.txt": "CREATE INDEX builds an index on a column.\n\nBRIN indexes summarise block ranges cheaply.",
        "garden.txt": "Tomatoes need full sun and regular watering.\n\nBasil grows well beside them.",
    }
    items = []
    for i, (name, text) in enumerate(sorted(texts.items())):
        (corpus / name).write_text(text, encoding="utf-8")
        second = text.split("\n\n")[1]
        start = text.index(second)
        items.append(
            {
                "id": f"q{i}",
                "question": second.split()[0] + " " + " ".join(second.split()[1:4]),
                "gold_spans": [{"source": name, "start": start, "end": start + len(second)}],
            }
        )
    path = root / "eval.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in items), encoding="utf-8")
    return corpus, path


@pytest.mark.slow
def test_evaluate_spans_on_a_real_collection(tmp_path: Path, embedder) -> None:
    from kenning.config import ChunkingConfig, KenningConfig
    from kenning.engine import Engine

    corpus, eval_path = _tiny_eval(tmp_path)
    data = span_eval_set(corpus, eval_path)
    cfg = KenningConfig(chunking=ChunkingConfig(strategy="recursive", size=16, overlap=0))
    engine = Engine(tmp_path / "home", collection="t", config=cfg, embedder=embedder)
    engine.index([str(corpus)])
    col = engine.collection()
    run = evaluate_spans(col, data, embedder=None, mode="bm25", k=1)
    assert run.unresolved == 0
    assert run.scores["hit"] == (1.0, 1.0, 1.0)  # each question's own words find its paragraph first
    assert all(0 < p <= 1 for p in run.scores["precision"])
    dense = evaluate_spans(col, data, embedder=embedder, mode="dense", k=3)
    assert dense.mean()["span_recall"] == 1.0
    omega = omega_scores(col, data)
    assert len(omega) == 3 and all(0 < w <= 1 for w in omega)
    engine.close()
