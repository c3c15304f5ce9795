"""Grounding verifiers on SciFact dev claims: is the claim SUPPORTed by the abstract, or not?

    python bench/verifier.py                          # lexical + the trained model (--model, else <home>/models/verifier)
    python bench/verifier.py --model DIR              # a model trained with: kenning train verifier --out DIR
    python bench/verifier.py --train                  # train the model into --model first (records the time)
    python bench/verifier.py --llm openai:gpt-4o-mini # add the LLM fact-checker (costs tokens)
    python bench/verifier.py --llm local:qwen2.5-1.5b --llm local:qwen2.5-0.5b --llm-pairs 150
                                                      # the packaged local models as fact-checkers, on a seeded
                                                      # sample of dev pairs (the same sample for every verifier)
    python bench/verifier.py --quick                  # 60 dev pairs, a smoke test

Each row of ``claims_dev_pairs.jsonl`` (451; SUPPORT 216, CONTRADICT 122, NOT_ENOUGH_INFO 113) is one claim checked
against its abstract, given as one source (the sentences joined); the verifier must find the evidence itself, it
is never shown the rationale. Binary task: SUPPORT vs not (CONTRADICT + NOT_ENOUGH_INFO; PARTIAL counts as not).
Reports accuracy, balanced accuracy (mean of the SUPPORT and not-SUPPORT recalls), macro-F1, SUPPORT precision/recall, the 3-way confusion (how CONTRADICT and NEI claims are
labelled), time per claim, a 5-claim x 10-source answer's verification time, and the model's training time.

Verifiers: ``lexical`` (no model); with a trained model, ``offline`` (the lexical verdict vetoed/rescued by the
model) and ``offline-model`` (the model alone), with the thresholds chosen on the held-out slice of the *train*
claims (never on dev); ``engine offline`` names which of them the engine's "offline" verifier is (the trained one
only when its training found it significantly better than lexical). Target: accuracy >= 0.80 for the best offline
verifier. Any other verifier is measured the same way with ``evaluate_verifier(verifier, rows)`` (``--extra``).
"""

from __future__ import annotations

import importlib
import random
import statistics
import time
from collections import Counter
from pathlib import Path
from typing import Any

from _common import (
    BENCH,
    Target,
    apply_torch_threads,
    arg_parser,
    console,
    print_table,
    print_targets,
    read_jsonl,
    write_result,
)

DATA = BENCH.parents[1] / "shared" / "data"
DEV = DATA / "verify" / "scifact-claims" / "claims_dev_pairs.jsonl"
GOLD = ("SUPPORT", "CONTRADICT", "NOT_ENOUGH_INFO")
PREDICTED = ("SUPPORT", "PARTIAL", "NOT_SUPPORTED")


def evaluate_verifier(verifier: Any, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Accuracy, macro-F1, 3-way confusion and time per claim of any ``kenning.verify.Verifier`` on dev rows."""
    from kenning.verify import Claim, Source

    verifier.verify([Claim("Warm up.", 0, 8, (1,))], [Source("w", "Warm up the model once.")])
    confusion = {g: Counter() for g in GOLD}
    seconds = []
    hits = 0
    examples = []
    tokens = 0
    for row in rows:
        claim = Claim(row["claim"], 0, len(row["claim"]), (1,))
        source = Source(str(row["doc_id"]), " ".join(row["abstract_sentences"]))
        t0 = time.perf_counter()
        checked = verifier.verify([claim], [source])
        seconds.append(time.perf_counter() - t0)
        verdict, tokens = checked.verdicts[0], tokens + checked.usage.total_tokens
        confusion[row["label"]][verdict.label] += 1
        ok = (verdict.label == "SUPPORT") == (row["label"] == "SUPPORT")
        hits += ok
        if not ok and len(examples) < 8:
            examples.append(
                {
                    "claim": row["claim"],
                    "gold": row["label"],
                    "label": verdict.label,
                    "reasoning": verdict.reasoning,
                    "evidence": verdict.evidence[:200],
                }
            )
    tp = confusion["SUPPORT"]["SUPPORT"]
    fn = sum(confusion["SUPPORT"].values()) - tp
    fp = confusion["CONTRADICT"]["SUPPORT"] + confusion["NOT_ENOUGH_INFO"]["SUPPORT"]
    tn = len(rows) - tp - fn - fp

    def f1(tp_: int, fp_: int, fn_: int) -> float:
        return 2 * tp_ / (2 * tp_ + fp_ + fn_) if tp_ else 0.0

    return {
        "verifier": verifier.name,
        "pairs": len(rows),
        "accuracy": hits / len(rows),
        "balanced_accuracy": ((tp / (tp + fn) if tp + fn else 0.0) + (tn / (tn + fp) if tn + fp else 0.0)) / 2,
        "macro_f1": (f1(tp, fp, fn) + f1(tn, fn, fp)) / 2,
        "support_precision": tp / (tp + fp) if tp + fp else 0.0,
        "support_recall": tp / (tp + fn) if tp + fn else 0.0,
        "confusion": {g: {p: confusion[g][p] for p in PREDICTED} for g in GOLD},
        "ms_per_claim": 1000 * statistics.fmean(seconds),
        "ms_per_claim_p95": 1000 * sorted(seconds)[int(0.95 * (len(seconds) - 1))],
        "tokens": tokens,  # every claim's, summed
        "wrong_examples": examples,
    }


def answer_latency(verifier: Any, rows: list[dict[str, Any]], *, claims: int = 5, sources: int = 10) -> float:
    """Seconds to verify one answer of ``claims`` claims against ``sources`` abstracts (median of 3)."""
    from kenning.verify import Claim, Source

    rng = random.Random(7)
    times = []
    for _ in range(3):
        picked = rng.sample(rows, sources)
        srcs = [Source(str(r["doc_id"]), " ".join(r["abstract_sentences"])) for r in picked]
        cl = [Claim(r["claim"], 0, len(r["claim"]), (i % sources + 1,)) for i, r in enumerate(picked[:claims])]
        t0 = time.perf_counter()
        verifier.verify(cl, srcs)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = arg_parser(__doc__.split("\n")[0])
    parser.add_argument(
        "--model", type=Path, default=None, help="trained verifier folder (default <home>/models/verifier)"
    )
    parser.add_argument("--train", action="store_true", help="train the model into --model first")
    parser.add_argument(
        "--llm", action="append", default=[], help="PROVIDER:MODEL: also measure this LLM as fact-checker (repeatable)"
    )
    parser.add_argument(
        "--llm-pairs", type=int, default=0, help="measure every verifier on a seeded sample of this many pairs"
    )
    parser.add_argument("--no-latency", action="store_true", help="skip the 5-claim x 10-source answer timing")
    parser.add_argument(
        "--extra",
        action="append",
        default=[],
        help="module:function returning another Verifier to measure",
    )
    args = parser.parse_args()
    apply_torch_threads(args.torch_threads)
    rows = read_jsonl(DEV)
    if args.quick:
        rows = random.Random(0).sample(rows, 60)
    elif args.llm_pairs:
        rows = random.Random(0).sample(rows, min(args.llm_pairs, len(rows)))

    from kenning.verify.offline import LexicalVerifier, OfflineVerifier, default_verifier_dir, read_manifest

    model_dir = args.model or default_verifier_dir()
    training: dict[str, Any] = {}
    if args.train:
        from kenning.train.verifier import train_verifier

        with console.status("training the verifier") as status:
            report = train_verifier(  # the dev abstracts are left out of the made pairs by default
                model_dir,
                train_pairs=DATA / "verify" / "scifact-claims" / "claims_train_pairs.jsonl",
                corpus=DATA / "beir" / "scifact" / "corpus.jsonl",
                progress=lambda s, d, t: status.update(f"training the verifier: {s} {d}/{t}"),
            )
        training = {"seconds": report.seconds, "steps": report.steps, "counts": report.counts}

    verifiers: list[Any] = [LexicalVerifier()]
    manifest = read_manifest(model_dir) or {}
    if manifest:
        verifiers += [OfflineVerifier(model_dir, mode="combined"), OfflineVerifier(model_dir, mode="model")]
    else:
        console.print(f"[yellow]no trained verifier at {model_dir}; train one with --train or kenning train verifier")
    for spec in args.llm:
        from kenning.config import KenningConfig
        from kenning.providers.llm import get_llm, parse_llm_spec
        from kenning.verify.llm_verifier import LLMVerifier

        verifiers.append(LLMVerifier(get_llm(KenningConfig().llm.model_copy(update=parse_llm_spec(spec)))))
    for spec in args.extra:
        module, _, factory = spec.partition(":")
        verifiers.append(getattr(importlib.import_module(module), factory)())

    results: dict[str, Any] = {"dev": str(DEV), "verifiers": {}}
    for verifier in verifiers:
        with console.status(f"verifying {len(rows)} dev claims with {verifier.name}"):
            res = evaluate_verifier(verifier, rows)
            res["answer_5x10_seconds"] = None if args.no_latency else answer_latency(verifier, read_jsonl(DEV))
        results["verifiers"][verifier.name] = res
    train_seconds = manifest.get("total_seconds", manifest.get("train_seconds"))
    if manifest:
        keys = ("recipe", "mode", "beats_lexical", "thresholds", "heldout", "train_seconds", "total_seconds")
        results["model"] = {"path": str(model_dir)} | {k: manifest.get(k) for k in keys}
        results["model"] |= {k: manifest.get(k) for k in ("epochs", "steps", "seed", "counts", "load_average")}
    # what the engine's "offline" verifier is: the trained one only where its training measured it better
    engine_offline = "lexical"
    if manifest.get("beats_lexical"):
        engine_offline = "offline" if manifest.get("mode", "combined") == "combined" else "offline-model"
    results["engine_offline"] = engine_offline
    results["training_run"] = training

    offline = {n: r for n, r in results["verifiers"].items() if n in ("lexical", "offline", "offline-model")}
    best_name = max(offline, key=lambda n: offline[n]["accuracy"])
    results["best_offline"] = best_name
    print_table(
        f"Grounding verifiers on SciFact dev ({len(rows)} claim/abstract pairs, SUPPORT vs not)",
        ["verifier", "accuracy", "balanced", "macro-F1", "P(sup)", "R(sup)", "ms/claim", "5x10 answer s", "train s"],
        [
            [
                name + (" (engine offline)" if name == engine_offline else ""),
                r["accuracy"],
                r["balanced_accuracy"],
                r["macro_f1"],
                r["support_precision"],
                r["support_recall"],
                r["ms_per_claim"],
                r["answer_5x10_seconds"],
                train_seconds if name.startswith("offline") else None,
            ]
            for name, r in results["verifiers"].items()
        ],
        caption=(
            f"model {model_dir}: held-out train claims {manifest['heldout']}" if manifest.get("heldout") else None
        ),
    )
    print_table(
        "How each gold label was judged (rows: gold; columns: verdict)",
        ["verifier / gold", *PREDICTED],
        [
            [f"{name} / {g}", *(r["confusion"][g][p] for p in PREDICTED)]
            for name, r in results["verifiers"].items()
            for g in GOLD
        ],
    )
    best, engine = results["verifiers"][best_name], results["verifiers"][engine_offline]
    targets = [
        Target("best offline verifier accuracy, SUPPORT vs not", best["accuracy"], ">=", 0.80, note=best_name),
        Target(
            "engine's offline verifier balanced accuracy", engine["balanced_accuracy"], ">=", 0.80, note=engine_offline
        ),
        Target("engine's offline verifier accuracy", engine["accuracy"], ">=", 0.80, note=engine_offline),
        Target("5-claim x 10-source answer verified", engine["answer_5x10_seconds"], "<=", 2.0, "s", engine_offline),
        Target("verifier training time", train_seconds, "<=", 900.0, "s"),
    ]
    print_targets(targets, quick=args.quick)
    write_result("verifier", quick=args.quick, results=results, targets=targets, out=args.out)


if __name__ == "__main__":
    main()
