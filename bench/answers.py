"""Grounded answers, measured: citation accuracy on the Python FAQ and PubMedQA, yes/no/maybe accuracy with an LLM,
and `kenning ask` latency on the PostgreSQL manual.

- Python FAQ (`../shared/data/qa/python-faq`, 178 pairs): each FAQ answer is indexed as one document with its
  question heading removed; every question is asked in offline extractive mode; the score is the share of answers
  whose citations include the gold answer's document.
- PubMedQA (`../shared/data/qa/pubmedqa`, 1,000 expert items): each item's abstract contexts are one document; the
  500 test questions are asked extractively; same citation score. With an LLM (`--llm local:smollm2` by default,
  the only model that runs offline here), the model answers yes / no / maybe from the retrieved sources on a sample.
- Latency: a cold `kenning ask` process on the PostgreSQL manual (model loads included), then warm answers through
  the Python API.

Run: python bench/answers.py [--quick] [--llm local:smollm2] [--llm-sample 60]
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import (
    BENCH,
    Target,
    arg_parser,
    console,
    latency_stats,
    print_table,
    print_targets,
    write_result,
)

from kenning import Engine
from kenning.config import KenningConfig

SHARED = BENCH.parents[1] / "shared" / "data"
FAQ = SHARED / "qa" / "python-faq" / "python311_faq_qa.jsonl"
PUBMED = SHARED / "qa" / "pubmedqa"
POSTGRES = SHARED / "corpora" / "postgresql-15.20-doc-html.tar.gz"
QUESTION = "When should I use VACUUM FULL instead of plain VACUUM?"


def _index_folder(home: Path, name: str, docs: dict[str, str]) -> Engine:
    folder = home / f"{name}-docs"
    if not folder.exists():
        folder.mkdir(parents=True)
        for doc_id, text in docs.items():
            (folder / f"{doc_id}.txt").write_text(text, encoding="utf-8")
    engine = Engine(home, collection=name)
    report = engine.index([folder])
    console.print(f"{name}: {report.total_documents} documents, {report.total_chunks} chunks ({report.seconds:.0f} s)")
    return engine


def _cites(answer, gold: str) -> bool:
    return any(c.cited and Path(c.source).stem == gold for c in answer.citations)


def _retrieved(answer, gold: str) -> bool:
    return any(Path(c.source).stem == gold for c in answer.citations)


def faq(home: Path, quick: bool) -> dict:
    items = [json.loads(x) for x in FAQ.read_text(encoding="utf-8").splitlines() if x.strip()]
    # the indexed text is the answer only: the question heading is left out, or retrieval would be trivial
    engine = _index_folder(home, "python-faq", {it["id"]: it["answer_rst"] for it in items})
    if quick:
        items = items[:30]
    hits = retrieved = answered = 0
    times = []
    for it in items:
        t0 = time.perf_counter()
        a = engine.ask(it["question"], llm=False, verify=False)
        times.append((time.perf_counter() - t0) * 1000)
        hits += _cites(a, it["id"])
        retrieved += _retrieved(a, it["id"])
        answered += a.answerable
    engine.close()
    n = len(items)
    return {
        "questions": n,
        "citations_include_gold": hits / n,
        "gold_among_sources_given": retrieved / n,
        "answered": answered / n,
        "ms_per_answer": latency_stats(times),
    }


def _pubmed_items() -> tuple[dict, dict]:
    data = json.loads((PUBMED / "ori_pqal.json").read_text(encoding="utf-8"))
    truth = json.loads((PUBMED / "test_ground_truth.json").read_text(encoding="utf-8"))
    return data, truth


YNM = re.compile(r"\b(yes|no|maybe)\b", re.I)


def pubmed(home: Path, quick: bool, llm_spec: str | None, llm_sample: int) -> dict:
    data, truth = _pubmed_items()
    engine = _index_folder(home, "pubmedqa", {pmid: "\n\n".join(item["CONTEXTS"]) for pmid, item in data.items()})
    test = sorted(truth)
    if quick:
        test = test[:40]
    hits = retrieved = 0
    for pmid in test:
        a = engine.ask(data[pmid]["QUESTION"], llm=False, verify=False)
        hits += _cites(a, pmid)
        retrieved += _retrieved(a, pmid)
    out = {
        "questions": len(test),
        "citations_include_gold": hits / len(test),
        "gold_among_sources_given": retrieved / len(test),
    }
    if llm_spec:
        out["llm"] = _pubmed_llm(engine, data, truth, test[: llm_sample if not quick else 10], llm_spec)
    engine.close()
    return out


def _pubmed_llm(engine: Engine, data: dict, truth: dict, sample: list[str], spec: str) -> dict:
    from kenning.generate.packing import pack
    from kenning.generate.prompts import format_sources
    from kenning.providers.llm import get_llm, parse_llm_spec
    from kenning.providers.llm.base import Message

    cfg = KenningConfig().llm.model_copy(update=parse_llm_spec(spec))
    llm = get_llm(cfg)
    correct = parsed = 0
    rows = []
    t0 = time.perf_counter()
    for pmid in sample:
        q = data[pmid]["QUESTION"]
        packed = pack(engine.search(q, k=3), budget_tokens=1200)
        msgs = [
            Message("system", "Answer the question from the sources with one word: yes, no or maybe."),
            Message("user", f"Sources:\n\n{format_sources(packed)}\n\nQuestion: {q}\nAnswer (yes, no or maybe):"),
        ]
        reply = llm.complete(msgs, max_tokens=4)
        m = YNM.search(reply.text)
        guess = m.group(1).lower() if m else ""
        parsed += bool(m)
        correct += guess == truth[pmid]
        rows.append({"pmid": pmid, "gold": truth[pmid], "answer": reply.text.strip()[:40]})
    gold_counts = {k: sum(1 for p in sample if truth[p] == k) for k in ("yes", "no", "maybe")}
    return {
        "model": llm.name,
        "sample": len(sample),
        "accuracy": correct / len(sample),
        "parsed_share": parsed / len(sample),
        "majority_baseline": max(gold_counts.values()) / len(sample),
        "seconds_per_item": (time.perf_counter() - t0) / len(sample),
        "examples": rows[:10],
    }


def latency(home: Path, quick: bool) -> dict:
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
        timeout=600,
    )
    cold = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(proc.stderr)
    first = json.loads(proc.stdout)
    engine = Engine(home, collection="postgres")
    engine.ask(QUESTION)  # load the models once, as a long-running process would have
    questions = [
        QUESTION,
        "How do I create a B-tree index on two columns?",
        "What does the autovacuum daemon do?",
        "How can I see the execution plan of a query?",
        "What is a tablespace?",
        "How do I grant SELECT on a table to a role?",
    ]
    times = []
    for q in questions[: 3 if quick else None]:
        t0 = time.perf_counter()
        engine.ask(q)
        times.append((time.perf_counter() - t0) * 1000)
    engine.close()
    return {
        "corpus_chunks": report.total_chunks,
        "first_answer_cold_process_s": cold,
        "first_answer_verifier": first.get("verifier"),
        "first_answer_text": first.get("text"),
        "warm_answer_ms": latency_stats(times),
    }


def main() -> None:
    parser = arg_parser(__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=Path(tempfile.gettempdir()) / "kenning-bench-answers")
    parser.add_argument("--llm", default="local:smollm2", help="PROVIDER:MODEL for PubMedQA yes/no/maybe, or none")
    parser.add_argument("--llm-sample", type=int, default=60)
    args = parser.parse_args()
    args.home.mkdir(parents=True, exist_ok=True)
    llm_spec = None if args.llm in ("", "none") else args.llm
    results = {
        "python_faq": faq(args.home, args.quick),
        "pubmedqa": pubmed(args.home, args.quick, llm_spec, args.llm_sample),
        "postgres_ask": latency(args.home, args.quick),
    }
    f, p, lat = results["python_faq"], results["pubmedqa"], results["postgres_ask"]
    rows = [
        ["Python FAQ (extractive)", f["questions"], f["citations_include_gold"], f["gold_among_sources_given"]],
        ["PubMedQA test (extractive)", p["questions"], p["citations_include_gold"], p["gold_among_sources_given"]],
    ]
    print_table("Citations include the gold source", ["set", "questions", "cited gold", "gold given"], rows)
    if "llm" in p:
        llm = p["llm"]
        print_table(
            "PubMedQA yes/no/maybe with an LLM",
            ["model", "sample", "accuracy", "majority baseline", "parsed", "s/item"],
            [
                [
                    llm["model"],
                    llm["sample"],
                    llm["accuracy"],
                    llm["majority_baseline"],
                    llm["parsed_share"],
                    llm["seconds_per_item"],
                ]
            ],
        )
    targets = [
        Target("kenning ask first answer, cold process", lat["first_answer_cold_process_s"], "<=", 60, "s"),
        Target("later answers, warm, p50", lat["warm_answer_ms"]["p50_ms"] / 1000, "<=", 3, "s"),
        Target("later answers, warm, max", lat["warm_answer_ms"]["max_ms"] / 1000, "<=", 3, "s"),
    ]
    print_targets(targets, quick=args.quick)
    write_result("answers", quick=args.quick, results=results, targets=targets, out=args.out)


if __name__ == "__main__":
    main()
