"""``kenning tune`` measured: BEIR retrieval before and after tuning, per mode, with paired tests, time and memory.

    python bench/tune.py                       # SciFact (test split) then the Python FAQ, default 60-minute budget
    python bench/tune.py --corpus faq --budget 20m
    python bench/tune.py --quick               # 400 SciFact abstracts, a 20-minute budget: a smoke run

Each corpus goes through exactly the commands a user runs, in subprocesses:

    kenning index corpus.jsonl -c NAME          (through kenning eval beir, which indexes first)
    kenning eval beir DIR -c NAME --mode bm25,dense,hybrid --run before.trec
    kenning tune -c NAME --budget 60m --json
    kenning eval beir DIR -c NAME --mode bm25,dense,hybrid,hybrid+rerank --run after.trec

No labels or queries of the evaluated split are used for tuning: ``kenning tune`` sees only the corpus. Per-query
nDCG@10 is computed from the TREC runs; each mode after is compared with the same mode before (hybrid+rerank with
hybrid) by a paired randomization test, with 95% bootstrap intervals. ``tune`` runs in its own process, so its peak
memory is that process's maximum RSS.

Corpora: SciFact (BEIR) and the Python 3.11 FAQ as a second, different corpus (answers indexed without their
question heading, questions as queries, each answering its own question), or PubMedQA (contexts as documents).
"""

from __future__ import annotations

import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import SCIFACT, Target, arg_parser, console, print_table, print_targets, write_result

from kenning.evaluate.metrics import evaluate_run
from kenning.evaluate.stats import bootstrap_ci, paired_test
from kenning.evaluate.trec import read_trec_run

SHARED = SCIFACT.parents[1]
KENNING = [sys.executable, "-m", "kenning.cli"]
MODES = ("bm25", "dense", "hybrid")


def _kenning(args: list[str], home: Path) -> tuple[dict[str, Any], float, float]:
    """Run a kenning command with ``--json``; returns its JSON, wall seconds and the child's peak RSS in MB."""
    t0 = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    proc = subprocess.run([*KENNING, *args, "--home", str(home), "--json"], capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - t0
    peak = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
    if proc.returncode:
        console.print(proc.stderr[-3000:])
        raise SystemExit(f"kenning {' '.join(args)} failed ({proc.returncode})")
    return json.loads(proc.stdout), seconds, peak


def _faq(dest: Path) -> Path:
    rows = [
        json.loads(x) for x in (SHARED / "qa" / "python-faq" / "python311_faq_qa.jsonl").read_text().splitlines() if x
    ]
    return _beir(
        dest, {r["id"]: ("", r["answer_rst"]) for r in rows}, {r["id"]: (r["question"], r["id"]) for r in rows}
    )


def _pubmed(dest: Path) -> Path:
    data = json.loads((SHARED / "qa" / "pubmedqa" / "ori_pqal.json").read_text())
    docs = {p: ("", "\n\n".join(item["CONTEXTS"])) for p, item in data.items()}
    return _beir(dest, docs, {p: (item["QUESTION"], p) for p, item in data.items()})


def _scifact_quick(dest: Path, n_docs: int = 400) -> Path:
    """The first test queries' gold abstracts plus others, up to ``n_docs``: a small SciFact with its own qrels."""
    import csv

    qrels: dict[str, list[str]] = {}
    with open(SCIFACT / "qrels" / "test.tsv", encoding="utf-8") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            qrels.setdefault(row["query-id"], []).append(row["corpus-id"])
    corpus = {json.loads(x)["_id"]: json.loads(x) for x in (SCIFACT / "corpus.jsonl").read_text().splitlines() if x}
    queries = {
        json.loads(x)["_id"]: json.loads(x)["text"] for x in (SCIFACT / "queries.jsonl").read_text().splitlines()
    }
    picked = [q for q in list(qrels)[:100]]
    keep = {d for q in picked for d in qrels[q]}
    rest = [d for d in corpus if d not in keep]
    keep |= set(random.Random(0).sample(rest, max(0, n_docs - len(keep))))
    docs = {d: (corpus[d].get("title", ""), corpus[d]["text"]) for d in keep}
    return _beir(dest, docs, {q: (queries[q], qrels[q]) for q in picked})


def _beir(dest: Path, docs: dict[str, tuple[str, str]], queries: dict[str, tuple[str, Any]]) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    with open(dest / "corpus.jsonl", "w", encoding="utf-8") as fh:
        for d, (title, text) in docs.items():
            fh.write(json.dumps({"_id": d, "title": title, "text": text}) + "\n")
    with open(dest / "queries.jsonl", "w", encoding="utf-8") as fh:
        for q, (text, _) in queries.items():
            fh.write(json.dumps({"_id": q, "text": text}) + "\n")
    (dest / "qrels").mkdir(exist_ok=True)
    with open(dest / "qrels" / "test.tsv", "w", encoding="utf-8") as fh:
        fh.write("query-id\tcorpus-id\tscore\n")
        for q, (_, gold) in queries.items():
            for d in [gold] if isinstance(gold, str) else gold:
                fh.write(f"{q}\t{d}\t1\n")
    return dest


def _per_query(run_file: Path, qrels: dict[str, dict[str, int]]) -> dict[str, dict[str, float]]:
    scores = evaluate_run(read_trec_run(run_file), qrels, metrics=("ndcg@10", "recall@100"))
    return {q: scores.per_query[q] for q in scores.queries}


def measure(name: str, dataset: Path, home: Path, budget: str, work: Path, extra: list[str]) -> dict[str, Any]:
    from kenning.evaluate.datasets import load_beir

    qrels = load_beir(dataset, "test").qrels

    def evaluate(modes: list[str], tag: str) -> tuple[dict[str, Any], float]:
        run = str(work / f"{name}.{tag}.trec")
        data, seconds, _ = _kenning(
            ["eval", "beir", str(dataset), "-c", name, "--mode", ",".join(modes), "--run", run], home
        )
        return data, seconds

    console.print(f"[bold]{name}[/]: before")
    before, t_before = evaluate(list(MODES), "before")
    console.print(f"[bold]{name}[/]: kenning tune -c {name} --budget {budget}")
    report, t_tune, peak = _kenning(["tune", "-c", name, "--budget", budget, *extra], home)
    after_modes = [*MODES] + (["hybrid+rerank"] if report["reranker"].get("adopted") else [])
    console.print(f"[bold]{name}[/]: after")
    after, _ = evaluate(after_modes, "after")
    rows: dict[str, Any] = {}
    per_before = {m: _per_query(work / f"{name}.before.{m}.trec", qrels) for m in MODES}
    for mode in after_modes:
        per_after = _per_query(work / f"{name}.after.{mode}.trec", qrels)
        base = mode if mode in per_before else "hybrid"
        cmp = paired_test(per_before[base], per_after, "ndcg@10", seed=0)
        ci_after = bootstrap_ci(per_after, "ndcg@10", resamples=5000, seed=0)
        ci_before = bootstrap_ci(per_before[base], "ndcg@10", resamples=5000, seed=0)
        rows[mode] = {
            "before_mode": base,
            "ndcg@10_before": round(cmp.mean_baseline, 4),
            "ndcg@10_before_ci": [round(ci_before.low, 4), round(ci_before.high, 4)],
            "ndcg@10_after": round(cmp.mean_candidate, 4),
            "ndcg@10_after_ci": [round(ci_after.low, 4), round(ci_after.high, 4)],
            "diff": round(cmp.diff, 4),
            "diff_ci": [round(cmp.low, 4), round(cmp.high, 4)],
            "p_value": round(cmp.p_value, 5),
            "recall@100_before": before["modes"][base]["metrics"]["recall@100"],
            "recall@100_after": after["modes"][mode]["metrics"]["recall@100"],
            "worse_beyond_ci": cmp.high < 0,
        }
    return {
        "dataset": str(dataset),
        "queries": before["queries"],
        "documents": before["documents"],
        "chunks": before["chunks"],
        "modes": rows,
        "tune": {
            "seconds": round(t_tune, 1),
            "peak_rss_mb": round(peak, 1),
            "embedder": {k: report["embedder"].get(k) for k in ("trained", "adopted")}
            | {
                "decision": report["embedder"].get("decision", {}).get("reason"),
                "steps": report["embedder"].get("manifest", {}).get("steps"),
                "examples_per_second": report["embedder"].get("manifest", {}).get("examples_per_second"),
                "stopped": report["embedder"].get("manifest", {}).get("stopped"),
            },
            "reranker": {k: report["reranker"].get(k) for k in ("trained", "adopted")}
            | {
                "decision": report["reranker"].get("decision", {}).get("reason"),
                "steps": report["reranker"].get("manifest", {}).get("steps"),
                "examples_per_second": report["reranker"].get("manifest", {}).get("examples_per_second"),
                "stopped": report["reranker"].get("manifest", {}).get("stopped"),
            },
            "pairs": report["pairs"],
            "mining": report["mining"],
            "validation_after": report["after"],
            "validation_comparisons": report["comparisons"],
            "plan": report["plan"],
        },
        "eval_seconds_before": round(t_before, 1),
    }


def main() -> None:
    parser = arg_parser(__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="scifact,faq", help="comma-separated: scifact, faq, pubmedqa")
    parser.add_argument("--budget", default="60m", help="kenning tune --budget")
    parser.add_argument("--home", type=Path, default=None, help="index folder (default: a fresh temporary one)")
    parser.add_argument("--max-pairs", type=int, default=None, help="kenning tune --max-pairs")
    args = parser.parse_args()
    load_start = [round(x, 2) for x in os.getloadavg()]
    work = Path(tempfile.mkdtemp(prefix="kenning-bench-tune-"))
    home = args.home or work / "home"
    results: dict[str, Any] = {
        "budget": args.budget,
        "max_pairs": args.max_pairs,
        "load_average_at_start": load_start,
        "corpora": {},
    }
    for name in [c.strip() for c in args.corpus.split(",") if c.strip()]:
        if name == "scifact":
            dataset = _scifact_quick(work / "scifact-small") if args.quick else SCIFACT
        elif name == "faq":
            dataset = _faq(work / "python-faq")
        elif name == "pubmedqa":
            dataset = _pubmed(work / "pubmedqa")
        else:
            raise SystemExit(f"unknown corpus {name!r}: scifact, faq or pubmedqa")
        budget = "20m" if args.quick else args.budget
        extra = ["--max-pairs", str(args.max_pairs)] if args.max_pairs else []
        results["corpora"][name] = r = measure(name, dataset, home, budget, work, extra)
        print_table(
            f"{name}: nDCG@10 before → after kenning tune (budget {budget}, {r['tune']['seconds'] / 60:.1f} min, "
            f"peak {r['tune']['peak_rss_mb']:.0f} MB)",
            ["mode", "before", "after", "Δ", "Δ 95% CI", "p"],
            [
                [
                    m,
                    v["ndcg@10_before"],
                    v["ndcg@10_after"],
                    v["diff"],
                    f"[{v['diff_ci'][0]:+.3f}, {v['diff_ci'][1]:+.3f}]",
                    v["p_value"],
                ]
                for m, v in r["modes"].items()
            ],
        )
        console.print(f"embedder: {r['tune']['embedder']['decision']}\nreranker: {r['tune']['reranker']['decision']}")
    targets: list[Target] = []
    sci = results["corpora"].get("scifact")
    if sci and not args.quick:
        best = sci["modes"].get("hybrid+rerank", sci["modes"]["hybrid"])
        targets += [
            Target("SciFact tuned hybrid + tuned reranker nDCG@10", best["ndcg@10_after"], ">=", 0.74),
            Target("SciFact tuned dense nDCG@10", sci["modes"]["dense"]["ndcg@10_after"], ">=", 0.70),
            Target("SciFact tune wall time", sci["tune"]["seconds"] / 60, "<=", 60, " min"),
        ]
    for name, r in results["corpora"].items():
        if name != "scifact":
            worse = sum(v["worse_beyond_ci"] for v in r["modes"].values())
            targets.append(Target(f"{name}: modes worse beyond their CI", worse, "<=", 0))
    print_targets(targets, quick=args.quick)
    write_result("tune", quick=args.quick, results=results, targets=targets, out=args.out)


if __name__ == "__main__":
    main()
