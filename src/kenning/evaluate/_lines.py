"""Read a text file line by line for the evaluate readers: numbered lines, line ends and a BOM removed.

Decoding and missing-file problems become :class:`~kenning.errors.InputError` naming ``file:line``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import InputError


def iter_lines(path: Path, *, what: str) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, text)`` for every line of ``path`` (numbered from 1), without its ``\\n``/``\\r\\n``.

    ``what`` names the file's role in messages, e.g. ``"qrels file"``.
    """
    if not path.is_file():
        raise InputError(f"{what} not found: {path}")
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise InputError(f"cannot read {what} {path}: {exc.strerror or exc}") from exc
    with handle:
        for number, raw in enumerate(handle, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InputError(f"{path}:{number}: not valid UTF-8 ({exc.reason} at byte {exc.start})") from exc
            if number == 1:
                text = text.removeprefix("\ufeff")
            yield number, text.rstrip("\r\n")


def json_object(line: str, where: str) -> dict[str, Any]:
    """``line`` parsed as a JSON object; anything else is an InputError naming ``where`` (e.g. ``file:line``)."""
    try:
        record = json.loads(line)
    except ValueError as exc:
        raise InputError(f"{where}: not valid JSON ({exc})") from None
    if not isinstance(record, dict):
        raise InputError(f"{where}: expected a JSON object, got {type(record).__name__}")
    return record


def add_judgment(
    qrels: dict[str, dict[str, int]],
    first_line: dict[tuple[str, str], int],
    qid: str,
    doc: str,
    grade_text: str,
    *,
    where: tuple[Path, int],
    field: str,
) -> None:
    """Record one qrels line: the grade must be an integer, and a document judged twice for a query must get the same
    grade both times (errors name ``file:line`` and, for a clash, the line of the first judgment)."""
    path, number = where
    try:
        grade = int(grade_text)
    except ValueError:
        raise InputError(f"{path}:{number}: {field} must be an integer, got {grade_text!r}") from None
    judged = qrels.setdefault(qid, {})
    if doc in judged and judged[doc] != grade:
        raise InputError(
            f"{path}:{number}: query {qid} judges document {doc} again with {field} {grade}, "
            f"but line {first_line[qid, doc]} gave {judged[doc]}"
        )
    first_line.setdefault((qid, doc), number)
    judged[doc] = grade
