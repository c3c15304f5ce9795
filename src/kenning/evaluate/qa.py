"""Question-answering eval sets: kenning's JSONL format, and the ragas column layout in JSONL or CSV.

One JSON object per line::

    {"id": "q1", "question": "What does VACUUM FULL return to the OS?", "answer": "unused space",
     "gold_chunk_ids": ["3f2a…::1"], "gold_doc_ids": ["3f2a…"],
     "gold_spans": [{"doc_id": "3f2a…", "start": 120, "end": 260}],
     "contexts": ["VACUUM FULL rewrites …"], "metadata": {"method": "cloze"}}

Only ``id`` and ``question`` are required. ``answerable`` (default ``true``, written only when ``false``) says whether
the documents answer the question at all: a set may hold questions kenning should decline to answer. ``answer`` is the reference answer; ``gold_spans`` are character offsets
into a document's text, naming the document by ``doc_id`` (kenning's content hash, the same in every collection
built from the same files) or by ``source`` (the path it was indexed from, e.g. ``/data/corpus.jsonl#42``), so the
gold stays valid when the collection is re-chunked; ``gold_chunk_ids`` only hold for one chunking. ``contexts`` are
the reference passages' texts. Unknown fields are an error (put extras in ``metadata``); a bad line raises
:class:`~kenning.errors.InputError` naming ``file:line`` and the field.

The ragas layout has the columns ``question``, ``contexts`` (list of strings), ``answer`` (a system's response) and
``ground_truth`` (the reference). Importing maps ``ground_truth`` → ``answer`` and keeps the ragas ``answer`` in
``metadata["response"]``; exporting does the reverse, so ragas → :class:`QASet` → ragas gives the same file.

>>> item = QAItem(id="q1", question="Which lock does VACUUM FULL take?", answer="an exclusive lock")
>>> QASet((item,)).to_ragas_records()[0]["ground_truth"]
'an exclusive lock'
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError
from ._lines import iter_lines, json_object

__all__ = ["GoldSpan", "QAItem", "QASet", "RAGAS_COLUMNS"]

RAGAS_COLUMNS = ("question", "contexts", "answer", "ground_truth")
_FIELDS = (
    "id",
    "question",
    "answer",
    "answerable",
    "gold_chunk_ids",
    "gold_doc_ids",
    "gold_spans",
    "contexts",
    "metadata",
)


@dataclass(frozen=True, slots=True)
class GoldSpan:
    """Characters ``[start, end)`` of one document's text, the document named by ``doc_id`` or ``source``.

    >>> GoldSpan(10, 40, doc_id="ab12").overlaps(35, 90)
    True
    """

    start: int
    end: int
    doc_id: str = ""
    source: str = ""

    def __post_init__(self) -> None:
        if not self.doc_id and not self.source:
            raise ValueError("a gold span needs a doc_id or a source")
        if not 0 <= self.start < self.end:
            raise ValueError(f"a gold span needs 0 <= start < end, got start={self.start} end={self.end}")

    def overlaps(self, start: int, end: int) -> bool:
        """Whether ``[start, end)`` shares at least one character with this span."""
        return start < self.end and self.start < end

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.doc_id:
            out["doc_id"] = self.doc_id
        if self.source:
            out["source"] = self.source
        out["start"] = self.start
        out["end"] = self.end
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class QAItem:
    """One eval question with whatever ground truth it has; ``answerable=False`` marks one the documents do not answer.

    >>> QAItem(id="1", question="q?", gold_doc_ids=("d1",)).gold_doc_ids
    ('d1',)
    >>> QAItem(id="2", question="Who won in 2031?", answerable=False).to_dict()
    {'id': '2', 'question': 'Who won in 2031?', 'answerable': False}
    """

    id: str
    question: str
    answer: str | None = None
    answerable: bool = True
    gold_chunk_ids: tuple[str, ...] = ()
    gold_doc_ids: tuple[str, ...] = ()
    gold_spans: tuple[GoldSpan, ...] = ()
    contexts: tuple[str, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict, hash=False)

    def to_dict(self) -> dict[str, Any]:
        """The JSONL record: fields in a fixed order, empty optional fields left out."""
        out: dict[str, Any] = {"id": self.id, "question": self.question}
        if self.answer is not None:
            out["answer"] = self.answer
        if not self.answerable:
            out["answerable"] = False
        if self.gold_chunk_ids:
            out["gold_chunk_ids"] = list(self.gold_chunk_ids)
        if self.gold_doc_ids:
            out["gold_doc_ids"] = list(self.gold_doc_ids)
        if self.gold_spans:
            out["gold_spans"] = [s.to_dict() for s in self.gold_spans]
        if self.contexts:
            out["contexts"] = list(self.contexts)
        if self.metadata:
            out["metadata"] = self.metadata
        return out

    @classmethod
    def from_dict(cls, record: Mapping[str, Any], *, where: str = "record") -> QAItem:
        """Validate one record; errors name ``where`` (e.g. ``file:line``) and the field."""
        if not isinstance(record, Mapping):
            raise InputError(f"{where}: expected a JSON object, got {type(record).__name__}")
        unknown = sorted(set(record) - set(_FIELDS))
        if unknown:
            raise InputError(
                f"{where}: unknown field(s) {', '.join(map(repr, unknown))}; known fields: {', '.join(_FIELDS)} "
                "(put anything else in 'metadata')"
            )
        qid = record.get("id")
        if isinstance(qid, int) and not isinstance(qid, bool):
            qid = str(qid)
        if not isinstance(qid, str) or not qid.strip():
            raise InputError(f'{where}: field "id" must be a non-empty string, got {qid!r}')
        question = record.get("question")
        if not isinstance(question, str) or not question.strip():
            raise InputError(f'{where}: field "question" must be a non-empty string, got {question!r}')
        answer = record.get("answer")
        if answer is not None and not isinstance(answer, str):
            raise InputError(f'{where}: field "answer" must be a string or null, got {type(answer).__name__}')
        answerable = record.get("answerable", True)
        if not isinstance(answerable, bool):
            raise InputError(f'{where}: field "answerable" must be true or false, got {answerable!r}')
        metadata = record.get("metadata", {})
        if not isinstance(metadata, dict):
            raise InputError(f'{where}: field "metadata" must be an object, got {type(metadata).__name__}')
        return cls(
            id=qid,
            question=question,
            answer=answer,
            answerable=answerable,
            gold_chunk_ids=_strings(record, "gold_chunk_ids", where),
            gold_doc_ids=_strings(record, "gold_doc_ids", where),
            gold_spans=_spans(record.get("gold_spans", []), where),
            contexts=_strings(record, "contexts", where, allow_empty=True),
            metadata=metadata,
        )


def _strings(record: Mapping[str, Any], name: str, where: str, *, allow_empty: bool = False) -> tuple[str, ...]:
    value = record.get(name, [])
    if not isinstance(value, list):
        raise InputError(f'{where}: field "{name}" must be a list of strings, got {type(value).__name__}')
    for i, v in enumerate(value):
        if not isinstance(v, str) or (not allow_empty and not v):
            raise InputError(f'{where}: field "{name}"[{i}] must be a non-empty string, got {v!r}')
    return tuple(value)


def _spans(value: Any, where: str) -> tuple[GoldSpan, ...]:
    if not isinstance(value, list):
        raise InputError(f'{where}: field "gold_spans" must be a list of objects, got {type(value).__name__}')
    out = []
    for i, span in enumerate(value):
        at = f'{where}: field "gold_spans"[{i}]'
        if not isinstance(span, dict):
            raise InputError(f"{at} must be an object, got {type(span).__name__}")
        extra = sorted(set(span) - {"doc_id", "source", "start", "end"})
        if extra:
            raise InputError(f"{at} has unknown key(s) {', '.join(map(repr, extra))}; use doc_id or source, start, end")
        ints = {}
        for key in ("start", "end"):
            v = span.get(key)
            if isinstance(v, bool) or not isinstance(v, int):
                raise InputError(f'{at}."{key}" must be an integer, got {v!r}')
            ints[key] = v
        names = {}
        for key in ("doc_id", "source"):
            v = span.get(key, "")
            if not isinstance(v, str):
                raise InputError(f'{at}."{key}" must be a string, got {v!r}')
            names[key] = v
        try:
            out.append(GoldSpan(ints["start"], ints["end"], **names))
        except ValueError as exc:
            raise InputError(f"{at}: {exc}") from None
    return tuple(out)


@dataclass(frozen=True, slots=True)
class QASet:
    """An ordered set of :class:`QAItem` with unique ids.

    >>> qa = QASet((QAItem(id="a", question="x?"), QAItem(id="b", question="y?")))
    >>> len(qa), qa["b"].question
    (2, 'y?')
    """

    items: tuple[QAItem, ...]

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for item in self.items:
            if item.id in seen:
                raise InputError(f"QA set: id {item.id!r} appears more than once; ids must be unique")
            seen.add(item.id)

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[QAItem]:
        return iter(self.items)

    def __getitem__(self, qid: str) -> QAItem:
        for item in self.items:
            if item.id == qid:
                return item
        raise KeyError(qid)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(item.id for item in self.items)

    # -- kenning JSONL ------------------------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | Path) -> QASet:
        """Read a QA JSONL file; blank lines are skipped, a duplicate id names both lines."""
        path = Path(path).expanduser()
        items: list[QAItem] = []
        line_of: dict[str, int] = {}
        for number, line in iter_lines(path, what="QA set"):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            item = QAItem.from_dict(json_object(line, where), where=where)
            if item.id in line_of:
                raise InputError(f"{where}: id {item.id!r} was already used on line {line_of[item.id]}")
            line_of[item.id] = number
            items.append(item)
        return cls(tuple(items))

    def dumps(self) -> str:
        """The JSONL text (UTF-8, one record per line, ``\\n`` endings): the same set always gives the same bytes."""
        return "".join(json.dumps(item.to_dict(), ensure_ascii=False) + "\n" for item in self.items)

    def save(self, path: str | Path) -> Path:
        """Write the set as JSONL (atomically: a reader never sees half a file)."""
        return _write_text(Path(path).expanduser(), self.dumps())

    # -- ragas --------------------------------------------------------------------------------------------------

    def to_ragas_records(self, responses: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
        """Rows in the ragas layout. ``answer`` is ``responses[id]``, else ``metadata["response"]``, else ``""``."""
        rows = []
        for item in self.items:
            response = (responses or {}).get(item.id, item.metadata.get("response", ""))
            rows.append(
                {
                    "question": item.question,
                    "contexts": list(item.contexts),
                    "answer": response if isinstance(response, str) else str(response),
                    "ground_truth": item.answer or "",
                }
            )
        return rows

    @classmethod
    def from_ragas_records(cls, rows: Iterable[Mapping[str, Any]], *, where: str = "ragas") -> QASet:
        """Items from ragas rows; ids are a row's ``id`` column if it has one, else ``ragas-<row number>``."""
        return cls(tuple(_ragas_item(row, f"{where}:{n}", f"ragas-{n}") for n, row in enumerate(rows, start=1)))

    def save_ragas(self, path: str | Path, *, responses: Mapping[str, str] | None = None) -> Path:
        """Write the ragas layout: CSV if ``path`` ends in ``.csv`` (``contexts`` as a JSON list), else JSONL."""
        path = Path(path).expanduser()
        rows = self.to_ragas_records(responses)
        if path.suffix.lower() == ".csv":
            buf = io.StringIO()
            writer = csv.DictWriter(buf, fieldnames=RAGAS_COLUMNS, lineterminator="\n")
            writer.writeheader()
            for row in rows:
                writer.writerow({**row, "contexts": json.dumps(row["contexts"], ensure_ascii=False)})
            return _write_text(path, buf.getvalue())
        return _write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))

    @classmethod
    def load_ragas(cls, path: str | Path) -> QASet:
        """Read a ragas-layout JSONL or CSV file (by suffix)."""
        path = Path(path).expanduser()
        if path.suffix.lower() != ".csv":
            rows = []
            for number, line in iter_lines(path, what="ragas file"):
                if not line.strip():
                    continue
                try:
                    rows.append((number, json.loads(line)))
                except ValueError as exc:
                    raise InputError(f"{path}:{number}: not valid JSON ({exc})") from None
            return _from_numbered(rows, path)
        lines = [text for _, text in iter_lines(path, what="ragas file")]
        reader = csv.DictReader(io.StringIO("\n".join(lines)))
        missing = [c for c in ("question",) if c not in (reader.fieldnames or [])]
        if missing:
            raise InputError(f"{path}: the CSV header has no {missing[0]!r} column; ragas columns: {RAGAS_COLUMNS}")
        rows = []
        for row in reader:
            number = reader.line_num
            raw = row.get("contexts") or "[]"
            try:
                contexts = json.loads(raw)
            except ValueError:
                raise InputError(f'{path}:{number}: column "contexts" must hold a JSON list of strings') from None
            rows.append((number, {**{k: v for k, v in row.items() if v != ""}, "contexts": contexts}))
        return _from_numbered(rows, path)


def _from_numbered(rows: list[tuple[int, Any]], path: Path) -> QASet:
    """Items from ``(line number, row)`` pairs: errors name ``file:line``; default ids count rows from 1."""
    return QASet(tuple(_ragas_item(row, f"{path}:{number}", f"ragas-{i}") for i, (number, row) in enumerate(rows, 1)))


def _ragas_item(row: Any, at: str, default_id: str) -> QAItem:
    """One ragas row (also accepting ragas 0.2 names: user_input, retrieved_contexts, response, reference)."""
    if not isinstance(row, Mapping):
        raise InputError(f"{at}: expected an object with the ragas columns, got {type(row).__name__}")
    question = row.get("question", row.get("user_input"))
    if not isinstance(question, str) or not question.strip():
        raise InputError(f'{at}: column "question" must be a non-empty string, got {question!r}')
    truth = row.get("ground_truth", row.get("reference"))
    if truth is None and isinstance(row.get("ground_truths"), list) and row["ground_truths"]:
        truth = row["ground_truths"][0]  # ragas < 0.1 kept a list
    if truth is not None and not isinstance(truth, str):
        raise InputError(f'{at}: column "ground_truth" must be a string, got {type(truth).__name__}')
    contexts = row.get("contexts", row.get("retrieved_contexts", []))
    if not isinstance(contexts, list) or not all(isinstance(c, str) for c in contexts):
        raise InputError(f'{at}: column "contexts" must be a list of strings, got {str(contexts)[:80]!r}')
    response = row.get("answer", row.get("response"))
    if response is not None and not isinstance(response, str):
        raise InputError(f'{at}: column "answer" must be a string, got {type(response).__name__}')
    qid = row.get("id")
    return QAItem(
        id=str(qid) if qid not in (None, "") else default_id,
        question=question,
        answer=truth,
        contexts=tuple(contexts),
        metadata={"response": response} if response else {},
    )


def _write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        f.write(text)
    os.replace(tmp, path)
    return path
