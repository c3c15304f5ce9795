"""Loading BEIR datasets: the real SciFact splits, and clear errors for broken folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from kenning.errors import InputError
from kenning.evaluate import BeirDataset, evaluate_run, load_beir


@pytest.fixture(scope="module")
def scifact(shared_data: Path) -> Path:
    return shared_data / "beir" / "scifact"


def test_scifact_test_split(scifact: Path) -> None:
    ds = load_beir(scifact)
    assert isinstance(ds, BeirDataset)
    assert ds.name == "scifact"
    assert ds.root == scifact
    assert ds.corpus_path == scifact / "corpus.jsonl" and ds.corpus_path.is_file()
    assert len(ds.queries) == 300
    assert len(ds.qrels) == 300
    assert sum(len(docs) for docs in ds.qrels.values()) == 339
    assert list(ds.queries) == list(ds.qrels)  # the split's queries, in qrels order
    assert ds.queries["1"] == "0-dimensional biomaterials show inductive properties."
    assert ds.qrels["1"] == {"31715818": 1}
    assert all(text.strip() for text in ds.queries.values())
    assert all(isinstance(g, int) for docs in ds.qrels.values() for g in docs.values())


def test_scifact_train_split(scifact: Path) -> None:
    ds = load_beir(str(scifact), split="train")
    assert len(ds.queries) == 809
    assert sum(len(docs) for docs in ds.qrels.values()) == 919
    assert ds.qrels["0"] == {"31715818": 1}
    assert not set(ds.queries) & set(load_beir(scifact).queries)  # train and test queries are disjoint


def test_scifact_perfect_run_scores_one(scifact: Path) -> None:
    ds = load_beir(scifact)
    run = {qid: {doc: 1.0 for doc in docs} for qid, docs in ds.qrels.items()}
    scores = evaluate_run(run, ds.qrels)
    assert scores.mean == {"ndcg@10": 1.0, "recall@10": 1.0, "recall@100": 1.0, "mrr@10": 1.0}
    assert len(scores.queries) == 300


# ------------------------------------------------------------------------------------------- broken datasets


def make_dataset(
    root: Path,
    *,
    queries: str | bytes = '{"_id": "q1", "text": "first"}\n{"_id": "q2", "text": "second"}\n',
    qrels: dict[str, str | bytes] | None = None,
    corpus: bool = True,
) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    if corpus:
        (root / "corpus.jsonl").write_text('{"_id": "d1", "title": "", "text": "doc"}\n', encoding="utf-8")
    (root / "queries.jsonl").write_bytes(queries if isinstance(queries, bytes) else queries.encode())
    if qrels is None:
        qrels = {"test": "query-id\tcorpus-id\tscore\nq1\td1\t1\n"}
    if qrels:
        (root / "qrels").mkdir(exist_ok=True)
        for split, text in qrels.items():
            (root / "qrels" / f"{split}.tsv").write_bytes(text if isinstance(text, bytes) else text.encode())
    return root


def test_small_dataset_with_zero_grades_crlf_and_no_header(tmp_path: Path) -> None:
    root = make_dataset(
        tmp_path / "toy",
        qrels={
            "test": "query-id\tcorpus-id\tscore\r\nq1\td1\t1\r\nq2\td1\t0\r\nq1\td2\t2\r\n\r\n",
            "dev": "q2\td1\t1\n",  # no header line
        },
    )
    ds = load_beir(root)
    assert ds.name == "toy"
    assert ds.queries == {"q1": "first", "q2": "second"}
    assert ds.qrels == {"q1": {"d1": 1, "d2": 2}, "q2": {"d1": 0}}  # the 0 grade is kept: judged non-relevant
    scores = evaluate_run({"q1": {"d1": 1.0}, "q2": {"d1": 1.0}}, ds.qrels, metrics=("hit@1",))
    assert scores.queries == ("q1",)  # q2 has nothing relevant, so it is not averaged
    assert load_beir(root, "dev").qrels == {"q2": {"d1": 1}}


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"BEIR dataset folder not found: .*nowhere"):
        load_beir(tmp_path / "nowhere")


def test_missing_corpus(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "ds", corpus=False)
    with pytest.raises(InputError, match="no corpus.jsonl"):
        load_beir(root)


def test_missing_qrels_folder(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "ds", qrels={})
    with pytest.raises(InputError, match=r"no qrels/ folder"):
        load_beir(root)


def test_missing_queries_file(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "ds")
    (root / "queries.jsonl").unlink()
    with pytest.raises(InputError, match=r"BEIR queries file not found: .*queries\.jsonl"):
        load_beir(root)


def test_unknown_split_lists_the_available_ones(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "ds", qrels={"test": "q1\td1\t1\n", "train": "q2\td1\t1\n"})
    with pytest.raises(InputError, match=r"split 'dev' not found in .*qrels; available splits: 'test', 'train'"):
        load_beir(root, split="dev")
    with pytest.raises(InputError, match="available splits"):
        load_beir(root, split="../qrels/test")


@pytest.mark.parametrize(
    ("qrels", "message"),
    [
        ("query-id\tcorpus-id\tscore\nq1\td1\t1\nq1 d2 1\n", r"test\.tsv:3: expected 3 tab-separated fields .* got 1"),
        ("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td1\thigh\n", r"test\.tsv:3: score must be an integer, got 'high'"),
        ("q1\td1\t1\nq1\t\t1\n", r"test\.tsv:2: empty query-id or corpus-id"),
        (
            "q1\td1\t1\nq2\td1\t1\nq1\td1\t2\n",
            r"test\.tsv:3: query q1 judges document d1 again with score 2, but line 1",
        ),
        ("query-id\tcorpus-id\tscore\n", r"test\.tsv has no judgments"),
        (b"q1\td1\t1\nq2\t\xe9\t1\n", r"test\.tsv:2: not valid UTF-8"),
    ],
)
def test_bad_qrels_name_file_and_line(tmp_path: Path, qrels: str | bytes, message: str) -> None:
    root = make_dataset(tmp_path / "ds", qrels={"test": qrels})
    with pytest.raises(InputError, match=message):
        load_beir(root)


def test_repeated_identical_judgment_is_accepted(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "ds", qrels={"test": "q1\td1\t1\nq1\td1\t1\n"})
    assert load_beir(root).qrels == {"q1": {"d1": 1}}


@pytest.mark.parametrize(
    ("queries", "message"),
    [
        ('{"_id": "q1", "text": "a"}\n{"_id": "q2", "text": \n', r"queries\.jsonl:2: not valid JSON"),
        ('{"_id": "q1", "text": "a"}\n["q2"]\n', r"queries\.jsonl:2: expected a JSON object, got list"),
        ('{"text": "a"}\n', r'queries\.jsonl:1: missing or empty "_id"'),
        ('{"_id": "q1", "text": 5}\n', r'queries\.jsonl:1: query q1 has no "text" string'),
    ],
)
def test_bad_queries_name_file_and_line(tmp_path: Path, queries: str, message: str) -> None:
    root = make_dataset(tmp_path / "ds", queries=queries)
    with pytest.raises(InputError, match=message):
        load_beir(root)


def test_qrels_query_missing_from_queries_file(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "ds", qrels={"test": "q1\td1\t1\nq7\td1\t1\nq8\td2\t1\n"})
    with pytest.raises(InputError, match=r"test\.tsv judges 2 queries not in .*queries\.jsonl: q7, q8"):
        load_beir(root)


def test_integer_query_ids_and_bom_are_accepted(tmp_path: Path) -> None:
    root = make_dataset(
        tmp_path / "ds",
        queries=b'\xef\xbb\xbf{"_id": 1, "text": "one"}\n\n{"_id": "2", "text": "two"}\n',
        qrels={"test": "query-id\tcorpus-id\tscore\n2\td1\t1\n1\td1\t1\n"},
    )
    assert load_beir(root).queries == {"2": "two", "1": "one"}
