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
    # 2: context given back to chunks (issue 10). chunks.context is prepended to the chunk's text for embedding and
    # BM25 (the stored text and offsets stay exact); contexts caches LLM-written situating sentences by content, so a
    # re-index, a killed run or a changed setting never pays twice for the same chunk of the same document.
    """
    ALTER TABLE chunks ADD COLUMN context TEXT NOT NULL DEFAULT '';
    CREATE TABLE contexts (
        key               TEXT PRIMARY KEY,  -- blake2b(prompt version, model, document window, chunk text, limits)
        context           TEXT NOT NULL,
        model             TEXT NOT NULL,
        prompt_tokens     INTEGER NOT NULL,
        completion_tokens INTEGER NOT NULL,
        cached_tokens     INTEGER NOT NULL,
        cost_usd          REAL,              -- NULL: the model's price is unknown
        seconds           REAL NOT NULL,
        created_at        REAL NOT NULL
    );
    """,
    # 3: the catalog's identity (issue 14). A snapshot records the id of the catalog it was built from, so a catalog
    # that was lost and started again is never taken to match a snapshot of the old one because their data versions
    # happen to be equal.
    """
    INSERT OR IGNORE INTO state VALUES ('catalog_id', lower(hex(randomblob(16))));
    """,
]
