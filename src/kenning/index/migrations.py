"""Numbered SQLite migrations for the catalog. Append new ones; never edit a released one.

``PRAGMA user_version`` records how many have been applied.
"""

from __future__ import annotations

MIGRATIONS: list[str] = [
    # 1: documents, where they came from, their chunks, and vectors keyed by the hash of the text that was embedded.
    """
    CREATE TABLE documents (
        doc_id     TEXT PRIMARY KEY,
        kind       TEXT NOT NULL,
        title      TEXT NOT NULL,
        text       TEXT NOT NULL,
        sections   TEXT NOT NULL,          -- JSON [[level, title, start], ...]
        metadata   TEXT NOT NULL,          -- JSON object
        chunker    TEXT NOT NULL,          -- ChunkingConfig.fingerprint() the chunks were made with
        created_at REAL NOT NULL
    );
    CREATE TABLE sources (
        source     TEXT PRIMARY KEY,       -- file path, archive!/member or corpus.jsonl#id
        root       TEXT NOT NULL,          -- the indexed path it was found under
        doc_id     TEXT NOT NULL REFERENCES documents(doc_id),
        raw_hash   TEXT NOT NULL,
        metadata   TEXT NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE INDEX sources_doc ON sources(doc_id);
    CREATE INDEX sources_root ON sources(root);
    CREATE TABLE chunks (
        id           INTEGER PRIMARY KEY,
        chunk_id     TEXT NOT NULL UNIQUE,
        doc_id       TEXT NOT NULL REFERENCES documents(doc_id) ON DELETE CASCADE,
        idx          INTEGER NOT NULL,
        text         TEXT NOT NULL,
        start        INTEGER NOT NULL,
        end          INTEGER NOT NULL,
        n_tokens     INTEGER NOT NULL,
        heading_path TEXT NOT NULL,        -- JSON list
        embed_hash   TEXT NOT NULL
    );
    CREATE INDEX chunks_doc ON chunks(doc_id);
    CREATE INDEX chunks_embed ON chunks(embed_hash);
    CREATE TABLE vectors (
        embed_hash TEXT PRIMARY KEY,
        vector     BLOB NOT NULL           -- float32, little-endian
    );
    CREATE TABLE index_versions (
        version      INTEGER PRIMARY KEY,
        data_version INTEGER NOT NULL,
        n_chunks     INTEGER NOT NULL,
        ann          TEXT NOT NULL,
        created_at   REAL NOT NULL
    );
    CREATE TABLE state (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    INSERT INTO state VALUES ('data_version', '0');
    """,
]
