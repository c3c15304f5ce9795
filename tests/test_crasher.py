"""A short run of bench/crasher.py: 15 SIGKILLs of the writer during index / re-index / remove / re-chunk with a
reader process searching throughout; every invariant is checked after each kill (the bench run does 500)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

CRASHER = Path(__file__).resolve().parents[1] / "bench" / "crasher.py"
DOCKER = Path(__file__).resolve().parents[2] / "shared" / "data" / "corpora" / "docker-doc-20.10.24-md.tar.gz"


def test_fifteen_kills_break_no_invariant_and_no_reader(tmp_path: Path) -> None:
    if not DOCKER.is_file():
        pytest.skip(f"the Docker documentation is not at {DOCKER}")
    out = tmp_path / "crasher.json"
    proc = subprocess.run(
        [sys.executable, str(CRASHER), "--quick", "--out", str(out)], capture_output=True, text=True, timeout=900
    )
    assert out.is_file(), proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(out.read_text())["results"]
    assert result["kills"] >= 15
    assert result["violations"] == 0, result["violation_samples"]
    assert result["reader"]["errors"] == 0 and result["reader"]["wrong_chunks"] == 0, result["reader"]["samples"]
    assert result["reader"]["searches"] > 0 and result["filtered_comparisons"] > 0
    assert set(result["by_operation"]) >= {"edit", "remove"}
    assert proc.returncode == 0, proc.stdout[-3000:]
