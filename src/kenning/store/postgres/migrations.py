"""Numbered PostgreSQL migrations for kenning's schema. Append new ones; never edit a released one.

Everything lives in the schema ``kenning``, shared by every collection in the database (rows carry their
collection's id). ``kenning.schema_migrations`` records which migrations ran; they run in one transaction under an
advisory lock, so several kenning processes starting at once against a new database migrate it exactly once.

BM25's term statistics are kept by triggers on ``chunks`` (statement-level, over the rows a statement inserted or
deleted), in the same transaction as the chunks themselves: ``postings`` (term, chunk, tf, chunk length), each term's
document frequency in ``terms``, and each collection's chunk count and total length. kenning's writers gather the
counts' changes in a temporary table and add them once, at the end of each transaction (:data:`DELTAS`,
:data:`FOLD`); a rebuild sets ``kenning.bulk = on`` for its transaction and recomputes everything itself.
"""

from __future__ import annotations

import psycopg

from ...errors import ConfigError, IndexError_

__all__ = ["DELTAS", "FOLD", "MIGRATIONS", "LOCK_MIGRATE", "LOCK_WRITE", "migrate"]

# advisory lock keys (class, object): 'kenn' as an int, then the collection id for the write lock
LOCK_MIGRATE = (0x6B656E6E, 0)
LOCK_WRITE = 0x6B656E6F

MIGRATIONS: list[str] = [
    # 1: collections (the typed manifest as JSON, and counters), documents, sources, chunks with their vectors (a
    # pgvector column without a fixed dimension: each collection's HNSW index is a partial index over a cast to its
    # own dimension), BM25 term statistics, vectors staged before their chunks, and LLM-written contexts.
    """
    CREATE TABLE kenning.collections (
        id                     serial PRIMARY KEY,
        name                   text NOT NULL UNIQUE,
        manifest               jsonb NOT NULL,          -- embedder, chunking, context, lexical, dense settings
        dim                    integer NOT NULL CHECK (dim > 0),
        created_at             double precision NOT NULL,
        data_version           bigint NOT NULL DEFAULT 0,   -- bumped by every committed write transaction
        published_version      bigint NOT NULL DEFAULT 0,   -- bumped by publish()
        published_data_version bigint,                      -- data_version as last published (NULL: never)
        n_chunks               bigint NOT NULL DEFAULT 0,   -- BM25's N (kept by the chunk triggers)
        sum_dl                 bigint NOT NULL DEFAULT 0,   -- total chunk length in tokens: avgdl = sum_dl / N
        analyzed_chunks        bigint NOT NULL DEFAULT 0,   -- n_chunks when the tables were last ANALYZEd for it
        lexical_key            text NOT NULL DEFAULT '',    -- tokenizer settings the postings were made with
        fts_config             regconfig,                   -- not NULL: chunk_fts is kept, with this configuration
        ann                    text NOT NULL DEFAULT 'exact' CHECK (ann IN ('exact', 'hnsw'))
    );
    CREATE TABLE kenning.documents (
        collection integer NOT NULL REFERENCES kenning.collections(id) ON DELETE CASCADE,
        doc_id     text NOT NULL,
        kind       text NOT NULL,
        title      text NOT NULL,
        text       text NOT NULL,
        sections   jsonb NOT NULL,          -- [[level, title, start], ...]
        metadata   jsonb NOT NULL,
        chunker    text NOT NULL,           -- the chunking fingerprint the chunks were made with
        created_at double precision NOT NULL,
        PRIMARY KEY (collection, doc_id)
    );
    CREATE TABLE kenning.sources (
        collection integer NOT NULL,
        source     text NOT NULL,           -- file path, archive!/member or corpus.jsonl#id
        root       text NOT NULL,           -- the indexed path it was found under
        doc_id     text NOT NULL,
        raw_hash   text NOT NULL,
        metadata   jsonb NOT NULL,
        updated_at double precision NOT NULL,
        PRIMARY KEY (collection, source),
        FOREIGN KEY (collection, doc_id) REFERENCES kenning.documents (collection, doc_id)
    );
    CREATE INDEX sources_doc ON kenning.sources (collection, doc_id);
    CREATE INDEX sources_root ON kenning.sources (collection, root);
    CREATE TABLE kenning.chunks (
        id           bigserial PRIMARY KEY,
        collection   integer NOT NULL,
        chunk_id     text NOT NULL,
        doc_id       text NOT NULL,
        idx          integer NOT NULL,
        text         text NOT NULL,
        start        integer NOT NULL,
        "end"        integer NOT NULL,
        n_tokens     integer NOT NULL,
        heading_path jsonb NOT NULL,
        embed_hash   text NOT NULL,
        context      text NOT NULL DEFAULT '',
        embedding    vector NOT NULL,       -- L2-normalised: inner product is cosine similarity
        n_terms      integer NOT NULL,      -- BM25 length: tokens after stop words
        terms        bigint[] NOT NULL,     -- the distinct kenning.terms ids in the chunk
        tfs          integer[] NOT NULL,    -- how often each of them occurs
        UNIQUE (collection, chunk_id),
        FOREIGN KEY (collection, doc_id) REFERENCES kenning.documents (collection, doc_id) ON DELETE CASCADE
    );
    -- vectors stay in the row (pgvector's type would move them out of line once a row passes 2 kB)
    ALTER TABLE kenning.chunks ALTER COLUMN embedding SET STORAGE MAIN;
    CREATE INDEX chunks_doc ON kenning.chunks (collection, doc_id, idx);
    CREATE INDEX chunks_embed ON kenning.chunks (collection, embed_hash);
    -- full-text search vectors, for the collections that keep them (a table of their own: filling them for a
    -- collection never rewrites its chunk rows, nor their HNSW entries)
    CREATE TABLE kenning.chunk_fts (
        chunk      bigint PRIMARY KEY REFERENCES kenning.chunks(id) ON DELETE CASCADE,
        collection integer NOT NULL,
        tsv        tsvector NOT NULL
    );
    CREATE TABLE kenning.terms (
        id         bigserial PRIMARY KEY,
        collection integer NOT NULL REFERENCES kenning.collections(id) ON DELETE CASCADE,
        term       text NOT NULL,
        df         integer NOT NULL DEFAULT 0,  -- chunks holding it
        UNIQUE (collection, term)
    ) WITH (fillfactor = 50);  -- room on each page, so that updating df never touches the indexes (HOT)
    CREATE TABLE kenning.postings (
        term  bigint NOT NULL,
        chunk bigint NOT NULL,
        tf    integer NOT NULL,
        dl    integer NOT NULL,                 -- the chunk's length, so scoring never reads the chunk
        PRIMARY KEY (term, chunk) INCLUDE (tf, dl)
    );
    CREATE TABLE kenning.vectors (
        collection integer NOT NULL REFERENCES kenning.collections(id) ON DELETE CASCADE,
        embed_hash text NOT NULL,
        embedding  vector NOT NULL,             -- staged: put before the chunks that will carry it
        PRIMARY KEY (collection, embed_hash)
    );
    CREATE TABLE kenning.contexts (
        collection        integer NOT NULL REFERENCES kenning.collections(id) ON DELETE CASCADE,
        key               text NOT NULL,
        context           text NOT NULL,
        model             text NOT NULL,
        prompt_tokens     integer NOT NULL,
        completion_tokens integer NOT NULL,
        cached_tokens     integer NOT NULL,
        cost_usd          double precision,
        seconds           double precision NOT NULL,
        created_at        double precision NOT NULL,
        PRIMARY KEY (collection, key)
    );

    -- the statistics a chunk statement changes: added to the statistics at once, or, in a session that made the
    -- temporary table kenning_delta (kenning's writers do, see fold_deltas), noted there and added once per
    -- transaction, which spares a common term's row an update per document
    CREATE FUNCTION kenning.chunks_added() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF current_setting('kenning.bulk', true) = 'on' OR NOT EXISTS (SELECT 1 FROM added) THEN
            RETURN NULL;
        END IF;
        INSERT INTO kenning.postings (term, chunk, tf, dl)
            SELECT u.term, a.id, u.tf, a.n_terms FROM added a, unnest(a.terms, a.tfs) AS u(term, tf);
        IF to_regclass('pg_temp.kenning_delta') IS NOT NULL THEN
            INSERT INTO pg_temp.kenning_delta (term, n)
                SELECT u.term, count(*) FROM added a, unnest(a.terms) AS u(term) GROUP BY u.term;
            INSERT INTO pg_temp.kenning_delta (collection, n, dl)
                SELECT collection, count(*), sum(n_terms) FROM added GROUP BY collection;
        ELSE
            UPDATE kenning.terms t SET df = t.df + x.n
                FROM (SELECT u.term, count(*) AS n FROM added a, unnest(a.terms) AS u(term) GROUP BY u.term) x
                WHERE t.id = x.term;
            UPDATE kenning.collections c SET n_chunks = c.n_chunks + x.n, sum_dl = c.sum_dl + x.dl
                FROM (SELECT collection, count(*) AS n, sum(n_terms) AS dl FROM added GROUP BY collection) x
                WHERE c.id = x.collection;
        END IF;
        RETURN NULL;
    END $$;
    CREATE TRIGGER chunks_added AFTER INSERT ON kenning.chunks
        REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION kenning.chunks_added();

    CREATE FUNCTION kenning.chunks_removed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF current_setting('kenning.bulk', true) = 'on' OR NOT EXISTS (SELECT 1 FROM removed) THEN
            RETURN NULL;
        END IF;
        DELETE FROM kenning.postings p
            USING (SELECT r.id, u.term FROM removed r, unnest(r.terms) AS u(term)) x
            WHERE p.term = x.term AND p.chunk = x.id;
        IF to_regclass('pg_temp.kenning_delta') IS NOT NULL THEN
            INSERT INTO pg_temp.kenning_delta (term, n)
                SELECT u.term, -count(*) FROM removed r, unnest(r.terms) AS u(term) GROUP BY u.term;
            INSERT INTO pg_temp.kenning_delta (collection, n, dl)
                SELECT collection, -count(*), -sum(n_terms) FROM removed GROUP BY collection;
        ELSE
            UPDATE kenning.terms t SET df = t.df - x.n
                FROM (SELECT u.term, count(*) AS n FROM removed r, unnest(r.terms) AS u(term) GROUP BY u.term) x
                WHERE t.id = x.term;
            UPDATE kenning.collections c SET n_chunks = c.n_chunks - x.n, sum_dl = c.sum_dl - x.dl
                FROM (SELECT collection, count(*) AS n, sum(n_terms) AS dl FROM removed GROUP BY collection) x
                WHERE c.id = x.collection;
        END IF;
        RETURN NULL;
    END $$;
    CREATE TRIGGER chunks_removed AFTER DELETE ON kenning.chunks
        REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION kenning.chunks_removed();

    -- a filter's key=value on metadata: the value as JSON text (a string unquoted), a boolean also as 1/0 (as
    -- SQLite's json_extract reads it)
    CREATE FUNCTION kenning.meta_is(meta jsonb, key text, vals text[]) RETURNS boolean
        LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT (meta ->> key) = ANY(vals)
            OR (jsonb_typeof(meta -> key) = 'boolean'
                AND (CASE WHEN (meta -> key)::boolean THEN '1' ELSE '0' END) = ANY(vals))
    $$;

    -- the lexical columns change only in a rebuild, which recomputes the statistics itself
    CREATE FUNCTION kenning.chunks_terms_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF current_setting('kenning.bulk', true) = 'on' THEN
            RETURN NEW;
        END IF;
        RAISE EXCEPTION 'kenning.chunks: terms, tfs and n_terms change only in a rebuild (kenning.bulk = on)';
    END $$;
    CREATE TRIGGER chunks_terms_fixed BEFORE UPDATE OF terms, tfs, n_terms ON kenning.chunks
        FOR EACH ROW EXECUTE FUNCTION kenning.chunks_terms_fixed();
    """,
]


# a writer's session table of statistics changes, and what adds them to the statistics before its transaction commits
DELTAS = (
    "CREATE TEMP TABLE IF NOT EXISTS kenning_delta (term bigint, collection integer, n bigint NOT NULL, dl bigint) "
    "ON COMMIT DELETE ROWS"
)
FOLD = (
    "UPDATE kenning.terms t SET df = t.df + x.n FROM (SELECT term, sum(n) AS n FROM pg_temp.kenning_delta "
    "WHERE term IS NOT NULL GROUP BY term) x WHERE t.id = x.term AND x.n <> 0; "
    "UPDATE kenning.collections c SET n_chunks = c.n_chunks + x.n, sum_dl = c.sum_dl + x.dl "
    "FROM (SELECT collection, sum(n) AS n, sum(dl) AS dl FROM pg_temp.kenning_delta WHERE term IS NULL "
    "GROUP BY collection) x WHERE c.id = x.collection; "
    "DELETE FROM pg_temp.kenning_delta"
)


def migrate(conn: psycopg.Connection, shown: str) -> None:
    """Apply the migrations this database lacks, once, under an advisory lock (``conn`` is autocommit)."""
    try:
        _migrate(conn, shown)
    except psycopg.errors.InsufficientPrivilege as exc:
        user = conn.info.user
        raise ConfigError(
            f"the PostgreSQL store {shown}: user {user!r} may not create kenning's tables ({str(exc).strip()}); "
            f"as the database owner run: CREATE SCHEMA kenning AUTHORIZATION {user}; (or GRANT CREATE ON DATABASE "
            f"… TO {user};)"
        ) from None


def _migrate(conn: psycopg.Connection, shown: str) -> None:
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", LOCK_MIGRATE)
        if conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = 'kenning'").fetchone() is None:
            conn.execute("CREATE SCHEMA kenning")  # (IF NOT EXISTS would need CREATE on the database even when it is)
        conn.execute(
            "CREATE TABLE IF NOT EXISTS kenning.schema_migrations ("
            "version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        row = conn.execute("SELECT coalesce(max(version), 0) FROM kenning.schema_migrations").fetchone()
        current = int(row[0]) if row else 0
        if current > len(MIGRATIONS):
            raise IndexError_(
                f"the PostgreSQL store {shown} has kenning schema version {current}, newer than this kenning's "
                f"({len(MIGRATIONS)}); upgrade kenning"
            )
        for number in range(current, len(MIGRATIONS)):
            conn.execute(MIGRATIONS[number])
            conn.execute("INSERT INTO kenning.schema_migrations (version) VALUES (%s)", (number + 1,))
