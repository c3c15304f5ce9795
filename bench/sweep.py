"""Chunking sweeps: 4 sizes × 3 overlaps × 2 chunkers on the Chroma span set and on a synthetic PostgreSQL set.

    python bench/sweep.py chroma        # 472 questions over 5 corpora (~330k tokens): recall/precision/IoU per cell
    python bench/sweep.py postgres      # a seeded 100-page sample of the PostgreSQL 15 manual, 200 cloze questions
    python bench/sweep.py all           # both, one after the other
    python bench/sweep.py chroma --quick   # two corpora, 2 sizes × 2 overlaps: a smoke test, not the verdict

Each sweep runs :func:`kenning.evaluate.sweep.run_sweep` into a fresh folder, again into a second fresh folder (every
cell re-chunked, re-indexed and re-scored; with ``--fresh-rerun`` also re-embedded from an empty cache, otherwise
with a copy of run 1's embedding cache) and once more into the first folder (every cell must be reused), then checks:

* wall time of the first run (embedding included, model load excluded) ≤ 30 minutes on this machine's cores;
* ``results.json`` of runs 1 and 2 is byte-identical (same inputs + seed → same bytes);
* the resumed run reuses every cell and embeds nothing;
* the HTML report was written.

Why these grids are affordable on 2 cores: MiniLM reads at most 256 word pieces, so a 384- or 512-token chunk costs
what a 256-token one does; the recursive and structure chunkers cut the Chroma corpora (hardly any headings) into the
same texts, and a small overlap often carries no whole sentence back, so many cells share chunk texts, which the
shared :class:`~kenning.providers.cache.CachingEmbedder` embeds once. The timings report how much was shared.

The PostgreSQL questions come from ``kenning.evaluate.synth.synthesize`` (method ``cloze``: a salient sentence of a
sampled chunk is the query, the rest of that chunk the gold span) over a reference collection chunked with kenning's
defaults (structure, 500 tokens, overlap 50; not a cell of the grid, so no cell is aligned with the gold by
construction). The manual sample and the questions are seeded, so every run sees the same data.
"""

from __future__ import annotations

import filecmp
import os
import random
import shutil
import tarfile
import time
from pathlib import Path
from typing import Any

from _common import BENCH, Target, apply_torch_threads, arg_parser, console, print_table, print_targets, write_result

SHARED = BENCH.parents[1] / "shared" / "data"
CHROMA = Path(os.environ.get("KENNING_CHROMA", SHARED / "chunking" / "chroma"))
POSTGRES = Path(os.environ.get("KENNING_PG_DOCS", SHARED / "corpora" / "postgresql-15.20-doc-html.tar.gz"))
BUDGET_S = 30 * 60

GRIDS = {
    "chroma": {"chunkers": ("recursive", "structure"), "sizes": (128, 256, 384, 512), "overlaps": (0, 32, 64)},
    "postgres": {"chunkers": ("recursive", "structure"), "sizes": (128, 256, 384, 512), "overlaps": (0, 32, 64)},
}
QUICK = {"chunkers": ("recursive", "structure"), "sizes": (256, 512), "overlaps": (0, 64)}


def _chroma_data(work: Path, quick: bool) -> Any:
    from kenning.evaluate.chroma import load_chroma

    if not quick:
        return load_chroma(CHROMA)
    import csv

    folder = work / "chroma-quick"
    (folder / "corpora").mkdir(parents=True, exist_ok=True)
    keep = ("chatlogs", "state_of_the_union")
    for name in keep:
        shutil.copy(CHROMA / "corpora" / f"{name}.md", folder / "corpora" / f"{name}.md")
    with open(CHROMA / "questions_df.csv", encoding="utf-8", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["corpus_id"] in keep]
    with open(folder / "questions_df.csv", "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["question", "references", "corpus_id"])
        writer.writeheader()
        writer.writerows(rows)
    return load_chroma(folder)


def _postgres_data(work: Path, embedder: Any, quick: bool, seed: int) -> tuple[Any, dict[str, Any]]:
    """Extract a seeded sample of manual pages, index it with the default chunking, synthesize cloze questions."""
    from kenning.config import KenningConfig
    from kenning.engine import Engine
    from kenning.evaluate.chroma import span_eval_set
    from kenning.evaluate.synth import synthesize

    n_pages, n_questions = (25, 40) if quick else (100, 200)
    corpus = work / f"pg-sample-{n_pages}"
    with tarfile.open(POSTGRES) as tf:
        members = sorted(
            (m for m in tf.getmembers() if m.isfile() and m.name.endswith(".html") and 8_000 <= m.size <= 60_000),
            key=lambda m: m.name,
        )
        chosen = random.Random(seed).sample(members, n_pages)
        if corpus.exists():
            shutil.rmtree(corpus)
        corpus.mkdir(parents=True)
        for m in sorted(chosen, key=lambda m: m.name):
            data = tf.extractfile(m).read()  # type: ignore[union-attr]
            (corpus / Path(m.name).name).write_bytes(data)
    ref_home = work / "pg-reference"
    shutil.rmtree(ref_home, ignore_errors=True)
    engine = Engine(ref_home, collection="reference", config=KenningConfig(), embedder=embedder)
    engine.index([str(corpus)])
    synth = synthesize(engine.collection(), n=n_questions, seed=seed, test_fraction=1.0, method="cloze")
    engine.close()
    eval_path = work / "pg-cloze.jsonl"
    synth.test.save(eval_path)
    info = {
        "pages": n_pages,
        "pages_bytes": sum(p.stat().st_size for p in corpus.iterdir()),
        "questions": len(synth.test),
        "synth_manifest_counts": synth.manifest["counts"],
        "reference_chunking": synth.manifest["chunking"],
    }
    return span_eval_set(corpus, eval_path), info


def _run(name: str, data: Any, grid: Any, out: Path, embedder: Any, seed: int) -> tuple[Any, float]:
    from kenning.evaluate.report import write_report
    from kenning.evaluate.sweep import run_sweep

    t0, cpu0 = time.perf_counter(), time.process_time()
    result = run_sweep(data, grid, out, embedder=embedder, seed=seed)  # cache: out/embeddings.sqlite
    write_report(result.results, out, timings=result.timings, seed=seed)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    result.timings["bench_cpu_seconds"] = round(cpu, 1)
    console.print(
        f"[bold]{name}[/]: {len(result.results['configs'])} configurations in {seconds:.1f} s "
        f"({cpu:.0f} CPU s, load {os.getloadavg()[0]:.1f}) -> {out}"
    )
    return result, seconds


def bench_one(
    name: str, *, quick: bool, work: Path, seed: int, fresh_rerun: bool
) -> tuple[dict[str, Any], list[Target]]:
    from kenning.evaluate.sweep import SweepGrid
    from kenning.providers import get_embedder

    embedder = get_embedder("minilm")
    embedder.embed(["warm up"])  # load the model outside the timed part
    work.mkdir(parents=True, exist_ok=True)
    prep_t0 = time.perf_counter()
    info: dict[str, Any] = {}
    if name == "chroma":
        data = _chroma_data(work, quick)
        modes = ("dense",)
    else:
        data, info = _postgres_data(work, embedder, quick, seed)
        modes = ("hybrid",)
    prep_s = time.perf_counter() - prep_t0
    spec = QUICK if quick else GRIDS[name]
    grid = SweepGrid(**spec, modes=modes, k=5)
    runs = [work / "run1", work / "run2"]
    for r in runs:
        shutil.rmtree(r, ignore_errors=True)
    first, first_s = _run(f"{name} run 1", data, grid, runs[0], embedder, seed)
    dest = BENCH / "results" / f"sweep_{name}{'.quick' if quick else ''}"
    dest.mkdir(parents=True, exist_ok=True)
    for f in ("results.json", "timings.json", "report.html"):  # run 1's, before the resumed run rewrites them
        shutil.copy(runs[0] / f, dest / f)
    if not fresh_rerun:  # a new folder (every cell re-chunked, re-indexed, re-scored) with run 1's vectors
        runs[1].mkdir(parents=True)
        shutil.copy(runs[0] / "embeddings.sqlite", runs[1] / "embeddings.sqlite")
    label = "fresh folder, empty cache" if fresh_rerun else "fresh folder, run 1's embedding cache"
    second, second_s = _run(f"{name} run 2 ({label})", data, grid, runs[1], embedder, seed)
    resumed, resumed_s = _run(f"{name} run 1 again (resume)", data, grid, runs[0], embedder, seed)
    identical = filecmp.cmp(runs[0] / "results.json", runs[1] / "results.json", shallow=False)
    res = first.results
    primary = res["primary_metric"]
    ranked = sorted(res["configs"], key=lambda c: -c["metrics"][primary])
    cells = first.timings["cells"]
    shown = ("recall", "precision", "iou", "precision_omega", "span_recall", "rr")
    print_table(
        f"{name}: top configurations by {primary}",
        ["configuration", "chunks", *shown],
        [[c["id"], c["chunks"], *(round(c["metrics"][m], 4) for m in shown)] for c in ranked[:10]],
    )
    results = {
        "data": res["data"],
        "data_preparation_seconds": round(prep_s, 1),
        "postgres_sample": info or None,
        "grid": res["grid"],
        "configs": len(res["configs"]),
        "skipped": res["skipped"],
        "primary_metric": primary,
        "top": [{"id": c["id"], "chunks": c["chunks"], "metrics": c["metrics"], "ci95": c["ci95"]} for c in ranked[:5]],
        "worst": [{"id": c["id"], "metrics": c["metrics"]} for c in ranked[-3:]],
        "best": res["best"],
        "all": {c["id"]: {m: c["metrics"][m] for m in shown} | {"chunks": c["chunks"]} for c in res["configs"]},
        "wall_seconds": {"run1": round(first_s, 1), "run2": round(second_s, 1), "resume": round(resumed_s, 1)},
        "cpu_seconds_run1": first.timings["bench_cpu_seconds"],
        "cpu_cores": os.cpu_count(),
        "run1_cpu_share": round(first.timings["bench_cpu_seconds"] / max(first_s, 1e-9), 2),
        "cache": first.timings["cache"],
        "distinct_texts_embedded": first.timings["cache"]["misses"],
        "chunks_over_all_cells": sum(c.get("chunks", 0) for c in cells.values()),
        "cells_without_embedding": sum(1 for c in cells.values() if c.get("texts_embedded") == 0),
        "embedding_seconds": first.timings["cache"]["embedding_seconds"],
        "per_cell_seconds": {k: v.get("seconds") for k, v in cells.items()},
        "results_identical_bytes": identical,
        "run2": label,
        "resume_reused": resumed.timings["configs_reused"],
        "resume_embedded": resumed.timings["cache"]["misses"],
        "report": str(dest / "report.html"),
    }
    targets = [
        Target(f"{name}: sweep wall time (run 1, with report)", round(first_s, 1), "<=", BUDGET_S, "s"),
        Target(f"{name}: re-run gives byte-identical results.json", float(identical), ">=", 1.0, note=label),
        Target(
            f"{name}: resumed run reuses every configuration",
            resumed.timings["configs_reused"] / len(res["configs"]),
            ">=",
            1.0,
        ),
        Target(f"{name}: HTML report written", float((dest / "report.html").is_file()), ">=", 1.0),
    ]
    return results, targets


def main() -> None:
    parser = arg_parser("Chunking sweeps on the Chroma span set and a synthetic PostgreSQL set.")
    parser.add_argument("which", choices=("chroma", "postgres", "all"))
    parser.add_argument("--work", type=Path, default=Path("/tmp/kenning-bench-sweep"), help="scratch folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--fresh-rerun", action="store_true", help="run 2 embeds everything again (default: it reuses run 1's cache)"
    )
    args = parser.parse_args()
    apply_torch_threads(args.torch_threads)
    for name in ("chroma", "postgres") if args.which == "all" else (args.which,):
        results, targets = bench_one(
            name, quick=args.quick, work=args.work / name, seed=args.seed, fresh_rerun=args.fresh_rerun
        )
        print_targets(targets, quick=args.quick)
        out = args.out / f"sweep_{name}.json" if args.out else None
        write_result(f"sweep_{name}", quick=args.quick, results=results, targets=targets, out=out)


if __name__ == "__main__":
    main()
