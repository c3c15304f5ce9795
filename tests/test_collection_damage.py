"""Issue 14, the collection side: readers during publishes, a long-lived Engine across re-indexes, a read that never
writes, and damaged collection files named with the way out (``kenning index --repair``) — never a traceback, never
data lost."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from kenning import Engine
from kenning.config import KenningConfig
from kenning.errors import IndexError_
from kenning.index import Collection

from .conftest import write_corpus

NAME = "docs"
FILES = {
    "a/vacuum.md": "# Vacuum\n\nVACUUM reclaims storage held by dead tuples; zanzibarite is this file's own word.\n",
    "a/backup.md": "# Backup\n\nBase backups copy the data directory while the server runs, then replay the WAL.\n",
    "b/docker.md": "# Docker\n\nThe docker run command starts a container from an image with a writable layer.\n",
}


def _engine(home: Path, embedder, **settings) -> Engine:
    config = KenningConfig.load(home, retrieval={"mode": "bm25"}, **settings)
    return Engine(home, collection=NAME, config=config, embedder=embedder)


def _indexed(home: Path, corpus: Path, embedder) -> Engine:
    eng = _engine(home, embedder)
    eng.index([corpus])
    return eng


def _folder(home: Path) -> Path:
    return home / "collections" / NAME


def _state(home: Path) -> dict[str, bytes]:
    """Every file of the collection but the catalog's, byte for byte: what a read must leave as it was."""
    root = _folder(home)
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "KENNING_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "kenning.cli", *args], env=env, capture_output=True, text=True, timeout=300
    )


def _one_line_error(proc: subprocess.CompletedProcess, *words: str) -> None:
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    text = " ".join(proc.stderr.split())
    assert text.startswith("error:"), text
    for w in words:
        assert w in text, text


# -- item 2: a long-lived Engine --------------------------------------------------------------------------------


def test_a_long_lived_engine_never_serves_a_removed_files_word_from_another_files_chunk(tmp_path, home, embedder):
    corpus = write_corpus(tmp_path / "c", FILES)
    eng = _indexed(home, corpus, embedder)  # the one Engine a server keeps for its whole life
    assert eng.search("zanzibarite", k=3)[0].source.endswith("vacuum.md")
    (corpus / "a" / "vacuum.md").unlink()
    write_corpus(corpus, {"a/newer.md": "# Newer\n\nCheckpoints flush dirty pages to disk at intervals.\n"})
    writer = _engine(home, embedder)  # another writer (as another process would) re-indexes
    writer.index([corpus])
    writer.close()
    hits = eng.search("zanzibarite", k=5)
    assert not hits or all("zanzibarite" in h.text for h in hits), [(h.source, h.text) for h in hits]
    assert not any(h.source.endswith("vacuum.md") for h in hits)
    assert eng.search("checkpoints flush dirty pages", k=1)[0].source.endswith("newer.md")  # it noticed
    for h in eng.search("docker container image checkpoints backups", k=10):
        assert h.text in (corpus / Path(h.source).relative_to(corpus)).read_text()  # each hit is its file's text
    eng.close()


# -- item 1: readers loading while publishes delete old folders --------------------------------------------------


def test_readers_loading_while_publishes_delete_old_snapshots_never_fail(tmp_path, home, embedder):
    corpus = write_corpus(tmp_path / "c", FILES)
    _indexed(home, corpus, embedder).close()
    errors: list[BaseException] = []
    stop = threading.Event()
    loads = [0]

    def reader() -> None:
        while not stop.is_set():
            col = Collection.open(home, NAME)  # a fresh reader each time: every one loads the snapshot from disk
            try:
                snap = col.snapshot()
                assert snap is not None and snap.n_chunks >= 3
                loads[0] += 1
            except BaseException as exc:  # noqa: BLE001 - any failure is the bug
                errors.append(exc)
            finally:
                col.close()

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    writer = _engine(home, embedder)
    try:
        for i in range(12):  # each run publishes a new snapshot and deletes the one readers may be loading
            write_corpus(corpus, {"b/docker.md": f"# Docker\n\nEdition {i}: docker run starts a container.\n"})
            writer.index([corpus])
    finally:
        stop.set()
        for t in threads:
            t.join()
        writer.close()
    assert not errors, repr(errors[:3])
    assert loads[0] > 12


# -- item 4 and "a read never writes" ----------------------------------------------------------------------------


@pytest.mark.parametrize("damage", ["deleted", "empty", "garbage"])
def test_a_lost_catalog_is_an_error_naming_it_and_the_read_changes_nothing(tmp_path, home, embedder, damage):
    corpus = write_corpus(tmp_path / "c", FILES)
    _indexed(home, corpus, embedder).close()
    catalog = _folder(home) / "catalog.sqlite"
    for side in ("-wal", "-shm"):
        Path(f"{catalog}{side}").unlink(missing_ok=True)
    if damage == "deleted":
        catalog.unlink()
    else:
        catalog.write_bytes(b"" if damage == "empty" else b"not a database " * 300)
    before = _state(home)
    for call in (lambda e: e.search("vacuum", k=3), lambda e: e.info(), lambda e: e.documents()):
        eng = _engine(home, embedder)
        with pytest.raises(IndexError_, match=r"catalog\.sqlite.*kenning index --repair"):
            call(eng)
        eng.close()
    assert _state(home) == before  # nothing written, the intact snapshot kept
    _one_line_error(_cli(home, "search", "vacuum", "-c", NAME, "--mode", "bm25"), "catalog.sqlite", "--repair")
    _one_line_error(_cli(home, "info", "-c", NAME), "catalog.sqlite")
    assert _state(home) == before

    eng = _engine(home, embedder)
    done = eng.repair()
    assert any("set aside" in line or "missing" in line for line in done), done
    assert eng.search("zanzibarite", k=1)[0].source.endswith("vacuum.md")  # the last snapshot still answers
    assert eng.info()["stale"] and "note" in eng.info()
    eng.index([corpus])  # indexing the sources again fills the new catalog and publishes it
    assert not eng.info()["stale"] and eng.info()["chunks"] == 3
    assert eng.search("zanzibarite", k=1)[0].source.endswith("vacuum.md")
    eng.close()
    if damage != "deleted":
        assert list(_folder(home).glob("catalog.sqlite.damaged-*"))  # set aside, never deleted


def test_kenning_collections_lists_the_others_when_one_is_damaged(tmp_path, home, embedder):
    corpus = write_corpus(tmp_path / "c", FILES)
    for name in ("alpha", NAME, "omega"):
        Engine(home, collection=name, embedder=embedder).index([corpus])
    (_folder(home) / "manifest.json").write_text('{"format": 1, "embedder": "minilm"}')
    proc = _cli(home, "collections", "--json")
    assert proc.returncode == 0, proc.stderr
    import json

    rows = {r["collection"]: r for r in json.loads(proc.stdout)}
    assert set(rows) == {"alpha", NAME, "omega"}
    assert rows["alpha"]["chunks"] == 3 and rows["omega"]["chunks"] == 3
    assert "manifest.json" in rows[NAME]["damaged"] and "--repair" in rows[NAME]["damaged"]
    table = _cli(home, "collections")
    assert table.returncode == 0 and "damaged" in table.stdout and "alpha" in table.stdout


# -- damaged snapshot, manifest and lock: named, then repaired ---------------------------------------------------


@pytest.mark.parametrize("damage", ["folder deleted", "file truncated", "rows deleted"])
def test_a_damaged_snapshot_is_named_and_rebuilt_by_repair_or_the_next_index(tmp_path, home, embedder, damage):
    corpus = write_corpus(tmp_path / "c", FILES)
    eng = _indexed(home, corpus, embedder)
    expected = [h.chunk_id for h in eng.search("vacuum backup docker", k=3)]
    eng.close()
    snap = _folder(home) / Collection.open(home, NAME).manifest["snapshot"]["path"]
    if damage == "folder deleted":
        shutil.rmtree(snap)
    elif damage == "file truncated":
        vectors = snap / "dense" / "vectors.npy"
        vectors.write_bytes(vectors.read_bytes()[:100])
    else:
        (snap / "rows.sqlite").unlink()
    eng = _engine(home, embedder)
    with pytest.raises(IndexError_, match=r"snapshots/000001.*kenning index --repair"):
        eng.search("vacuum", k=3)
    with pytest.raises(IndexError_, match="snapshot"):
        eng.info()  # never "not stale" over a missing snapshot
    eng.close()
    _one_line_error(_cli(home, "search", "vacuum", "-c", NAME, "--mode", "bm25"), "snapshot", "--repair")
    if damage == "folder deleted":
        eng = _engine(home, embedder)
        eng.index([corpus])  # the next index run rebuilds it too
    else:
        proc = _cli(home, "index", "--repair", "-c", NAME)
        assert proc.returncode == 0 and "rebuilt the damaged snapshot" in proc.stderr, proc.stderr
        eng = _engine(home, embedder)
    assert [h.chunk_id for h in eng.search("vacuum backup docker", k=3)] == expected
    eng.close()


def test_a_manifest_of_the_wrong_shape_is_named_and_rebuilt_from_the_catalog(tmp_path, home, embedder):
    corpus = write_corpus(tmp_path / "c", FILES)
    eng = _indexed(home, corpus, embedder)
    expected = [h.chunk_id for h in eng.search("vacuum backup docker", k=3)]
    eng.close()
    manifest = _folder(home) / "manifest.json"
    for bad in ('{"format": 1, "embedder": {"model": "x"}}', "[1, 2]", '{"format": 1}', "{"):
        manifest.write_text(bad)
        eng = _engine(home, embedder)
        with pytest.raises(IndexError_, match=r"manifest\.json.*kenning index --repair"):
            eng.search("vacuum", k=3)
        eng.close()
    _one_line_error(_cli(home, "info", "-c", NAME), "manifest.json", "--repair")
    manifest.write_text('{"format": 1, "embedder": {"name": "minilm", "model": 7, "dim": "x"}, "snapshot": 3}')
    proc = _cli(home, "index", "--repair", "-c", NAME)
    assert proc.returncode == 0 and "rebuilt manifest.json" in proc.stderr, proc.stderr
    eng = _engine(home, embedder)
    assert eng.info()["embedder"]["model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert [h.chunk_id for h in eng.search("vacuum backup docker", k=3)] == expected
    assert [h.chunk_id for h in eng.search("vacuum backup docker", k=3, mode="dense")]  # the vectors still fit
    eng.close()


def test_a_write_lock_that_is_a_folder_is_named_and_repaired(tmp_path, home, embedder):
    corpus = write_corpus(tmp_path / "c", FILES)
    _indexed(home, corpus, embedder).close()
    lock = _folder(home) / "write.lock"
    lock.unlink()
    lock.mkdir()
    eng = _engine(home, embedder)
    assert eng.search("zanzibarite", k=1)  # readers never touch the lock
    with pytest.raises(IndexError_, match=r"write\.lock.*kenning index --repair"):
        eng.index([corpus])
    assert any("write.lock" in line for line in eng.repair())
    assert lock.is_file()
    eng.index([corpus])
    eng.close()


def test_filters_judge_the_snapshots_own_documents_while_the_catalog_is_ahead(tmp_path, home, embedder):
    corpus = write_corpus(tmp_path / "c", FILES)
    reader = _indexed(home, corpus, embedder)
    before = {h.chunk_id for h in reader.search("vacuum backup docker", k=10, filters=["source=a/"])}
    assert len(before) == 2
    (corpus / "a" / "vacuum.md").unlink()
    writer = Collection.open(home, NAME, write=True)  # a writer killed after committing, before publishing
    from kenning.index.writer import index_paths

    with writer.locked():
        writer.publish = lambda **kw: None  # type: ignore[method-assign]
        index_paths(writer, [corpus], ingest=reader.config.ingest, chunking=writer.chunking, embedder=embedder)
    writer.close()
    assert reader.info()["stale"]
    unfiltered = reader.search("vacuum backup docker", k=10)
    filtered = reader.search("vacuum backup docker", k=10, filters=["source=a/"])
    assert [h.chunk_id for h in filtered] == [h.chunk_id for h in unfiltered if "/a/" in h.source]
    assert {h.chunk_id for h in filtered} == before
    reader.close()
