"""Issue 13's Ray bar: ``kenning index --ray`` writes the same final chunk set as a single-process run.

    python bench/ray_index.py                      # 150 PostgreSQL manual pages, into SQLite and PostgreSQL
    python bench/ray_index.py --pages 1169         # the whole manual
    python bench/ray_index.py --stores sqlite      # without PostgreSQL
    python bench/ray_index.py --quick              # 40 pages: a smoke test, not the verdict

The corpus is the first ``--pages`` HTML pages (by name) of the PostgreSQL 15 manual in
``../shared/data/corpora/postgresql-15.20-doc-html.tar.gz``. For each store (SQLite in a temporary home; PostgreSQL
in a temporary cluster started with ``bench/_pgcluster.py``, one database) the same ``kenning index`` command runs
three times, each in a fresh process: alone, with ``--ray`` on a local cluster (``tests/ray_cluster.py``: a head and
``--nodes - 1`` more nodes, ``--cpus`` each, token auth, stopped by process group), and with ``--ray`` again (every
document unchanged). The chunk sets are read back through the Engine and compared: chunk ids, texts, and vectors
(largest absolute difference). Seconds are wall clock of the whole command (process start and model loading
included) and ``index_paths``'s own.

On one small machine the cluster's nodes share its cores with the driver and with each other, so ``--ray`` is not
expected to be faster here: the bar is the equal chunk set; the times say what the distribution costs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
from _common import BENCH, Target, arg_parser, console, print_table, print_targets, write_result

sys.path.insert(0, str(BENCH.parent))  # the local cluster lives with the tests

from tests.ray_cluster import local_ray_cluster, ray_missing  # noqa: E402

MANUAL = BENCH.parents[1] / "shared" / "data" / "corpora" / "postgresql-15.20-doc-html.tar.gz"


def extract_pages(dest: Path, count: int) -> list[str]:
    with tarfile.open(MANUAL) as tar:
        members = sorted((m for m in tar.getmembers() if m.isfile() and m.name.endswith(".html")), key=lambda m: m.name)
        chosen = members[:count]
        dest.mkdir(parents=True, exist_ok=True)
        for member in chosen:
            (dest / Path(member.name).name).write_bytes(tar.extractfile(member).read())  # type: ignore[union-attr]
    return [Path(m.name).name for m in chosen]


def run_index(home: Path, collection: str, corpus: Path, env: dict[str, str], ray: str | None) -> dict[str, Any]:
    args = [sys.executable, "-m", "kenning.cli", "index", str(corpus), "--home", str(home), "-c", collection, "--json"]
    if ray:
        args += ["--ray", ray]
    t0 = time.perf_counter()
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=3600)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"kenning index failed ({collection}, ray={ray}):\n{proc.stderr[-4000:]}")
    report = json.loads(proc.stdout)
    report["wall_seconds"] = round(wall, 2)
    return report


def chunk_set(home: Path, collection: str, store: str) -> tuple[list[str], list[str], np.ndarray]:
    """The published chunks of ``collection`` in ``store`` (a URL; empty: SQLite in ``home``)."""
    from kenning.engine import Engine

    before = os.environ.pop("KENNING_STORE", None)
    if store:
        os.environ["KENNING_STORE"] = store
    try:
        engine = Engine(home, collection=collection)
        try:
            col = engine.collection()
            ids = sorted(col.chunk_ids())
            rows = col.fetch(ids)
            return ids, [rows[i].text for i in ids], col.vectors(ids)
        finally:
            engine.close()
    finally:
        os.environ.pop("KENNING_STORE", None)
        if before is not None:
            os.environ["KENNING_STORE"] = before


def compare(a: tuple, b: tuple) -> dict[str, Any]:
    same_ids = a[0] == b[0]
    return {
        "chunk_ids_equal": same_ids,
        "texts_equal": same_ids and a[1] == b[1],
        "max_vector_difference": float(np.abs(a[2] - b[2]).max()) if same_ids and len(a[0]) else None,
        "only_alone": len(set(a[0]) - set(b[0])),
        "only_ray": len(set(b[0]) - set(a[0])),
    }


def bench_store(store: str, url: str, corpus: Path, work: Path, cluster_env: dict[str, str], address: str) -> dict:
    home = work / f"home-{store}"
    env = dict(cluster_env, KENNING_HOME=str(home), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    if url:
        env["KENNING_STORE"] = url
    else:
        env.pop("KENNING_STORE", None)
    runs = {}
    for name, collection, ray in (
        ("alone", "alone", None),
        ("ray", "spread", address),
        ("ray again", "spread", address),
    ):
        console.print(f"[{store}] {name} …")
        runs[name] = run_index(home, collection, corpus, env, ray)
    same = compare(chunk_set(home, "alone", url), chunk_set(home, "spread", url))
    return {"store": store, "runs": runs, "comparison": same}


def main() -> None:
    parser = arg_parser(__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=150, help="manual pages to index (of 1,169)")
    parser.add_argument("--stores", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    parser.add_argument("--nodes", type=int, default=2, help="Ray nodes (the head included)")
    parser.add_argument("--cpus", type=int, default=1, help="CPUs each Ray node offers")
    args = parser.parse_args()
    why = ray_missing()
    if why:
        raise SystemExit(why)
    pages = 40 if args.quick else args.pages
    stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    load_start = Path("/proc/loadavg").read_text().split()[:3]
    results: dict[str, Any] = {"pages": pages, "nodes": args.nodes, "cpus_per_node": args.cpus, "stores": []}
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="kenning-ray-bench-")))
        corpus = work / "manual"
        names = extract_pages(corpus, pages)
        results["corpus_bytes"] = sum((corpus / n).stat().st_size for n in names)
        t0 = time.perf_counter()
        cluster = stack.enter_context(local_ray_cluster(nodes=args.nodes, cpus=args.cpus))
        results["cluster_start_seconds"] = round(time.perf_counter() - t0, 2)
        for store in stores:
            url = ""
            if store == "postgresql":
                from _pgcluster import PgCluster

                pg = stack.enter_context(PgCluster.temporary())
                url = pg.create_database("raybench")
            results["stores"].append(bench_store(store, url, corpus, work, cluster.env, cluster.address))
    results["load_average_start"] = load_start
    results["load_average_end"] = Path("/proc/loadavg").read_text().split()[:3]

    rows = []
    for entry in results["stores"]:
        same = entry["comparison"]
        equal = "yes" if same["chunk_ids_equal"] and same["texts_equal"] else "no"
        for name, run in entry["runs"].items():
            rows.append(
                [
                    entry["store"],
                    name,
                    run["documents_added"] + run["documents_updated"],
                    run["documents_unchanged"],
                    run["total_chunks"],
                    run["chunks_embedded"],
                    run["wall_seconds"],
                    round(run["seconds"], 2),
                    equal if name == "ray" else "",
                    same["max_vector_difference"] if name == "ray" else None,
                ]
            )
    print_table(
        f"kenning index, alone vs --ray ({pages} PostgreSQL manual pages, {args.nodes} nodes × {args.cpus} CPU)",
        [
            "store",
            "run",
            "docs read",
            "unchanged",
            "chunks",
            "embedded",
            "wall s",
            "index s",
            "same chunks",
            "max |Δv|",
        ],
        rows,
        caption=f"load average {' '.join(load_start)} → {' '.join(results['load_average_end'])}; "
        f"cluster start {results['cluster_start_seconds']} s",
    )
    targets = [
        Target(
            f"--ray chunk set = single-process ({entry['store']})",
            1.0
            if entry["comparison"]["chunk_ids_equal"]
            and entry["comparison"]["texts_equal"]
            and (entry["comparison"]["max_vector_difference"] or 0.0) <= 1e-5
            else 0.0,
            ">=",
            1.0,
            note="ids, texts, vectors within 1e-5",
        )
        for entry in results["stores"]
    ]
    print_targets(targets, quick=args.quick)
    write_result("ray_index", quick=args.quick, results=results, targets=targets, out=args.out)


if __name__ == "__main__":
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    main()
