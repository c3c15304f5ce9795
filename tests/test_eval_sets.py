"""QA eval sets: the JSONL format, the ragas layout (JSONL and CSV), round trips and errors naming file:line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kenning.errors import InputError
from kenning.evaluate import RAGAS_COLUMNS, GoldSpan, QAItem, QASet

ITEMS = (
    QAItem(
        id="q1",
        question="Which lock does VACUUM FULL take?",
        answer="An exclusive lock.",
        gold_chunk_ids=("7bcd::1",),
        gold_doc_ids=("7bcd",),
        gold_spans=(GoldSpan(120, 260, doc_id="7bcd", source="/docs/vacuum.md"), GoldSpan(300, 340, source="/d/x.md")),
        contexts=("VACUUM FULL rewrites the table…", "It takes an exclusive lock."),
        metadata={"method": "llm", "tags": ["postgres"], "ünïcode": "ok"},
    ),
    QAItem(id="q2", question="how to run a container in the background"),
    QAItem(id="3", question="Risotto rice?", answer=None, gold_doc_ids=("aa", "bb")),
)


def test_jsonl_round_trip_and_stable_bytes(tmp_path: Path) -> None:
    qa = QASet(ITEMS)
    path = qa.save(tmp_path / "sets" / "qa.jsonl")
    assert QASet.load(path) == qa
    text = path.read_text(encoding="utf-8")
    assert text == qa.dumps() and text.count("\n") == 3 and "ünïcode" in text  # UTF-8, not \u escapes
    first = json.loads(text.splitlines()[0])
    assert list(first) == ["id", "question", "answer", "gold_chunk_ids", "gold_doc_ids", "gold_spans", "contexts",
                           "metadata"]  # fmt: skip
    assert first["gold_spans"][1] == {"source": "/d/x.md", "start": 300, "end": 340}
    assert json.loads(text.splitlines()[1]) == {"id": "q2", "question": "how to run a container in the background"}
    qa.save(tmp_path / "again.jsonl")
    assert (tmp_path / "again.jsonl").read_bytes() == path.read_bytes()
    assert len(qa) == 3 and qa.ids == ("q1", "q2", "3") and qa["3"].gold_doc_ids == ("aa", "bb")


def test_load_accepts_integer_ids_blank_lines_bom_and_crlf(tmp_path: Path) -> None:
    path = tmp_path / "qa.jsonl"
    path.write_bytes(
        b'\xef\xbb\xbf{"id": 7, "question": "a?", "gold_spans": [{"doc_id": "d", "start": 0, "end": 4}]}\r\n'
        b"\r\n"
        b'{"id": "8", "question": "b?", "answer": null}\n'
    )
    qa = QASet.load(path)
    assert qa.ids == ("7", "8")
    assert qa["7"].gold_spans == (GoldSpan(0, 4, doc_id="d"),) and qa["8"].answer is None


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", r"qa.jsonl:2: not valid JSON"),
        ("[1, 2]", r"qa.jsonl:2: expected a JSON object, got list"),
        ('{"question": "x?"}', r'qa.jsonl:2: field "id" must be a non-empty string'),
        ('{"id": "b", "question": "  "}', r'qa.jsonl:2: field "question" must be a non-empty string'),
        ('{"id": "b", "question": "x?", "answer": 3}', r'qa.jsonl:2: field "answer" must be a string or null'),
        ('{"id": "b", "question": "x?", "gold_doc_ids": "d1"}', r'qa.jsonl:2: field "gold_doc_ids" must be a list'),
        ('{"id": "b", "question": "x?", "gold_chunk_ids": [""]}', r'qa.jsonl:2: field "gold_chunk_ids"\[0\]'),
        ('{"id": "b", "question": "x?", "gold_spans": [{"start": 0, "end": 3}]}', r"needs a doc_id or a source"),
        (
            '{"id": "b", "question": "x?", "gold_spans": [{"doc_id": "d", "start": 5, "end": 5}]}',
            r'qa.jsonl:2: field "gold_spans"\[0\]: a gold span needs 0 <= start < end',
        ),
        ('{"id": "b", "question": "x?", "gold_spans": [{"doc_id": "d", "start": "0", "end": 5}]}', r'\."start" must'),
        (
            '{"id": "b", "question": "x?", "gold_spans": [{"doc": "d", "start": 0, "end": 5}]}',
            r"unknown key\(s\) 'doc'",
        ),
        ('{"id": "b", "question": "x?", "metadata": []}', r'field "metadata" must be an object'),
        ('{"id": "b", "question": "x?", "gold_chunks": ["c"]}', r"unknown field\(s\) 'gold_chunks'"),
        ('{"id": "a", "question": "again?"}', r"qa.jsonl:2: id 'a' was already used on line 1"),
    ],
)
def test_bad_lines_name_file_line_and_field(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "qa.jsonl"
    path.write_text('{"id": "a", "question": "fine?"}\n' + line + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=message):
        QASet.load(path)


def test_missing_file_and_bad_utf8(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="QA set not found"):
        QASet.load(tmp_path / "nope.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"id": "a", "question": "caf\xe9"}\n')
    with pytest.raises(InputError, match=r"bad.jsonl:1: not valid UTF-8"):
        QASet.load(bad)


def test_duplicate_ids_in_code_are_refused() -> None:
    with pytest.raises(InputError, match="appears more than once"):
        QASet((QAItem(id="x", question="a?"), QAItem(id="x", question="b?")))


RAGAS_ROWS = [
    {
        "question": "When was the first transistor demonstrated?",
        "contexts": ["Bell Labs demonstrated the point-contact transistor in December 1947.", "Shockley…"],
        "answer": "In 1947, at Bell Labs.",
        "ground_truth": "December 1947",
    },
    {"question": 'What is a "quoted", comma\'d question?', "contexts": [], "answer": "", "ground_truth": "Line\nbreak"},
]


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_ragas_file_round_trip_is_byte_identical(tmp_path: Path, suffix: str) -> None:
    source = tmp_path / f"in{suffix}"
    QASet.from_ragas_records(RAGAS_ROWS).save_ragas(source)
    qa = QASet.load_ragas(source)
    assert qa.ids == ("ragas-1", "ragas-2")
    assert qa["ragas-1"].answer == "December 1947" and qa["ragas-1"].metadata == {"response": "In 1947, at Bell Labs."}
    assert qa["ragas-1"].contexts == tuple(RAGAS_ROWS[0]["contexts"])
    assert qa["ragas-2"].answer == "Line\nbreak" and qa["ragas-2"].contexts == ()
    qa.save_ragas(tmp_path / f"out{suffix}")
    assert (tmp_path / f"out{suffix}").read_bytes() == source.read_bytes()
    # through kenning's own format and back, too
    qa.save(tmp_path / "kenning.jsonl")
    QASet.load(tmp_path / "kenning.jsonl").save_ragas(tmp_path / f"again{suffix}")
    assert (tmp_path / f"again{suffix}").read_bytes() == source.read_bytes()


def test_ragas_layout_columns() -> None:
    rows = QASet((ITEMS[0],)).to_ragas_records()
    assert list(rows[0]) == list(RAGAS_COLUMNS) == ["question", "contexts", "answer", "ground_truth"]
    assert rows[0]["ground_truth"] == "An exclusive lock." and rows[0]["answer"] == ""
    assert rows[0]["contexts"] == list(ITEMS[0].contexts)
    assert QASet((ITEMS[0],)).to_ragas_records({"q1": "EXCLUSIVE"})[0]["answer"] == "EXCLUSIVE"


def test_kenning_to_ragas_keeps_question_reference_and_contexts(tmp_path: Path) -> None:
    qa = QASet(ITEMS)
    back = QASet.load_ragas(qa.save_ragas(tmp_path / "r.jsonl"))
    assert [i.question for i in back] == [i.question for i in qa]
    assert [i.answer or "" for i in back] == [i.answer or "" for i in qa]
    assert [i.contexts for i in back] == [i.contexts for i in qa]


def test_ragas_import_accepts_other_ragas_versions(tmp_path: Path) -> None:
    path = tmp_path / "v.jsonl"
    path.write_text(
        json.dumps({"question": "old?", "contexts": ["c"], "answer": "a", "ground_truths": ["gt1", "gt2"]})
        + "\n"
        + json.dumps({"user_input": "new?", "retrieved_contexts": ["c2"], "response": "r", "reference": "ref"})
        + "\n",
        encoding="utf-8",
    )
    qa = QASet.load_ragas(path)
    assert [(i.question, i.answer, i.contexts) for i in qa] == [("old?", "gt1", ("c",)), ("new?", "ref", ("c2",))]


@pytest.mark.parametrize(
    ("content", "suffix", "message"),
    [
        ('{"contexts": []}\n', ".jsonl", r"r.jsonl:1: column \"question\" must be a non-empty string"),
        ('{"question": "q", "contexts": "one"}\n', ".jsonl", r'r.jsonl:1: column "contexts" must be a list'),
        ('{"question": "q", "ground_truth": 1}\n', ".jsonl", r'column "ground_truth" must be a string'),
        ("{oops\n", ".jsonl", r"r.jsonl:1: not valid JSON"),
        ("question,contexts\nq,not json\n", ".csv", r'r.csv:2: column "contexts" must hold a JSON list'),
        ("query,contexts\nq,[]\n", ".csv", r"no 'question' column"),
    ],
)
def test_ragas_errors(tmp_path: Path, content: str, suffix: str, message: str) -> None:
    path = tmp_path / f"r{suffix}"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=message):
        QASet.load_ragas(path)
