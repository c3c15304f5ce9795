"""SciFact on both stores: the SQLite store against PostgreSQL + pgvector, each lexical ranking PostgreSQL offers.

    python bench/store_scifact.py                       # whole corpus (5,183 abstracts, 300 test claims), temp cluster
    python bench/store_scifact.py --quick               # 250 documents, 50 claims: a smoke test
    python bench/store_scifact.py --stores sqlite       # the SQLite side alone
    python bench/store_scifact.py --pg-url postgresql://kenning@/kenning?host=/tmp/pg   # an existing server

1. The corpus is indexed into a fresh SQLite collection by ``index_paths`` with the packaged embedder (every chunk
   text and vector it embedded is recorded, and cached in ``bench/.cache/`` for the other store benchmarks).
2. The same corpus is indexed into a fresh PostgreSQL collection — one per lexical ranking the store offers — and
   into a second SQLite collection, with the recorded vectors (no model call: the stores hold identical vectors,
   and the write times are the stores' own).
3. Each collection is scored by kenning's own ``evaluate_beir`` (what ``kenning eval beir`` runs: a
   :class:`~kenning.retrieve.Searcher` over the Store Protocol, 200 chunks deep, collapsed to documents by their best
   chunk, ``evaluate_run``) with the same query vectors for every store (embedded once): bm25, dense and hybrid,
   nDCG@10, recall@10, recall@100, MRR@10. Then per-query latency of ``Searcher.search(q, k=10)`` (ranking +
   fetching the hits, no query embedding) after 20 warm-up queries: p50 / p95.
4. Top-10 agreement between PostgreSQL and SQLite per mode (mean overlap of the chunk ids).

Bar (issue 13): PostgreSQL hybrid nDCG@10 within 0.005 of SQLite's.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import (
    SCIFACT,
    Target,
    apply_torch_threads,
    arg_parser,
    console,
    dir_size_mb,
    latency_stats,
    print_table,
    print_targets,
    scifact_subset,
    write_result,
)
from _pgcluster import PgCluster, database_sizes
from _storebench import (
    CachedEmbedder,
    FixedVectors,
    RecordingEmbedder,
    chunk_cache_path,
    load_chunk_cache,
    loadavg,
    open_store,
)

MODES = ("bm25", "dense", "hybrid")
METRICS = ("ndcg@10", "recall@10", "recall@100", "mrr@10")
DEPTH = 100  # documents scored per query (chunks ranked: twice that, as evaluate_beir does)
# PostgreSQL lexical rankings: variant name → the store URL setting that selects it (BM25 from term tables is the
# default; fts = PostgreSQL full-text search ranked by ts_rank_cd, whose tsvector column the first publish of a
# writer with lexical=fts builds)
PG_LEXICAL: dict[str, str] = {"bm25": "lexical=bm25", "fts": "lexical=fts"}
PG_SETTINGS = {"shared_buffers": "1GB", "maintenance_work_mem": "1GB", "max_parallel_maintenance_workers": "1"}


def with_setting(url: str, setting: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}{setting}"


def index(url: str, home: Path, name: str, corpus: Path, embedder) -> dict:  # noqa: ANN001
    """Index ``corpus`` into a fresh collection ``name``; the store, the report and the seconds it took."""
    from kenning.config import KenningConfig
    from kenning.index.writer import index_paths

    cfg = KenningConfig()
    store = open_store(url, home, name, cfg, model=embedder.name, dim=embedder.dim)
    t0 = time.perf_counter()
    with store.locked():
        report = index_paths(
            store,
            [corpus],
            ingest=cfg.ingest,
            chunking=cfg.chunking,
            embedder=embedder,
            commit_chunks=cfg.indexing.commit_chunks,
        )
    seconds = time.perf_counter() - t0
    return {
        "store": store,
        "seconds": seconds,
        "documents": report.total_documents,
        "chunks": report.total_chunks,
        "chunks_embedded": report.chunks_embedded,
    }


class _StoreEngine:
    """What ``evaluate_beir`` asks of an Engine, over any store: its collection and a searcher of it."""

    def __init__(self, store, queries) -> None:  # noqa: ANN001
        self.store, self.queries = store, queries

    def collection(self):  # noqa: ANN201
        return self.store

    def searcher(self):  # noqa: ANN201
        from kenning.retrieve import Searcher

        return Searcher(self.store, self.queries)


def evaluate(store, queries, dataset: Path, qids, texts) -> tuple[dict, dict]:  # noqa: ANN001
    """Quality per mode by kenning's own ``evaluate_beir``; and each query's top-10 chunk ids per mode."""
    from kenning.evaluate.beir_eval import evaluate_beir

    ev = evaluate_beir(_StoreEngine(store, queries), dataset, modes=MODES, metrics=METRICS, depth=DEPTH)
    searcher = _StoreEngine(store, queries).searcher()
    top10 = {}
    for mode in MODES:
        rankings = searcher.rank_many(texts, mode=mode, k=10)
        top10[mode] = {q: list(r.ids) for q, r in zip(qids, rankings, strict=True)}
    return ev["modes"], top10


def latency(searcher, texts, warmup: int = 20) -> dict:  # noqa: ANN001
    """``Searcher.search(q, mode, k=10)`` one query at a time: ranking + fetching the hits (vectors precomputed)."""
    out = {}
    for mode in MODES:
        for q in texts[:warmup]:
            searcher.search(q, mode=mode, k=10)
        samples = []
        for q in texts:
            t0 = time.perf_counter()
            hits = searcher.search(q, mode=mode, k=10)
            samples.append((time.perf_counter() - t0) * 1000)
            assert len(hits) <= 10
        out[mode] = latency_stats(samples)
    return out


def overlap(a: dict, b: dict) -> dict[str, float]:
    """Mean share of the top-10 chunk ids two stores agree on, per mode."""
    return {m: float(np.mean([len(set(a[m][q]) & set(b[m][q])) / max(1, len(a[m][q])) for q in a[m]])) for m in a}


def main() -> None:
    parser = arg_parser(__doc__.splitlines()[0])
    parser.add_argument("--stores", default="sqlite,postgresql", help="which stores (default both)")
    parser.add_argument("--pg-url", default=None, help="an existing PostgreSQL database (default: a temp cluster)")
    parser.add_argument("--pg-lexical", default=",".join(PG_LEXICAL), help="PostgreSQL lexical rankings to compare")
    parser.add_argument("--keep", action="store_true", help="keep the temporary homes and cluster")
    parser.add_argument("--reembed", action="store_true", help="embed SciFact again even when its vectors are cached")
    args = parser.parse_args()
    apply_torch_threads(args.torch_threads)

    from kenning.evaluate import load_beir
    from kenning.providers.embedders import get_embedder
    from kenning.retrieve import Searcher

    stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    work = Path(tempfile.mkdtemp(prefix="kenning-bench-store-scifact-"))
    dataset = scifact_subset(work / "quick", n_docs=250, n_queries=50) if args.quick else SCIFACT
    corpus = dataset / "corpus.jsonl"
    ds = load_beir(dataset, "test")
    qids = list(ds.queries)
    texts = [ds.queries[q] for q in qids]
    results: dict = {"dataset": str(dataset), "queries": len(qids), "loadavg": {"start": loadavg()}}

    embedder = get_embedder("minilm")
    embedder.embed(["warm up the model"])
    queries = FixedVectors(texts, embedder.embed(texts, is_query=True), name=embedder.name)

    # 1. SQLite with the real model, recording every vector (once: later runs read the recorded vectors)
    cache = chunk_cache_path(embedder.name)
    if args.quick or args.reembed or not cache.is_file():
        console.print("indexing into SQLite with the packaged embedder …")
        recording = RecordingEmbedder(embedder)
        first = index("", work / "sqlite-embed", "scifact", corpus, recording)
        results["sqlite_index_with_embedding"] = {k: v for k, v in first.items() if k != "store"}
        first["store"].close()
        if not args.quick:
            recording.save(cache)
        cached = CachedEmbedder(recording.texts, np.concatenate(recording.vectors), name=embedder.name)
    else:
        console.print(f"chunk vectors from {cache} (--reembed to embed again)")
        texts_cached, vectors_cached, _ = load_chunk_cache()
        cached = CachedEmbedder(texts_cached, vectors_cached, name=embedder.name)
        results["sqlite_index_with_embedding"] = None
    results["loadavg"]["indexed_with_model"] = loadavg()

    # 2. every collection again from the recorded vectors
    collections: dict[str, dict] = {}
    if "sqlite" in stores:
        console.print("indexing into SQLite from the recorded vectors …")
        collections["sqlite"] = index("", work / "sqlite", "scifact", corpus, cached)
        collections["sqlite"]["disk_mb"] = dir_size_mb(work / "sqlite")
    cluster = None
    if "postgresql" in stores:
        url = args.pg_url
        if url is None:
            cluster = PgCluster(work / "pg" / "data", PG_SETTINGS).init()
            if not args.keep:
                atexit.register(cluster.stop)  # also when something below fails
            url = cluster.url
        results["postgresql"] = {"url_kind": "given" if args.pg_url else "temporary cluster", "settings": PG_SETTINGS}
        for variant in [v.strip() for v in args.pg_lexical.split(",") if v.strip()]:
            console.print(f"indexing into PostgreSQL (lexical ranking {variant}) from the recorded vectors …")
            name = f"scifact_{variant}"
            db_url = cluster.create_database(name) if cluster is not None else url
            vurl = with_setting(db_url, PG_LEXICAL[variant])
            collections[f"postgresql/{variant}"] = index(vurl, work, name, corpus, cached)
            collections[f"postgresql/{variant}"]["disk_mb"] = {
                t: b / 2**20 for t, b in collections[f"postgresql/{variant}"]["store"].disk_bytes().items()
            }
    results["loadavg"]["indexed"] = loadavg()
    if cached.misses:
        console.print(f"[yellow]{cached.misses} chunk texts were not in the recorded vectors[/yellow]")

    # 3. quality and latency, same query vectors for every store
    per: dict[str, dict] = {}
    tops: dict[str, dict] = {}
    for label, c in collections.items():
        console.print(f"evaluating {label} …")
        store = c["store"]
        quality, tops[label] = evaluate(store, queries, dataset, qids, texts)
        lat = latency(Searcher(store, queries), texts)
        per[label] = {
            "index_seconds_no_model": c["seconds"],
            "documents": c["documents"],
            "chunks": c["chunks"],
            "chunks_embedded": c["chunks_embedded"],
            "quality": quality,
            "latency": lat,
        }
        if "disk_mb" in c:
            per[label]["disk_mb"] = c["disk_mb"]
        results["loadavg"][f"evaluated {label}"] = loadavg()
    if cluster is not None:
        import psycopg

        for variant in PG_LEXICAL:
            if f"postgresql/{variant}" in collections:
                with psycopg.connect(cluster.url_for(f"scifact_{variant}")) as conn:
                    results["postgresql"][f"database_sizes_mb_{variant}"] = database_sizes(conn)
    for c in collections.values():
        c["store"].close()
    if "sqlite" in tops:
        for label in tops:
            if label != "sqlite":
                per[label]["top10_overlap_with_sqlite"] = overlap(tops[label], tops["sqlite"])
    results["per_store"] = per
    results["loadavg"]["end"] = loadavg()

    # -- report
    print_table(
        f"SciFact test ({len(qids)} queries): quality per store, chunks collapsed to documents",
        ["store", "mode", *METRICS, "top-10 ∩ SQLite"],
        [
            [label, m, *(r["quality"][m]["metrics"][k] for k in METRICS), r.get("top10_overlap_with_sqlite", {}).get(m)]
            for label, r in per.items()
            for m in MODES
        ],
    )
    print_table(
        "Per-query latency, ms (Searcher.search, k=10, query vectors precomputed, hits fetched)",
        ["store", *(f"{m} {p}" for m in MODES for p in ("p50", "p95")), "index s (no model)"],
        [
            [
                label,
                *(r["latency"][m][p] for m in MODES for p in ("p50_ms", "p95_ms")),
                r["index_seconds_no_model"],
            ]
            for label, r in per.items()
        ],
        caption=None
        if results["sqlite_index_with_embedding"] is None
        else f"SQLite with the model: {results['sqlite_index_with_embedding']['seconds']:.1f} s to index "
        f"{results['sqlite_index_with_embedding']['chunks']:,} chunks",
    )
    targets = []
    if "sqlite" in per:
        base = per["sqlite"]["quality"]["hybrid"]["metrics"]["ndcg@10"]
        for label, r in per.items():
            if label.startswith("postgresql/"):
                diff = abs(r["quality"]["hybrid"]["metrics"]["ndcg@10"] - base)
                targets.append(Target(f"|hybrid nDCG@10 {label} − SQLite|", diff, "<=", 0.005))
    if targets:
        print_targets(targets, quick=args.quick)
    write_result("store_scifact", quick=args.quick, results=results, targets=targets, out=args.out)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
