"""SciFact: retrieval quality per mode, indexing speed against bare encoding, and re-indexing an unchanged corpus.

    python bench/scifact.py            # the whole corpus (5,183 abstracts, 300 test queries), ~5-10 minutes
    python bench/scifact.py --quick    # 250 documents, 50 queries: a smoke test, not the verdict

1. Index ``corpus.jsonl`` with :class:`kenning.Engine` into a fresh home; wall clock of ``Engine.index`` (discover,
   parse, chunk, embed, SQLite, publish) with the embedder already loaded.
2. Encode the same chunk texts, read back from the catalog, with the same embedder's ``embed()`` (same batch size):
   ratio = index time / encode time (target ≤ 1.2).
3. ``evaluate_beir`` in bm25, dense and hybrid modes: nDCG@10, recall@10, recall@100, MRR@10 (targets on nDCG@10).
4. The same runs, rebuilt with the searcher and ``collapse_to_documents`` as ``evaluate_beir`` builds them, scored by
   pytrec_eval: largest absolute difference from kenning's metrics, per query and on the mean.
5. Index the unchanged corpus again: nothing may be embedded; speed-up = first time / second time (target ≥ 20×).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from _common import (
    SCIFACT,
    Target,
    apply_torch_threads,
    arg_parser,
    console,
    dir_size_mb,
    print_table,
    print_targets,
    rss_mb,
    scifact_subset,
    timed,
    write_result,
)

MODES = ("bm25", "dense", "hybrid")
METRICS = ("ndcg@10", "recall@10", "recall@100", "mrr@10")
# kenning metric name → (pytrec_eval measure, cut the run at this depth first)
PYTREC = {
    "ndcg@10": ("ndcg_cut_10", None),
    "recall@10": ("recall_10", None),
    "recall@100": ("recall_100", None),
    "mrr@10": ("recip_rank", 10),
}


def rebuild_runs(engine, dataset: Path, modes=MODES, depth: int = 100) -> dict[str, dict[str, dict[str, float]]]:
    """The run dicts ``evaluate_beir`` scores, rebuilt the same way: rank chunks, collapse to BEIR documents."""
    from kenning.evaluate import load_beir
    from kenning.evaluate.beir_eval import beir_docs_of_chunks, collapse_to_documents

    ds = load_beir(dataset, "test")
    docs_of = beir_docs_of_chunks(engine.collection(), ds.corpus_path)
    qids = list(ds.queries)
    texts = [ds.queries[q] for q in qids]
    searcher = engine.searcher()
    runs = {}
    for mode in modes:
        rankings = searcher.rank_many(texts, mode=mode, k=depth * 2)
        runs[mode] = {
            q: collapse_to_documents(r.ids, r.scores, docs_of, depth) for q, r in zip(qids, rankings, strict=True)
        }
    return runs


def pytrec_check(runs, qrels, kenning_means) -> dict:
    """Score each run with kenning's ``evaluate_run`` and with pytrec_eval; the largest differences."""
    import pytrec_eval

    from kenning.evaluate import evaluate_run

    out = {}
    for mode, run in runs.items():
        ours = evaluate_run(run, qrels, metrics=METRICS)
        max_query_diff, max_mean_diff, max_vs_beir_eval = 0.0, 0.0, 0.0
        for name, (measure, cut) in PYTREC.items():
            cut_run = run
            if cut:  # trec_eval's recip_rank has no cut-off; MRR@10 is recip_rank on the top 10
                cut_run = {
                    q: dict(sorted(d.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)[:cut])
                    for q, d in run.items()
                }
            theirs = pytrec_eval.RelevanceEvaluator(qrels, {measure}).evaluate(cut_run)
            for q in ours.queries:
                t = theirs.get(q, {}).get(measure, 0.0)
                max_query_diff = max(max_query_diff, abs(ours.per_query[q][name] - t))
            their_mean = sum(theirs.get(q, {}).get(measure, 0.0) for q in ours.queries) / len(ours.queries)
            max_mean_diff = max(max_mean_diff, abs(ours.mean[name] - their_mean))
            max_vs_beir_eval = max(max_vs_beir_eval, abs(ours.mean[name] - kenning_means[mode][name]))
        out[mode] = {
            "max_abs_diff_per_query": max_query_diff,
            "max_abs_diff_mean": max_mean_diff,
            "rebuilt_run_vs_evaluate_beir": max_vs_beir_eval,
        }
    return out


def main() -> None:
    parser = arg_parser(__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SCIFACT, help="a BEIR folder (default: shared SciFact)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary index home")
    args = parser.parse_args()
    apply_torch_threads(args.torch_threads)

    from kenning import Engine
    from kenning.evaluate.beir_eval import evaluate_beir
    from kenning.providers.embedders import get_embedder

    work = Path(tempfile.mkdtemp(prefix="kenning-bench-scifact-"))
    dataset = args.data
    if args.quick:
        dataset = scifact_subset(work / "scifact-quick", n_docs=250, n_queries=50)
    corpus = dataset / "corpus.jsonl"
    home = work / "home"
    results: dict = {"dataset": str(dataset), "home": str(home)}

    # -- the embedder, loaded and warmed up before anything is timed
    rss0 = rss_mb()
    with timed() as t_load:
        embedder = get_embedder("minilm")
        embedder.embed(["warm up the model", "a second sentence to warm up the batch path"])
    results["embedder"] = {
        "name": embedder.name,
        "batch_size": embedder.batch_size,
        "load_seconds": t_load.seconds,
        "rss_mb": rss_mb() - rss0,
    }
    engine = Engine(home, collection="scifact", embedder=embedder)

    # -- 1. index from scratch
    console.print(f"indexing {corpus} …")
    with timed() as t_index:
        report = engine.index([corpus])
    col = engine.collection()
    results["index"] = {
        "seconds": t_index.seconds,
        "documents": report.total_documents,
        "chunks": report.total_chunks,
        "chunks_embedded": report.chunks_embedded,
        "skipped": len(report.skipped),
        "chunks_per_second": report.chunks_embedded / t_index.seconds,
        "disk_mb": dir_size_mb(col.folder),
        "rss_mb_after": rss_mb(),
    }

    # -- 2. the same chunk texts, encoded alone
    texts = [row.text for row in col.catalog.iter_chunks()]
    with timed() as t_encode:
        vectors = embedder.embed(texts)
    assert vectors.shape[0] == len(texts)
    ratio = t_index.seconds / t_encode.seconds
    results["encode"] = {
        "seconds": t_encode.seconds,
        "texts": len(texts),
        "chunks_per_second": len(texts) / t_encode.seconds,
        "index_over_encode": ratio,
        "overhead_seconds": t_index.seconds - t_encode.seconds,
    }

    # -- 3. quality, per mode
    console.print("evaluating bm25 / dense / hybrid …")
    with timed() as t_eval:
        ev = evaluate_beir(engine, dataset, modes=MODES)
    results["quality"] = {m: ev["modes"][m] for m in MODES}
    results["quality_queries"] = ev["queries"]
    results["evaluate_seconds"] = t_eval.seconds

    # -- 4. the same runs, scored by pytrec_eval
    from kenning.evaluate import load_beir

    runs = rebuild_runs(engine, dataset)
    qrels = load_beir(dataset, "test").qrels
    check = pytrec_check(runs, qrels, {m: ev["modes"][m]["metrics"] for m in MODES})
    results["pytrec_eval"] = check
    max_diff = max(max(c["max_abs_diff_per_query"], c["max_abs_diff_mean"]) for c in check.values())

    # -- 5. re-index the unchanged corpus
    console.print("re-indexing the unchanged corpus …")
    engine.close()
    engine2 = Engine(home, collection="scifact", embedder=embedder)
    with timed() as t_re:
        report2 = engine2.index([corpus])
    assert report2.chunks_embedded == 0, f"re-index embedded {report2.chunks_embedded} chunks; expected 0"
    assert report2.documents_unchanged == report.documents_seen, report2
    speedup = t_index.seconds / t_re.seconds
    results["reindex"] = {
        "seconds": t_re.seconds,
        "chunks_embedded": report2.chunks_embedded,
        "documents_unchanged": report2.documents_unchanged,
        "published_version": report2.published_version,
        "speedup": speedup,
    }
    engine2.close()

    # -- report
    print_table(
        f"SciFact indexing ({results['index']['documents']:,} docs → {results['index']['chunks']:,} chunks)",
        ["step", "seconds", "chunks/s", "note"],
        [
            ["Engine.index (fresh home)", t_index.seconds, results["index"]["chunks_per_second"], "discover→publish"],
            [
                "embed() of the same chunks",
                t_encode.seconds,
                results["encode"]["chunks_per_second"],
                "same model, batch",
            ],
            ["index / encode", ratio, None, "target ≤ 1.2"],
            ["re-index unchanged", t_re.seconds, None, f"{report2.chunks_embedded} embedded"],
            ["speed-up", speedup, None, "target ≥ 20×"],
            ["model load + warm-up", t_load.seconds, None, "not in index time"],
        ],
    )
    print_table(
        f"SciFact test ({ev['queries']} queries), chunks collapsed to documents by max-p",
        ["mode", *METRICS, "ms/query", "pytrec Δmax"],
        [
            [
                m,
                *(ev["modes"][m]["metrics"][k] for k in METRICS),
                ev["modes"][m]["ms_per_query"],
                f"{max(check[m]['max_abs_diff_per_query'], check[m]['max_abs_diff_mean']):.1e}",
            ]
            for m in MODES
        ],
    )
    nd = {m: ev["modes"][m]["metrics"]["ndcg@10"] for m in MODES}
    targets = [
        Target("BM25 nDCG@10", nd["bm25"], ">=", 0.67),
        Target("dense nDCG@10", nd["dense"], ">=", 0.64),
        Target("hybrid nDCG@10", nd["hybrid"], ">=", 0.69),
        Target("index time / encode time", ratio, "<=", 1.2),
        Target("re-index speed-up (unchanged)", speedup, ">=", 20.0, "×"),
        Target("metrics vs pytrec_eval, max abs difference", max_diff, "<=", 1e-6),
    ]
    print_targets(targets, quick=args.quick)
    write_result("scifact", quick=args.quick, results=results, targets=targets, out=args.out)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
