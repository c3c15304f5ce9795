"""Embedders: SciFact dense quality, encoding speed and memory of every registered embedder, and which to default to.

    python bench/embedders.py                       # every installed registered embedder, whole corpus (~30-40 min)
    python bench/embedders.py --models minilm,e5-small
    python bench/embedders.py --quick               # 250 documents, 50 queries: a smoke test, not the verdict

Each model runs in its own process, one after another (so peak RSS is that model's, and two never share the cores):

1. Load the embedder and warm it up (timed, not counted as indexing).
2. Index ``corpus.jsonl`` with :class:`kenning.Engine` into a fresh temporary home, with the default chunking
   (structure, 500 cl100k tokens): documents/s and chunks/s of ``Engine.index`` (parse, chunk, embed, publish).
3. Encode the test queries: queries/s in batches (``embed(queries, is_query=True)``), and ms for one query alone.
4. ``evaluate_beir`` in dense mode: nDCG@10 and recall@100 on the test split (300 queries), chunks collapsed to
   documents by max-p, as ``bench/scifact.py`` scores them.

The default rule, "quality per second": among the models whose nDCG@10 is no more than 0.01 below minilm's (the
current default: no trading retrieval quality for speed beyond run-to-run noise), the default is the one with the
highest nDCG@10 × documents indexed per second (nDCG@10 per second spent per document). minilm stays the default
unless another model beats it on that product.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import (
    SCIFACT,
    Target,
    apply_torch_threads,
    arg_parser,
    console,
    latency_stats,
    peak_rss_mb,
    print_table,
    print_targets,
    rss_mb,
    scifact_subset,
    timed,
    write_result,
)

CURRENT_DEFAULT = "minilm"
QUALITY_SLACK = 0.01
"""A model may be at most this much nDCG@10 below the current default to be chosen for speed."""
PUBLISHED = {"minilm": 0.645, "mpnet": 0.656}
"""SciFact test nDCG@10 published for the fp32 models (MTEB; /work/shared/notes/offline-models.md)."""


def measure_one(name: str, dataset: Path, work: Path, *, single_queries: int = 100) -> dict:
    """Load, index, encode queries and evaluate one embedder in this process."""
    from kenning import Engine
    from kenning.config import KenningConfig
    from kenning.evaluate import load_beir
    from kenning.evaluate.beir_eval import evaluate_beir
    from kenning.providers.embedders import REGISTRY, get_embedder

    out: dict = {"name": name, "load_average_at_start": [round(x, 2) for x in os.getloadavg()]}
    rss0 = rss_mb()
    with timed() as t_load:
        embedder = get_embedder(name)
        embedder.embed(["warm up the model", "a second sentence to warm up the batch path"])
        embedder.embed(["warm up queries"], is_query=True)
    out.update(
        model_id=embedder.name,
        dim=embedder.dim,
        distributions=list(REGISTRY[name].distributions),
        load_seconds=t_load.seconds,
        rss_mb_after_load=rss_mb() - rss0,
    )

    home = work / f"home-{name}"
    config = KenningConfig.load(home, embedder={"name": name})
    engine = Engine(home, collection=f"scifact-{name}", config=config, embedder=embedder)
    console.print(f"[{name}] indexing {dataset / 'corpus.jsonl'} …")
    with timed() as t_index:
        report = engine.index([dataset / "corpus.jsonl"])
    out["index"] = {
        "seconds": t_index.seconds,
        "documents": report.total_documents,
        "chunks": report.chunks_embedded,
        "documents_per_second": report.total_documents / t_index.seconds,
        "chunks_per_second": report.chunks_embedded / t_index.seconds,
    }

    ds = load_beir(dataset, "test")
    queries = list(ds.queries.values())
    with timed() as t_queries:
        qvecs = embedder.embed(queries, is_query=True)
    assert qvecs.shape == (len(queries), embedder.dim)
    samples = []
    for q in queries[:single_queries]:
        t0 = time.perf_counter()
        embedder.embed([q], is_query=True)
        samples.append((time.perf_counter() - t0) * 1000)
    out["queries"] = {
        "count": len(queries),
        "seconds_batched": t_queries.seconds,
        "queries_per_second": len(queries) / t_queries.seconds,
        "one_query": latency_stats(samples),
    }

    console.print(f"[{name}] evaluating dense retrieval …")
    ev = evaluate_beir(engine, dataset, modes=("dense",))
    out["quality"] = ev["modes"]["dense"]["metrics"]
    out["ms_per_query_search"] = ev["modes"]["dense"]["ms_per_query"]
    out["queries_evaluated"] = ev["queries"]
    out["recorded_model"] = ev["embedder"]
    engine.close()
    out["peak_rss_mb"] = peak_rss_mb()
    out["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return out


def choose_default(rows: dict[str, dict]) -> dict:
    """The rule in the module docstring, applied to the measured rows (model name → measure_one's dict)."""
    base = rows.get(CURRENT_DEFAULT)
    floor = base["quality"]["ndcg@10"] - QUALITY_SLACK if base else float("-inf")
    score = {n: r["quality"]["ndcg@10"] * r["index"]["documents_per_second"] for n, r in rows.items()}
    eligible = [n for n, r in rows.items() if r["quality"]["ndcg@10"] >= floor]
    best = max(eligible, key=lambda n: score[n]) if eligible else CURRENT_DEFAULT
    return {
        "rule": (
            f"among models with nDCG@10 >= {CURRENT_DEFAULT}'s - {QUALITY_SLACK}, the highest nDCG@10 x documents/s "
            "while indexing"
        ),
        "quality_per_second": score,
        "eligible": eligible,
        "chosen": best,
        "changes_default": best != CURRENT_DEFAULT,
    }


def wait_for_quiet(limit: float, *, below: float = 1.0) -> float:
    """Sleep until the 1-minute load average is below ``below`` (the machine is shared), at most ``limit`` s."""
    t0 = time.monotonic()
    while os.getloadavg()[0] >= below and time.monotonic() - t0 < limit:
        time.sleep(15)
    return time.monotonic() - t0


def main() -> None:
    parser = arg_parser(__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SCIFACT, help="a BEIR folder (default: shared SciFact)")
    parser.add_argument("--models", default=None, help="comma-separated registered names (default: all installed)")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0,
        help="before each model, wait up to this many seconds for the 1-minute load average to fall below 1.0",
    )
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--one-out", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    apply_torch_threads(args.torch_threads)

    if args.one:  # a child process: one model, its numbers written to --one-out
        work = Path(tempfile.mkdtemp(prefix=f"kenning-bench-emb-{args.one}-"))
        try:
            args.one_out.write_text(json.dumps(measure_one(args.one, args.data, work)), encoding="utf-8")
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return

    from kenning.providers.embedders import REGISTRY

    names = args.models.split(",") if args.models else list(REGISTRY)
    work = Path(tempfile.mkdtemp(prefix="kenning-bench-embedders-"))
    dataset = scifact_subset(work / "scifact-quick", n_docs=250, n_queries=50) if args.quick else args.data
    rows: dict[str, dict] = {}
    skipped: dict[str, str] = {}
    for name in names:
        spec = REGISTRY[name]
        if not spec.installed():
            skipped[name] = f"not installed ({', '.join(spec.distributions)})"
            console.print(f"[yellow]{name}: {skipped[name]}, skipped[/yellow]")
            continue
        waited = wait_for_quiet(args.wait_quiet)
        out_file = work / f"{name}.json"
        cmd = [sys.executable, __file__, "--one", name, "--one-out", str(out_file), "--data", str(dataset)]
        if args.torch_threads:
            cmd += ["--torch-threads", str(args.torch_threads)]
        with timed() as t:
            proc = subprocess.run(cmd, check=False)
        if proc.returncode != 0 or not out_file.is_file():
            skipped[name] = f"failed (exit {proc.returncode})"
            console.print(f"[red]{name}: {skipped[name]}[/red]")
            continue
        rows[name] = json.loads(out_file.read_text(encoding="utf-8"))
        rows[name]["wall_seconds"] = t.seconds
        rows[name]["waited_for_quiet_seconds"] = waited

    decision = choose_default(rows) if rows else {}
    print_table(
        f"Embedders on SciFact test ({next(iter(rows.values()))['queries_evaluated'] if rows else 0} queries), dense",
        [
            "model",
            "dim",
            "nDCG@10",
            "recall@100",
            "docs/s",
            "chunks/s",
            "queries/s",
            "1 query ms",
            "load s",
            "peak RSS MiB",
            "load avg",
            "nDCG×docs/s",
        ],
        [
            [
                n,
                r["dim"],
                r["quality"]["ndcg@10"],
                r["quality"]["recall@100"],
                r["index"]["documents_per_second"],
                r["index"]["chunks_per_second"],
                r["queries"]["queries_per_second"],
                r["queries"]["one_query"]["p50_ms"],
                r["load_seconds"],
                r["peak_rss_mb"],
                r["load_average_at_start"][0],
                decision["quality_per_second"][n],
            ]
            for n, r in rows.items()
        ],
        caption=f"default by quality per second: {decision.get('chosen', '—')} ({decision.get('rule', '')})",
    )
    targets = [
        Target(f"{n} nDCG@10 (published {p:.3f} − 0.015)", rows[n]["quality"]["ndcg@10"], ">=", p - 0.015)
        for n, p in PUBLISHED.items()
        if n in rows
    ]
    print_targets(targets, quick=args.quick)
    results = {"dataset": str(dataset), "models": rows, "skipped": skipped, "decision": decision}
    write_result("embedders", quick=args.quick, results=results, targets=targets, out=args.out)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
