"""A real, temporary PostgreSQL cluster for the tests: initdb + pg_ctl on a unix socket in a short folder under /tmp,
no TCP (``listen_addresses = ''``), pgvector loaded in a template database, stopped and removed when the session ends.

``pg_cluster`` (session) starts it once; ``pg_url`` (function) gives each test a database of its own, copied from
the template, as ``postgresql://kenning@/DB?host=SOCKETDIR``. Import both into a test module::

    from .pg_cluster import pg_cluster, pg_url  # noqa: F401  (pytest fixtures)

PostgreSQL or pgvector missing: the tests skip, except under CI (``CI`` set, not ``0``/``false``), where they fail
and name ``scripts/postgres.sh``, which installs both. As root, initdb and the server run as ``nobody`` (PostgreSQL
refuses root) in a folder made theirs.
"""

from __future__ import annotations

import dataclasses
import glob
import itertools
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = ["PgCluster", "pg_cluster", "pg_url", "under_ci"]

USER = "kenning"
TEMPLATE = "kenning_template"
INSTALL_HINT = "install PostgreSQL and pgvector with scripts/postgres.sh"
# a test cluster: nothing here must survive the session, so durability is traded for speed; small, fixed memory so
# it starts in a container with a small /dev/shm; no TCP, only the socket in its own folder
SETTINGS = {
    "listen_addresses": "''",
    "port": "5432",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "shared_buffers": "64MB",
    "huge_pages": "off",
    "dynamic_shared_memory_type": "mmap",
    "max_connections": "200",
    "max_worker_processes": "4",
    "max_parallel_workers_per_gather": "0",
    "log_min_messages": "warning",
    "log_min_error_statement": "panic",
    "logging_collector": "off",
    "timezone": "'UTC'",
}
_ids = itertools.count(1)


def under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def unavailable(reason: str, hint: str = INSTALL_HINT) -> None:
    """Skip the test, or fail it under CI, where the server must be there."""
    if under_ci():
        pytest.fail(f"{reason}; under CI the PostgreSQL store must be tested: {hint}", pytrace=False)
    pytest.skip(f"{reason} ({hint})")


def find_bindir() -> Path | None:
    """The folder holding initdb, pg_ctl, postgres and psql: ``pg_config --bindir``'s, else the newest Debian one."""
    candidates: list[str] = []
    if shutil.which("pg_config"):
        try:
            out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, timeout=30)
            candidates.append(out.stdout.strip())
        except (OSError, subprocess.SubprocessError):
            pass
    debian = glob.glob("/usr/lib/postgresql/*/bin")
    candidates += sorted(debian, key=lambda p: int(re.sub(r"\D", "", Path(p).parent.name) or 0), reverse=True)
    for folder in candidates:
        if folder and all(os.access(Path(folder) / tool, os.X_OK) for tool in ("initdb", "pg_ctl", "postgres", "psql")):
            return Path(folder)
    return None


@dataclass(frozen=True)
class PgCluster:
    """A running cluster: its binaries, its socket folder (also its data's parent) and how to reach it."""

    bindir: Path
    folder: Path
    as_user: tuple[str, ...]  # the prefix that runs server commands as the cluster's owner (empty: as ourselves)
    version: str

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def url(self, database: str) -> str:
        return f"postgresql://{USER}@/{database}?host={self.folder}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run ``sql`` (one statement per call when it must not run in a transaction) and return its output."""
        cmd = [str(self.bindir / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"]
        cmd += ["-h", str(self.folder), "-p", SETTINGS["port"], "-U", USER, "-d", database, "-c", sql]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=_clean_env())
        if done.returncode:
            raise RuntimeError(f"psql -c {sql!r} failed: {done.stderr.strip() or done.stdout.strip()}")
        return done.stdout.strip()

    def create_database(self, name: str) -> str:
        """A new database with pgvector installed (a copy of the template); its URL."""
        self.psql(f'CREATE DATABASE "{name}" TEMPLATE {TEMPLATE}')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        subprocess.run(
            [*self.as_user, str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"],
            capture_output=True,
            timeout=60,
            env=_clean_env(),
        )


def _clean_env() -> dict[str, str]:
    """The environment without PG* variables, which would point libpq and the server elsewhere."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PG")}


def _run(cmd: list[str], what: str, log: Path | None = None) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=_clean_env())
    if done.returncode:
        detail = (done.stderr or done.stdout).strip()
        if log is not None and log.is_file():
            detail += "\n" + "\n".join(log.read_text(errors="replace").splitlines()[-20:])
        raise RuntimeError(f"{what} failed (exit {done.returncode}): {detail}")


def start_cluster() -> PgCluster:
    """initdb and start a cluster in a new short folder under /tmp (a unix socket path must stay under 107 bytes)."""
    bindir = find_bindir()
    if bindir is None:
        unavailable("PostgreSQL's server programs (initdb, pg_ctl, postgres, psql) were not found")
    as_user: tuple[str, ...] = ()
    folder = Path(tempfile.mkdtemp(prefix="kpg", dir="/tmp" if os.path.isdir("/tmp") else None))
    if os.geteuid() == 0:  # initdb and postgres refuse to run as root
        runuser = shutil.which("runuser")
        owner = _uid("nobody")
        if runuser is None or owner is None:
            shutil.rmtree(folder, ignore_errors=True)
            raise RuntimeError(
                "running as root, PostgreSQL needs an unprivileged user: runuser and 'nobody' are needed"
            )
        as_user = (runuser, "-u", "nobody", "--")
        os.chown(folder, *owner)
    folder.chmod(0o700)
    cluster = PgCluster(bindir, folder, as_user, version="")
    log = folder / "server.log"
    try:
        _run(
            [*as_user, str(bindir / "initdb"), "-D", str(cluster.data), "-A", "trust", "-U", USER]
            + ["-E", "UTF8", "--no-locale", "--no-sync", "--no-instructions"],
            "initdb",
        )
        conf = cluster.data / "postgresql.conf"
        with open(conf, "a", encoding="utf-8") as f:
            f.write("\n# kenning tests\n")
            f.write(f"unix_socket_directories = '{folder}'\n")
            for key, value in SETTINGS.items():
                f.write(f"{key} = {value}\n")
        _run(
            [*as_user, str(bindir / "pg_ctl"), "-D", str(cluster.data), "-l", str(log), "-w", "-t", "60", "start"],
            "pg_ctl start",
            log,
        )
    except BaseException:
        cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return dataclasses.replace(cluster, version=cluster.psql("SHOW server_version"))


def _uid(user: str) -> tuple[int, int] | None:
    import pwd

    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        return None
    return entry.pw_uid, entry.pw_gid


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """A running cluster with the ``kenning_template`` database (pgvector installed), for the whole session."""
    cluster = start_cluster()
    try:
        available = cluster.psql("SELECT count(*) FROM pg_available_extensions WHERE name = 'vector'")
        if available != "1":
            unavailable(f"pgvector is not installed for PostgreSQL {cluster.version} ({cluster.bindir})")
        cluster.psql(f"CREATE DATABASE {TEMPLATE}")
        cluster.psql("CREATE EXTENSION vector", database=TEMPLATE)
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(cluster.folder, ignore_errors=True)


@pytest.fixture
def pg_url(pg_cluster: PgCluster) -> Iterator[str]:
    """A database of this test's own (pgvector installed), dropped afterwards; its URL."""
    name = f"t{os.getpid()}_{next(_ids)}"
    url = pg_cluster.create_database(name)
    yield url
    try:
        pg_cluster.drop_database(name)
    except RuntimeError:
        pass  # the cluster goes at the end of the session anyway
