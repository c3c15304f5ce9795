"""Crash safety: SIGKILL the indexer at random moments; the index must always open and answer, and re-running must
end with exactly the chunks of a clean run — none lost, none duplicated."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kenning import Engine

pytestmark = pytest.mark.slow

TOPICS = ["database", "container", "garden", "kitchen", "network", "storage", "compiler", "weather"]


def _corpus(root: Path, n_files: int = 90) -> Path:
    rnd = random.Random(42)
    words = "alpha beta gamma delta index vacuum table row column lock page cache query plan join sort".split()
    for i in range(n_files):
        topic = TOPICS[i % len(TOPICS)]
        paras = []
        for p in range(4):
            sentence = " ".join(rnd.choice(words) for _ in range(60))
            paras.append(f"File {i} about {topic}, part {p}. {sentence}.")
        path = root / topic / f"doc{i:03d}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"# Document {i}\n\n" + "\n\n".join(paras) + "\n")
    return root


def _run_index(home: Path, corpus: Path) -> subprocess.Popen:
    env = {**os.environ, "KENNING_HOME": str(home)}
    with open(home / "stderr.log", "ab") as log:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "kenning.cli", "index", str(corpus), "--json"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )


def _chunk_set(home: Path) -> set[tuple[str, str]]:
    eng = Engine(home)
    col = eng.collection()
    rows = set(col.catalog.conn.execute("SELECT chunk_id, embed_hash FROM chunks"))
    n = col.catalog.conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
    assert n == len(rows)
    snap = col.snapshot()
    assert snap is not None and snap.n_chunks == n and len(set(snap.rowids.tolist())) == n
    missing_vectors = col.catalog.conn.execute(
        "SELECT count(*) FROM chunks WHERE embed_hash NOT IN (SELECT embed_hash FROM vectors)"
    ).fetchone()[0]
    assert missing_vectors == 0
    eng.close()
    return rows


def test_kill_9_at_random_points_never_breaks_the_index(tmp_path: Path) -> None:
    corpus = _corpus(tmp_path / "corpus")
    settings = "[indexing]\ncommit_chunks = 16\n[chunking]\nsize = 60\noverlap = 10\n"
    clean_home, crash_home = tmp_path / "clean", tmp_path / "crash"
    for h in (clean_home, crash_home):
        h.mkdir()
        (h / "kenning.toml").write_text(settings)

    proc = _run_index(clean_home, corpus)
    t0 = time.monotonic()
    assert proc.wait(timeout=600) == 0, (clean_home / "stderr.log").read_text()
    clean_seconds = time.monotonic() - t0
    expected = _chunk_set(clean_home)
    assert len(expected) > 300

    rnd = random.Random(7)
    kills = 0
    for _attempt in range(5):
        proc = _run_index(crash_home, corpus)
        time.sleep(rnd.uniform(0.3, clean_seconds * 0.9))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait(timeout=60)
        # after every kill the index opens and answers
        if (crash_home / "collections" / "default" / "manifest.json").exists():
            eng = Engine(crash_home)
            hits = eng.search("vacuum table lock", mode="bm25", k=5)
            assert isinstance(hits, list)
            docs, chunks = eng.collection().catalog.counts()
            assert chunks <= len(expected)
            eng.close()
    assert kills >= 3

    proc = _run_index(crash_home, corpus)
    assert proc.wait(timeout=600) == 0, (crash_home / "stderr.log").read_text()
    assert _chunk_set(crash_home) == expected
