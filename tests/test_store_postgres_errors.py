"""The PostgreSQL store's bad inputs, each against a real temporary cluster: an unreachable or unusable server, a
missing pgvector, a collection built with another embedder, a connection dropped in the middle of a write — a clear
kenning error naming the store (never its password), and nothing half-written."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("psycopg", reason="the postgres extra is not installed")

from kenning.config import KenningConfig
from kenning.errors import CollectionNotFound, ConfigError, IndexError_, IndexLockedError
from kenning.store.postgres import POSTGRES
from kenning.store.postgres.pool import check_pgvector, check_server
from kenning.store.registry import backend
from kenning.types import Chunk, Document

from .pg_cluster import PgCluster, pg_cluster, pg_url  # noqa: F401  (pytest fixtures)

CONFIG = KenningConfig()


def _doc(i: int, n_chunks: int = 3) -> tuple[Document, list[Chunk], list[str]]:
    parts = [f"Part {j} of document {i} about tables and vacuum." for j in range(n_chunks)]
    text = " ".join(parts)
    doc = Document(doc_id=f"doc{i}", source=f"/corpus/doc{i}.md", kind="markdown", text=text, title=f"Doc {i}")
    chunks, start = [], 0
    for j, part in enumerate(parts):
        chunks.append(Chunk(f"doc{i}::{j}", f"doc{i}", j, part, start, start + len(part), 8))
        start += len(part) + 1
    return doc, chunks, [f"h{i}-{j}" for j in range(n_chunks)]


def _vectors(n: int, dim: int = 8, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _write(store, i: int) -> None:  # noqa: ANN001
    doc, chunks, hashes = _doc(i)
    store.catalog.put_vectors(hashes, _vectors(len(hashes), seed=i))
    store.catalog.put_document(doc, chunks, hashes, "fp")
    store.catalog.put_source(doc.source, "/corpus", doc.doc_id, f"raw{i}", {"path": f"doc{i}.md"})


def _database(url: str) -> str:
    return url.split("://", 1)[1].split("/", 1)[1].split("?", 1)[0]


# -- the server -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url, shown",
    [
        ("postgresql://kenning:s3cret@127.0.0.1:1/kenning", "postgresql://kenning:***@127.0.0.1:1/kenning"),
        ("postgresql://kenning@/kenning?host=/nonexistent/socket/dir", "postgresql://kenning@/kenning?host="),
    ],
    ids=["refused", "no-socket"],
)
def test_an_unreachable_server_is_named_without_its_password(url: str, shown: str) -> None:
    for call in (lambda: POSTGRES.open(url, "docs"), lambda: backend(url).list_collections(url)):
        with pytest.raises(IndexError_) as failed:
            call()
        message = str(failed.value)
        assert shown in message and "s3cret" not in message, message
        assert "is the server running" in message


def test_a_server_older_than_13_is_refused_by_version() -> None:
    with pytest.raises(ConfigError, match=r"runs PostgreSQL 12\.17; kenning needs PostgreSQL 13 or newer"):
        check_server(120017, "postgresql://db/k")
    check_server(130000, "postgresql://db/k")


def test_a_server_without_pgvector_says_how_to_install_it() -> None:
    with pytest.raises(ConfigError) as missing:
        check_pgvector(None, None, "postgresql://db/k")
    assert "scripts/postgres.sh" in str(missing.value) and "CREATE EXTENSION vector" in str(missing.value)
    with pytest.raises(ConfigError, match="ALTER EXTENSION vector UPDATE"):
        check_pgvector("0.7.4", "0.7.4", "postgresql://db/k")
    check_pgvector("0.8.0", "0.8.0", "postgresql://db/k")


def test_a_database_without_pgvector_that_the_user_may_not_add_is_explained(pg_cluster: PgCluster) -> None:  # noqa: F811
    pg_cluster.psql("DROP DATABASE IF EXISTS novector")
    pg_cluster.psql("DROP ROLE IF EXISTS plain")
    pg_cluster.psql("CREATE ROLE plain LOGIN")
    pg_cluster.psql("CREATE DATABASE novector OWNER plain TEMPLATE template0")  # no pgvector in it
    url = f"postgresql://plain@/novector?host={pg_cluster.folder}"
    try:
        with pytest.raises(ConfigError) as refused:
            POSTGRES.list_collections(url)
        message = str(refused.value)
        assert "pgvector" in message and "CREATE EXTENSION vector" in message and "plain@/novector" in message
    finally:
        pg_cluster.drop_database("novector")


def test_a_user_who_may_not_create_tables_is_told_what_to_grant(pg_cluster: PgCluster) -> None:  # noqa: F811
    pg_cluster.psql("DROP DATABASE IF EXISTS nocreate")
    pg_cluster.psql("DROP ROLE IF EXISTS reader")
    pg_cluster.psql("CREATE ROLE reader LOGIN")
    pg_cluster.psql("CREATE DATABASE nocreate TEMPLATE kenning_template")  # pgvector there, owned by kenning
    pg_cluster.psql("REVOKE CREATE ON DATABASE nocreate FROM PUBLIC")
    try:
        with pytest.raises(ConfigError, match="CREATE SCHEMA kenning AUTHORIZATION reader"):
            POSTGRES.list_collections(f"postgresql://reader@/nocreate?host={pg_cluster.folder}")
    finally:
        pg_cluster.drop_database("nocreate")


def test_a_database_migrated_by_a_newer_kenning_is_refused(pg_cluster: PgCluster, pg_url: str) -> None:  # noqa: F811
    assert POSTGRES.list_collections(pg_url) == []  # migrated by this kenning
    pg_cluster.psql("INSERT INTO kenning.schema_migrations (version) VALUES (99)", _database(pg_url))
    with pytest.raises(IndexError_, match="schema version 99, newer than this kenning's"):
        POSTGRES.list_collections(pg_url + "&application_name=newer")  # another URL: connected (and checked) anew


def test_kenning_settings_in_the_url_are_checked(pg_url: str) -> None:  # noqa: F811
    with pytest.raises(ConfigError, match="lexical='bm26' is unknown; known: bm25, fts"):
        POSTGRES.create_or_open(pg_url + "&lexical=bm26", "docs", CONFIG, model="m", dim=8)
    with pytest.raises(ConfigError, match="ef_search must be a whole number from 1 to 1000, got '0'"):
        POSTGRES.open(pg_url + "&ef_search=0", "docs")


# -- collections ------------------------------------------------------------------------------------------------


def test_a_missing_collection_names_the_known_ones(pg_url: str) -> None:  # noqa: F811
    POSTGRES.create_or_open(pg_url, "docs", CONFIG, model="m", dim=8).close()
    with pytest.raises(CollectionNotFound) as missing:
        POSTGRES.open(pg_url, "nope")
    assert "no collection 'nope'" in str(missing.value) and "Known collections: docs" in str(missing.value)
    with pytest.raises(ConfigError, match="is not allowed"):
        POSTGRES.open(pg_url, "../etc")


def test_another_embedder_is_refused_naming_both(pg_url: str) -> None:  # noqa: F811
    store = POSTGRES.create_or_open(pg_url, "docs", CONFIG, model="minilm-l6", dim=8)
    store.close()
    with pytest.raises(ConfigError) as refused:
        POSTGRES.create_or_open(pg_url, "docs", CONFIG, model="bge-small", dim=384)
    message = str(refused.value)
    assert "'docs'" in message and "minilm-l6 (dim 8)" in message and "bge-small (dim 384)" in message
    assert POSTGRES.open(pg_url, "docs").info.embedder.model == "minilm-l6"


# -- a connection dropped mid-write -----------------------------------------------------------------------------


def _terminate_writers(cluster: PgCluster, url: str) -> int:
    database = _database(url)
    out = cluster.psql(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        f"WHERE datname = '{database}' AND state LIKE 'idle in transaction%'"
    )
    return int(out)


def test_a_connection_dropped_mid_transaction_writes_nothing(pg_cluster: PgCluster, pg_url: str) -> None:  # noqa: F811
    writer = POSTGRES.create_or_open(pg_url, "docs", CONFIG, model="m", dim=8)
    with writer.locked():
        with writer.catalog.transaction():
            _write(writer, 0)
        writer.publish()
    reader = POSTGRES.open(pg_url, "docs")
    before = sorted(reader.chunk_ids())
    assert len(before) == 3

    with writer.locked():
        with pytest.raises(IndexError_) as lost:
            with writer.catalog.transaction():
                _write(writer, 1)  # a whole document, uncommitted
                _write(writer, 2)
                assert _terminate_writers(pg_cluster, pg_url) == 1  # the server ends the writer's session
                _write(writer, 3)
        message = str(lost.value)
        assert "lost the connection" in message and "nothing of it was written" in message
        assert "postgresql://kenning@/" in message
        # the lock went with the connection: another writer may take it, and this one is told it lost it
        other = POSTGRES.open(pg_url, "docs", write=True)
        with other.locked():
            pass
        with pytest.raises(IndexError_, match="the connection holding its write lock .* was lost"):
            with writer.catalog.transaction():
                _write(writer, 4)
    assert sorted(reader.chunk_ids()) == before  # nothing of documents 1–3 exists
    assert reader.counts() == (1, 3)
    assert reader.fetch(["doc1::0", "doc2::0"]) == {}
    assert reader.catalog.document("doc1") is None and reader.catalog.source_state("/corpus/doc1.md") is None
    assert reader.term_weights("document") == pytest.approx({"document": float(np.log(1 + 0.5 / 3.5))})

    again = POSTGRES.create_or_open(pg_url, "docs", CONFIG, model="m", dim=8)
    with again.locked():  # a fresh writer finishes the job
        with again.catalog.transaction():
            for i in (1, 2, 3):
                _write(again, i)
        assert again.publish() is not None
    assert len(reader.chunk_ids()) == 12 and reader.counts() == (4, 12)


def test_a_second_writer_is_told_the_collection_is_busy(pg_url: str) -> None:  # noqa: F811
    first = POSTGRES.create_or_open(pg_url, "docs", CONFIG, model="m", dim=8)
    second = POSTGRES.open(pg_url, "docs", write=True)
    with first.locked():
        with pytest.raises(IndexLockedError, match="'docs' is being written by another kenning process"):
            with second.locked():
                pass
    with second.locked():
        pass


def test_readers_reconnect_after_the_server_dropped_their_connections(
    pg_cluster: PgCluster,  # noqa: F811
    pg_url: str,  # noqa: F811
) -> None:
    writer = POSTGRES.create_or_open(pg_url, "docs", CONFIG, model="m", dim=8)
    with writer.locked():
        with writer.catalog.transaction():
            _write(writer, 0)
        writer.publish()
    reader = POSTGRES.open(pg_url, "docs")
    assert len(reader.lexical_search("vacuum", 10)) == 3
    database = _database(pg_url)
    pg_cluster.psql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database}'")
    assert len(reader.lexical_search("vacuum", 10)) == 3  # the pool noticed and connected again
    assert len(reader.dense_search(_vectors(1)[0], 2)) == 2
