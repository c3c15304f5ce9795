"""Memory and latency at scale: 10k / 100k / 1M chunks of realistic text with synthetic vectors.

    python bench/scale.py                          # --sizes 10000,100000 (about 10 minutes)
    python bench/scale.py --sizes 1000000          # 1M: building takes a long while (BM25 + HNSW)
    python bench/scale.py --quick                  # 5k and 20k chunks, 60 queries

Texts: 40-120 words made of real SciFact sentences drawn at random (so BM25 vocabulary, term frequencies and
posting lists look like a real scientific corpus). Vectors: random normal, L2-normalised float32, 384-d. The
collection is written through kenning's own on-disk path without the embedder: ``Collection.create_or_open``,
``catalog.transaction()`` with ``put_document`` / ``put_vectors`` / ``put_source``, then ``lock()`` + ``publish()``
(snapshot: bm25s, vectors.npy, hnsw.bin). Each size is built in one subprocess and measured in a fresh one, so the
memory numbers are those of a process that only opened and searched the collection.

Queries are real SciFact claims, embedded by the real all-MiniLM-L6-v2 per query: the latency is ``Engine.search``
end to end (query embedding, BM25, dense, RRF fusion, hydration of the hits from SQLite), k = 10, after warm-up.
Dense search runs exact (``DenseConfig(ann="exact")``) and with HNSW (hnswlib with kenning's defaults: M=32, efC=200, ef=1024); HNSW recall@10
is measured against exact on the same query vectors. ``auto`` (kenning's default) is exact below 50k chunks.

Targets (at 100k): hybrid p50 ≤ 15 ms, p95 ≤ 40 ms; HNSW recall@10 ≥ 0.99 at every size.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
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
    measure_latency,
    peak_rss_mb,
    print_table,
    print_targets,
    read_jsonl,
    rss_mb,
    scifact_queries,
    timed,
    unit_vectors,
    write_result,
)

DIM = 384
COLLECTION = "scale"
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(])")


# -- building -------------------------------------------------------------------------------------------------


class TextSampler:
    """Chunk texts of 40-120 words made of real SciFact sentences, drawn at random (seeded)."""

    def __init__(self, corpus: Path, seed: int) -> None:
        sentences = []
        for rec in read_jsonl(corpus):
            for s in _SENTENCE.split(rec.get("text", "")):
                words = s.split()
                if len(words) >= 4:
                    sentences.append(words)
            if rec.get("title"):
                sentences.append(rec["title"].split())
        self.sentences = sentences
        self.rng = np.random.default_rng(seed)

    def texts(self, n: int) -> list[str]:
        lengths = self.rng.integers(40, 121, size=n)
        picks = self.rng.integers(0, len(self.sentences), size=(n, 16))  # 16 sentences always reach 40+ words
        out = []
        for length, row in zip(lengths.tolist(), picks, strict=True):
            words: list[str] = []
            for j in row.tolist():
                words.extend(self.sentences[j])
                if len(words) >= length:
                    break
            out.append(" ".join(words[:length]))
        return out


def build(size: int, home: Path, vectors_kind: str = "normal", batch: int = 10_000, seed: int = 7) -> dict:
    """Write ``size`` one-chunk documents into a fresh collection and publish it; times for each stage."""
    from kenning.config import DenseConfig, KenningConfig
    from kenning.index import Collection
    from kenning.index import snapshot as snapshot_mod
    from kenning.index.writer import embed_hash
    from kenning.ingest.text import doc_id as make_doc_id
    from kenning.types import Chunk, Document

    stages = {"bm25_build": 0.0, "bm25_save": 0.0, "dense_save_and_hnsw": 0.0}
    _time_calls(snapshot_mod.LexicalIndex, "build", stages, "bm25_build", classmethod_=True)
    _time_calls(snapshot_mod.LexicalIndex, "save", stages, "bm25_save")
    _time_calls(snapshot_mod.DenseIndex, "save", stages, "dense_save_and_hnsw", staticmethod_=True)

    config = KenningConfig(dense=DenseConfig(ann="hnsw"))  # build the graph at every size, so both can be measured
    col = Collection.create_or_open(home, COLLECTION, config, model="synthetic", dim=DIM)
    sampler = TextSampler(SCIFACT / "corpus.jsonl", seed)
    rng = np.random.default_rng(seed + 1)
    gen_s = insert_s = 0.0
    words = 0
    seen: set[str] = set()
    col.lock()
    for start in range(0, size, batch):
        n = min(batch, size - start)
        t0 = time.perf_counter()
        texts = sampler.texts(n)
        vectors = unit_vectors(rng, n, DIM, vectors_kind)
        rows = []
        for i, text in enumerate(texts, start=start):
            did = make_doc_id("text", text)
            if did in seen:  # identical random text: make it differ
                text = f"{text} {i}"
                did = make_doc_id("text", text)
            seen.add(did)
            n_words = text.count(" ") + 1
            words += n_words
            doc = Document(doc_id=did, source=f"/synthetic/{i:07d}.txt", kind="text", text=text)
            chunk = Chunk(f"{did}::0", did, 0, text, 0, len(text), int(n_words * 1.3))
            rows.append((doc, chunk, embed_hash("synthetic", text)))
        t1 = time.perf_counter()
        with col.catalog.transaction():
            col.catalog.put_vectors([h for _, _, h in rows], vectors)
            for doc, chunk, h in rows:
                col.catalog.put_document(doc, [chunk], [h], "synthetic:1")
                col.catalog.put_source(doc.source, "/synthetic", doc.doc_id, doc.doc_id, {})
        t2 = time.perf_counter()
        gen_s += t1 - t0
        insert_s += t2 - t1
    with timed() as t_pub:
        version = col.publish()
    col.unlock()
    docs, chunks = col.catalog.counts()
    col.close()
    return {
        "size": size,
        "vectors": vectors_kind,
        "documents": docs,
        "chunks": chunks,
        "mean_words": words / size,
        "generate_seconds": gen_s,
        "catalog_insert_seconds": insert_s,
        "publish_seconds": t_pub.seconds,
        "publish_breakdown": {**stages, "read_catalog_fsync_other": t_pub.seconds - sum(stages.values())},
        "build_seconds": insert_s + t_pub.seconds,
        "published_version": version,
        "peak_rss_mb_build": peak_rss_mb(),
    }


def _time_calls(cls, name: str, into: dict, key: str, *, classmethod_=False, staticmethod_=False) -> None:
    """Wrap ``cls.name`` so the seconds spent in it add up in ``into[key]`` (bench-only instrumentation)."""
    original = getattr(cls, name)

    def wrapper(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            into[key] += time.perf_counter() - t0

    if classmethod_:
        setattr(cls, name, classmethod(lambda _cls, *a, **k: wrapper(*a, **k)))
    elif staticmethod_:
        setattr(cls, name, staticmethod(wrapper))
    else:
        setattr(cls, name, wrapper)


# -- measuring ------------------------------------------------------------------------------------------------


def measure(size: int, home: Path, n_queries: int) -> dict:
    """Open the collection in this (fresh) process, search it, and report latency, memory and HNSW recall."""
    from kenning import Engine
    from kenning.config import DenseConfig
    from kenning.index.snapshot import Snapshot
    from kenning.providers.embedders import get_embedder
    from kenning.retrieve import hit_from_row
    from kenning.retrieve.fusion import rrf

    queries_by_id, _ = scifact_queries("test")
    queries = list(queries_by_id.values())
    if n_queries > len(queries):  # more than the 300 test claims: add the train claims
        train, _ = scifact_queries("train")
        queries += list(train.values())
    queries = queries[:n_queries]

    rss_start = rss_mb()
    embedder = get_embedder("minilm")
    embedder.embed(["warm up the model"], is_query=True)
    rss_model = rss_mb()

    engine = Engine(home, collection=COLLECTION, embedder=embedder)
    col = engine.collection()
    folder = col.folder / col.manifest["snapshot"]["path"]
    with timed() as t_open:
        first = engine.search(queries[0], mode="hybrid", k=10)  # cold: loads the snapshot (bm25s mmap, vectors, HNSW)
    assert len(first) == 10, first
    rss_loaded = rss_mb()

    entry = col.manifest["snapshot"]  # the same entry, so that the collection serves the one swapped in below
    exact = Snapshot.load(folder, col.lexical, DenseConfig(ann="exact"), version=entry["version"], entry=entry)
    snaps = {"hnsw": col.snapshot(), "exact": exact}
    assert snaps["hnsw"].dense.ann == "hnsw" and snaps["exact"].dense.ann == "exact"
    auto = "hnsw" if size >= DenseConfig().ann_threshold else "exact"

    def use(ann: str) -> None:
        col._snapshot = snaps[ann]  # bench-only: Engine has no query-time override of the dense index kind

    latency: dict[str, dict] = {}
    use("hnsw")
    latency["bm25"] = measure_latency(lambda q: engine.search(q, mode="bm25", k=10), queries)
    for ann in ("hnsw", "exact"):
        use(ann)
        for mode in ("dense", "hybrid"):
            latency[f"{mode}/{ann}"] = measure_latency(lambda q, m=mode: engine.search(q, mode=m, k=10), queries)
    rss_after = rss_mb()

    # HNSW recall@10 against exact, same query vectors
    qv = embedder.embed(queries, is_query=True)
    recalls = []
    for v in qv:
        a = set(snaps["hnsw"].dense.search(v, 10)[0].tolist())
        b = set(snaps["exact"].dense.search(v, 10)[0].tolist())
        recalls.append(len(a & b) / 10)

    # where the time of one hybrid query goes (kenning's default dense index for this size), through the Store
    use(auto)
    searcher = engine.searcher()
    cfg = searcher.config
    depth = max(10, cfg.candidates)
    parts: dict[str, list[float]] = {k: [] for k in ("embed", "bm25", "dense", "fusion", "hydrate", "total")}
    for i, q in enumerate(queries[:20] + queries):
        t0 = time.perf_counter()
        v = embedder.embed([q], is_query=True)[0]
        t1 = time.perf_counter()
        bm = col.lexical_search(q, depth)
        t2 = time.perf_counter()
        de = col.dense_search(v, depth)
        t3 = time.perf_counter()
        ids, scores, ranks = rrf(
            {"bm25": bm.ids, "dense": de.ids}, k=cfg.rrf_k, weights={"bm25": cfg.bm25_weight, "dense": cfg.dense_weight}
        )
        t4 = time.perf_counter()
        rows = col.fetch(ids[:10])
        hits = [
            hit_from_row(rows[c], n, s, ranks[c]) for n, (c, s) in enumerate(zip(ids[:10], scores, strict=False), 1)
        ]
        t5 = time.perf_counter()
        assert len(hits) == 10
        if i >= 20:  # the first 20 are warm-up
            for key, dt in zip(parts, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t5 - t0), strict=True):
                parts[key].append(dt * 1000)
    breakdown = {k: {"p50_ms": latency_stats(v)["p50_ms"], "mean_ms": float(np.mean(v))} for k, v in parts.items()}

    # one query's embedding with torch's default intra-op threads vs one thread (a 2-core machine shared with
    # other work: OpenMP threads that wait on each other at every layer suffer most when a core is busy)
    import torch

    default_threads = torch.get_num_threads()
    embed_threads = {}
    for n in dict.fromkeys((default_threads, 1)):
        torch.set_num_threads(n)
        embed_threads[str(n)] = measure_latency(lambda q: embedder.embed([q], is_query=True), queries)
    torch.set_num_threads(default_threads)

    sizes = {
        "total_mb": dir_size_mb(col.folder),
        "catalog_mb": sum(p.stat().st_size for p in col.folder.glob("catalog.sqlite*")) / 2**20,
        "snapshot_mb": dir_size_mb(folder),
        "bm25_mb": dir_size_mb(folder / "lexical"),
        "vectors_mb": (folder / "dense" / "vectors.npy").stat().st_size / 2**20,
        "hnsw_mb": (folder / "dense" / "hnsw.bin").stat().st_size / 2**20,
    }
    engine.close()
    return {
        "size": size,
        "queries": len(queries),
        "auto_ann": auto,
        "latency": latency,
        "latency_default": {
            "bm25": latency["bm25"],
            "dense": latency[f"dense/{auto}"],
            "hybrid": latency[f"hybrid/{auto}"],
        },
        "hybrid_breakdown": {"ann": auto, **breakdown},
        "query_embed_by_torch_threads": embed_threads,
        "hnsw_recall_at_10": float(np.mean(recalls)),
        "hnsw_recall_at_10_min": float(np.min(recalls)),
        "cold_first_query_seconds": t_open.seconds,
        "rss_mb": {
            "python_start": rss_start,
            "with_model": rss_model,
            "after_loading": rss_loaded,
            "after_all_queries": rss_after,
            "collection_after_loading": rss_loaded - rss_model,
            "collection_after_all_queries": rss_after - rss_model,
        },
        "disk": sizes,
    }


# -- driver ---------------------------------------------------------------------------------------------------


def _child(stage: str, size: int, home: Path, n_queries: int, vectors_kind: str, torch_threads: int | None) -> dict:
    """Run one stage in a fresh interpreter, so its memory is its own."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        out = Path(f.name)
    cmd = [sys.executable, __file__, f"--{stage}", str(size), "--home", str(home), "--queries", str(n_queries)]
    cmd += ["--vectors", vectors_kind]
    if torch_threads:
        cmd += ["--torch-threads", str(torch_threads)]
    cmd += ["--child-out", str(out)]
    subprocess.run(cmd, check=True)
    data = json.loads(out.read_text())
    out.unlink()
    return data


def main() -> None:
    parser = arg_parser(__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=None, help="comma-separated chunk counts (default 10000,100000)")
    parser.add_argument("--queries", type=int, default=None, help="queries timed per mode (default 300)")
    parser.add_argument("--keep", action="store_true", help="keep the built collections")
    parser.add_argument(
        "--vectors",
        choices=("normal", "fitted"),
        default="normal",
        help="normal: isotropic random normal (default); fitted: a Gaussian fitted to real MiniLM SciFact embeddings",
    )
    parser.add_argument("--work", type=Path, default=None, help="where to build (default: a temp folder)")
    parser.add_argument("--build", type=int, help=argparse_hidden())
    parser.add_argument("--measure", type=int, help=argparse_hidden())
    parser.add_argument("--home", type=Path, help=argparse_hidden())
    parser.add_argument("--child-out", type=Path, help=argparse_hidden())
    args = parser.parse_args()

    apply_torch_threads(args.torch_threads)
    if args.build or args.measure:
        result = (
            build(args.build, args.home, args.vectors) if args.build else measure(args.measure, args.home, args.queries)
        )
        args.child_out.write_text(json.dumps(result))
        return

    sizes = [int(s) for s in (args.sizes or ("5000,20000" if args.quick else "10000,100000")).split(",")]
    n_queries = args.queries or (40 if args.quick else 300)
    work = args.work or Path(tempfile.mkdtemp(prefix="kenning-bench-scale-"))
    per_size = []
    for size in sizes:
        home = work / f"home-{size}"
        if home.exists():
            shutil.rmtree(home)
        console.print(f"[bold]{size:,} chunks[/bold]: building …")
        built = _child("build", size, home, n_queries, args.vectors, args.torch_threads)
        console.print(f"  built in {built['build_seconds']:.1f} s; measuring {n_queries} queries per mode …")
        measured = _child("measure", size, home, n_queries, args.vectors, args.torch_threads)
        per_size.append({"build": built, **measured})
        if not args.keep:
            shutil.rmtree(home, ignore_errors=True)

    rows = []
    for r in per_size:
        lat = r["latency"]
        rows.append(
            [
                f"{r['size']:,}",
                lat["bm25"]["p50_ms"],
                lat["bm25"]["p95_ms"],
                lat["dense/exact"]["p50_ms"],
                lat["dense/hnsw"]["p50_ms"],
                lat["hybrid/exact"]["p50_ms"],
                lat["hybrid/exact"]["p95_ms"],
                lat["hybrid/hnsw"]["p50_ms"],
                lat["hybrid/hnsw"]["p95_ms"],
                r["hnsw_recall_at_10"],
                r["auto_ann"],
            ]
        )
    print_table(
        "Engine.search latency, ms (k=10, query embedding + hydration included)",
        [
            "chunks",
            "bm25 p50",
            "bm25 p95",
            "dense exact p50",
            "dense hnsw p50",
            "hybrid exact p50",
            "hybrid exact p95",
            "hybrid hnsw p50",
            "hybrid hnsw p95",
            "hnsw recall@10",
            "auto",
        ],
        rows,
    )
    print_table(
        "Build, memory and disk",
        [
            "chunks",
            "catalog insert s",
            "publish s",
            "bm25 build s",
            "dense+hnsw s",
            "build peak RSS MB",
            "RSS loaded MB",
            "RSS after queries MB",
            "disk MB",
            "catalog MB",
            "snapshot MB",
        ],
        [
            [
                f"{r['size']:,}",
                r["build"]["catalog_insert_seconds"],
                r["build"]["publish_seconds"],
                r["build"]["publish_breakdown"]["bm25_build"],
                r["build"]["publish_breakdown"]["dense_save_and_hnsw"],
                r["build"]["peak_rss_mb_build"],
                r["rss_mb"]["collection_after_loading"],
                r["rss_mb"]["collection_after_all_queries"],
                r["disk"]["total_mb"],
                r["disk"]["catalog_mb"],
                r["disk"]["snapshot_mb"],
            ]
            for r in per_size
        ],
        caption="RSS: the collection's share, above the process with the embedder loaded (≈ "
        f"{per_size[0]['rss_mb']['with_model']:.0f} MB)",
    )
    for r in per_size:
        b = r["hybrid_breakdown"]
        print_table(
            f"Hybrid query at {r['size']:,} chunks ({b['ann']}): where the time goes",
            ["step", "p50 ms", "mean ms"],
            [[k, b[k]["p50_ms"], b[k]["mean_ms"]] for k in ("embed", "bm25", "dense", "fusion", "hydrate", "total")],
        )
    print_table(
        "One query's embedding by torch intra-op threads, ms",
        [
            "chunks",
            *(f"{n} thread(s) {p}" for n in per_size[0]["query_embed_by_torch_threads"] for p in ("p50", "p95")),
        ],
        [
            [
                f"{r['size']:,}",
                *(s[p] for s in r["query_embed_by_torch_threads"].values() for p in ("p50_ms", "p95_ms")),
            ]
            for r in per_size
        ],
    )

    targets = []
    at_100k = [r for r in per_size if r["size"] == 100_000]
    ref = at_100k[0] if at_100k else max(per_size, key=lambda r: r["size"])
    note = "" if at_100k else f"measured at {ref['size']:,}, target is at 100k"
    hyb = ref["latency_default"]["hybrid"]
    targets.append(Target("hybrid p50 at 100k", hyb["p50_ms"], "<=", 15.0, " ms", note))
    targets.append(Target("hybrid p95 at 100k", hyb["p95_ms"], "<=", 40.0, " ms", note))
    for r in per_size:
        targets.append(Target(f"HNSW recall@10 vs exact at {r['size']:,}", r["hnsw_recall_at_10"], ">=", 0.99))
    print_targets(targets, quick=args.quick)
    write_result(
        "scale",
        quick=args.quick,
        results={
            "sizes": sizes,
            "queries": n_queries,
            "dim": DIM,
            "vectors": args.vectors,
            "torch_threads": args.torch_threads or "default",
            "per_size": per_size,
        },
        targets=targets,
        out=args.out,
    )
    if not args.keep and args.work is None:
        shutil.rmtree(work, ignore_errors=True)


def argparse_hidden() -> str:
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    main()
