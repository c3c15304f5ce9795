"""The HTML report renders in a real headless Chromium: a non-blank screenshot, and the DOM holds every plot.

Chromium is installed by ``.ci/run``; without it the test fails under CI (``$CI`` set) and is skipped elsewhere.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from kenning.evaluate.report import write_report
from kenning.evaluate.sweep import SweepGrid, run_sweep
from kenning.providers.cache import CachingEmbedder

from .cli_run import CHROMIUM_FLAGS
from .factories import span_eval_data

pytestmark = pytest.mark.slow

_DOCS = {
    "wal.md": "# WAL\n\nWrite-ahead logging writes changes to a log before the data files are changed. After a crash "
    "the log is replayed to restore the database.\n\n## Checkpoints\n\nA checkpoint flushes dirty pages to disk so "
    "recovery only needs the log written after it.\n",
    "mvcc.md": "# MVCC\n\nEach transaction sees a snapshot of the data. Readers never block writers and writers never "
    "block readers.\n\n## Vacuum\n\nOld row versions are removed by vacuum once no snapshot can see them.\n",
}
_QUESTIONS = [
    ("q1", "what is replayed after a crash", "wal.md", "the log is replayed to restore the database"),
    ("q2", "what does a checkpoint flush", "wal.md", "A checkpoint flushes dirty pages to disk"),
    ("q3", "do readers block writers", "mvcc.md", "Readers never block writers"),
    ("q4", "who removes old row versions", "mvcc.md", "Old row versions are removed by vacuum"),
]


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    message = "chromium is not installed (apt-get install chromium; .ci/run does it)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def _read_png(path: Path) -> np.ndarray:
    try:
        from PIL import Image
    except ImportError:  # matplotlib reads PNG itself when Pillow is absent
        from matplotlib.image import imread

        return np.asarray(imread(path))[..., :3] * 255
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.float64)


@pytest.fixture
def report(tmp_path: Path, embedder) -> Path:
    data = span_eval_data(tmp_path, _DOCS, _QUESTIONS)
    cache = CachingEmbedder(embedder, tmp_path / "vectors.sqlite")
    grid = SweepGrid(chunkers=("recursive", "structure"), sizes=(16, 32), overlaps=(0, 16), modes=("bm25",), k=2)
    before = run_sweep(data, grid, tmp_path / "a", embedder=embedder, cache=cache).results
    grid = SweepGrid(chunkers=("recursive", "structure"), sizes=(16, 32), overlaps=(0, 16), modes=("bm25",), k=3)
    after = run_sweep(data, grid, tmp_path / "b", embedder=embedder, cache=cache)
    run = after.results
    run["failure_modes"] = {"retrieval_miss": 1, "chunk_split": 1, "generator_ignored_context": 0, "ok": 2}
    before["failure_modes"] = {"retrieval_miss": 2, "chunk_split": 1, "generator_ignored_context": 1, "ok": 0}
    paths = write_report(run, tmp_path / "report", baseline=before, timings=after.timings, resamples=500)
    return paths["html"]


def test_report_renders_in_headless_chromium(report: Path, tmp_path: Path) -> None:
    browser = _chromium()
    page = report.read_text(encoding="utf-8")
    # self-contained: no scripts, no stylesheets or images fetched from anywhere
    assert "<script" not in page and "<link" not in page and "<img" not in page and "@import" not in page
    assert not re.search(r'(?:src|href)="(?!#)', page) and "url(http" not in page
    flags = [
        "--headless",
        *CHROMIUM_FLAGS,
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--window-size=1280,2400",
    ]
    png = tmp_path / "report.png"
    url = report.resolve().as_uri()
    subprocess.run([browser, *flags, f"--screenshot={png}", url], capture_output=True, timeout=120, check=True)
    assert png.is_file() and png.stat().st_size > 10_000
    pixels = _read_png(png)
    assert pixels.shape[0] >= 2000 and pixels.shape[1] >= 1200
    assert pixels.std() > 10  # not blank: text, tables and plots on a white page
    assert (pixels.min(axis=2) < 100).mean() > 0.002  # dark pixels (text, axes) cover a real share of the page

    dom = subprocess.run(
        [browser, *flags, "--dump-dom", url], capture_output=True, timeout=120, check=True, text=True
    ).stdout
    plots = re.findall(r'<svg [^>]*class="plot" data-plot="([^"]+)"', dom)
    assert sorted(plots) == sorted(
        [
            "size-span_recall",
            "size-iou",
            "size-precision",
            "size-precision_omega",
            "dist-span_recall",
            "dist-iou",
            "baseline-span_recall",
            "failures",
            "delta-span_recall",
            "failures-ab",
        ]
    )
    texts = set(re.findall(r"<text[^>]*>([^<]+)</text>", dom))
    for label in (
        "chunk size (tokens)",
        "span_recall vs chunk size",
        "iou vs chunk size",
        "Per-query span_recall by configuration",
        "span_recall per query",
        "Failure modes",
        "Failure modes, A vs B",
        "retrieval miss",
        "generator ignored context",
        "questions",
        "Δ span_recall (B − A)",
    ):
        assert label in texts, label
    assert "Before / after (A → B)" in dom and "structure-32-0-bm25" in dom and "recursive-16-16" in dom
