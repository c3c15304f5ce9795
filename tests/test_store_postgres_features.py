"""What the PostgreSQL store does beyond the contract suite, on a real temporary cluster: index → search → delete,
the HNSW index it builds for a large collection (filtered searches on it keep their recall), full-text search as the
other lexical ranking, postings made again when the tokenizer changes, several collections in one database."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("psycopg", reason="the postgres extra is not installed")

from kenning.config import DenseConfig, KenningConfig, LexicalConfig, RetrievalConfig
from kenning.errors import CollectionNotFound, ConfigError
from kenning.index import index_paths
from kenning.retrieve import Searcher
from kenning.store.filters import Filters
from kenning.store.postgres import POSTGRES

from .conftest import write_corpus
from .pg_cluster import PgCluster, pg_cluster, pg_url  # noqa: F401  (pytest fixtures)
from .store_contract import CONFIG, Reference, assert_ranking, corpus_files, ranked


def _index(store, root: Path, embedder, config: KenningConfig = CONFIG) -> None:  # noqa: ANN001
    with store.locked():
        index_paths(store, [root], ingest=config.ingest, chunking=config.chunking, embedder=embedder)


def _database(url: str) -> str:
    return url.split("://", 1)[1].split("/", 1)[1].split("?", 1)[0]


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return write_corpus(tmp_path / "corpus", corpus_files())


def test_index_search_and_delete(pg_cluster: PgCluster, pg_url: str, corpus: Path, embedder) -> None:  # noqa: F811
    writer = POSTGRES.create_or_open(pg_url, "docs", CONFIG, model=embedder.name, dim=embedder.dim)
    _index(writer, corpus, embedder)
    assert not writer.is_stale() and writer.info.snapshot_version == 1
    other = POSTGRES.create_or_open(pg_url, "other", CONFIG, model=embedder.name, dim=embedder.dim)
    _index(other, corpus / "notes", embedder)
    reader = POSTGRES.open(pg_url, "docs")
    hits = Searcher(reader, embedder, RetrievalConfig(k=3)).search("how does vacuum reclaim dead tuples")
    assert len(hits) == 3 and "postgres/" in hits[0].source and "acuum" in " ".join(h.text for h in hits)
    assert POSTGRES.list_collections(pg_url) == ["docs", "other"]
    before = other.lexical_search("rice stock", 5)

    POSTGRES.delete(pg_url, "docs")
    assert POSTGRES.list_collections(pg_url) == ["other"]
    with pytest.raises(CollectionNotFound):
        reader.refresh()
    database = _database(pg_url)
    for table in ("documents", "sources", "chunks", "terms", "vectors"):
        left = pg_cluster.psql(f"SELECT count(*) FROM kenning.{table} WHERE collection <> {other.id}", database)
        assert left == "0", table
    orphans = pg_cluster.psql(
        "SELECT count(*) FROM kenning.postings p WHERE NOT EXISTS (SELECT 1 FROM kenning.terms t WHERE t.id = p.term)",
        database,
    )
    assert orphans == "0"
    assert other.lexical_search("rice stock", 5) == before  # the other collection's statistics are untouched


def test_a_large_collection_gets_an_hnsw_index_that_filtered_searches_use(
    pg_cluster: PgCluster,  # noqa: F811
    pg_url: str,  # noqa: F811
    corpus: Path,
    embedder,
) -> None:
    config = CONFIG.model_copy(update={"dense": DenseConfig(ann="auto", ann_threshold=20, hnsw_m=8)})
    writer = POSTGRES.create_or_open(pg_url, "docs", config, model=embedder.name, dim=embedder.dim)
    _index(writer, corpus, embedder, config)
    index = f"chunks_hnsw_{writer.id}"
    database = _database(pg_url)
    assert pg_cluster.psql(f"SELECT count(*) FROM pg_indexes WHERE indexname = '{index}'", database) == "1"
    ref = Reference.of(corpus, embedder)
    ids = sorted(ref.ids)
    matrix = embedder.embed([ref.chunks[i].text for i in ids])
    # so few rows are cheaper to sort than to search through the index: tell the planner not to, as for a large one
    off = "%20".join(f"-c%20enable_{what}%3Doff" for what in ("seqscan", "bitmapscan", "sort"))
    reader = POSTGRES.open(f"{pg_url}&options={off}", "docs")
    for query, spec in (("database table locks", []), ("database table locks", ["source=notes/note01"])):
        q = embedder.embed([query], is_query=True)[0]
        keep = {c for c in ids if ref.passes(spec, c)}
        expected = ranked(dict(zip(ids, (matrix @ q).tolist(), strict=True)), keep)
        k = 5 if spec else 10
        assert_ranking(reader.dense_search(q, k, Filters.parse(spec)), expected, k, f"hnsw {spec}", rel=1e-3)
    deadline, scans = time.monotonic() + 15, "0"
    while scans in ("", "0") and time.monotonic() < deadline:  # statistics reach the view within a second or so
        scans = pg_cluster.psql(
            f"SELECT coalesce(sum(idx_scan), 0) FROM pg_stat_user_indexes WHERE indexrelname = '{index}'", database
        )
        time.sleep(0.2)
    assert int(scans) > 0, "the searches did not use the HNSW index"

    # a collection asked to search exactly drops the index at its next publish
    exact = CONFIG.model_copy(update={"dense": DenseConfig(ann="exact")})
    writer = POSTGRES.create_or_open(pg_url, "docs", exact, model=embedder.name, dim=embedder.dim)
    with writer.locked():
        assert writer.publish(force=True) is not None
    assert pg_cluster.psql(f"SELECT count(*) FROM pg_indexes WHERE indexname = '{index}'", database) == "0"


def test_full_text_search_is_the_other_lexical_ranking(pg_url: str, corpus: Path, embedder) -> None:  # noqa: F811
    writer = POSTGRES.create_or_open(pg_url, "docs", CONFIG, model=embedder.name, dim=embedder.dim)
    _index(writer, corpus / "postgres", embedder)
    with pytest.raises(ConfigError, match="keeps no full-text index"):
        POSTGRES.open(pg_url + "&lexical=fts", "docs").lexical_search("vacuum", 5)
    fts_writer = POSTGRES.open(pg_url + "&lexical=fts", "docs", write=True)
    with fts_writer.locked():
        assert fts_writer.publish(force=True) is not None  # fills the tsvectors and builds the GIN index
    reader = POSTGRES.open(pg_url + "&lexical=fts", "docs")
    got = reader.lexical_search("vacuum dead tuples", 5)
    assert got.ids and all(s > 0 for s in got.scores) and list(got.scores) == sorted(got.scores, reverse=True)
    rows = reader.fetch(list(got.ids))
    assert all("vacuum" in rows[c].text.lower() or "tuples" in rows[c].text.lower() for c in got.ids)
    assert not reader.lexical_search("zebra", 5).ids
    # a writer whose url does not ask for it still keeps the tsvectors of what it writes
    _index(POSTGRES.create_or_open(pg_url, "docs", CONFIG, model=embedder.name, dim=embedder.dim), corpus, embedder)
    found = reader.lexical_search("risotto arborio rice", 5)
    assert found.ids and all("notes/" in r.source for r in reader.fetch(list(found.ids)).values())
    filtered = reader.lexical_search("table", 20, Filters.parse(["kind=text"]))
    assert filtered.ids and {r.kind for r in reader.fetch(list(filtered.ids)).values()} == {"text"}


def test_other_tokenizer_settings_make_the_postings_again(pg_url: str, corpus: Path, embedder) -> None:  # noqa: F811
    writer = POSTGRES.create_or_open(pg_url, "docs", CONFIG, model=embedder.name, dim=embedder.dim)
    _index(writer, corpus, embedder)
    reader = POSTGRES.open(pg_url, "docs")
    assert reader.postings("the") is None
    plain = LexicalConfig(stopwords=None, stemmer=None)
    config = CONFIG.model_copy(update={"lexical": plain})
    writer = POSTGRES.create_or_open(pg_url, "docs", config, model=embedder.name, dim=embedder.dim)
    (corpus / "notes" / "note00.txt").write_text("The tables are set for the dinner guests.\n")
    _index(writer, corpus, embedder, config)
    ref = Reference.of(corpus, embedder)
    time.sleep(1.1)  # the reader reads the stored settings again
    assert reader.info.lexical == plain and reader.tokens("The Tables") == ["the", "tables"]
    assert reader.postings("the") is not None
    for query in ("the tables", "vacuum dead tuples"):
        assert_ranking(reader.lexical_search(query, 10), ranked(ref.bm25(query, plain)), 10, query)


def test_collections_are_created_once_when_writers_race(pg_url: str) -> None:  # noqa: F811
    got, errors = [], []

    def create() -> None:
        try:
            got.append(POSTGRES.create_or_open(pg_url, "docs", CONFIG, model="m", dim=8).id)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=create) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and len(set(got)) == 1 and POSTGRES.list_collections(pg_url) == ["docs"]
    store = POSTGRES.open(pg_url, "docs")
    assert store.vectors(["nope"]).shape == (1, 8) and not np.any(store.vectors(["nope"]))


@pytest.mark.parametrize("method", ["lucene", "atire"])
def test_pruned_bm25_is_bm25s_exactly_on_skewed_vocabularies(
    pg_url: str,  # noqa: F811
    method: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """MaxScore skips the commonest tokens' postings: on a Zipf-distributed vocabulary (common tokens in most chunks,
    rare ones in few), every top k with and without a filter is still bm25s's, score for score."""
    from kenning.index.lexical import LexicalIndex
    from kenning.store.postgres import bm25
    from kenning.types import Chunk, Document

    split, skipped = bm25._split, []

    def counting(terms, theta):  # noqa: ANN001, ANN202 - records how many tokens the search skipped
        essential, common = split(terms, theta)
        skipped.append(len(common))
        return essential, common

    monkeypatch.setattr(bm25, "_split", counting)

    rng = np.random.default_rng(5)
    vocab = [f"w{i}x" for i in range(800)]
    p = 1.0 / np.arange(1, len(vocab) + 1) ** 1.1
    p /= p.sum()
    config = CONFIG.model_copy(update={"lexical": LexicalConfig(method=method)})
    store = POSTGRES.create_or_open(pg_url, "zipf", config, model="m", dim=4)
    texts, html = [], []
    with store.locked():
        with store.catalog.transaction():
            for d in range(120):
                parts = [
                    " ".join(vocab[w] for w in rng.choice(len(vocab), size=rng.integers(3, 40), p=p)) for _ in range(6)
                ]
                doc = Document(f"d{d}", f"/z/{d}.txt", "html" if d % 3 == 0 else "text", "\n".join(parts))
                chunks, start = [], 0
                for j, part in enumerate(parts):
                    chunks.append(Chunk(f"d{d}::{j}", f"d{d}", j, part, start, start + len(part), 5))
                    start += len(part) + 1
                hashes = [f"h{d}-{j}" for j in range(len(parts))]
                store.catalog.put_vectors(hashes, np.full((len(parts), 4), 0.5, dtype=np.float32))
                store.catalog.put_document(doc, chunks, hashes, "fp")
                store.catalog.put_source(doc.source, "/z", doc.doc_id, "raw", {})
                texts += parts
                html += [d % 3 == 0] * len(parts)
        store.publish()
    reference = LexicalIndex.build(texts, config.lexical)
    mask = np.array(html)
    for _ in range(60):
        query = " ".join(vocab[w] for w in rng.choice(len(vocab), size=rng.integers(1, 8), p=p))
        for k in (1, 3, 10, 50):
            for filters, allowed in ((None, None), (Filters.parse(["kind=html"]), mask)):
                _, want = reference.search(query, k, allowed)
                got = store.lexical_search(query, k, filters)
                assert list(got.scores) == pytest.approx(want.tolist(), rel=1e-4, abs=1e-6), (query, k, filters)
    assert sum(n > 0 for n in skipped) > len(skipped) // 4, "the searches hardly ever pruned: the test tests little"


def test_put_documents_stores_a_batch_as_put_document_stores_each(pg_url: str) -> None:  # noqa: F811
    from kenning.types import Chunk, Document

    def doc(i: int, words: str) -> tuple[Document, list[Chunk], list[str], str]:
        text = f"{words} number {i}"
        d = Document(f"b{i}", f"/b/{i}.txt", "text", text)
        return d, [Chunk(f"b{i}::0", f"b{i}", 0, text, 0, len(text), 4)], [f"bh{i}"], "fp"

    one, many = (POSTGRES.create_or_open(pg_url, name, CONFIG, model="m", dim=4) for name in ("one", "many"))
    items = [doc(0, "vacuum tables"), doc(1, "replication slots"), doc(2, "vacuum freeze"), doc(1, "wal replay")]
    vectors = np.eye(4, dtype=np.float32)[[0, 1, 2, 3]]
    for store in (one, many):
        with store.locked():
            with store.catalog.transaction():
                store.catalog.put_vectors(["bh0", "bh1", "bh2"], vectors[:3])
                if store is one:
                    for item in items:
                        store.catalog.put_document(*item)
                else:
                    store.catalog.put_documents(items)
                for d, _, _, _ in items:
                    store.catalog.put_source(d.source, "/b", d.doc_id, "raw", {})
            store.publish()
    assert one.counts() == many.counts() == (3, 3)
    assert many.fetch(["b1::0"])["b1::0"].text == "wal replay number 1"
    for query in ("vacuum", "wal replay", "number"):  # (ties may break otherwise: b1 was stored again, later, in one)
        a, b = one.lexical_search(query, 5), many.lexical_search(query, 5)
        assert dict(zip(a.ids, a.scores, strict=True)) == pytest.approx(dict(zip(b.ids, b.scores, strict=True)))
    assert one.term_weights("vacuum wal") == many.term_weights("vacuum wal")
