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
    # 4: graphs over the chunks (issue 12). Both the concept graph (LazyGraphRAG: noun-phrase concepts, no LLM) and
    # the GraphRAG entity graph (LLM-extracted) live here, told apart by ``kind``; every node, edge and community keeps
    # the chunk ids it came from. They are derived data: rebuilt in one transaction, never bumping data_version, and
    # graph_builds records the data_version each was built from (older than the chunks: stale). chunk_concepts caches
    # each chunk's concepts by extractor and text, so an update re-reads only changed chunks; llm_calls caches every
    # GraphRAG call by content (prompt version, model, input), so a changed setting re-pays only for what changed.
    """
    CREATE TABLE chunk_concepts (
        key      TEXT PRIMARY KEY,          -- blake2b(extractor name and version, chunk text)
        concepts TEXT NOT NULL              -- JSON list of the chunk's normalised concepts
    );
    CREATE TABLE graph_nodes (
        kind        TEXT NOT NULL,          -- concept | entity
        id          INTEGER NOT NULL,
        name        TEXT NOT NULL,
        type        TEXT NOT NULL,
        description TEXT NOT NULL,
        weight      REAL NOT NULL,
        chunk_ids   TEXT NOT NULL,          -- JSON list of chunk ids
        PRIMARY KEY (kind, id)
    );
    CREATE TABLE graph_edges (
        kind        TEXT NOT NULL,
        a           INTEGER NOT NULL,
        b           INTEGER NOT NULL,
        weight      REAL NOT NULL,
        count       INTEGER NOT NULL,
        description TEXT NOT NULL,
        chunk_ids   TEXT NOT NULL,          -- JSON list of chunk ids
        PRIMARY KEY (kind, a, b)
    );
    CREATE TABLE graph_communities (
        kind      TEXT NOT NULL,
        id        INTEGER NOT NULL,
        level     INTEGER NOT NULL,
        parent    INTEGER,                  -- NULL at the top level
        title     TEXT NOT NULL,
        node_ids  TEXT NOT NULL,            -- JSON list of graph_nodes ids
        chunk_ids TEXT NOT NULL,            -- JSON list of chunk ids
        report    TEXT NOT NULL,            -- JSON object (GraphRAG's community report), {} when none
        PRIMARY KEY (kind, id)
    );
    CREATE TABLE graph_builds (
        kind         TEXT PRIMARY KEY,
        data_version INTEGER NOT NULL,      -- the catalog's data_version the graph was built from
        settings     TEXT NOT NULL,         -- JSON
        stats        TEXT NOT NULL,         -- JSON: counts, seconds, LLM calls and tokens
        created_at   REAL NOT NULL
    );
    CREATE TABLE llm_calls (
        key               TEXT PRIMARY KEY, -- blake2b(prompt name and version, model, typed input)
        prompt            TEXT NOT NULL,    -- prompt name@version
        model             TEXT NOT NULL,
        output            TEXT NOT NULL,    -- the reply's text
        prompt_tokens     INTEGER NOT NULL,
        completion_tokens INTEGER NOT NULL,
        cost_usd          REAL,             -- NULL: the model's price is unknown
        seconds           REAL NOT NULL,
        created_at        REAL NOT NULL
    );
    """,
]
