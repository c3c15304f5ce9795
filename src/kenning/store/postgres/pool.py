"""One PostgreSQL database as kenning reaches it: the URL's settings, a connection pool per URL per process, and
the checks made once when a process first connects (server version, pgvector, migrations).

A store URL is libpq's (``postgresql://user:password@host:port/db?sslmode=require``, or a unix socket folder as
``?host=/run/postgresql``) plus a few kenning settings in its query, taken out before libpq sees it:

- ``lexical=bm25|fts``: how lexical search ranks (BM25 from term tables, the default; or PostgreSQL full-text
  search's ``ts_rank_cd``, see :mod:`kenning.store.postgres.lexical`);
- ``ef_search=N``: pgvector's ``hnsw.ef_search`` for this process (default: the collection's
  ``dense.hnsw_ef_search``, at most 1000);
- ``pool_size=N``: connections this process keeps open to the database (default 8).

Every failure to reach the server, or a connection lost mid-statement, becomes a :class:`~kenning.errors.IndexError_`
naming the URL without its password; a server kenning cannot use (too old, no pgvector) a
:class:`~kenning.errors.ConfigError` saying what to install.

>>> settings = Settings.parse("postgresql://k:pw@db/rag?lexical=fts&sslmode=require&ef_search=200")
>>> settings.conninfo, settings.lexical, settings.ef_search
('postgresql://k:pw@db/rag?sslmode=require', 'fts', 200)
>>> settings.shown
'postgresql://k:***@db/rag?lexical=fts&sslmode=require&ef_search=200'
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg.types import TypeInfo
from psycopg_pool import ConnectionPool, PoolTimeout

from ...errors import ConfigError, IndexError_
from ..registry import redact
from .migrations import migrate

__all__ = ["Database", "Settings", "check_pgvector", "check_server", "close_all", "connect", "lost"]

MIN_SERVER = 130000  # PostgreSQL 13: pgvector 0.8's oldest
MIN_PGVECTOR = (0, 8, 0)  # iterative index scans (filtered HNSW search that keeps its recall)
INSTALL_HINT = (
    "install pgvector on the server (scripts/postgres.sh builds pgvector 0.8.0 for PostgreSQL 15 on Debian), then "
    "run CREATE EXTENSION vector; in the database as its owner or a superuser"
)
_CONNECT_TIMEOUT = 10  # seconds to reach the server
_POOL_TIMEOUT = 30.0  # seconds to wait for a free (or new) connection


@dataclass(frozen=True, slots=True)
class Settings:
    """A store URL taken apart: what libpq is given, and kenning's own settings."""

    url: str  # as given
    conninfo: str  # without kenning's settings
    lexical: str | None = None
    ef_search: int | None = None
    pool_size: int = 8

    @property
    def shown(self) -> str:
        """The URL as messages show it (no password)."""
        return redact(self.url)

    @classmethod
    def parse(cls, url: str) -> Settings:
        url = str(url).strip()
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("postgresql", "postgres"):
            raise ConfigError(f"store url {redact(url)!r} is not a postgresql:// URL")
        ours: dict[str, str] = {}
        theirs: list[tuple[str, str]] = []
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            (ours.__setitem__(key, value) if key in _SETTINGS else theirs.append((key, value)))
        query = urlencode(theirs, quote_via=quote)  # libpq reads %20, not +, as a space
        conninfo = urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))
        return cls(
            url=url,
            conninfo=conninfo,
            lexical=ours.get("lexical") or None,
            ef_search=_positive(url, "ef_search", ours.get("ef_search"), 1000),
            pool_size=_positive(url, "pool_size", ours.get("pool_size"), 1000) or 8,
        )


_SETTINGS = ("lexical", "ef_search", "pool_size")


def _positive(url: str, key: str, value: str | None, most: int) -> int | None:
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except ValueError:
        number = 0
    if not 0 < number <= most:
        raise ConfigError(f"store url {redact(url)!r}: {key} must be a whole number from 1 to {most}, got {value!r}")
    return number


class Database:
    """A connected database: its pool, and connections of its own for write locks."""

    def __init__(self, settings: Settings, pool: ConnectionPool, vector: TypeInfo) -> None:
        self.settings = settings
        self.pool = pool
        self._vector = vector

    @property
    def shown(self) -> str:
        return self.settings.shown

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        """A pooled connection (autocommit; open a transaction with ``conn.transaction()``)."""
        with lost(self.shown):
            with self.pool.connection() as conn:
                yield conn

    def dedicated(self) -> psycopg.Connection:
        """A connection outside the pool, for a session-level lock held as long as the connection lives."""
        with lost(self.shown, connecting=True):
            conn = psycopg.connect(self.settings.conninfo, autocommit=True, connect_timeout=_CONNECT_TIMEOUT)
        self.configure(conn)
        return conn

    def configure(self, conn: psycopg.Connection) -> None:
        """pgvector's numpy adapters on ``conn`` (the type was looked up once), and plans made for each statement's
        values: a statement prepared while a table was small would otherwise keep a plan made for a small table
        (a collection grows by orders of magnitude while one writer fills it)."""
        from pgvector.psycopg.vector import register_vector_info

        register_vector_info(conn, self._vector)
        conn.execute("SET plan_cache_mode = force_custom_plan")


@contextmanager
def lost(shown: str, *, writing: bool = False, connecting: bool = False) -> Iterator[None]:
    """Connection failures inside become :class:`IndexError_` naming the store (``shown``: the redacted URL)."""
    try:
        yield
    except PoolTimeout as exc:
        raise IndexError_(
            f"the PostgreSQL store {shown} gave no connection within {_POOL_TIMEOUT:.0f} s ({_first_line(exc)}); "
            "is the server up, and not out of connections?"
        ) from None
    except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
        if isinstance(exc, psycopg.errors.QueryCanceled):
            raise IndexError_(f"the PostgreSQL store {shown} cancelled a statement: {_first_line(exc)}") from None
        if isinstance(exc, psycopg.errors.TransactionRollback):  # a deadlock or serialization failure
            raise IndexError_(
                f"the PostgreSQL store {shown} rolled the transaction back ({_first_line(exc)}): another writer "
                "changed the same rows at the same moment; nothing of it was written, run the command again"
            ) from None
        if connecting:
            raise IndexError_(
                f"cannot connect to the PostgreSQL store {shown}: {_first_line(exc)}; is the server running and the "
                "[store] url (--store) right?"
            ) from None
        done = (
            "; the transaction was rolled back, nothing of it was written: run the command again"
            if writing
            else "; is the server running and the [store] url (--store) right?"
        )
        raise IndexError_(f"lost the connection to the PostgreSQL store {shown}: {_first_line(exc)}{done}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0].strip()


_POOLS: dict[tuple[int, str], Database] = {}
_POOLS_LOCK = threading.Lock()


def connect(url: str) -> Database:
    """The database at ``url``, connected once per process: checked, migrated, pooled."""
    settings = Settings.parse(url)
    key = (os.getpid(), settings.conninfo)  # a forked child never shares its parent's connections
    with _POOLS_LOCK:
        db = _POOLS.get(key)
        if db is not None:
            return db if db.settings == settings else Database(settings, db.pool, db._vector)
        vector = _prepare(settings)
        db = Database(settings, None, vector)  # type: ignore[arg-type]  # the pool needs db.configure
        db.pool = ConnectionPool(
            settings.conninfo,
            min_size=1,
            max_size=settings.pool_size,
            kwargs={"autocommit": True, "connect_timeout": _CONNECT_TIMEOUT},
            configure=db.configure,
            check=ConnectionPool.check_connection,
            timeout=_POOL_TIMEOUT,
            name=f"kenning {settings.shown}",
            open=True,
        )
        _POOLS[key] = db
        return db


def close_all() -> None:
    """Close every pool this process opened (tests; a process's pools otherwise live as long as it does)."""
    with _POOLS_LOCK:
        for db in _POOLS.values():
            db.pool.close()
        _POOLS.clear()


def _prepare(settings: Settings) -> TypeInfo:
    """Check the server once (reachable, recent enough, pgvector there) and apply kenning's migrations."""
    with lost(settings.shown, connecting=True):
        conn = psycopg.connect(settings.conninfo, autocommit=True, connect_timeout=_CONNECT_TIMEOUT)
    with conn, lost(settings.shown):
        check_server(conn.info.server_version, settings.shown)
        _check_pgvector(conn, settings.shown)
        migrate(conn, settings.shown)
        info = TypeInfo.fetch(conn, "vector")
    if info is None:  # pragma: no cover - checked just above
        raise ConfigError(f"the PostgreSQL store {settings.shown} has no vector type: {INSTALL_HINT}")
    return info


def check_server(version: int, shown: str) -> None:
    """A :class:`ConfigError` unless ``version`` (libpq's number: 150020 is 15.20) is one kenning can use.

    >>> check_server(120017, "postgresql://db/k")
    Traceback (most recent call last):
    kenning.errors.ConfigError: the PostgreSQL store postgresql://db/k runs PostgreSQL 12.17; kenning needs PostgreSQL 13 or newer (with pgvector 0.8 or newer)
    """
    if version < MIN_SERVER:
        raise ConfigError(
            f"the PostgreSQL store {shown} runs PostgreSQL {version // 10000}.{version % 10000}; kenning needs "
            "PostgreSQL 13 or newer (with pgvector 0.8 or newer)"
        )


def check_pgvector(installed: str | None, available: str | None, shown: str) -> None:
    """A :class:`ConfigError` saying what to install unless pgvector ``installed`` in the database is new enough
    (``available``: the version the server could install, None when it has no pgvector at all).

    >>> check_pgvector(None, None, "postgresql://db/k")
    Traceback (most recent call last):
    kenning.errors.ConfigError: the PostgreSQL store postgresql://db/k has no pgvector extension: install pgvector on the server (scripts/postgres.sh builds pgvector 0.8.0 for PostgreSQL 15 on Debian), then run CREATE EXTENSION vector; in the database as its owner or a superuser
    """
    if installed is None:
        if available is None:
            raise ConfigError(f"the PostgreSQL store {shown} has no pgvector extension: {INSTALL_HINT}")
        raise ConfigError(
            f"the PostgreSQL store {shown}: pgvector {available} is installed on the server but not in this database, "
            "and this user may not add it; as a superuser run, in that database: CREATE EXTENSION vector;"
        )
    if _version(installed) < MIN_PGVECTOR:
        need = ".".join(map(str, MIN_PGVECTOR))
        raise ConfigError(
            f"the PostgreSQL store {shown} has pgvector {installed}; kenning needs {need} or newer (iterative index "
            "scans keep filtered searches' recall): install it on the server, then run ALTER EXTENSION vector UPDATE;"
        )


def _check_pgvector(conn: psycopg.Connection, shown: str) -> None:
    """pgvector installed in this database (created here when the server has it and we may), new enough."""
    installed = _one(conn, "SELECT extversion FROM pg_extension WHERE extname = 'vector'")
    available = _one(conn, "SELECT default_version FROM pg_available_extensions WHERE name = 'vector'")
    if installed is None and available is not None:
        try:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        except psycopg.errors.InsufficientPrivilege:
            pass  # said below
        except psycopg.errors.UniqueViolation:  # another process created it at the same moment
            pass
        installed = _one(conn, "SELECT extversion FROM pg_extension WHERE extname = 'vector'")
    check_pgvector(installed, available, shown)


def _one(conn: psycopg.Connection, query: str) -> str | None:
    row = conn.execute(query).fetchone()
    return None if row is None or row[0] is None else str(row[0])


def _version(text: str) -> tuple[int, ...]:
    out = []
    for part in text.split("."):
        digits = "".join(ch for ch in part if ch.isdigit())
        out.append(int(digits or 0))
    return tuple(out)
