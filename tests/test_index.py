"""Indexing and search end to end on small real corpora with the packaged MiniLM embedder."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from kenning import Engine
from kenning.config import KenningConfig
from kenning.errors import CollectionNotFound, ConfigError
from kenning.index import Collection
from kenning.providers.embedders import SentenceTransformerEmbedder

from .conftest import SMALL_CORPUS, write_corpus


class CountingEmbedder:
    """The real embedder, counting how many texts it was asked to embed."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self.calls = 0
        self.texts = 0

    def embed(self, texts, *, is_query: bool = False):
        if not is_query:
            self.calls += 1
            self.texts += len(texts)
        return self.inner.embed(texts, is_query=is_query)


@pytest.fixture
def counting(embedder) -> CountingEmbedder:
    return CountingEmbedder(embedder)


def _engine(home: Path, emb, name: str = "default", **stages) -> Engine:
    return Engine(home, collection=name, config=KenningConfig.load(home, **stages), embedder=emb)


def test_index_then_search_all_modes(home: Path, small_corpus: Path, counting: CountingEmbedder) -> None:
    eng = _engine(home, counting)
    report = eng.index([small_corpus])
    assert report.documents_added == len(SMALL_CORPUS) and report.total_documents == len(SMALL_CORPUS)
    assert report.chunks_embedded == report.total_chunks > 0 and not report.skipped
    for mode in ("bm25", "dense", "hybrid"):
        hits = eng.search("How does VACUUM FULL return space to the operating system?", mode=mode, k=3)
        assert hits, mode
        assert "VACUUM FULL" in hits[0].text, (mode, hits[0].text)
        assert hits[0].source.endswith("postgres/vacuum.md")
        assert hits[0].heading_path[:1] == ("VACUUM",)
        assert [h.rank for h in hits] == list(range(1, len(hits) + 1))
        assert all(a.score >= b.score for a, b in zip(hits, hits[1:], strict=False))
    hybrid = eng.search("risotto stock", mode="hybrid", k=5)
    assert hybrid[0].source.endswith("cooking.txt") and set(hybrid[0].ranks) <= {"bm25", "dense"}
    eng.close()


def test_reindex_unchanged_embeds_nothing_and_changes_are_applied(
    home: Path, small_corpus: Path, counting: CountingEmbedder
) -> None:
    eng = _engine(home, counting)
    first = eng.index([small_corpus])
    version = first.published_version
    counting.texts = 0
    again = eng.index([small_corpus])
    assert counting.texts == 0 and again.chunks_embedded == 0
    assert again.documents_unchanged == len(SMALL_CORPUS) and again.published_version is None
    # change one file, delete another, add a third
    (small_corpus / "notes/garden.txt").write_text("Roses need pruning in early spring before new growth starts.\n")
    (small_corpus / "docker/run.md").unlink()
    (small_corpus / "notes/new.txt").write_text("Sourdough bread needs a lively starter and a long cold proof.\n")
    third = eng.index([small_corpus])
    assert (third.documents_updated, third.documents_removed, third.documents_added) == (1, 1, 1)
    assert third.published_version == version + 1
    assert counting.texts == 2  # only the two new texts were embedded
    assert eng.info()["documents"] == len(SMALL_CORPUS)
    assert not eng.search("docker run detached container", mode="bm25", k=10) or all(
        "docker" not in h.source for h in eng.search("docker run detached container", mode="bm25", k=10)
    )
    assert eng.search("pruning roses", mode="bm25", k=1)[0].source.endswith("garden.txt")
    assert not any("Tomatoes" in h.text for h in eng.search("tomatoes full sun", mode="hybrid", k=10))
    eng.close()


def test_identical_content_is_stored_once(home: Path, tmp_path: Path, counting: CountingEmbedder) -> None:
    corpus = write_corpus(tmp_path / "dup", {"a.txt": "Same words here.\n", "b/c.txt": "Same words here.\n"})
    eng = _engine(home, counting)
    report = eng.index([corpus])
    assert report.total_documents == 1 and report.total_chunks == 1
    # removing one copy keeps the document; removing both drops it
    (corpus / "a.txt").unlink()
    assert eng.index([corpus]).total_documents == 1
    (corpus / "b/c.txt").unlink()
    assert eng.index([corpus]).total_documents == 0
    eng.close()


def test_missing_input_path_does_not_wipe_the_index(home: Path, small_corpus: Path, embedder) -> None:
    eng = _engine(home, embedder)
    eng.index([small_corpus])
    moved = small_corpus.with_name("moved")
    shutil.move(small_corpus, moved)
    report = eng.index([small_corpus])
    assert report.total_documents == len(SMALL_CORPUS) and report.documents_removed == 0
    assert any(s.source == str(small_corpus.resolve()) for s in report.skipped)
    eng.close()


def test_filters_apply_before_fusion(home: Path, small_corpus: Path, embedder) -> None:
    eng = _engine(home, embedder)
    eng.index([small_corpus])
    for mode in ("bm25", "dense", "hybrid"):
        hits = eng.search("VACUUM FULL exclusive lock", mode=mode, k=50, filters=["source=notes/"])
        assert hits and all("/notes/" in h.source for h in hits), mode
        md = eng.search("container", mode=mode, k=50, filters=["kind=markdown"])
        assert md and all(h.kind == "markdown" for h in md)
        both = eng.search("container", mode=mode, k=50, filters=["kind=markdown", "source=docker/"])
        assert both and all("/docker/" in h.source for h in both)
        assert eng.search("container", mode=mode, k=50, filters=["kind=pdf"]) == []
        everything = eng.search("VACUUM FULL exclusive lock", mode=mode, k=50)
        rest = eng.search("VACUUM FULL exclusive lock", mode=mode, k=50, filters=["source!=postgres/"])
        assert any("/postgres/" in h.source for h in everything) and rest
        assert not any("/postgres/" in h.source for h in rest)
        assert {h.chunk_id for h in rest} == {h.chunk_id for h in everything if "/postgres/" not in h.source}
    with pytest.raises(ConfigError, match="only source!=PREFIX"):
        eng.search("container", filters=["kind!=pdf"])
    eng.close()


def test_changing_chunk_settings_rechunks_and_settings_are_remembered(
    home: Path, small_corpus: Path, counting: CountingEmbedder
) -> None:
    eng = _engine(home, counting, chunking={"size": 40, "overlap": 5})
    eng.index([small_corpus])
    small = eng.info()["chunks"]
    eng.close()
    # a later run with no chunking options keeps size 40: nothing is re-chunked
    eng = _engine(home, counting)
    assert eng.index([small_corpus]).documents_unchanged == len(SMALL_CORPUS)
    assert eng.info()["chunking"]["size"] == 40
    eng.close()
    eng = _engine(home, counting, chunking={"size": 400})
    report = eng.index([small_corpus])
    assert report.documents_updated == len(SMALL_CORPUS)
    assert eng.info()["chunks"] < small
    eng.close()


def test_collections_are_separate_and_embedder_is_fixed(home: Path, small_corpus: Path, embedder, tmp_path) -> None:
    a = _engine(home, embedder, "alpha")
    a.index([small_corpus / "postgres"])
    b = _engine(home, embedder, "beta")
    b.index([small_corpus / "notes"])
    assert a.collections() == ["alpha", "beta"]
    assert all("postgres" in h.source for h in a.search("rice", mode="bm25", k=5))
    assert b.search("rice", mode="bm25", k=1)[0].source.endswith("cooking.txt")

    class OtherEmbedder:
        name, dim = "other-model", 8

        def embed(self, texts, *, is_query=False):
            return np.ones((len(texts), 8), dtype=np.float32)

    with pytest.raises(ConfigError, match="was built with embedder"):
        Engine(home, collection="alpha", embedder=OtherEmbedder()).index([small_corpus / "notes"])
    with pytest.raises(CollectionNotFound, match="kenning index PATH --collection nope"):
        Engine(home, collection="nope").search("x")
    a.close()
    b.close()


def test_a_reader_serves_the_last_snapshot_and_the_next_writer_publishes_a_killed_writers_work(
    home: Path, small_corpus: Path, embedder
) -> None:
    eng = _engine(home, embedder)
    eng.index([small_corpus / "postgres"])
    col: Collection = eng.collection()
    # simulate a writer killed after committing to the catalog but before publishing
    from kenning.index.writer import index_paths

    writer = Collection.open(home, "default", write=True)
    with writer.locked():
        writer.publish = lambda **kw: None  # type: ignore[method-assign]
        index_paths(
            writer, [small_corpus / "notes"], ingest=eng.config.ingest, chunking=col.chunking, embedder=embedder
        )
    writer.close()
    eng.close()
    manifest = (home / "collections" / "default" / "manifest.json").read_bytes()
    fresh = _engine(home, embedder)
    assert fresh.collection().is_stale() and fresh.info()["stale"]
    assert not any(h.source.endswith("cooking.txt") for h in fresh.search("risotto", mode="bm25", k=3))  # a read...
    assert (home / "collections" / "default" / "manifest.json").read_bytes() == manifest  # ...never writes
    fresh.index([small_corpus / "postgres"])  # a writer publishes what the killed one committed first
    assert fresh.search("risotto", mode="bm25", k=1)[0].source.endswith("cooking.txt")
    assert not fresh.collection().is_stale()
    fresh.close()


def test_local_embedder_folder_and_bad_names(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="neither a registered embedder"):
        SentenceTransformerEmbedder(str(tmp_path / "nothing-here"))
