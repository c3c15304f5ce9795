"""BEIR datasets on disk: the queries and relevance judgments of one split, and where the corpus is.

A BEIR folder holds ``corpus.jsonl`` (``{"_id", "title", "text"}`` per line), ``queries.jsonl`` (``{"_id",
"text"}``) and ``qrels/<split>.tsv`` (header ``query-id<TAB>corpus-id<TAB>score``). As BEIR's ``GenericDataLoader``
does, the split's queries are those its qrels name, in qrels order, and every judgment is kept, 0 grades included
(judged non-relevant; the metrics count only grades > 0 as relevant). The corpus is not read here; index it with
``kenning index <folder>/corpus.jsonl``.

>>> from kenning.evaluate import load_beir
>>> ds = load_beir("/work/shared/data/beir/scifact")  # doctest: +SKIP
>>> len(ds.queries), sum(len(d) for d in ds.qrels.values())  # doctest: +SKIP
(300, 339)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from ._lines import add_judgment, iter_lines, json_object

__all__ = ["BeirDataset", "load_beir"]


@dataclass(frozen=True, slots=True)
class BeirDataset:
    """One split of a BEIR dataset.

    ``queries`` maps query id to text for the queries the split judges; ``qrels`` maps query id to
    ``{doc_id: grade}``; ``corpus_path`` is the dataset's ``corpus.jsonl``.

    >>> BeirDataset("toy", Path("toy"), {"1": "q"}, {"1": {"d": 1}}, Path("toy/corpus.jsonl")).name
    'toy'
    """

    name: str
    root: Path
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    corpus_path: Path


def load_beir(root: str | Path, split: str = "test") -> BeirDataset:
    """Load the queries and qrels of ``split`` from the BEIR folder ``root``.

    Raises :class:`~kenning.errors.InputError` naming the file (and ``file:line`` for a bad line) when the folder,
    a file or the split is missing, a line cannot be parsed, or the qrels name a query ``queries.jsonl`` lacks.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise InputError(
            f"BEIR dataset folder not found: {root} "
            "(expected a folder holding corpus.jsonl, queries.jsonl and qrels/<split>.tsv)"
        )
    corpus = root / "corpus.jsonl"
    if not corpus.is_file():
        raise InputError(f"{root} is not a BEIR dataset: it has no corpus.jsonl")
    qrels = _read_qrels_tsv(_split_file(root, split))
    queries = _read_queries(root / "queries.jsonl")
    missing = [qid for qid in qrels if qid not in queries]
    if missing:
        shown = ", ".join(missing[:5]) + (", …" if len(missing) > 5 else "")
        raise InputError(
            f"{root / 'qrels' / (split + '.tsv')} judges {len(missing)} "
            f"quer{'y' if len(missing) == 1 else 'ies'} not in {root / 'queries.jsonl'}: {shown}"
        )
    return BeirDataset(
        name=root.resolve().name,
        root=root,
        queries={qid: queries[qid] for qid in qrels},
        qrels=qrels,
        corpus_path=corpus,
    )


def _split_file(root: Path, split: str) -> Path:
    folder = root / "qrels"
    if not folder.is_dir():
        raise InputError(f"{root} is not a BEIR dataset: it has no qrels/ folder (expected qrels/<split>.tsv)")
    path = folder / f"{split}.tsv"
    if not split or "/" in split or "\\" in split or not path.is_file():
        available = sorted(p.stem for p in folder.glob("*.tsv") if p.is_file())
        listed = ", ".join(repr(s) for s in available) if available else "none"
        raise InputError(f"split {split!r} not found in {folder}; available splits: {listed}")
    return path


def _read_queries(path: Path) -> dict[str, str]:
    queries: dict[str, str] = {}
    for number, line in iter_lines(path, what="BEIR queries file"):
        if not line.strip():
            continue
        record = json_object(line, f"{path}:{number}")
        qid = record.get("_id", record.get("id"))
        if isinstance(qid, bool) or not isinstance(qid, str | int) or not str(qid).strip():
            raise InputError(f'{path}:{number}: missing or empty "_id"')
        text = record.get("text")
        if not isinstance(text, str):
            raise InputError(f'{path}:{number}: query {qid} has no "text" string')
        queries[str(qid)] = text
    return queries


def _read_qrels_tsv(path: Path) -> dict[str, dict[str, int]]:
    """``qid -> {doc_id: grade}``; a repeated pair with the same grade is ignored, a conflicting one is an error."""
    qrels: dict[str, dict[str, int]] = {}
    first_line: dict[tuple[str, str], int] = {}
    for number, line in iter_lines(path, what="qrels file"):
        if not line.strip():
            continue
        fields = line.split("\t")
        if number == 1 and fields and fields[0].strip().lower() in {"query-id", "query_id", "qid"}:
            continue  # the header
        if len(fields) != 3:
            raise InputError(
                f"{path}:{number}: expected 3 tab-separated fields (query-id, corpus-id, score), "
                f"got {len(fields)}: {line[:80]!r}"
            )
        qid, doc, grade_text = (f.strip() for f in fields)
        if not qid or not doc:
            raise InputError(f"{path}:{number}: empty query-id or corpus-id: {line[:80]!r}")
        add_judgment(qrels, first_line, qid, doc, grade_text, where=(path, number), field="score")
    if not qrels:
        raise InputError(f"{path} has no judgments")
    return qrels
