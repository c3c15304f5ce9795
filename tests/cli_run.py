"""The real ``kenning`` entry point in a subprocess, and what a clean failure of it looks like."""

from __future__ import annotations

import subprocess
import sys

__all__ = ["run_cli", "one_line_error", "CHROMIUM_FLAGS"]

# Debian's chromium, headless and quiet: without the background-networking flags it keeps trying to reach Google's
# hosts, which this machine's closed network refuses.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def run_cli(*args: str, stdin: str = "") -> tuple[int, str, str]:
    """``python -m kenning.cli ARGS``: (exit code, stdout, stderr)."""
    proc = subprocess.run(
        [sys.executable, "-m", "kenning.cli", *args], capture_output=True, text=True, input=stdin, timeout=300
    )
    return proc.returncode, proc.stdout, proc.stderr


def one_line_error(stderr: str) -> str:
    """The single ``error: …`` line a failed command prints (no traceback, nothing else)."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert "Traceback" not in stderr, stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    return lines[0]
