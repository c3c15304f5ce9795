"""Small builders of kenning values for tests that need them without an index."""

from __future__ import annotations

import json
from pathlib import Path

from kenning.types import Document, Hit, Skipped


def make_hit(rank: int, text: str, title: str = "T", *, kind: str = "markdown") -> Hit:
    """A search hit for chunk ``d<rank>::0`` of ``/s/<rank>.md``, scored ``1/rank``."""
    return Hit(
        rank=rank,
        score=1.0 / rank,
        chunk_id=f"d{rank}::0",
        doc_id=f"d{rank}",
        text=text,
        source=f"/s/{rank}.md",
        kind=kind,
        title=title,
        heading_path=(title, f"H{rank}") if title else (),
        start=0,
        end=len(text),
        ranks={"bm25": rank},
    )


def span_eval_data(root: Path, docs: dict[str, str], questions: list[tuple[str, str, str, str]]):
    """A span eval set on disk: ``docs`` as files under ``root/corpus`` and ``questions`` as
    ``(id, question, file, needle)``, the gold span being where ``needle`` occurs in ``file``."""
    from kenning.evaluate.chroma import span_eval_set

    corpus = root / "corpus"
    corpus.mkdir(parents=True)
    lines = []
    for name, text in docs.items():
        (corpus / name).write_text(text, encoding="utf-8")
    for qid, question, name, needle in questions:
        start = docs[name].index(needle)
        span = {"source": name, "start": start, "end": start + len(needle)}
        lines.append(json.dumps({"id": qid, "question": question, "gold_spans": [span]}))
    (root / "eval.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return span_eval_set(corpus, root / "eval.jsonl")


def load(paths: list[Path | str], **settings: object) -> tuple[list[Document], list[Skipped]]:
    """discover + parse, the way the indexer uses them: a parse failure becomes a Skipped."""
    from kenning.config import IngestConfig
    from kenning.errors import InputError
    from kenning.ingest import discover, parse

    config = IngestConfig(**settings)
    docs: list[Document] = []
    skipped: list[Skipped] = []
    for item in discover(paths, config):
        if isinstance(item, Skipped):
            skipped.append(item)
            continue
        try:
            docs.append(parse(item, config))
        except InputError as exc:
            skipped.append(Skipped(item.source, str(exc)))
    return docs, skipped
