"""Do scores on a synthetic eval set order retrieval configurations the way real relevance judgments do? (SciFact)

    python bench/synthetic_vs_real.py            # full SciFact (5,183 abstracts, 300 test queries), two chunkings
    python bench/synthetic_vs_real.py --quick    # 250 documents, 50 queries, one chunking: a smoke test

1. Index SciFact's ``corpus.jsonl`` into a persistent home (``--home``, default ``/tmp/kenning-bench-home``) twice:
   collection ``scifact`` with the default chunking (500 tokens; nearly every abstract is one chunk) and
   ``scifact-c128`` (128-token chunks, 16 overlap). A second run finds both indexed and embeds nothing.
2. Build synthetic sets from ``scifact`` with the offline methods of :mod:`kenning.evaluate.synth` — ``cloze``
   (inverse cloze: a salient sentence is the query), ``cloze masked`` (the same query without the words holding its
   two most distinctive terms), ``keywords`` (the chunk's top-IDF terms) — ``--n`` questions each, seed ``--seed``,
   train and test items together.
3. For each retrieval configuration (mode, RRF k, BM25/dense weights, chunking): the synthetic scores (hit@10 = a
   top-10 chunk overlaps the gold span, i.e. recall@10 of the gold passage; and MRR@10) and the real score
   (nDCG@10 on SciFact's qrels, by ``evaluate_beir``: chunks collapsed to documents by max-p), on the **train**
   split (809 queries: for choosing a method) and the **test** split (300 queries: to report), each with a 95%
   percentile-bootstrap interval over queries.
4. Spearman's rho (and Kendall's tau) between each synthetic ordering of the configurations and the real ones.

Results: ``bench/results/synthetic_vs_real.json``.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import SCIFACT, Target, arg_parser, console, print_table, scifact_subset, write_result

# name → (collection, mode, retrieval overrides)
CONFIGS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "bm25": ("scifact", "bm25", {}),
    "dense": ("scifact", "dense", {}),
    "hybrid": ("scifact", "hybrid", {}),
    "hybrid rrf_k=10": ("scifact", "hybrid", {"rrf_k": 10.0}),
    "hybrid bm25×2": ("scifact", "hybrid", {"bm25_weight": 2.0}),
    "hybrid dense×2": ("scifact", "hybrid", {"dense_weight": 2.0}),
    "c128 bm25": ("scifact-c128", "bm25", {}),
    "c128 dense": ("scifact-c128", "dense", {}),
    "c128 hybrid": ("scifact-c128", "hybrid", {}),
}
CHUNKINGS = {"scifact": {}, "scifact-c128": {"size": 128, "overlap": 16}}
# synthetic set → (method, SynthOptions fields)
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "cloze": ("cloze", {}),
    "cloze masked": ("cloze", {"cloze_mask": 2}),
    "keywords": ("keywords", {}),
}
SPLITS = ("train", "test")


class QueryCache:
    """The embedder with a memory of query vectors: every configuration embeds the same few hundred queries."""

    def __init__(self, embedder: Any) -> None:
        self._inner = embedder
        self.name, self.dim = embedder.name, embedder.dim
        self._cache: dict[tuple[str, bool], np.ndarray] = {}

    def embed(self, texts, *, is_query: bool = False) -> np.ndarray:  # noqa: ANN001
        todo = [t for t in dict.fromkeys(texts) if (t, is_query) not in self._cache]
        if todo:
            for t, v in zip(todo, self._inner.embed(todo, is_query=is_query), strict=True):
                self._cache[t, is_query] = v
        return np.stack([self._cache[t, is_query] for t in texts]) if texts else np.zeros((0, self.dim), np.float32)


def real_scores(engine: Any, dataset: Path, mode: str, split: str) -> tuple[float, Any]:
    """nDCG@10 from ``evaluate_beir`` and the per-query scores of the same run (for the bootstrap interval)."""
    from kenning.evaluate import evaluate_run, load_beir
    from kenning.evaluate.beir_eval import beir_docs_of_chunks, collapse_to_documents, evaluate_beir

    result = evaluate_beir(engine, dataset, split=split, modes=(mode,), metrics=("ndcg@10",))
    official = result["modes"][mode]["metrics"]["ndcg@10"]
    ds = load_beir(dataset, split)
    docs_of = beir_docs_of_chunks(engine.collection(), ds.corpus_path)
    qids = list(ds.queries)
    rankings = engine.searcher().rank_many([ds.queries[q] for q in qids], mode=mode, k=200)
    run = {q: collapse_to_documents(r.ids, r.scores, docs_of, 100) for q, r in zip(qids, rankings, strict=True)}
    scores = evaluate_run(run, ds.qrels, metrics=("ndcg@10",))
    assert abs(scores.mean["ndcg@10"] - official) < 1e-9, (scores.mean, official)
    return official, scores


def main() -> None:
    parser = arg_parser(__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=Path("/tmp/kenning-bench-home"), help="persistent index home")
    parser.add_argument("--n", type=int, default=300, help="questions per synthetic set")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--collections", default=",".join(CHUNKINGS), help="which chunkings to include")
    args = parser.parse_args()

    from scipy import stats as sp

    from kenning import Engine
    from kenning.config import KenningConfig
    from kenning.evaluate import QASet, bootstrap_ci, evaluate_qa, synthesize
    from kenning.evaluate.synth import SynthOptions
    from kenning.providers.embedders import get_embedder

    dataset, home, n, splits = SCIFACT, args.home, args.n, SPLITS
    configs = {k: v for k, v in CONFIGS.items() if v[0] in args.collections.split(",")}
    if args.quick:
        work = Path(tempfile.mkdtemp(prefix="kenning-bench-synth-"))
        dataset = scifact_subset(work / "scifact-quick", n_docs=250, n_queries=50)
        home, n, splits = work / "home", min(n, 60), ("test",)
        configs = {k: v for k, v in configs.items() if v[0] == "scifact"}
    embedder = QueryCache(get_embedder("minilm"))
    results: dict[str, Any] = {"dataset": str(dataset), "home": str(home), "n_requested": n, "seed": args.seed}

    # -- 1. index (nothing to do when the home already holds both collections)
    for name in sorted({c for c, _, _ in configs.values()}):
        t0 = time.perf_counter()
        cfg = KenningConfig.load(home, chunking=CHUNKINGS[name])
        engine = Engine(home, collection=name, embedder=embedder, config=cfg)  # type: ignore[arg-type]
        report = engine.index([dataset / "corpus.jsonl"])
        engine.close()
        results.setdefault("collections", {})[name] = {
            "documents": report.total_documents,
            "chunks": report.total_chunks,
            "chunks_embedded": report.chunks_embedded,
            "seconds": time.perf_counter() - t0,
            "chunking": CHUNKINGS[name] or "default (structure, 500 tokens, overlap 50)",
        }
        console.print(f"{name}: {report.total_documents:,} documents, {report.total_chunks:,} chunks "
                      f"({report.chunks_embedded:,} embedded now)")  # fmt: skip

    # -- 2. synthetic sets from the default collection
    sets: dict[str, QASet] = {}
    base = Engine(home, collection="scifact", embedder=embedder)  # type: ignore[arg-type]
    for variant, (method, options) in VARIANTS.items():
        t0 = time.perf_counter()
        synth = synthesize(base.collection(), n=n, seed=args.seed, method=method, options=SynthOptions(**options))
        sets[variant] = QASet(synth.train.items + synth.test.items)
        synth.write(Path(home) / "synthetic" / f"scifact-{variant.replace(' ', '-')}-seed{args.seed}")
        results.setdefault("synthetic_sets", {})[variant] = {
            "method": method,
            "options": options,
            **{k: synth.manifest[k] for k in ("counts", "skipped_chunks", "filtered_questions")},
            "seconds": time.perf_counter() - t0,
            "examples": [item.question for item in sets[variant].items[:6]],
        }
    base.close()

    # -- 3. every configuration, scored both ways
    rows: dict[str, dict[str, Any]] = {}
    for label, (collection, mode, overrides) in configs.items():
        t0 = time.perf_counter()
        cfg = KenningConfig.load(home, retrieval=overrides)
        engine = Engine(home, collection=collection, embedder=embedder, config=cfg)  # type: ignore[arg-type]
        row: dict[str, Any] = {"collection": collection, "mode": mode, "retrieval": overrides}
        for split in splits:
            ndcg, real = real_scores(engine, dataset, mode, split)
            row[f"real_{split}_ndcg@10"] = ndcg
            row[f"real_{split}_ndcg@10_ci95"] = list(_ci(bootstrap_ci(real, "ndcg@10")))
        for variant, qa in sets.items():
            scores = evaluate_qa(engine.searcher(), qa, mode=mode, metrics=("hit@10", "mrr@10"))
            for metric in ("hit@10", "mrr@10"):
                row[f"{variant}_{metric}"] = scores.mean[metric]
                row[f"{variant}_{metric}_ci95"] = list(_ci(bootstrap_ci(scores, metric)))
            row[f"{variant}_queries"] = len(scores.queries)
        row["seconds"] = time.perf_counter() - t0
        engine.close()
        rows[label] = row
        console.print(
            f"{label}: real test nDCG@10 {row['real_test_ndcg@10']:.4f}; "
            + ", ".join(f"{v} hit@10 {row[f'{v}_hit@10']:.4f}" for v in sets)
        )
    results["configs"] = rows

    # -- 4. rank correlations
    labels = list(rows)
    corr: dict[str, Any] = {}
    for variant in sets:
        for metric in ("hit@10", "mrr@10"):
            synth = [rows[c][f"{variant}_{metric}"] for c in labels]
            entry: dict[str, Any] = {"best_by_synthetic": labels[int(np.argmax(synth))]}
            for split in splits:
                real = [rows[c][f"real_{split}_ndcg@10"] for c in labels]
                rho, tau = sp.spearmanr(synth, real), sp.kendalltau(synth, real)
                entry[split] = {
                    "spearman_rho": float(rho.statistic),
                    "spearman_p": float(rho.pvalue),
                    "kendall_tau": float(tau.statistic),
                    "pairs_agreeing": _pairs_agreeing(synth, real),
                }
            corr[f"{variant} {metric}"] = entry
    best_real = {s: labels[int(np.argmax([rows[c][f"real_{s}_ndcg@10"] for c in labels]))] for s in splits}
    results["rank_correlation"] = corr
    results["best_by_real"] = best_real
    if len(splits) == 2:
        real_tr = [rows[c]["real_train_ndcg@10"] for c in labels]
        real_te = [rows[c]["real_test_ndcg@10"] for c in labels]
        results["real_train_vs_real_test_rho"] = float(sp.spearmanr(real_tr, real_te).statistic)

    # -- report
    print_table(
        f"SciFact: {len(labels)} retrieval configurations scored by real qrels and by synthetic sets "
        f"({', '.join(f'{v} n={len(q)}' for v, q in sets.items())}); ± = half the 95% bootstrap interval",
        [
            "configuration",
            *(f"real {s} nDCG@10" for s in splits),
            "±",
            *(f"{v} {m}" for v in sets for m in ("hit@10", "MRR@10")),
            "±cloze hit",
        ],
        [
            [
                c,
                *(rows[c][f"real_{s}_ndcg@10"] for s in splits),
                _half(rows[c]["real_test_ndcg@10_ci95"]),
                *(rows[c][f"{v}_{m}"] for v in sets for m in ("hit@10", "mrr@10")),
                _half(rows[c]["cloze_hit@10_ci95"]),
            ]
            for c in labels
        ],
    )
    print_table(
        "Rank agreement of each synthetic score with real nDCG@10 across the configurations",
        [
            "synthetic score",
            *(f"rho vs {s}" for s in splits),
            "p (test)",
            "tau (test)",
            "pairs agreeing (test)",
            "best config by it",
        ],
        [
            [
                k,
                *(v[s]["spearman_rho"] for s in splits),
                v["test"]["spearman_p"],
                v["test"]["kendall_tau"],
                v["test"]["pairs_agreeing"],
                v["best_by_synthetic"],
            ]
            for k, v in corr.items()
        ],
        caption="best by real nDCG@10: "
        + ", ".join(f"{s}: {b}" for s, b in best_real.items())
        + (f"; real train vs real test rho {results['real_train_vs_real_test_rho']:.3f}" if len(splits) == 2 else ""),
    )
    for variant in sets:
        console.print(f"[bold]{variant}[/]: " + " | ".join(results["synthetic_sets"][variant]["examples"][:3]))
    targets: list[Target] = []  # the issue sets no goal here: rho is reported as measured
    write_result("synthetic_vs_real", quick=args.quick, results=results, targets=targets, out=args.out)


def _ci(ci: Any) -> tuple[float, float]:
    return ci.low, ci.high


def _half(ci: list[float]) -> float:
    return (ci[1] - ci[0]) / 2


def _pairs_agreeing(a: list[float], b: list[float]) -> float:
    """Share of configuration pairs that both scores order the same way (ties in either count half)."""
    total = agree = 0.0
    for i in range(len(a)):
        for j in range(i + 1, len(a)):
            total += 1
            da, db = np.sign(a[i] - a[j]), np.sign(b[i] - b[j])
            agree += 0.5 if da == 0 or db == 0 else float(da == db)
    return agree / total if total else float("nan")


if __name__ == "__main__":
    main()
