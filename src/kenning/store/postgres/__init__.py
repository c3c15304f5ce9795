"""The PostgreSQL + pgvector store: one database shared by every kenning process (indexers and servers, on any
number of machines), holding any number of collections. ``pip install 'kenning[postgres]'``, then
``[store] url = "postgresql://user@host/db"`` in kenning.toml (or ``--store``).

- :mod:`.pool` — the URL's settings, one connection pool per URL per process, the server checks;
- :mod:`.migrations` — numbered SQL migrations, applied once under an advisory lock;
- :mod:`.store` — :class:`PostgresStore`, one collection (searching, the write lock, publishing);
- :mod:`.catalog` — :class:`PgCatalog`, its rows, written in transactions;
- :mod:`.lexical` — BM25 from term tables (matching bm25s) or PostgreSQL full-text search;
- :mod:`.dense` — exact or HNSW (pgvector) search, filtered with iterative scans;
- :mod:`.filters` — :class:`~kenning.store.Filters` compiled to PostgreSQL SQL.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from psycopg.types.json import Jsonb

from ...errors import CollectionNotFound
from ..base import Manifest
from ..registry import check_name
from .migrations import MIGRATIONS
from .pool import Database, Settings, connect
from .store import PostgresStore, row_by_name

if TYPE_CHECKING:
    from ...config import KenningConfig

__all__ = ["POSTGRES", "PostgresStore", "Settings", "connect"]

FORMAT_VERSION = 1


class _PostgresBackend:
    """The PostgreSQL store as a :class:`kenning.store.registry.Backend`: ``location`` is the store URL."""

    def open(self, location: str | Path, name: str, *, write: bool = False) -> PostgresStore:
        """Open a collection to read (or ``write``: the caller takes the lock before changing anything)."""
        db = connect(str(location))
        check_name(name)
        with db.connection() as conn:
            row = row_by_name(conn, name)
        if row is None:
            known = self._names(db)
            hint = f" Known collections: {', '.join(known)}." if known else ""
            raise CollectionNotFound(
                f"no collection {name!r} in {db.shown}.{hint} Create it with: kenning index PATH --collection {name} "
                f"--store URL"
            )
        return PostgresStore(db, row, write=write)

    def create_or_open(
        self, location: str | Path, name: str, config: KenningConfig, *, model: str, dim: int
    ) -> PostgresStore:
        """Open a collection for writing, creating it with these settings if it does not exist.

        An existing collection keeps its embedder; asking for another one is an error, since its vectors would not
        be comparable. Chunking, context, BM25 and dense settings may change: they are stored at the next publish.
        """
        db = connect(str(location))
        check_name(name)
        settings = {
            "chunking": config.chunking.model_dump(),
            "context": config.context.model_dump(),
            "lexical": config.lexical.model_dump(),
            "dense": config.dense.model_dump(),
        }
        new = Manifest.new(name, config, model=model, dim=dim, schema_version=len(MIGRATIONS), store="postgresql")
        manifest = {**new.to_dict(), "format": FORMAT_VERSION}
        from .lexical import Tokenizer

        with db.connection() as conn:
            conn.execute(
                "INSERT INTO kenning.collections (name, manifest, dim, created_at, lexical_key) "
                "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (name) DO NOTHING",
                (name, Jsonb(manifest), dim, manifest["created_at"], Tokenizer.key(config.lexical)),
            )
            row = row_by_name(conn, name)
        if row is None:  # deleted between the two statements
            raise CollectionNotFound(f"collection {name!r} was deleted from {db.shown} while being opened")
        Manifest.from_dict({**row[2], "name": name}, store="postgresql").check_embedder(model, dim)
        store = PostgresStore(db, row, write=True)
        store.set_pending(settings)
        return store

    def list_collections(self, location: str | Path) -> list[str]:
        return self._names(connect(str(location)))

    def delete(self, location: str | Path, name: str) -> None:
        """Remove a collection and everything in it (waits for nobody: a writer at work makes it an error)."""
        store = self.open(location, name, write=True)
        try:
            store.delete()
        finally:
            store.close()

    @staticmethod
    def _names(db: Database) -> list[str]:
        with db.connection() as conn:
            rows = conn.execute('SELECT name FROM kenning.collections ORDER BY name COLLATE "C"').fetchall()
        return [r[0] for r in rows]


POSTGRES = _PostgresBackend()
