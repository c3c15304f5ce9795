"""Both stores at 10k / 100k / 1M chunks: build time, disk, memory, hybrid latency and HNSW recall against exact.

    python bench/store_scale.py                                  # 10k, 100k, 1M × SQLite, PostgreSQL (hours)
    python bench/store_scale.py --sizes 10000,100000 --stores sqlite
    python bench/store_scale.py --quick                          # 5k and 20k chunks, 60 queries
    python bench/store_scale.py build --store postgresql --size 1000000   # one stage (for nohup … &)
    python bench/store_scale.py report                           # the table from the stages already run

Work goes to ``--work`` (default ``/tmp/kenning-store-scale``); each stage writes ``<work>/<stage>-<store>-<size>.json``
and a stage whose file exists is not run again (``--redo`` runs it again), so a long build can run in the background
and the report be written later.

**Data** (``data`` stage, once, shared by both stores and every size: a size is a prefix of the largest).
Vectors: a Gaussian fitted to the packaged embedder's vectors of every real SciFact chunk (mean and full covariance
of 5,621 chunk vectors, see ``_storebench.load_chunk_cache``), sampled and L2-normalised, float32, 384-d. Texts:
40-120 words (uniform) of real SciFact sentences drawn at random and recombined (real vocabulary, term frequencies
and posting lists). Queries: the 300 SciFact test claims, embedded once by the packaged embedder. Exact top-10 of
each query by numpy brute force over each size's vectors is the ground truth for recall@10.

**Build** (a fresh process per store and size): every chunk written through the store's own catalog API —
``catalog.transaction()`` holding ``put_vectors``, ``put_documents`` (the store's bulk path where it has one —
PostgreSQL's stores the batch in one COPY; SQLite's catalog: ``put_document`` per document) and ``put_source``, for
50,000 one-chunk documents at a time — then ``publish()``, which builds what the store searches with (SQLite: the bm25s snapshot and an hnswlib graph,
forced at every size; PostgreSQL: whatever the store builds, pgvector HNSW). Build time = inserts + publish. Peak
memory: the writer's peak RSS; for PostgreSQL also the server's peak PSS sampled every second.

**Measure** (a fresh process; PostgreSQL: its cluster restarted first, so its buffers hold only what this size's
queries read): ``Searcher.search(q, mode, k=10)`` per query — ranking and fetching the hits, no query embedding —
bm25 / dense / hybrid, p50 / p95 after 20 warm-up queries; then an ``ef_search`` sweep of dense search (k=10)
giving recall@10 against exact, and hybrid p50 / p95 at the smallest ef reaching recall@10 ≥ 0.99 (with the recall
of the top 10 of the 100-deep dense search hybrid runs at that ef). Memory: SQLite — this process's RSS above
what it held before opening the collection; PostgreSQL — the client's RSS the same way, plus the server's PSS summed
over the postmaster and every backend (``/proc/PID/smaps_rollup``: shared buffers counted once) and its configured
``shared_buffers``. Disk: the collection folder (SQLite); the cluster's data folder and ``pg_database_size``.

Bar (issue 13): PostgreSQL at 1M chunks, hybrid p50 ≤ 30 ms at recall@10 ≥ 0.99 against exact.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
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
    peak_rss_mb,
    print_table,
    print_targets,
    read_jsonl,
    rss_mb,
    write_result,
)
from _pgcluster import PgCluster, database_sizes, server_memory
from _storebench import FixedVectors, load_chunk_cache, loadavg, open_store, query_vectors, scifact_query_texts

DIM = 384
NAME = "scale"
MODEL = "synthetic-fitted"
BATCH = 50_000
EFS = (40, 64, 100, 160, 256, 400, 640, 1000)  # pgvector's hnsw.ef_search is at most 1000
STORES = ("sqlite", "postgresql")
# server settings for the benchmark clusters (one per size): a graph of 1M × 384-d fits in maintenance_work_mem
PG_SETTINGS = {
    "shared_buffers": "2GB",
    "effective_cache_size": "8GB",
    "maintenance_work_mem": "6GB",
    "max_parallel_maintenance_workers": "1",
    "max_wal_size": "8GB",
    "checkpoint_timeout": "30min",
}
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(])")


# -- data -------------------------------------------------------------------------------------------------------


def make_data(work: Path, size: int, sizes: list[int], seed: int = 7) -> dict:
    """Vectors, texts and chunk ids for ``size`` chunks, query vectors, and exact top-10 for each of ``sizes``."""
    from kenning.index.writer import embed_hash
    from kenning.ingest.text import doc_id as make_doc_id

    data = work / "data"
    data.mkdir(parents=True, exist_ok=True)
    meta_path = data / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    if meta.get("size", 0) < size:
        texts, real, model = load_chunk_cache()
        mean = real.astype(np.float64).mean(axis=0)
        cov = np.cov(real.astype(np.float64), rowvar=False) + 1e-6 * np.eye(DIM)
        chol = np.linalg.cholesky(cov)
        rng = np.random.default_rng(seed)
        vectors = np.lib.format.open_memmap(data / "vectors.npy", mode="w+", dtype=np.float32, shape=(size, DIM))
        for i in range(0, size, 100_000):
            z = rng.standard_normal((min(100_000, size - i), DIM))
            v = (mean + z @ chol.T).astype(np.float32)
            vectors[i : i + len(v)] = v / np.linalg.norm(v, axis=1, keepdims=True)
        vectors.flush()
        sentences = []
        for rec in read_jsonl(SCIFACT / "corpus.jsonl"):
            sentences += [s.split() for s in _SENTENCE.split(rec.get("text", "")) if len(s.split()) >= 4]
            if rec.get("title"):
                sentences.append(rec["title"].split())
        trng = np.random.default_rng(seed + 1)
        seen: set[str] = set()
        with open(data / "texts.txt", "w", encoding="utf-8") as ft, open(data / "ids.txt", "w") as fi:
            for start in range(0, size, 100_000):
                n = min(100_000, size - start)
                lengths = trng.integers(40, 121, size=n)
                picks = trng.integers(0, len(sentences), size=(n, 16))  # 16 sentences always reach 40+ words
                for i, (length, row) in enumerate(zip(lengths.tolist(), picks, strict=True), start=start):
                    words: list[str] = []
                    for j in row.tolist():
                        words.extend(sentences[j])
                        if len(words) >= length:
                            break
                    text = " ".join(words[:length])
                    did = make_doc_id("text", text)
                    if did in seen:  # the same random text twice: make it differ
                        text, did = f"{text} {i}", make_doc_id("text", f"{text} {i}")
                    seen.add(did)
                    ft.write(text + "\n")
                    fi.write(f"{did}\t{embed_hash(MODEL, text)}\n")
        real_cos = real @ real[:200].T
        syn = np.load(data / "vectors.npy", mmap_mode="r")[: len(real)]
        syn_cos = syn @ syn[:200].T
        meta = {
            "size": size,
            "seed": seed,
            "fitted_on": {"chunks": len(texts), "model": model},
            "sentences": len(sentences),
            "mean_pairwise_cosine": {"real": float(real_cos.mean()), "synthetic": float(syn_cos.mean())},
            "std_pairwise_cosine": {"real": float(real_cos.std()), "synthetic": float(syn_cos.std())},
        }
        meta_path.write_text(json.dumps(meta, indent=2))
    qids, qtexts = scifact_query_texts("test")
    if not (data / "queries.npy").is_file():
        np.save(data / "queries.npy", query_vectors(qtexts))
        (data / "queries.json").write_text(json.dumps(qtexts))
    q = np.load(data / "queries.npy")
    vectors = np.load(data / "vectors.npy", mmap_mode="r")
    for n in sizes:
        path = data / f"exact-{n}.npy"
        if path.is_file():
            continue
        best = np.full((len(q), 10), -np.inf, dtype=np.float32)
        idx = np.zeros((len(q), 10), dtype=np.int64)
        for i in range(0, n, 200_000):
            s = np.asarray(vectors[i : min(n, i + 200_000)]) @ q.T  # (rows, queries)
            top = np.argpartition(-s, 9, axis=0)[:10].T  # (queries, 10)
            cand_s = np.concatenate([best, np.take_along_axis(s.T, top, axis=1)], axis=1)
            cand_i = np.concatenate([idx, top + i], axis=1)
            order = np.argsort(-cand_s, axis=1, kind="stable")[:, :10]
            best, idx = np.take_along_axis(cand_s, order, axis=1), np.take_along_axis(cand_i, order, axis=1)
        np.save(path, idx)
    return meta


def read_ids(work: Path, n: int) -> list[tuple[str, str]]:
    out = []
    with open(work / "data" / "ids.txt") as f:
        for line, _ in zip(f, range(n), strict=False):
            did, h = line.rstrip("\n").split("\t")
            out.append((did, h))
    return out


# -- stores -----------------------------------------------------------------------------------------------------


def cluster_for(work: Path, size: int) -> PgCluster:
    return PgCluster(work / f"pg-{size}" / "data", PG_SETTINGS)


def location(store: str, work: Path, size: int, pg_url: str | None) -> tuple[str, Path]:
    """(url, home) of the store holding ``size`` chunks: a SQLite home, or a PostgreSQL cluster of its own."""
    if store == "sqlite":
        return "", work / f"sqlite-{size}"
    if pg_url:
        return pg_url, work
    return cluster_for(work, size).init().start().url, work


def at_ef(store_kind: str, url: str, store, ef: int):  # noqa: ANN001, ANN201
    """A store whose dense search runs with ``ef_search = ef``: SQLite's graph set in place (bench-only: there is no
    public knob), PostgreSQL's through the URL setting ``ef_search=N`` (a handle of its own)."""
    if store_kind == "sqlite":
        dense = store.snapshot().dense
        if dense._hnsw is not None:
            dense._hnsw.set_ef(ef)
            dense._ef = ef
        return store
    from kenning.store.registry import backend

    tuned = with_setting(url, f"ef_search={ef}")
    return backend(tuned).open(tuned, NAME)


def with_setting(url: str, setting: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}{setting}"


class _PeakServer(threading.Thread):
    """Samples the server's PSS every second; ``peak`` is the largest seen."""

    def __init__(self, cluster: PgCluster | None) -> None:
        super().__init__(daemon=True)
        self.cluster, self.peak, self.stop = cluster, 0.0, threading.Event()

    def run(self) -> None:
        while self.cluster is not None and not self.stop.wait(1.0):
            self.peak = max(self.peak, server_memory(self.cluster).get("pss_mb", 0.0))


def build(store_kind: str, size: int, work: Path, pg_url: str | None) -> dict:
    from kenning.config import DenseConfig, KenningConfig
    from kenning.types import Chunk, Document

    url, home = location(store_kind, work, size, pg_url)
    cluster = cluster_for(work, size) if store_kind == "postgresql" and not pg_url else None
    config = KenningConfig(dense=DenseConfig(ann="hnsw"))
    store = open_store(url, home, NAME, config, model=MODEL, dim=DIM)
    vectors = np.load(work / "data" / "vectors.npy", mmap_mode="r")
    ids = read_ids(work, size)
    sampler = _PeakServer(cluster)
    sampler.start()
    insert_s = 0.0
    load = [loadavg()]
    put_many = getattr(store.catalog, "put_documents", None)
    with open(work / "data" / "texts.txt", encoding="utf-8") as ft, store.locked():
        for start in range(0, size, BATCH):
            n = min(BATCH, size - start)
            texts = [next(ft).rstrip("\n") for _ in range(n)]
            rows = []
            for i, text in enumerate(texts, start=start):
                did, h = ids[i]
                words = text.count(" ") + 1
                doc = Document(doc_id=did, source=f"/synthetic/{i:07d}.txt", kind="text", text=text)
                rows.append((doc, Chunk(f"{did}::0", did, 0, text, 0, len(text), int(words * 1.3)), h))
            block = np.ascontiguousarray(vectors[start : start + n])
            t0 = time.perf_counter()
            with store.catalog.transaction():
                store.catalog.put_vectors([h for _, _, h in rows], block)
                if put_many is not None:  # the store's bulk path (PostgreSQL: one COPY for the batch)
                    put_many([(doc, [chunk], [h], "synthetic:1") for doc, chunk, h in rows])
                else:
                    for doc, chunk, h in rows:
                        store.catalog.put_document(doc, [chunk], [h], "synthetic:1")
                for doc, _, _ in rows:
                    store.catalog.put_source(doc.source, "/synthetic", doc.doc_id, doc.doc_id, {})
            insert_s += time.perf_counter() - t0
            console.print(f"  {store_kind} {size:,}: {start + n:,} inserted ({insert_s:.0f} s)")
        load.append(loadavg())
        t0 = time.perf_counter()
        version = store.publish()
        publish_s = time.perf_counter() - t0
    load.append(loadavg())
    sampler.stop.set()
    counts = store.catalog.counts()
    store.close()
    return {
        "store": store_kind,
        "size": size,
        "documents": counts[0],
        "chunks": counts[1],
        "insert_seconds": insert_s,
        "publish_seconds": publish_s,
        "build_seconds": insert_s + publish_s,
        "published_version": version,
        "write_path": "put_documents" if put_many is not None else "put_document",
        "client_peak_rss_mb": peak_rss_mb(),
        "server_peak_pss_mb": sampler.peak if cluster else None,
        "loadavg": load,
    }


# -- measuring --------------------------------------------------------------------------------------------------


def measure(store_kind: str, size: int, work: Path, pg_url: str | None, n_queries: int) -> dict:
    from kenning.retrieve import Searcher
    from kenning.store.registry import backend

    cluster = cluster_for(work, size) if store_kind == "postgresql" and not pg_url else None
    if cluster is not None:
        cluster.restart()
    url, home = location(store_kind, work, size, pg_url)
    texts = json.loads((work / "data" / "queries.json").read_text())[:n_queries]
    qv = np.load(work / "data" / "queries.npy")[:n_queries]
    exact = np.load(work / "data" / f"exact-{size}.npy")[:n_queries]
    ids = read_ids(work, size)
    truth = [{f"{ids[j][0]}::0" for j in row} for row in exact.tolist()]
    del ids
    embedder = FixedVectors(texts, qv, name=MODEL)
    rss0 = rss_mb()
    t0 = time.perf_counter()
    store = backend(url).open(home if store_kind == "sqlite" else url, NAME)
    searcher = Searcher(store, embedder)
    searcher.search(texts[0], mode="hybrid", k=10)
    cold = time.perf_counter() - t0
    rss_loaded = rss_mb()

    def timed_search(mode: str) -> dict:
        for q in texts[:20]:
            searcher.search(q, mode=mode, k=10)
        samples = []
        for q in texts:
            t = time.perf_counter()
            searcher.search(q, mode=mode, k=10)
            samples.append((time.perf_counter() - t) * 1000)
        return latency_stats(samples)

    default = {mode: timed_search(mode) for mode in ("bm25", "dense", "hybrid")}
    sweep = []
    for ef in EFS:
        tuned = at_ef(store_kind, url, store, ef)
        for v in qv[:20]:
            tuned.dense_search(v, 10)
        samples, recalls = [], []
        for v, gold in zip(qv, truth, strict=True):
            t = time.perf_counter()
            got = tuned.dense_search(v, 10)
            samples.append((time.perf_counter() - t) * 1000)
            recalls.append(len(gold & set(got.ids)) / 10)
        sweep.append({"ef": ef, "recall_at_10": float(np.mean(recalls)), **latency_stats(samples)})
        if tuned is not store:
            tuned.close()
        console.print(f"  {store_kind} {size:,}: ef {ef}: recall@10 {np.mean(recalls):.4f}")
    good = [s for s in sweep if s["recall_at_10"] >= 0.99]
    chosen = good[0]["ef"] if good else EFS[-1]
    tuned = at_ef(store_kind, url, store, chosen)
    deep = [len(gold & set(tuned.dense_search(v, 100).ids[:10])) / 10 for v, gold in zip(qv, truth, strict=True)]
    searcher = Searcher(tuned, embedder)
    at_chosen = {mode: timed_search(mode) for mode in ("dense", "hybrid")}
    rss_after = rss_mb()
    out = {
        "store": store_kind,
        "size": size,
        "queries": len(texts),
        "cold_first_query_seconds": cold,
        "latency_default_ef": default,
        "ef_sweep": sweep,
        "ef_for_recall_0.99": chosen if good else None,
        "latency_at_chosen_ef": at_chosen,
        "recall_at_10_at_chosen_ef": next(s["recall_at_10"] for s in sweep if s["ef"] == chosen),
        "recall_at_10_of_hybrid_dense_list": float(np.mean(deep)),
        "client_rss_mb": {"before_open": rss0, "after_loading": rss_loaded - rss0, "after_queries": rss_after - rss0},
        "loadavg": loadavg(),
    }
    if tuned is not store:
        tuned.close()
    store.close()
    if store_kind == "sqlite":
        folder = home / "collections" / NAME
        out["disk_mb"] = {
            "total": dir_size_mb(folder),
            "catalog": sum(p.stat().st_size for p in folder.glob("catalog.sqlite*")) / 2**20,
            "snapshot": dir_size_mb(folder / "snapshots"),
        }
    else:
        import psycopg

        with psycopg.connect(url) as conn:
            out["disk_mb"] = database_sizes(conn)
            out["shared_buffers"] = conn.execute("SHOW shared_buffers").fetchone()[0]
        if cluster is not None:
            out["disk_mb"]["data_folder"] = dir_size_mb(cluster.data)
            out["server_memory_mb"] = server_memory(cluster)
            cluster.stop()
    return out


# -- driver -----------------------------------------------------------------------------------------------------


def stage_file(work: Path, stage: str, store: str, size: int) -> Path:
    return work / f"{stage}-{store}-{size}.json"


def run_stage(args, stage: str, store: str, size: int) -> dict:  # noqa: ANN001
    """Run one stage in a fresh interpreter (its memory its own), unless its result is on file."""
    path = stage_file(args.work, stage, store, size)
    if path.is_file() and not args.redo:
        return json.loads(path.read_text())
    cmd = [sys.executable, __file__, stage, "--store", store, "--size", str(size), "--work", str(args.work)]
    cmd += ["--queries", str(args.queries)] + (["--pg-url", args.pg_url] if args.pg_url else [])
    subprocess.run(cmd, check=True)
    return json.loads(path.read_text())


def main() -> None:
    parser = arg_parser(__doc__.splitlines()[0])
    parser.add_argument("stage", nargs="?", default="all", choices=("all", "data", "build", "measure", "report"))
    parser.add_argument("--sizes", default=None, help="comma-separated chunk counts (default 10000,100000,1000000)")
    parser.add_argument("--stores", default=",".join(STORES))
    parser.add_argument("--store", choices=STORES, help="(one stage) the store")
    parser.add_argument("--size", type=int, help="(one stage) the chunk count")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--work", type=Path, default=Path("/tmp/kenning-store-scale"))
    parser.add_argument("--pg-url", default=None, help="an existing PostgreSQL database instead of temp clusters")
    parser.add_argument("--redo", action="store_true", help="run stages again even when their results exist")
    args = parser.parse_args()
    apply_torch_threads(args.torch_threads)
    if args.quick:
        args.work = args.work.with_name(args.work.name + "-quick")
        args.queries = min(args.queries, 60)
    sizes = [int(s) for s in (args.sizes or ("5000,20000" if args.quick else "10000,100000,1000000")).split(",")]
    stores = [s for s in args.stores.split(",") if s]
    args.work.mkdir(parents=True, exist_ok=True)

    if args.stage in ("build", "measure"):
        fn = build if args.stage == "build" else measure
        extra = () if args.stage == "build" else (args.queries,)
        result = fn(args.store, args.size, args.work, args.pg_url, *extra)
        stage_file(args.work, args.stage, args.store, args.size).write_text(json.dumps(result, indent=2))
        return
    if args.stage in ("data", "all"):
        meta = make_data(args.work, max(sizes), sizes)
        if args.stage == "data":
            console.print(meta)
            return
    rows = []
    for size in sizes:
        for store in stores:
            if args.stage == "all":
                console.print(f"[bold]{store} {size:,}[/bold]: build, then measure …")
                run_stage(args, "build", store, size)
                run_stage(args, "measure", store, size)
            b, m = (stage_file(args.work, s, store, size) for s in ("build", "measure"))
            if b.is_file() and m.is_file():
                rows.append({"build": json.loads(b.read_text()), **json.loads(m.read_text())})
    report(args, rows, sizes)


def report(args, rows: list[dict], sizes: list[int]) -> None:  # noqa: ANN001
    def mem(r: dict) -> float:
        server = r.get("server_memory_mb", {}).get("pss_mb", 0.0)
        return r["client_rss_mb"]["after_queries"] + server

    def disk(r: dict) -> float:
        d = r["disk_mb"]
        return d.get("total", d.get("database_mb", float("nan")))

    print_table(
        "Both stores by size (k=10, hits fetched, query vectors precomputed)",
        [
            "store",
            "chunks",
            "build s",
            "insert s",
            "publish s",
            "disk MB",
            "memory MB",
            "ef@0.99",
            "recall@10",
            "hybrid p50",
            "hybrid p95",
            "bm25 p50",
            "dense p50",
        ],  # fmt: skip
        [
            [
                r["store"],
                f"{r['size']:,}",
                r["build"]["build_seconds"],
                r["build"]["insert_seconds"],
                r["build"]["publish_seconds"],
                disk(r),
                mem(r),
                r["ef_for_recall_0.99"],
                r["recall_at_10_at_chosen_ef"],
                r["latency_at_chosen_ef"]["hybrid"]["p50_ms"],
                r["latency_at_chosen_ef"]["hybrid"]["p95_ms"],
                r["latency_default_ef"]["bm25"]["p50_ms"],
                r["latency_at_chosen_ef"]["dense"]["p50_ms"],
            ]
            for r in rows
        ],
        caption="memory: SQLite — the searching process's RSS above its start; PostgreSQL — the client's RSS the same "
        "way plus the server's PSS (postmaster + backends, shared buffers once). Latency at the smallest ef reaching "
        "recall@10 ≥ 0.99 (bm25: default).",
    )
    targets = []
    top = [r for r in rows if r["store"] == "postgresql" and r["size"] == 1_000_000]
    for r in top:
        targets.append(Target("PostgreSQL 1M hybrid p50", r["latency_at_chosen_ef"]["hybrid"]["p50_ms"], "<=", 30.0,
                              " ms", f"ef {r['ef_for_recall_0.99']}"))  # fmt: skip
        targets.append(Target("PostgreSQL 1M dense recall@10 at that ef", r["recall_at_10_at_chosen_ef"], ">=", 0.99))
    if targets:
        print_targets(targets, quick=args.quick)
    data_meta = args.work / "data" / "meta.json"
    write_result(
        "store_scale",
        quick=args.quick,
        results={
            "sizes": sizes,
            "data": json.loads(data_meta.read_text()) if data_meta.is_file() else None,
            "pg_settings": PG_SETTINGS,
            "batch": BATCH,
            "per_store_size": rows,
            "loadavg_at_report": loadavg(),
        },
        targets=targets,
        out=args.out,
    )


if __name__ == "__main__":
    main()
