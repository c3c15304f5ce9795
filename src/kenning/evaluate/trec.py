"""TREC run and qrels files, the formats trec_eval reads.

A run file has one ``qid Q0 doc_id rank score tag`` line per retrieved document; a qrels file one
``qid 0 doc_id grade`` line per judgment; fields are separated by whitespace. Runs are written in trec_eval's
order (score descending, ties by doc id descending), so the written rank is the rank trec_eval scores. trec_eval
ranks by score and ignores the rank column, and so does :func:`read_trec_run`. Scores are written with Python's
shortest round-trip ``repr``, so a run read back scores exactly as the run written.

>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "run.trec"
>>> write_trec_run({"q1": {"d1": 0.5, "d2": 0.9}}, path)
>>> print(path.read_text(), end="")
q1 Q0 d2 1 0.9 kenning
q1 Q0 d1 2 0.5 kenning
>>> read_trec_run(path)
{'q1': {'d2': 0.9, 'd1': 0.5}}
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path

from ..errors import ConfigError, InputError
from ._lines import add_judgment, iter_lines
from .metrics import trec_ranking

__all__ = ["write_trec_run", "read_trec_run", "read_trec_qrels"]


def _check_id(value: object, what: str, qid: object = None) -> str:
    if not isinstance(value, str) or not value or any(c.isspace() for c in value):
        where = f" (query {qid!r})" if qid is not None else ""
        raise InputError(
            f"{what} {value!r}{where} cannot be written to a TREC file: ids must be non-empty strings "
            "without whitespace"
        )
    return value


def write_trec_run(
    run: Mapping[str, Mapping[str, float]], path: str | Path, tag: str = "kenning", depth: int = 100
) -> None:
    """Write the top ``depth`` documents of each query of ``run`` to ``path`` as ``qid Q0 doc rank score tag``.

    Queries keep the run's order; a query with no documents writes no lines (trec_eval then scores it 0). The file
    is written whole or not at all (via a temporary file in the same folder).
    """
    if not isinstance(tag, str) or not tag or any(c.isspace() for c in tag):
        raise ConfigError(f"TREC run tag must be a non-empty word without whitespace, got {tag!r}")
    if isinstance(depth, bool) or not isinstance(depth, int) or depth <= 0:
        raise ConfigError(f"TREC run depth must be a positive integer, got {depth!r}")
    lines: list[str] = []
    for qid, scores in run.items():
        _check_id(qid, "query id")
        try:
            ranked = trec_ranking(scores, depth)
        except InputError as exc:
            raise InputError(f"query {qid!r}: {exc}") from None
        for rank, (doc, score) in enumerate(ranked, start=1):
            _check_id(doc, "document id", qid)
            value = float(score)
            if math.isinf(value):
                raise InputError(f"query {qid!r}, document {doc!r}: score is {value}; trec_eval needs a finite score")
            lines.append(f"{qid} Q0 {doc} {rank} {value!r} {tag}\n")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("w", encoding="utf-8", newline="\n") as handle:
            handle.writelines(lines)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def read_trec_run(path: str | Path) -> dict[str, dict[str, float]]:
    """Read a TREC run file into ``qid -> {doc_id: score}`` (the rank column is ignored, as trec_eval ignores it).

    A line without six fields, with a score that is not a finite number, or repeating a query's document raises
    :class:`~kenning.errors.InputError` naming ``file:line``.
    """
    path = Path(path)
    run: dict[str, dict[str, float]] = {}
    seen: dict[tuple[str, str], int] = {}
    for number, line in iter_lines(path, what="TREC run file"):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 6:
            raise InputError(
                f"{path}:{number}: expected 6 fields (qid Q0 doc_id rank score tag), got {len(fields)}: {line[:80]!r}"
            )
        qid, _, doc, _, score_text, _ = fields
        try:
            score = float(score_text)
        except ValueError:
            score = math.nan
        if not math.isfinite(score):
            raise InputError(f"{path}:{number}: score must be a finite number, got {score_text!r}")
        if (qid, doc) in seen:
            raise InputError(
                f"{path}:{number}: document {doc} appears twice for query {qid} (first on line {seen[qid, doc]})"
            )
        seen[qid, doc] = number
        run.setdefault(qid, {})[doc] = score
    return run


def read_trec_qrels(path: str | Path) -> dict[str, dict[str, int]]:
    """Read a TREC qrels file (``qid 0 doc_id grade`` per line) into ``qid -> {doc_id: grade}``.

    A line without four fields or with a non-integer grade, or one judging a document again with a different
    grade, raises :class:`~kenning.errors.InputError` naming ``file:line``; an exact repeat is ignored.
    """
    path = Path(path)
    qrels: dict[str, dict[str, int]] = {}
    seen: dict[tuple[str, str], int] = {}
    for number, line in iter_lines(path, what="TREC qrels file"):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 4:
            raise InputError(
                f"{path}:{number}: expected 4 fields (qid iteration doc_id relevance), got {len(fields)}: {line[:80]!r}"
            )
        qid, _, doc, grade_text = fields
        add_judgment(qrels, seen, qid, doc, grade_text, where=(path, number), field="relevance")
    return qrels
