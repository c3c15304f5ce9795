"""A throwaway PostgreSQL cluster for the store benchmarks, and what it costs in memory and disk.

The cluster runs as an unprivileged user (``initdb`` refuses root) on a Unix socket in its own data folder, with
pgvector's extension available; nothing listens on TCP. Settings are passed at ``pg_ctl start`` (``-c name=value``),
so each benchmark says what it ran with. ``PgCluster.url`` is the ``postgresql://`` URL kenning's store opens.

    with PgCluster.temporary(settings={"shared_buffers": "1GB"}) as pg:
        store = POSTGRES.create_or_open(pg.url, "docs", config, model=..., dim=384)

``server_memory`` measures the server as the kernel sees it: the proportional set size (PSS, ``smaps_rollup``) of
the postmaster and every backend summed — shared buffers are counted once, split over the processes that touched
them — plus their unique memory (USS) and the configured ``shared_buffers``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

BINDIR = Path(os.environ.get("KENNING_PG_BINDIR", "/usr/lib/postgresql/15/bin"))
RUN_AS = os.environ.get("KENNING_PG_USER", "nobody")  # initdb refuses root
SUPERUSER = "kenning"
DATABASE = "kenning"

__all__ = ["PgCluster", "server_memory", "database_sizes"]


def _as_server_user(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    if os.geteuid() == 0:
        cmd = ["runuser", "-u", RUN_AS, "--", *cmd]
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kwargs)


@dataclass
class PgCluster:
    """A cluster in ``data`` (socket there too); ``settings`` go to ``pg_ctl start -o '-c k=v …'``."""

    data: Path
    settings: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.url_for(DATABASE)

    def url_for(self, database: str) -> str:
        return f"postgresql://{SUPERUSER}@/{database}?host={self.data}"

    def create_database(self, name: str) -> str:
        """A new database (dropped first if it exists); its URL."""
        _as_server_user([str(BINDIR / "dropdb"), "-h", str(self.data), "-U", SUPERUSER, "--if-exists", name])
        _as_server_user([str(BINDIR / "createdb"), "-h", str(self.data), "-U", SUPERUSER, name])
        return self.url_for(name)

    @property
    def log(self) -> Path:
        return self.data / "server.log"

    def init(self) -> PgCluster:
        """``initdb`` (trust auth over the socket only) and the database, unless the folder already holds one."""
        if (self.data / "PG_VERSION").is_file():
            return self
        self.data.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.data, RUN_AS)
            for parent in self.data.parents:  # the server user must reach its folder
                if parent == Path("/"):
                    break
                mode = parent.stat().st_mode
                if not mode & 0o001:
                    os.chmod(parent, mode | 0o001)
        _as_server_user(
            [str(BINDIR / "initdb"), "-D", str(self.data), "-A", "trust", "-U", SUPERUSER, "-E", "UTF8", "--no-sync"]
        )
        self.start()
        _as_server_user([str(BINDIR / "createdb"), "-h", str(self.data), "-U", SUPERUSER, DATABASE])
        return self

    def start(self) -> PgCluster:
        if self.running():
            return self
        opts = [f"-k {self.data}", "-c listen_addresses=''"]
        opts += [f"-c {k}={v}" for k, v in self.settings.items()]
        _as_server_user(
            [str(BINDIR / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", " ".join(opts), "-w", "start"],
            timeout=120,
        )
        return self

    def stop(self) -> None:
        if self.running():
            _as_server_user([str(BINDIR / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"], timeout=300)

    def restart(self) -> None:
        """Stop and start again: an empty buffer cache and fresh backends (as after a reboot, minus the OS cache)."""
        self.stop()
        self.start()

    def running(self) -> bool:
        return (self.data / "postmaster.pid").is_file()

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return None

    def psql(self, sql: str) -> str:
        """One statement through psql; its unaligned output."""
        out = _as_server_user(
            [str(BINDIR / "psql"), "-h", str(self.data), "-U", SUPERUSER, "-d", DATABASE, "-XAtqc", sql]
        )
        return out.stdout.strip()

    @classmethod
    @contextmanager
    def temporary(cls, *, settings: dict[str, str] | None = None, keep: bool = False) -> Iterator[PgCluster]:
        folder = Path(tempfile.mkdtemp(prefix="kenning-bench-pg-"))
        cluster = cls(folder / "data", dict(settings or {}))
        try:
            cluster.init().start()
            yield cluster
        finally:
            cluster.stop()
            if not keep:
                shutil.rmtree(folder, ignore_errors=True)


def server_memory(cluster: PgCluster) -> dict[str, float]:
    """The server's memory now (MiB): PSS and USS summed over the postmaster and its children, their RSS summed
    (which counts shared buffers once per process that touched them), and the process count."""
    import psutil

    pid = cluster.postmaster_pid()
    if pid is None:
        return {}
    root = psutil.Process(pid)
    procs = [root, *root.children(recursive=True)]
    pss = uss = rss = 0
    for p in procs:
        try:
            full = p.memory_full_info()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        pss += full.pss
        uss += full.uss
        rss += full.rss
    return {"pss_mb": pss / 2**20, "uss_mb": uss / 2**20, "rss_sum_mb": rss / 2**20, "processes": len(procs)}


def database_sizes(conn) -> dict[str, float]:  # noqa: ANN001 - a psycopg connection
    """The database's size and each table's and index's (MiB), largest first."""
    db = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
    rels = conn.execute(
        """SELECT c.relname, c.relkind, pg_total_relation_size(c.oid), pg_relation_size(c.oid)
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') AND c.relkind IN ('r', 'i', 'm')
            ORDER BY pg_total_relation_size(c.oid) DESC LIMIT 40"""
    ).fetchall()
    out = {"database_mb": db / 2**20}
    for name, kind, total, own in rels:
        out[f"{'index' if kind == 'i' else 'table'}:{name}"] = (total if kind != "i" else own) / 2**20
    return out


def wait_ready(cluster: PgCluster, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            _as_server_user([str(BINDIR / "pg_isready"), "-h", str(cluster.data), "-U", SUPERUSER])
            return
        except subprocess.CalledProcessError:
            time.sleep(0.2)
    raise TimeoutError(f"PostgreSQL in {cluster.data} did not become ready in {seconds:.0f} s")
