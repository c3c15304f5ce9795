"""``kenning index --ray``: parsing, chunking and embedding on a real two-node Ray cluster on this machine
(:mod:`tests.ray_cluster`), writing through the same store writer — the same final chunks (ids, texts, vectors) as a
single-process run, into SQLite and into PostgreSQL; re-runs idempotent; a lost worker ends the run with a clear
error and what was committed kept; an unreachable address or a missing extra named plainly.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import socket
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from kenning.engine import Engine
from kenning.errors import MissingExtraError

from .cli_run import one_line_error, run_cli
from .pg_cluster import pg_cluster, pg_url, under_ci  # noqa: F401  (pytest fixtures)
from .ray_cluster import RayCluster, local_ray_cluster, ray_missing

PAGES = (  # PostgreSQL 15 manual pages (shared/data/corpora): long and short, deep headings, tables, code
    "sql-vacuum.html",
    "sql-createindex.html",
    "lo-examplesect.html",
    "sql-createopfamily.html",
    "infoschema-sql-sizing.html",
    "spi-spi-getargtypeid.html",
    "tutorial-join.html",
    "datatype-boolean.html",
)


def _need_ray() -> None:
    why = ray_missing()
    if why is not None:
        if under_ci():
            pytest.fail(f"{why}; under CI the --ray path must be tested (scripts/setup.sh dev installs it)")
        pytest.skip(why)


def _pages(shared_data: Path, dest: Path, names: tuple[str, ...] | None = None, count: int = 0) -> list[str]:
    """Extract manual pages (``names``, or the ``count`` smallest of at least 2 kB) into ``dest``."""
    with tarfile.open(shared_data / "corpora" / "postgresql-15.20-doc-html.tar.gz") as tar:
        members = [m for m in tar.getmembers() if m.isfile() and m.name.endswith(".html")]
        if names is not None:
            chosen = [m for m in members if Path(m.name).name in names]
        else:
            chosen = sorted((m for m in members if m.size >= 2048), key=lambda m: (m.size, m.name))[:count]
        dest.mkdir(parents=True, exist_ok=True)
        for member in chosen:
            (dest / Path(member.name).name).write_bytes(tar.extractfile(member).read())  # type: ignore[union-attr]
    return sorted(Path(m.name).name for m in chosen)


@pytest.fixture(scope="module")
def cluster() -> Iterator[RayCluster]:
    _need_ray()
    with local_ray_cluster(nodes=2, cpus=1) as running:
        yield running


@pytest.fixture
def ray_env(cluster: RayCluster, monkeypatch: pytest.MonkeyPatch) -> str:
    """The cluster's token in this process's environment (and so every CLI run's); its address."""
    for key in ("RAY_USAGE_STATS_ENABLED", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN"):
        monkeypatch.setenv(key, cluster.env[key])
    return cluster.address


@pytest.fixture
def corpus(shared_data: Path, tmp_path: Path) -> Path:
    root = tmp_path / "manual"
    found = _pages(shared_data, root, PAGES)
    assert len(found) == len(PAGES), found
    shutil.copy(root / "sql-vacuum.html", root / "vacuum-copy.html")  # the same document under two names
    (root / "empty.html").write_text("<html><body>   </body></html>")  # skipped: no text
    return root


def chunk_set(home: Path, collection: str) -> tuple[list[str], list[str], np.ndarray]:
    """The published chunks of a collection (in the store the environment names): ids, texts, vectors."""
    engine = Engine(home, collection=collection)
    try:
        col = engine.collection()
        ids = sorted(col.chunk_ids())
        rows = col.fetch(ids)
        return ids, [rows[i].text for i in ids], col.vectors(ids)
    finally:
        engine.close()


def assert_same_chunks(a: tuple, b: tuple) -> None:
    assert a[0] == b[0], f"chunk ids differ: {sorted(set(a[0]) ^ set(b[0]))[:5]}"
    assert a[1] == b[1]
    assert a[2].shape == b[2].shape
    np.testing.assert_allclose(a[2], b[2], atol=1e-5)


def index(home: Path, collection: str, path: Path, *extra: str) -> dict:
    code, out, err = run_cli("index", str(path), "--home", str(home), "-c", collection, "--json", *extra)
    assert code == 0, err
    return json.loads(out)


@pytest.mark.slow
def test_ray_index_gives_the_single_process_chunks(ray_env: str, corpus: Path, home: Path) -> None:
    alone = index(home, "alone", corpus)
    spread = index(home, "spread", corpus, "--ray", ray_env)
    assert alone["chunks_added"] == spread["chunks_added"] > 0
    assert alone["documents_added"] == spread["documents_added"] == len(PAGES) + 1  # the copy is a source too
    assert [s["source"] for s in spread["skipped"]] == [str(corpus / "empty.html")]
    assert_same_chunks(chunk_set(home, "alone"), chunk_set(home, "spread"))

    again = index(home, "spread", corpus, "--ray", ray_env)  # idempotent: nothing read, nothing written
    assert again["documents_unchanged"] == len(PAGES) + 1 and again["chunks_added"] == 0
    assert again["chunks_embedded"] == 0

    # an update: one page edited, one removed, one added; both runs end in the same place
    page = corpus / "tutorial-join.html"
    page.write_text(page.read_text().replace("</body>", "<p>Joins combine rows of two tables.</p></body>"))
    (corpus / "datatype-boolean.html").unlink()
    (corpus / "extra.md").write_text("# Extra\n\nA page added between the runs, about HOT updates.\n")
    alone = index(home, "alone", corpus)
    spread = index(home, "spread", corpus, "--ray", ray_env)
    for report in (alone, spread):
        assert (report["documents_added"], report["documents_updated"], report["documents_removed"]) == (1, 1, 1)
    assert spread["chunks_embedded"] == alone["chunks_embedded"]  # only the missing vectors, like a local run
    assert_same_chunks(chunk_set(home, "alone"), chunk_set(home, "spread"))


@pytest.mark.slow
def test_ray_index_into_postgresql(
    ray_env: str,
    corpus: Path,
    home: Path,
    pg_url: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if importlib.util.find_spec("kenning.store.postgres") is None:
        pytest.skip("kenning.store.postgres is not written yet")
    index(home, "alone", corpus)
    alone = chunk_set(home, "alone")
    code, out, err = run_cli(
        "--store", pg_url, "index", str(corpus), "--home", str(home), "-c", "shared", "--json", "--ray", ray_env
    )
    assert code == 0, err
    monkeypatch.setenv("KENNING_STORE", pg_url)
    assert_same_chunks(alone, chunk_set(home, "shared"))
    code, out, err = run_cli(
        "--store", pg_url, "index", str(corpus), "--home", str(home), "-c", "shared", "--json", "--ray", ray_env
    )
    assert code == 0, err
    assert json.loads(out)["chunks_added"] == 0
    assert_same_chunks(alone, chunk_set(home, "shared"))


LOSE_A_NODE = """
import json, sys
home, corpus, address, node, root = sys.argv[1:6]
sys.path.insert(0, root)
from kenning.engine import Engine
from kenning.errors import IndexError_
from tests.ray_cluster import kill_session

def progress(stage, done, total):
    if stage == "documents" and done == 30:  # some batches are committed by now, ten documents are still to read
        kill_session(int(node))  # the worker node crashes with its actor and whatever it held

engine = Engine(home, collection="spread")
try:
    engine.index([corpus], progress=progress, ray=address)
except IndexError_ as exc:
    print(json.dumps({"error": str(exc)}))
else:
    print(json.dumps({"error": None}))
"""


@pytest.mark.slow
def test_a_lost_worker_keeps_what_was_committed(shared_data: Path, tmp_path: Path, home: Path) -> None:
    """A node dies mid-run: the run ends with an error naming the Ray worker, the batches committed before it are
    published, and running again on what is left of the cluster finishes with the single-process chunks."""
    _need_ray()
    corpus = tmp_path / "pages"
    names = _pages(shared_data, corpus, count=40)
    home.mkdir(parents=True, exist_ok=True)
    (home / "kenning.toml").write_text("[indexing]\ncommit_chunks = 8\n")
    index(home, "alone", corpus)
    alone = chunk_set(home, "alone")
    with local_ray_cluster(nodes=2, cpus=1) as cluster:
        node = str(cluster.nodes[1].pid)  # its session
        root = str(Path(__file__).resolve().parents[1])
        args = [sys.executable, "-c", LOSE_A_NODE, str(home), str(corpus), cluster.address, node, root]
        run = subprocess.run(args, env=cluster.env, capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, run.stderr[-3000:]
        said = [line for line in run.stdout.splitlines() if line.startswith('{"error"')]  # Ray may print too
        assert said, run.stdout[-2000:] + run.stderr[-2000:]
        message = json.loads(said[-1])["error"]
        assert message and "Ray worker" in message and "run the same command again" in message, message
        kept = chunk_set(home, "spread")
        assert 0 < len(kept[0]) < len(alone[0])
        assert set(kept[0]) <= set(alone[0])

        # the head alone is left: its one worker finishes the rest
        code, out, err = subprocess_cli(cluster, "index", str(corpus), "--home", str(home), "-c", "spread", "--json")
        assert code == 0, err
        report = json.loads(out[out.index("\n{") + 1 :] if not out.startswith("{") else out)  # after Ray's "(raylet)"
        assert report["documents_unchanged"] > 0 and report["documents_added"] > 0
        assert report["documents_added"] + report["documents_unchanged"] == len(names)
        assert_same_chunks(alone, chunk_set(home, "spread"))


def subprocess_cli(cluster: RayCluster, *args: str) -> tuple[int, str, str]:
    """``kenning ARGS --ray ADDRESS`` with the cluster's token in its environment."""
    proc = subprocess.run(
        [sys.executable, "-m", "kenning.cli", *args, "--ray", cluster.address],
        env=cluster.env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return proc.returncode, proc.stdout, proc.stderr


@pytest.mark.slow
def test_an_unreachable_address_is_named(tmp_path: Path, home: Path) -> None:
    if importlib.util.find_spec("ray") is None:
        pytest.skip("ray is not installed")
    (tmp_path / "a.md").write_text("# A\n\nSome text.\n")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    code, _, err = run_cli("index", str(tmp_path / "a.md"), "--home", str(home), "--ray", f"127.0.0.1:{port}")
    assert code == 1
    line = one_line_error(err)
    assert f"127.0.0.1:{port}" in line and "no Ray cluster answers" in line, line
    code, _, err = run_cli("index", str(tmp_path / "a.md"), "--home", str(home), "--ray", "headnode")
    assert code == 1 and "HOST:PORT" in one_line_error(err)
    assert not (home / "collections").exists()  # refused before a collection was created for it


@pytest.mark.slow
def test_without_ray_the_extra_is_named(tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError, as when it is not installed
    (tmp_path / "a.md").write_text("# A\n\nSome text.\n")
    with pytest.raises(MissingExtraError, match=r"pip install 'kenning\[ray\]'"):
        Engine(home).index([tmp_path / "a.md"], ray="127.0.0.1:6379")
