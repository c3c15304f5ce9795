"""Answers, measured: the local generator against extractive answers on the Python FAQ and PubMedQA, and `kenning
ask` on the PostgreSQL manual (time to first token, whole answer, the issue's three regression questions).

- Python FAQ (`../shared/data/qa/python-faq`, 178 pairs): each FAQ answer is one document with its question heading
  removed; the reference is the FAQ's answer text (token F1).
- PubMedQA (`../shared/data/qa/pubmedqa`, 500 test items): each item's abstract contexts are one document; the
  reference is the expert yes / no / maybe (accuracy; the majority class is 55 %).
- Both sets are asked with `Engine.ask(mode=…)` and scored by `kenning.evaluate.generation.evaluate_answers` (the
  code behind `kenning eval qa --modes`): correctness over answered questions and over all (an abstention scores
  0), citations that include the gold document, faithfulness (share of claims SUPPORTed), abstention rate.
  Every mode answers the same seeded sample of questions (`--sample`; 0 = all; the generator takes ~15 s a
  question on 2 cores).
- PostgreSQL: a cold `kenning ask` process, then a warm process: time to first token and whole answer for six
  questions, and the three regression questions (answered right or abstained, never wrong with SUPPORT).

Run: python bench/answers.py [--quick] [--sample 60] [--modes extractive,generate]
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import BENCH, Target, arg_parser, console, latency_stats, print_table, print_targets, write_result

from kenning import Engine
from kenning.evaluate.generation import evaluate_answers
from kenning.evaluate.qa import QAItem, QASet

SHARED = BENCH.parents[1] / "shared" / "data"
FAQ = SHARED / "qa" / "python-faq" / "python311_faq_qa.jsonl"
PUBMED = SHARED / "qa" / "pubmedqa"
POSTGRES = SHARED / "corpora" / "postgresql-15.20-doc-html.tar.gz"
QUESTION = "When should I use VACUUM FULL instead of plain VACUUM?"
REGRESSION = (
    "What is the default value of max_connections?",
    "How can I make a backup of a running database without stopping it?",
    "What is the capital of France?",
)


def _index_folder(home: Path, name: str, docs: dict[str, str]) -> tuple[Engine, dict[str, str]]:
    """The collection of ``docs`` (one file each) and a map file stem → kenning doc id."""
    folder = home / f"{name}-docs"
    if not folder.exists():
        folder.mkdir(parents=True)
        for doc_id, text in docs.items():
            (folder / f"{doc_id}.txt").write_text(text, encoding="utf-8")
    engine = Engine(home, collection=name)
    report = engine.index([folder])
    console.print(f"{name}: {report.total_documents} documents, {report.total_chunks} chunks ({report.seconds:.0f} s)")
    stems = {
        Path(src).stem: doc for doc, srcs in engine.collection().catalog.document_sources().items() for src in srcs
    }
    return engine, stems


def _qa_set(rows: list[tuple[str, str, str]], stems: dict[str, str]) -> QASet:
    return QASet(tuple(QAItem(id=i, question=q, answer=a, gold_doc_ids=(stems[i],)) for i, q, a in rows))


def _unanswerable(engine: Engine, other: Engine, folder: Path, qa: QASet, mode: str, n: int) -> dict[str, Any]:
    """Abstention end to end (retrieval signals, the generator's own refusal, the verifier): the same questions with
    their gold document left out (``source!=``), and asked of another field's collection."""
    items = random.Random(1).sample(list(qa), min(n, len(qa)))
    removed = other_domain = 0
    for item in items:
        gold = folder / f"{item.id}.txt"
        removed += not engine.ask(item.question, mode=mode, filters=[f"source!={gold}"]).answerable
        other_domain += not other.ask(item.question, mode=mode).answerable
    return {
        "questions": len(items),
        "abstained_on_removed": removed / max(len(items), 1),
        "abstained_on_other_domain": other_domain / max(len(items), 1),
        "abstained_on_unanswerable": (removed + other_domain) / max(2 * len(items), 1),
    }


def _by_mode(
    engine: Engine,
    qa: QASet,
    modes: list[str],
    sample: int,
    name: str,
    unanswerable: tuple[Engine, Path, int] | None = None,
) -> dict[str, Any]:
    out = {}
    for mode in modes:
        items = list(qa)
        if sample and sample < len(items):
            items = random.Random(0).sample(items, sample)  # the same questions for every mode
        t0 = time.perf_counter()
        with console.status(f"{name}: {mode} answers to {len(items)} questions") as status:
            summary = evaluate_answers(
                engine,
                QASet(tuple(items)),
                ask=lambda q, m=mode: engine.ask(q, mode=m),
                progress=lambda _s, d, t, m=mode: status.update(f"{name}: {m} {d}/{t}"),
            )
        summary["seconds_per_question"] = (time.perf_counter() - t0) / max(len(items), 1)
        summary.pop("per_answer", None)
        if unanswerable is not None:
            other, folder, n = unanswerable
            with console.status(f"{name}: {mode}, unanswerable questions"):
                summary["unanswerable"] = _unanswerable(engine, other, folder, QASet(tuple(items)), mode, n)
        out[mode] = summary
    return out


def qa_sets(home: Path, modes: list[str], sample: int, unanswerable: int, quick: bool) -> dict[str, Any]:
    faq_items = [json.loads(x) for x in FAQ.read_text(encoding="utf-8").splitlines() if x.strip()]
    # the indexed text is the answer only: the question heading is left out, or retrieval would be trivial
    faq, faq_stems = _index_folder(home, "python-faq", {it["id"]: it["answer_rst"] for it in faq_items})
    data = json.loads((PUBMED / "ori_pqal.json").read_text(encoding="utf-8"))
    truth = json.loads((PUBMED / "test_ground_truth.json").read_text(encoding="utf-8"))
    pub, pub_stems = _index_folder(home, "pubmedqa", {p: "\n\n".join(it["CONTEXTS"]) for p, it in data.items()})
    faq_rows = [(it["id"], it["question"], it["answer_rst"]) for it in faq_items[: 20 if quick else None]]
    pub_rows = [(p, data[p]["QUESTION"], truth[p]) for p in sorted(truth)[: 20 if quick else None]]
    n = 5 if quick else unanswerable
    out = {
        "python_faq": _by_mode(
            faq, _qa_set(faq_rows, faq_stems), modes, sample, "python-faq", (pub, home / "python-faq-docs", n)
        ),
        "pubmedqa": _by_mode(
            pub, _qa_set(pub_rows, pub_stems), modes, sample, "pubmedqa", (faq, home / "pubmedqa-docs", n)
        ),
    }
    counts = {k: sum(1 for p in truth if truth[p] == k) for k in ("yes", "no", "maybe")}
    out["pubmedqa"]["majority_baseline"] = max(counts.values()) / len(truth)
    faq.close()
    pub.close()
    return out


def postgres(home: Path, quick: bool) -> dict[str, Any]:
    engine = Engine(home, collection="postgres")
    report = engine.index([POSTGRES])
    engine.close()
    env = {**os.environ, "KENNING_HOME": str(home)}
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "kenning.cli", "ask", QUESTION, "-c", "postgres", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    cold = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(proc.stderr)
    first = json.loads(proc.stdout)
    engine = Engine(home, collection="postgres")
    t0 = time.perf_counter()
    engine.ask("What is a tablespace?", mode="generate")  # a long-running process has loaded everything once
    warmup = time.perf_counter() - t0
    questions = [
        QUESTION,
        "How do I create a B-tree index on two columns?",
        "What does the autovacuum daemon do?",
        "How can I see the execution plan of a query?",
        "How do I grant SELECT on a table to a role?",
        "What is the default value of shared_buffers?",
    ]
    runs = []
    for q in questions[: 2 if quick else None]:
        stamps: list[float] = []
        t0 = time.perf_counter()
        a = engine.ask(q, mode="generate", on_token=lambda _p, s=stamps: s.append(time.perf_counter()))
        whole = time.perf_counter() - t0
        runs.append(
            {
                "question": q,
                "first_token_s": (stamps[0] - t0) if stamps else None,
                "whole_s": whole,
                "answerable": a.answerable,
                "verdicts": [v.label for v in a.verdicts],
                "prompt_tokens": a.usage.prompt_tokens,
                "completion_tokens": a.usage.completion_tokens,
                "text": a.text[:300],
            }
        )
    regression = {}
    for mode in ("extractive", "generate"):
        for q in REGRESSION:
            a = engine.ask(q, mode=mode)
            regression[f"{mode}: {q}"] = {
                "answerable": a.answerable,
                "text": a.text[:400],
                "verdicts": [[v.label, v.claim[:160]] for v in a.verdicts],
                "notes": list(a.notes),
            }
    engine.close()
    ttft = [r["first_token_s"] for r in runs if r["first_token_s"] is not None]
    return {
        "corpus_chunks": report.total_chunks,
        "cold_process_s": cold,
        "cold_answer": {k: first.get(k) for k in ("text", "answerable", "model", "verifier")},
        "warmup_s": warmup,
        "runs": runs,
        "first_token_s": latency_stats([x * 1000 for x in ttft]) if ttft else None,
        "whole_answer_s": latency_stats([r["whole_s"] * 1000 for r in runs]),
        "regression": regression,
    }


def _row(name: str, mode: str, s: dict[str, Any]) -> list[Any]:
    m = s["metrics"]

    def mean(key: str) -> float | None:
        return m[key]["mean"] if key in m else None

    correct = "ynm_accuracy" if "ynm_accuracy_all" in m else "f1"
    return [
        name,
        mode,
        s.get("answers"),
        mean(f"{correct}_answered"),
        mean(f"{correct}_all"),
        mean("citations_include_gold"),
        mean("faithfulness"),
        mean("abstention_rate"),
        s["seconds_per_question"],
    ]


def main() -> None:
    parser = arg_parser(__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=Path(tempfile.gettempdir()) / "kenning-bench-answers")
    parser.add_argument("--sample", type=int, default=60, help="questions per set, the same for every mode (0: all)")
    parser.add_argument("--modes", default="extractive,generate")
    parser.add_argument("--unanswerable", type=int, default=15, help="questions per set asked without their gold")
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    args.home.mkdir(parents=True, exist_ok=True)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    results: dict[str, Any] = qa_sets(args.home, modes, args.sample, args.unanswerable, args.quick)
    if not args.skip_postgres:
        results["postgres_ask"] = postgres(args.home, args.quick)
    rows = [
        _row(set_, mode, results[key][mode])
        for key, set_ in (("python_faq", "Python FAQ"), ("pubmedqa", "PubMedQA"))
        for mode in modes
    ]
    print_table(
        "Answers: correctness (F1 or yes/no/maybe) over answered and over all questions",
        ["set", "mode", "n", "correct (answered)", "correct (all)", "cites gold", "faithful", "abstained", "s/q"],
        rows,
    )
    print_table(
        "Abstention end to end: answerable questions answered, unanswerable ones declined",
        ["set", "mode", "answered (answerable)", "abst. gold removed", "abst. other domain", "abst. unanswerable"],
        [
            [
                set_,
                mode,
                results[key][mode]["metrics"]["answered_rate"]["mean"],
                results[key][mode]["unanswerable"]["abstained_on_removed"],
                results[key][mode]["unanswerable"]["abstained_on_other_domain"],
                results[key][mode]["unanswerable"]["abstained_on_unanswerable"],
            ]
            for key, set_ in (("python_faq", "Python FAQ"), ("pubmedqa", "PubMedQA"))
            for mode in modes
        ],
    )
    targets = []
    if "generate" in modes and "extractive" in modes:
        f_gen, f_ext = results["python_faq"]["generate"]["metrics"], results["python_faq"]["extractive"]["metrics"]
        p_gen = results["pubmedqa"]["generate"]["metrics"]
        targets += [
            Target(
                "FAQ F1 (all): generator minus extractive", f_gen["f1_all"]["mean"] - f_ext["f1_all"]["mean"], ">", 0.0
            ),
            Target("FAQ generator citations include gold", f_gen["citations_include_gold"]["mean"], ">=", 0.85),
            Target("PubMedQA generator citations include gold", p_gen["citations_include_gold"]["mean"], ">=", 0.85),
            Target(
                "PubMedQA generator yes/no/maybe accuracy (all)",
                p_gen["ynm_accuracy_all"]["mean"],
                ">",
                results["pubmedqa"]["majority_baseline"],
            ),
        ]
    for key in ("python_faq", "pubmedqa"):
        for mode in modes:
            r = results[key][mode]
            targets.append(
                Target(f"{key} {mode}: answered on answerable", r["metrics"]["answered_rate"]["mean"], ">=", 0.9)
            )
            targets.append(
                Target(
                    f"{key} {mode}: abstained on unanswerable",
                    r["unanswerable"]["abstained_on_unanswerable"],
                    ">=",
                    0.8,
                )
            )
    if "postgres_ask" in results:
        pg = results["postgres_ask"]
        if pg["first_token_s"]:
            targets.append(Target("ask: first token, warm, p50", pg["first_token_s"]["p50_ms"] / 1000, "<=", 10, "s"))
            targets.append(Target("ask: first token, warm, max", pg["first_token_s"]["max_ms"] / 1000, "<=", 10, "s"))
        targets.append(Target("ask: whole answer, warm, max", pg["whole_answer_s"]["max_ms"] / 1000, "<=", 30, "s"))
    print_targets(targets, quick=args.quick)
    write_result("answers", quick=args.quick, results=results, targets=targets, out=args.out)


if __name__ == "__main__":
    main()
