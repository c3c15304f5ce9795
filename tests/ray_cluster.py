"""A real, temporary Ray cluster on this machine for the ``--ray`` tests and ``bench/ray_index.py``: a head node and
more worker nodes, each a ``ray start --block`` of this venv's Ray with its own CPUs, joined over the machine's own
address.

What Ray 2.60 needs here (see ``../shared/notes/dependency-measurements.md``): ``RAY_USAGE_STATS_ENABLED=0`` (no
telemetry, nothing dialled out), and, because ``ray start`` turns 127.0.0.1 into the machine's address and its
servers listen on every interface, token authentication: ``RAY_AUTH_MODE=token`` with a fresh ``RAY_AUTH_TOKEN`` for
the nodes and for every driver that joins (:attr:`RayCluster.env`). Without the token a driver is refused; the
mode is read when Ray loads, so a driver must have it in its environment from the start (setting it in a process
that already imported ray is not enough): run drivers as subprocesses with ``env=cluster.env``.

Each node runs in a session of its own, so stopping the cluster ends exactly its processes (the node's raylet,
its workers, the head's GCS) by session — never every Ray process on the machine as ``ray stop`` would.

    with local_ray_cluster(nodes=2) as cluster:
        subprocess.run([..., "kenning", "index", "docs", "--ray", cluster.address], env=cluster.env)
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["RayCluster", "kill_session", "local_ray_cluster", "ray_missing", "session_pids"]

RAY = Path(sys.executable).with_name("ray")


def ray_missing() -> str | None:
    """Why no cluster can be started here (None when one can)."""
    if importlib.util.find_spec("ray") is None:  # not imported: Ray reads RAY_AUTH_MODE when it loads
        return "ray is not installed (pip install 'kenning[ray]')"
    if not RAY.exists():
        return f"no ray command beside {sys.executable}"
    return None


@dataclass
class RayCluster:
    """A running cluster: ``address`` (HOST:PORT) to pass to ``--ray``, ``env`` for the drivers that join it."""

    address: str
    env: dict[str, str]
    folder: Path
    nodes: list[subprocess.Popen] = field(default_factory=list)

    def stop_node(self, index: int, *, grace: float = 3.0, sig: signal.Signals = signal.SIGTERM) -> None:
        """End node ``index`` (0 is the head) and every process it started: ``sig`` first (SIGKILL: a crash), then
        SIGKILL for what is left after ``grace`` seconds."""
        proc = self.nodes[index]
        for signum in dict.fromkeys((sig, signal.SIGKILL)):
            if not kill_session(proc.pid, signum):
                break
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline and session_pids(proc.pid):
                time.sleep(0.2)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass

    def stop(self) -> None:
        for index in reversed(range(len(self.nodes))):
            self.stop_node(index)


def session_pids(sid: int) -> list[int]:
    """The live (not zombie) processes of session ``sid``: a node's ``ray start``, its raylet and agents, and its
    workers, which Ray puts in process groups of their own but leaves in the session."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            out.append(int(entry.name))
    return out


def kill_session(sid: int, sig: int = signal.SIGKILL) -> bool:
    """Send ``sig`` to every process of session ``sid`` (a node started here); False when none was left."""
    pids = session_pids(sid)
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
    return bool(pids)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(check, what: str, timeout: float, log: Path) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.3)
    tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
    raise RuntimeError(f"the test Ray cluster: {what} within {timeout:g} s\n{tail}")


def _alive_nodes(address: str, env: dict[str, str]) -> int:
    code = (
        f"import ray, logging; ray.init(address={address!r}, log_to_driver=False, logging_level=logging.ERROR); "
        "print(sum(1 for n in ray.nodes() if n['Alive']))"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    lines = out.stdout.split()
    return int(lines[-1]) if out.returncode == 0 and lines else 0


@contextmanager
def local_ray_cluster(nodes: int = 2, cpus: int = 1, *, start_timeout: float = 120.0) -> Iterator[RayCluster]:
    """A head and ``nodes - 1`` worker nodes with ``cpus`` CPUs each, stopped (every process) on exit."""
    folder = Path(tempfile.mkdtemp(prefix="kray", dir="/tmp"))  # short: Ray puts unix sockets under it
    port = _free_port()
    env = dict(
        os.environ,
        RAY_USAGE_STATS_ENABLED="0",
        RAY_AUTH_MODE="token",
        RAY_AUTH_TOKEN=secrets.token_hex(16),
    )
    common = [f"--num-cpus={cpus}", "--disable-usage-stats", "--object-store-memory=150000000", "--block"]
    cluster = RayCluster(f"127.0.0.1:{port}", env, folder)
    try:
        head_log = folder / "head.log"
        head = [str(RAY), "start", "--head", f"--port={port}", "--include-dashboard=false", f"--temp-dir={folder}"]
        with head_log.open("w") as log:
            cluster.nodes.append(
                subprocess.Popen(
                    [*head, *common], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                )
            )
        _wait_for(lambda: _connects(port), "the head did not listen", start_timeout, head_log)
        for n in range(1, nodes):
            with (folder / f"node{n}.log").open("w") as log:
                cluster.nodes.append(
                    subprocess.Popen(
                        [str(RAY), "start", f"--address={cluster.address}", *common],
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
        _wait_for(
            lambda: _alive_nodes(cluster.address, env) >= nodes, f"{nodes} nodes did not join", start_timeout, head_log
        )
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)


def _connects(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True
