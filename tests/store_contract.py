"""The contract every store passes (in the style of Haystack's document-store test mixins): one suite, written once.

A backend's test module subclasses :class:`StoreContract` and provides one fixture, ``store_spec``: where its
collections live (:class:`StoreSpec`: the URL that picks the backend through :func:`kenning.store.registry.backend`,
and the location its ``open``/``create_or_open`` take)::

    class TestSQLiteStore(StoreContract):
        @pytest.fixture
        def store_spec(self, home):
            return StoreSpec("sqlite", str(home))

Everything is checked against references (tests/store_reference.py), never against the store itself: chunk ids, texts and spans
from kenning's chunker, BM25 from bm25s over the same texts, exact cosine over the packaged embedder's vectors, and
filters evaluated in Python over each document's kind, path and metadata. Corpora are small real files written to
temporary folders, indexed with the packaged embedder through :func:`kenning.index.index_paths`, the one writer.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from kenning.config import RetrievalConfig
from kenning.errors import ConfigError, IndexLockedError
from kenning.index import index_paths
from kenning.retrieve import Searcher
from kenning.retrieve.fusion import rrf
from kenning.store.base import EmbedderInfo, Manifest, Store
from kenning.store.filters import Filters
from kenning.store.registry import backend, scheme_of
from kenning.types import IndexReport

from .conftest import write_corpus
from .store_reference import (
    CONFIG,
    QUERIES,
    TOL,
    Reference,
    assert_ranking,
    corpus_files,
    crash_files,
    doc_of,
    ranked,
    vectors_of,
    whole_documents,
)

__all__ = ["StoreContract", "StoreSpec"]

# -- the stores under test ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoreSpec:
    """Where a backend keeps its collections: ``url`` picks the backend, ``location`` is what it opens."""

    url: str
    location: str

    def backend(self):
        return backend(self.url)


@dataclass
class Stores:
    """Opens and indexes collections of one backend for a test, and closes them after it."""

    spec: StoreSpec
    embedder: object
    opened: list[Store] = field(default_factory=list)

    def writer(self, name: str = "docs", *, model: str | None = None) -> Store:
        model = model or self.embedder.name  # type: ignore[attr-defined]
        store = self.spec.backend().create_or_open(self.spec.location, name, CONFIG, model=model, dim=self.embedder.dim)  # type: ignore[attr-defined]
        self.opened.append(store)
        return store

    def reader(self, name: str = "docs") -> Store:
        store = self.spec.backend().open(self.spec.location, name)
        self.opened.append(store)
        return store

    def index(self, store: Store, root: Path, *, commit_chunks: int = 512) -> IndexReport:
        with store.locked(wait=True):
            return index_paths(
                store,
                [root],
                ingest=CONFIG.ingest,
                chunking=CONFIG.chunking,
                embedder=self.embedder,  # type: ignore[arg-type]
                commit_chunks=commit_chunks,
            )

    def indexed(self, root: Path, name: str = "docs") -> Store:
        """A collection holding ``root``, indexed by a writer and opened again to read, as another process would."""
        self.index(self.writer(name), root)
        return self.reader(name)

    def close(self) -> None:
        for store in reversed(self.opened):
            try:
                store.close()
            except Exception:  # noqa: BLE001 - closing what a failed test left must not hide its failure
                pass


_CHILD = r"""
import json, sys, time
spec = json.loads(sys.argv[1])
from kenning.config import KenningConfig
from kenning.index import index_paths
from kenning.providers import get_embedder
from kenning.store.registry import backend
emb = get_embedder("minilm")
cfg = KenningConfig.model_validate(spec["config"])
store = backend(spec["url"]).create_or_open(spec["location"], spec["name"], cfg, model=emb.name, dim=emb.dim)
if spec["hang_at"]:  # the batch holding the nth document written: wait there, inside its transaction, to be killed
    cls = type(store.catalog)
    real, calls = cls.put_documents, [0]
    def put_documents(self, items, *args, **kwargs):
        real(self, items, *args, **kwargs)
        calls[0] += len(items)
        if calls[0] >= spec["hang_at"]:
            open(spec["marker"], "w").close()
            time.sleep(600)
    cls.put_documents = put_documents
with store.locked(wait=True):
    index_paths(store, [spec["root"]], ingest=cfg.ingest, chunking=cfg.chunking, embedder=emb,
                commit_chunks=spec["commit_chunks"])
"""


class StoreContract:
    """The suite. Subclasses provide the ``store_spec`` fixture; every test here runs against their store."""

    @pytest.fixture
    def stores(self, store_spec: StoreSpec, embedder) -> Iterator[Stores]:
        got = Stores(store_spec, embedder)
        yield got
        got.close()

    @pytest.fixture
    def corpus(self, tmp_path: Path) -> Path:
        return write_corpus(tmp_path / "corpus", corpus_files())

    @pytest.fixture
    def ref(self, corpus: Path, embedder) -> Reference:
        return Reference.of(corpus, embedder)

    # -- what a collection is ---------------------------------------------------------------------------------

    def test_info_is_a_typed_manifest_of_the_embedder_and_settings(self, stores: Stores, corpus: Path) -> None:
        store = stores.indexed(corpus)
        info = store.info
        assert isinstance(store, Store) and isinstance(info, Manifest)
        assert store.name == info.name == "docs"
        assert info.embedder == EmbedderInfo("minilm", stores.embedder.name, stores.embedder.dim)  # type: ignore[attr-defined]
        assert (info.chunking, info.lexical, info.dense) == (CONFIG.chunking, CONFIG.lexical, CONFIG.dense)
        assert info.store == scheme_of(stores.spec.url)
        assert "docs" in stores.spec.backend().list_collections(stores.spec.location)

    def test_another_embedder_is_refused_by_name(self, stores: Stores, corpus: Path) -> None:
        stores.index(stores.writer(), corpus)
        with pytest.raises(ConfigError) as refused:
            stores.writer(model="some/other-embedder")
        for named in ("docs", stores.embedder.name, "some/other-embedder"):  # type: ignore[attr-defined]
            assert named in str(refused.value), f"the error does not name {named}: {refused.value}"
        assert stores.reader().info.embedder.model == stores.embedder.name  # type: ignore[attr-defined]

    # -- add / update / delete / re-index ---------------------------------------------------------------------

    def test_indexing_stores_every_chunk_once_and_counts_them(self, stores: Stores, corpus: Path, ref) -> None:
        writer = stores.writer()
        report = stores.index(writer, corpus)
        assert (report.documents_added, report.chunks_added) == (len(ref.docs), len(ref.chunks))
        reader = stores.reader()
        ids = reader.chunk_ids()
        assert len(ids) == len(set(ids)) and set(ids) == ref.ids
        assert reader.counts() == (len(ref.docs), len(ref.chunks))
        assert writer.catalog.counts() == (len(ref.docs), len(ref.chunks))

    def test_reindexing_unchanged_files_adds_nothing_and_keeps_the_ids(self, stores: Stores, corpus: Path, ref) -> None:
        writer = stores.writer()
        stores.index(writer, corpus)
        before = sorted(stores.reader().chunk_ids())
        again = stores.index(stores.writer(), corpus)
        assert (again.documents_added, again.documents_updated, again.documents_removed) == (0, 0, 0)
        assert (again.chunks_added, again.chunks_removed, again.chunks_embedded) == (0, 0, 0)
        assert again.documents_unchanged == len(ref.docs)
        assert sorted(stores.reader().chunk_ids()) == before

    def test_editing_one_file_changes_only_its_chunks(self, stores: Stores, corpus: Path, ref, embedder) -> None:
        stores.index(stores.writer(), corpus)
        reader = stores.reader()
        path = corpus / "postgres" / "postgres01.md"
        path.write_text(path.read_text() + "\n## Part 3\n\nTOAST moves wide column values out of the main table.\n")
        edited = Reference.of(corpus, embedder)
        old, new = ref.of_path("postgres/postgres01.md"), edited.of_path("postgres/postgres01.md")
        assert old and new and not old & new
        report = stores.index(stores.writer(), corpus)
        assert (report.documents_updated, report.documents_added, report.documents_removed) == (1, 0, 0)
        assert (report.chunks_added, report.chunks_removed) == (len(new), len(old))
        assert set(reader.chunk_ids()) == (ref.ids - old) | new == edited.ids
        assert reader.counts() == (len(edited.docs), len(edited.chunks))
        assert reader.fetch(sorted(old)) == {}
        assert set(reader.fetch(sorted(new))) == new

    def test_deleting_a_file_or_a_document_removes_its_chunks(self, stores: Stores, corpus: Path, ref) -> None:
        writer = stores.writer()
        stores.index(writer, corpus)
        reader = stores.reader()
        gone = ref.of_path("docker/docker02.md")
        (corpus / "docker" / "docker02.md").unlink()
        report = stores.index(stores.writer(), corpus)
        assert (report.documents_removed, report.chunks_removed, report.chunks_added) == (1, len(gone), 0)
        assert set(reader.chunk_ids()) == ref.ids - gone
        assert reader.fetch(sorted(gone)) == {}
        assert reader.lexical_search("docker container image", 100).ids
        assert not set(reader.lexical_search("docker container image", 100).ids) & gone
        # the other way in: forget a document by id (what `kenning documents rm` and the HTTP API do)
        doc = doc_of(next(iter(ref.of_path("notes/note03.txt"))))
        with writer.locked():
            assert writer.catalog.remove_documents([doc]) == (1, len(ref.by_doc()[doc]))
            writer.publish()
        assert set(reader.chunk_ids()) == ref.ids - gone - ref.by_doc()[doc]
        assert reader.counts() == (len(ref.docs) - 2, len(ref.chunks) - len(gone) - len(ref.by_doc()[doc]))

    def test_the_same_content_gets_the_same_chunk_ids_in_every_store_and_run(
        self, stores: Stores, corpus: Path, ref, home: Path
    ) -> None:
        first = stores.indexed(corpus, "first")
        second = stores.indexed(corpus, "second")
        assert set(first.chunk_ids()) == set(second.chunk_ids()) == ref.ids  # the chunker's ids: doc hash :: index
        sqlite = Stores(StoreSpec("sqlite", str(home / "id-check")), stores.embedder)
        try:
            assert set(sqlite.indexed(corpus, "other").chunk_ids()) == ref.ids
        finally:
            sqlite.close()

    # -- reading what was stored ------------------------------------------------------------------------------

    def test_fetch_returns_each_chunk_as_the_chunker_cut_it(self, stores: Stores, corpus: Path, ref) -> None:
        store = stores.indexed(corpus)
        wanted = sorted(ref.ids)
        rows = store.fetch([*wanted, "nope::0", wanted[0]])
        assert set(rows) == ref.ids  # unknown ids are left out, a repeated one comes once
        for cid, row in rows.items():
            chunk, doc = ref.chunks[cid], ref.docs[ref.chunks[cid].doc_id]
            assert row.chunk_id == cid and row.doc_id == doc.doc_id and row.index == chunk.index
            assert (row.text, row.start, row.end) == (chunk.text, chunk.start, chunk.end)
            assert doc.text[row.start : row.end] == row.text
            assert tuple(row.heading_path) == chunk.heading_path
            assert (row.kind, row.title, row.source) == (doc.kind, doc.title, doc.source)
            assert row.metadata == json.loads(json.dumps(doc.metadata))
        assert store.fetch([]) == {}

    def test_vectors_are_the_embedders_in_the_order_asked(self, stores: Stores, corpus: Path, ref, embedder) -> None:
        store = stores.indexed(corpus)
        ids = sorted(ref.ids)[:7]
        got = store.vectors([ids[3], "nope::0", *ids])
        assert got.shape == (len(ids) + 2, embedder.dim) and got.dtype == np.float32
        assert not got[1].any()  # an unknown id: a zero row
        want = vectors_of(embedder, [ref.chunks[i].text for i in [ids[3], *ids]])
        rows = np.delete(got, 1, axis=0)
        assert np.allclose(np.sum(rows * want, axis=1), 1.0, atol=1e-4)

    def test_chunk_ids_follow_filters(self, stores: Stores, corpus: Path, ref) -> None:
        store = stores.indexed(corpus)
        specs = [["kind=text"], ["source=postgres/"], ["ext=.md"], ["source!=postgres/"], ["source=nowhere/"]]
        specs += [[f"source={corpus / 'notes'}"], ["kind=markdown", "kind=text", "source!=docker/"]]
        for spec in specs:
            want = {c for c in ref.ids if ref.passes(spec, c)}
            got = store.chunk_ids(Filters.parse(spec))
            assert len(got) == len(set(got)) and set(got) == want, spec

    def test_tokens_term_weights_and_postings_are_bm25s(self, stores: Stores, corpus: Path, ref) -> None:
        store = stores.indexed(corpus)
        assert store.tokens("The Tables VACUUMED") == ref.tokens("The Tables VACUUMED") == ["tabl", "vacuum"]
        chunk_tokens = {cid: set(ref.tokens(c.text)) for cid, c in ref.chunks.items()}
        n = len(ref.chunks)
        weights = store.term_weights("vacuum the table zebra")
        assert set(weights) == {"vacuum", "tabl", "zebra"}
        for token, weight in weights.items():
            df = sum(token in t for t in chunk_tokens.values())
            assert weight == pytest.approx(np.log(1 + (n - df + 0.5) / (df + 0.5)), rel=TOL), token
        for word in ("vacuum", "dead tuples", "container", "zebra"):
            want = {cid for cid, t in chunk_tokens.items() if set(ref.tokens(word)) <= t}
            got = store.postings(word)
            assert got is not None and len(got) == len(set(got)) and set(got) == want, word
        assert store.postings("the") is None  # a stop word has no token

    # -- search parity ----------------------------------------------------------------------------------------

    def test_lexical_search_ranks_as_bm25s(self, stores: Stores, corpus: Path, ref) -> None:
        store = stores.indexed(corpus)
        for query in (*QUERIES, "zebra"):
            expected = ranked(ref.bm25(query))
            for k in (3, 10, 1000):
                assert_ranking(store.lexical_search(query, k), expected, k, f"bm25 {query!r} k={k}")
        assert len(store.lexical_search("zebra", 10)) == 0

    def test_dense_search_ranks_as_exact_cosine(self, stores: Stores, corpus: Path, ref, embedder) -> None:
        store = stores.indexed(corpus)
        ids = sorted(ref.ids)
        for query in QUERIES:
            q = vectors_of(embedder, [query], query=True)[0]
            expected = ranked(ref.cosine(embedder, query))
            for k in (1, 5, len(ids) + 5):
                assert_ranking(store.dense_search(q, k), expected, k, f"dense {query!r} k={k}", rel=1e-3)

    def test_hybrid_search_fuses_lists_that_match_the_references(
        self, stores: Stores, corpus: Path, ref, embedder
    ) -> None:
        store = stores.indexed(corpus)
        config = RetrievalConfig(mode="hybrid", k=5, candidates=20)
        rankings = Searcher(store, embedder, config).rank_many(list(QUERIES))
        for query, ranking in zip(QUERIES, rankings, strict=True):
            # each list is a correct top 20 (ties broken either way), and the hybrid ranking is exactly their fusion
            q = vectors_of(embedder, [query], query=True)[0]
            lexical, dense = store.lexical_search(query, config.candidates), store.dense_search(q, config.candidates)
            assert_ranking(lexical, ranked(ref.bm25(query)), config.candidates, f"bm25 {query!r}")
            cosine = ranked(ref.cosine(embedder, query))
            assert_ranking(dense, cosine, config.candidates, f"dense {query!r}", rel=1e-3)
            fused, scores, _ = rrf({"bm25": lexical.ids, "dense": dense.ids}, k=config.rrf_k)
            assert list(ranking.ids) == fused[: config.k], query
            assert list(ranking.scores) == pytest.approx(scores[: config.k]), query

    # -- filters apply before ranking -------------------------------------------------------------------------

    @pytest.mark.parametrize(
        "spec",
        [["kind=text"], ["source=notes/"], ["ext=.txt"], ["source!=postgres/", "source!=docker/"]],
        ids=["kind", "source", "metadata", "excluded"],
    )
    def test_filters_apply_before_ranking_and_still_fill_k(
        self, stores: Stores, corpus: Path, ref, embedder, spec: list[str]
    ) -> None:
        store, filters, k = stores.indexed(corpus), Filters.parse(spec), 4
        keep = {c for c in ref.ids if ref.passes(spec, c)}
        lexical = ranked(ref.bm25("table"))
        assert not {i for i, _ in lexical[:k]} & keep, "corpus: the matching chunks must rank low unfiltered"
        assert len(ranked(ref.bm25("table"), keep)) >= k, "corpus: at least k matching chunks must hold 'table'"
        assert_ranking(store.lexical_search("table", k, filters), ranked(ref.bm25("table"), keep), k, f"bm25 {spec}")
        q = vectors_of(embedder, ["database table locks"], query=True)[0]
        cosine = ref.cosine(embedder, "database table locks")
        assert not {i for i, _ in ranked(cosine)[:k]} & keep
        assert_ranking(store.dense_search(q, k, filters), ranked(cosine, keep), k, f"dense {spec}", rel=1e-3)
        for mode in ("bm25", "dense", "hybrid"):
            hits = Searcher(store, embedder, RetrievalConfig(k=k)).search(
                "database table locks", mode=mode, filters=filters
            )
            assert len(hits) == k and {h.chunk_id for h in hits} <= keep, (mode, spec)
        combined = Filters.parse(["kind=markdown", "source=docker/"])
        want = {c for c in ref.ids if ref.passes(["kind=markdown", "source=docker/"], c)}
        expected = ranked(ref.bm25("container table"), want)
        assert expected and len(expected) < len(ranked(ref.bm25("container table")))
        assert_ranking(store.lexical_search("container table", 100, combined), expected, 100, "bm25 combined filters")

    # -- the write lock -------------------------------------------------------------------------------------

    def test_a_second_writer_is_refused_or_waits_for_the_lock(self, stores: Stores, corpus: Path) -> None:
        first, second = stores.writer(), stores.writer()
        acquired = threading.Event()
        errors: list[BaseException] = []

        def wait_for_it() -> None:
            try:
                with second.locked(wait=True):
                    acquired.set()
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        with first.locked():
            with pytest.raises(IndexLockedError, match="docs"):
                with second.locked():
                    pass
            waiter = threading.Thread(target=wait_for_it, daemon=True)
            waiter.start()
            assert not acquired.wait(1.0), "the second writer got the lock while the first held it"
        waiter.join(30)
        assert acquired.is_set() and not errors, errors
        with second.locked():  # released by the waiter: free again
            pass
        stores.index(first, corpus)  # and the first can write again

    # -- crash safety ---------------------------------------------------------------------------------------

    @pytest.mark.slow
    def test_a_writer_killed_mid_write_leaves_whole_documents_and_reindexing_completes(
        self, stores: Stores, tmp_path: Path, embedder
    ) -> None:
        root = write_corpus(tmp_path / "big", crash_files())
        ref = Reference.of(root, embedder)
        for hang_at in (9, 0):  # inside a transaction (after 9 documents written), then at a random moment
            child = self._child(stores.spec, root, tmp_path, hang_at=hang_at)
            killed_at = self._kill_midway(child, stores, tmp_path / "marker", hang_at, len(ref.docs))
            reader = stores.reader()  # opens and answers, whatever the killed writer left
            whole_documents(reader.chunk_ids(), ref)
            reader.lexical_search("vacuum table", 10)
            writer = stores.writer()
            with writer.locked(wait=True):
                writer.recover()
            committed = whole_documents(stores.reader().chunk_ids(), ref)
            assert len(committed) < len(ref.docs), f"the writer finished before it was killed ({killed_at})"
        stores.index(stores.writer(), root)
        final = stores.reader()
        assert set(final.chunk_ids()) == ref.ids and final.counts() == (len(ref.docs), len(ref.chunks))
        clean = stores.indexed(root, "clean")
        assert sorted(final.chunk_ids()) == sorted(clean.chunk_ids())
        for doc, chunks in ref.by_doc().items():
            assert len(clean.fetch(sorted(chunks))) == len(chunks) == len(final.fetch(sorted(chunks))), doc

    def _child(self, spec: StoreSpec, root: Path, tmp: Path, *, hang_at: int) -> subprocess.Popen:
        args = {
            "url": spec.url,
            "location": spec.location,
            "name": "docs",
            "config": CONFIG.model_dump(mode="json"),
            "root": str(root),
            "commit_chunks": 6,
            "hang_at": hang_at,
            "marker": str(tmp / "marker"),
        }
        (tmp / "marker").unlink(missing_ok=True)
        log = open(tmp / "child.log", "ab")  # noqa: SIM115 - the child keeps its own copy
        with log:
            return subprocess.Popen([sys.executable, "-c", _CHILD, json.dumps(args)], stdout=log, stderr=log)

    def _kill_midway(self, child: subprocess.Popen, stores: Stores, marker: Path, hang_at: int, n_docs: int) -> str:
        deadline = time.monotonic() + 180
        backend_ = stores.spec.backend()
        reader = stores.reader() if "docs" in backend_.list_collections(stores.spec.location) else None
        base = reader.catalog.counts()[0] if reader is not None else 0
        threshold = base + random.Random(base).randint(1, max(1, (n_docs - base) // 2))
        try:
            while time.monotonic() < deadline and child.poll() is None:
                if hang_at and marker.exists():
                    break
                if not hang_at:
                    if reader is None and "docs" in backend_.list_collections(stores.spec.location):
                        reader = stores.reader()
                    if reader is not None and reader.catalog.counts()[0] >= threshold:
                        break
                time.sleep(0.01)
            assert child.poll() is None, f"the writer exited ({child.returncode}) before it could be killed"
            what = "inside a transaction" if hang_at else f"after {reader.catalog.counts()[0]} documents"  # type: ignore[union-attr]
            child.send_signal(signal.SIGKILL)
            return what
        finally:
            if child.poll() is None:
                child.kill()
            child.wait(30)

    # -- readers during writes ------------------------------------------------------------------------------

    @pytest.mark.slow
    def test_readers_during_writes_see_only_whole_documents_of_either_state(
        self, stores: Stores, corpus: Path, ref, embedder
    ) -> None:
        stores.index(stores.writer(), corpus)
        for i, rel in enumerate(["postgres/postgres00.md", "postgres/postgres03.md", "docker/docker01.md"]):
            (corpus / rel).write_text((corpus / rel).read_text() + f"\nAn added line, number {i}, about the table.\n")
        (corpus / "notes" / "note05.txt").unlink()
        (corpus / "docker" / "docker03.md").unlink()
        write_corpus(corpus, {"notes/new.txt": "A new note on a kitchen table with fresh bread and soup.\n"})
        after = Reference.of(corpus, embedder)
        removed = after.by_doc()[doc_of(next(iter(after.of_path("notes/note02.txt"))))]
        may_vanish = (ref.ids - after.ids) | removed  # what the writer deletes; nothing else may ever be missing
        vectors = vectors_of(embedder, list(QUERIES), query=True)
        reader = stores.reader()
        stop, seen, errors = threading.Event(), {"rounds": 0}, []

        def read() -> None:
            try:
                while not stop.is_set():
                    whole_documents(reader.chunk_ids(), ref, after)
                    for query, vec in zip(QUERIES, vectors, strict=True):
                        for got in (reader.lexical_search(query, 10), reader.dense_search(vec, 10)):
                            assert set(got.ids) <= ref.ids | after.ids, query
                            rows = reader.fetch(list(got.ids))
                            assert set(got.ids) - set(rows) <= may_vanish, "a hit that must be there is not"
                            for cid, row in rows.items():
                                assert row.text == (after.chunks.get(cid) or ref.chunks[cid]).text
                            for doc in {doc_of(c) for c in got.ids}:  # each hit's document: all of it, or gone
                                chunks = after.by_doc().get(doc) or ref.by_doc()[doc]
                                n = len(reader.fetch(sorted(chunks)))
                                assert n in (0, len(chunks)), f"{doc}: {n} of {len(chunks)} chunks"
                                assert n or chunks <= may_vanish
                    seen["rounds"] += 1
            except BaseException as exc:  # noqa: BLE001 - reported by the test
                errors.append(exc)

        thread = threading.Thread(target=read, daemon=True)
        thread.start()
        try:
            while not seen["rounds"] and thread.is_alive():
                time.sleep(0.01)
            start = seen["rounds"]
            stores.index(stores.writer(), corpus, commit_chunks=2)
            writer = stores.writer()
            with writer.locked():
                writer.catalog.remove_documents([doc_of(next(iter(removed)))])
                writer.publish()
            during = seen["rounds"] - start
            time.sleep(0.2)
        finally:
            stop.set()
            thread.join(60)
        assert not errors, errors[0]
        assert during >= 2, f"the reader searched only {during} times while the writer worked"
        assert set(reader.chunk_ids()) == after.ids - removed
