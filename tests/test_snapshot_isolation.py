"""Readers answer from one published snapshot at a time: never from the catalog a writer is halfway through
changing, and never from a superseded snapshot once its successor is published."""

from __future__ import annotations

from pathlib import Path

from kenning import Engine
from kenning.config import KenningConfig

from .conftest import write_corpus

_TOPICS = ["vacuum", "checkpoint", "replication", "indexes", "locking", "backup"]


def _edition(root: Path, n: int) -> Path:
    files = {
        f"{t}.md": f"# {t.title()}\n\nEdition {n} of the {t} notes. The {t} chapter explains how {t} works in "
        f"edition {n}, with examples of {t} settings.\n"
        for t in _TOPICS
    }
    return write_corpus(root, files)


def _editions(hits) -> set[str]:
    return {"1" if "Edition 1" in h.text else "2" if "Edition 2" in h.text else "?" for h in hits}


def test_readers_see_one_published_snapshot_while_another_writer_works(tmp_path, home, embedder):
    corpus = _edition(tmp_path / "docs", 1)
    config = KenningConfig.load(home, indexing={"commit_chunks": 1}, retrieval={"mode": "hybrid"})
    writer = Engine(home, collection="notes", config=config, embedder=embedder)
    writer.index([corpus])
    reader = Engine(home, collection="notes", config=config, embedder=embedder)  # as another process would
    before = reader.search("how does replication work", k=6)
    assert {h.doc_id for h in before} and _editions(before) == {"1"}

    _edition(tmp_path / "docs", 2)  # every document changes: the writer deletes each one's chunks and adds new ones
    seen_midway: list[list] = []

    def midway(stage: str, done: int, total: int | None) -> None:
        if stage == "documents" and done >= 3:  # some documents are committed to the catalog, nothing is published
            seen_midway.append(reader.search("how does replication work", k=6))

    writer.index([corpus], progress=midway)
    assert seen_midway, "the writer never reported progress midway"
    for hits in seen_midway:  # the published snapshot, whole: no chunk missing, none of the unpublished edition
        assert len(hits) == len(before)
        assert _editions(hits) == {"1"}
        assert [h.chunk_id for h in hits] == [h.chunk_id for h in before]
    after = reader.search("how does replication work", k=6)  # published: the reader switches on its next search
    assert _editions(after) == {"2"}
    assert len(after) == len(before)
    reader.close()
    writer.close()


def test_a_writer_held_open_takes_up_what_another_published(tmp_path: Path) -> None:
    """Two writer objects taking turns publish versions 1, 2, 3 — not 1, 2, 2 (which would rebuild the live
    snapshot's folder under its readers)."""
    from kenning.config import KenningConfig
    from kenning.index import Collection

    a = Collection.create_or_open(tmp_path, "c", KenningConfig(), model="m", dim=4)
    b = Collection.open(tmp_path, "c", write=True)
    versions = []
    for col in (a, b, a, b):
        with col.locked():
            versions.append(col.publish(force=True))
    assert versions == [1, 2, 3, 4]
    a.close()
    b.close()
