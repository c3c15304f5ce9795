"""Three indexer processes and ten searching clients on one collection for 3 minutes: errors, lost or duplicated chunks.

    python bench/store_concurrency.py                         # PostgreSQL (a temp cluster), 3 indexers, 10 clients, 3 min
    python bench/store_concurrency.py --store sqlite          # the same against the SQLite store
    python bench/store_concurrency.py --quick                 # 40 seconds
    python bench/store_concurrency.py --pg-url postgresql://…  # an existing database

**Documents**: real SciFact abstracts, one BEIR record per ``.jsonl`` file, in one folder per indexer. Each indexer
starts with 120 files drawn from a shared pool of 1,500 abstracts (so the same abstract — the same document — is
often in two or three indexers' folders at once: documents shared between sources and writers), then loops until
the time is up: add 4 new files, delete 3, replace 3 files' record with another abstract (same file and ``_id``,
new content), edit 1 record's text (a sentence appended: a chunk text never seen, embedded by the real model), then
take the collection's write lock (``store.locked(wait=True)``: one writer at a time, as the store requires) and run
``index_paths(store, [its folder])``, which commits and publishes. Known chunk texts come from the recorded SciFact
vectors (``bench/.cache``, written by ``store_scifact.py``), so the machine's two cores go to the stores, not the
model.

**Clients**: ten processes, each searching in a loop with the 300 SciFact test claims (vectors embedded once):
``Searcher.search(q, mode, k=10)`` with the mode cycling bm25 / dense / hybrid, checking every hit (its chunk id
belongs to its document, its text is there). Any exception in a client or an indexer is an error.

**At the end**: the collection's chunk set must equal a fresh single-process index of the final folders (same chunk
ids, documents, texts, spans and sources; vectors equal to 1e-4), no chunk id twice (in the published list and in
the catalog), and every document whole (its chunks are exactly ``doc::0 … doc::n-1``).

Bar (issue 13): zero errors, no lost or duplicated chunks.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np
from _common import (
    SCIFACT,
    Target,
    arg_parser,
    console,
    latency_stats,
    print_table,
    print_targets,
    read_jsonl,
    write_result,
)
from _pgcluster import PgCluster
from _storebench import CachedEmbedder, FixedVectors, load_chunk_cache, loadavg, open_store, query_vectors

NAME = "shared"
POOL = 1500
START_FILES = 120
PER_LOOP = {"add": 4, "delete": 3, "replace": 3, "edit": 1}
PG_SETTINGS = {"shared_buffers": "512MB", "max_connections": "200"}


# -- the two roles ----------------------------------------------------------------------------------------------


def _store(url: str, home: Path, embedder_name: str, dim: int):  # noqa: ANN202
    from kenning.config import KenningConfig

    return open_store(url, home, NAME, KenningConfig(), model=embedder_name, dim=dim)


def _embedder() -> CachedEmbedder:
    from kenning.providers.embedders import get_embedder

    texts, vectors, model = load_chunk_cache()

    class Lazy:  # the real model, loaded on the first text the cache does not hold
        def __init__(self) -> None:
            self.model = None

        def embed(self, batch, *, is_query=False):  # noqa: ANN001, ANN202
            self.model = self.model or get_embedder("minilm")
            return self.model.embed(batch, is_query=is_query)

    return CachedEmbedder(texts, vectors, name=model, inner=Lazy())


def write_record(folder: Path, fname: str, rec: dict) -> None:
    tmp = folder / f".{fname}.tmp"
    tmp.write_text(json.dumps(rec, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(folder / f"{fname}.jsonl")  # never a half-written file for the indexer to read


def indexer(n: int, url: str, home: Path, folder: Path, deadline: float, out: Path, seed: int) -> None:
    from kenning.config import KenningConfig
    from kenning.index.writer import index_paths

    cfg = KenningConfig()
    pool = read_jsonl(SCIFACT / "corpus.jsonl")[:POOL]
    rng = random.Random(seed)
    embedder = _embedder()
    store = _store(url, home, embedder.name, embedder.dim)
    loops, errors, waits, runs = [], [], [], []
    next_file = 0
    while time.time() < deadline:
        try:
            files = sorted(p.stem for p in folder.glob("*.jsonl"))
            for fname in rng.sample(files, min(PER_LOOP["delete"], len(files))):
                (folder / f"{fname}.jsonl").unlink()
                files.remove(fname)
            for fname in rng.sample(files, min(PER_LOOP["replace"], len(files))):
                rec = dict(rng.choice(pool))
                write_record(folder, fname, {**rec, "_id": fname})
            for fname in rng.sample(files, min(PER_LOOP["edit"], len(files))):
                rec = json.loads((folder / f"{fname}.jsonl").read_text())
                rec["text"] += f" Edited by indexer {n} at loop {len(loops)}."
                write_record(folder, fname, rec)
            for _ in range(PER_LOOP["add"]):
                rec = rng.choice(pool)
                write_record(folder, f"i{n}-{next_file:05d}", {**rec, "_id": f"i{n}-{next_file:05d}"})
                next_file += 1
            t0 = time.perf_counter()
            with store.locked(wait=True):
                t1 = time.perf_counter()
                report = index_paths(
                    store,
                    [folder],
                    ingest=cfg.ingest,
                    chunking=cfg.chunking,
                    embedder=embedder,
                    commit_chunks=cfg.indexing.commit_chunks,
                )
            t2 = time.perf_counter()
            waits.append((t1 - t0) * 1000)
            runs.append((t2 - t1) * 1000)
            loops.append(
                {
                    "added": report.documents_added,
                    "updated": report.documents_updated,
                    "removed": report.documents_removed,
                    "chunks_added": report.chunks_added,
                    "chunks_removed": report.chunks_removed,
                    "embedded": report.chunks_embedded,
                }
            )
        except Exception as exc:  # noqa: BLE001 - every failure is counted and reported, none stops the run
            errors.append(f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=6)}")
            time.sleep(0.5)
    store.close()
    totals = {k: sum(loop[k] for loop in loops) for k in (loops[0] if loops else {})}
    out.write_text(
        json.dumps(
            {
                "indexer": n,
                "loops": len(loops),
                "totals": totals,
                "lock_wait": latency_stats(waits),
                "index_run": latency_stats(runs),
                "cache_hits": embedder.hits,
                "embedded_by_model": embedder.misses,
                "errors": errors,
            }
        )
    )


def client(n: int, url: str, home: Path, work: Path, deadline: float, out: Path) -> None:
    from kenning.retrieve import Searcher
    from kenning.store.registry import backend, scheme_of

    texts = json.loads((work / "queries.json").read_text())
    queries = FixedVectors(texts, np.load(work / "queries.npy"), name="fixed")
    store = backend(url).open(home if scheme_of(url) == "sqlite" else url, NAME)
    searcher = Searcher(store, queries)
    modes = ("bm25", "dense", "hybrid")
    rng = random.Random(1000 + n)
    samples: dict[str, list[float]] = {m: [] for m in modes}
    errors, empty = [], 0
    i = 0
    while time.time() < deadline:
        mode = modes[i % 3]
        q = rng.choice(texts)
        i += 1
        try:
            t0 = time.perf_counter()
            hits = searcher.search(q, mode=mode, k=10)
            samples[mode].append((time.perf_counter() - t0) * 1000)
            empty += not hits
            for h in hits:
                if not h.chunk_id.startswith(h.doc_id + "::") or not h.text:
                    raise AssertionError(f"hit {h.chunk_id} of {h.doc_id}: not whole ({len(h.text)} chars)")
        except Exception as exc:  # noqa: BLE001 - counted and reported
            errors.append(f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=6)}")
            time.sleep(0.2)
    store.close()
    out.write_text(
        json.dumps(
            {
                "client": n,
                "searches": sum(len(v) for v in samples.values()),
                "empty_results": empty,
                "latency": {m: latency_stats(v) for m, v in samples.items()},
                "errors": errors,
            }
        )
    )


# -- checking the end state -------------------------------------------------------------------------------------


def snapshot_of(store) -> dict:  # noqa: ANN001
    """Everything a search can see of a collection: chunk rows, documents' sources, vectors."""
    ids = store.chunk_ids()
    rows = {}
    for start in range(0, len(ids), 2000):
        rows.update(store.fetch(ids[start : start + 2000]))
    return {
        "ids": ids,
        "catalog_ids": store.catalog.all_chunk_ids(),
        "rows": {c: (r.doc_id, r.index, r.text, r.start, r.end) for c, r in rows.items()},
        "sources": {d: sorted(s) for d, s in store.catalog.document_sources().items()},
        "vectors": dict(zip(ids, store.vectors(ids), strict=True)),
    }


def compare(shared: dict, fresh: dict) -> dict:
    ids, fids = set(shared["ids"]), set(fresh["ids"])
    by_doc: dict[str, list[int]] = {}
    for doc, index, *_ in shared["rows"].values():
        by_doc.setdefault(doc, []).append(index)
    broken = [d for d, idx in by_doc.items() if sorted(idx) != list(range(len(idx)))]
    differing_rows = [c for c in ids & fids if shared["rows"].get(c) != fresh["rows"].get(c)]
    far = [c for c in ids & fids if not np.allclose(shared["vectors"][c], fresh["vectors"][c], atol=1e-4)]
    return {
        "chunks": len(shared["ids"]),
        "fresh_chunks": len(fresh["ids"]),
        "documents": len(by_doc),
        "lost": sorted(fids - ids)[:20],
        "lost_count": len(fids - ids),
        "extra": sorted(ids - fids)[:20],
        "extra_count": len(ids - fids),
        "duplicated_published": len(shared["ids"]) - len(ids),
        "duplicated_catalog": len(shared["catalog_ids"]) - len(set(shared["catalog_ids"])),
        "catalog_vs_published": len(set(shared["catalog_ids"]) ^ ids),
        "documents_not_whole": broken[:20],
        "documents_not_whole_count": len(broken),
        "rows_differing": len(differing_rows),
        "sources_differing": sum(shared["sources"].get(d) != s for d, s in fresh["sources"].items())
        + len(set(shared["sources"]) - set(fresh["sources"])),
        "vectors_differing": len(far),
    }


# -- driver -----------------------------------------------------------------------------------------------------


def main() -> None:
    parser = arg_parser(__doc__.splitlines()[0])
    parser.add_argument("role", nargs="?", default="run", choices=("run", "indexer", "client"))
    parser.add_argument("--store", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--indexers", type=int, default=3)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--pg-url", default=None, help="an existing PostgreSQL database (default: a temp cluster)")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--n", type=int, help=_hidden())
    parser.add_argument("--url", default="", help=_hidden())
    parser.add_argument("--home", type=Path, help=_hidden())
    parser.add_argument("--work", type=Path, help=_hidden())
    parser.add_argument("--deadline", type=float, help=_hidden())
    args = parser.parse_args()
    if args.role == "indexer":
        out = args.work / f"indexer-{args.n}.json"
        return indexer(args.n, args.url, args.home, args.work / f"idx-{args.n}", args.deadline, out, args.n)
    if args.role == "client":
        return client(args.n, args.url, args.home, args.work, args.deadline, args.work / f"client-{args.n}.json")

    minutes = 40 / 60 if args.quick else args.minutes
    work = Path(tempfile.mkdtemp(prefix="kenning-bench-concurrency-"))
    home = work / "home"
    cluster = None
    url = ""
    if args.store == "postgresql":
        url = args.pg_url or ""
        if not url:
            cluster = PgCluster(work / "pg" / "data", PG_SETTINGS).init()
            url = cluster.url
    texts, vectors, model = load_chunk_cache()
    _, qtexts = __import__("_storebench").scifact_query_texts("test")
    np.save(work / "queries.npy", query_vectors(qtexts))
    (work / "queries.json").write_text(json.dumps(qtexts))

    # the starting folders, indexed once so the clients have something to search from the first second
    pool = read_jsonl(SCIFACT / "corpus.jsonl")[:POOL]
    rng = random.Random(0)
    folders = []
    for n in range(args.indexers):
        folder = work / f"idx-{n}"
        folder.mkdir()
        for j, rec in enumerate(rng.sample(pool, START_FILES)):
            write_record(folder, f"s{n}-{j:04d}", {**rec, "_id": f"s{n}-{j:04d}"})
        folders.append(folder)
    from kenning.config import KenningConfig
    from kenning.index.writer import index_paths

    cfg = KenningConfig()
    embedder = _embedder()
    store = _store(url, home, embedder.name, embedder.dim)
    with store.locked():
        index_paths(store, folders, ingest=cfg.ingest, chunking=cfg.chunking, embedder=embedder)
    start_counts = store.counts()
    store.close()

    console.print(f"{args.indexers} indexers and {args.clients} clients on {args.store} for {minutes:.1f} minutes …")
    load = {"start": loadavg()}
    deadline = time.time() + 15 + minutes * 60  # 15 s for every process to import and connect
    common = ["--url", url, "--home", str(home), "--work", str(work), "--deadline", str(deadline)]
    procs = [
        subprocess.Popen([sys.executable, __file__, "indexer", "--n", str(n), *common]) for n in range(args.indexers)
    ]
    procs += [
        subprocess.Popen([sys.executable, __file__, "client", "--n", str(n), *common]) for n in range(args.clients)
    ]
    time.sleep(15 + minutes * 60 / 2)
    load["middle"] = loadavg()
    exit_codes = [p.wait() for p in procs]
    load["end"] = loadavg()
    idx = [json.loads((work / f"indexer-{n}.json").read_text()) for n in range(args.indexers)]
    cli = [json.loads((work / f"client-{n}.json").read_text()) for n in range(args.clients)]

    # the end state against a fresh single-process index of the final folders
    console.print("comparing with a fresh single-process index of the final folders …")
    shared = _store(url, home, embedder.name, embedder.dim)
    fresh_home = work / "fresh-home"
    from kenning.store.registry import backend

    fresh = backend(url).create_or_open(
        fresh_home if not url else url, "fresh", cfg, model=embedder.name, dim=embedder.dim
    )
    with fresh.locked():
        index_paths(fresh, folders, ingest=cfg.ingest, chunking=cfg.chunking, embedder=embedder)
    check = compare(snapshot_of(shared), snapshot_of(fresh))
    shared.close()
    fresh.close()
    if cluster is not None and not args.keep:
        cluster.stop()

    errors = [e for r in idx + cli for e in r["errors"]]
    all_lat = {m: [c["latency"][m] for c in cli] for m in ("bm25", "dense", "hybrid")}
    results = {
        "store": args.store,
        "minutes": minutes,
        "indexers": idx,
        "clients": cli,
        "exit_codes": exit_codes,
        "start_counts": start_counts,
        "check": check,
        "per_loop": PER_LOOP,
        "pool": POOL,
        "loadavg": load,
        "pg_settings": PG_SETTINGS if cluster else None,
    }
    print_table(
        f"{args.indexers} indexers × {args.clients} clients on {args.store}, {minutes:.1f} min",
        [
            "who",
            "loops / searches",
            "added",
            "updated",
            "removed",
            "chunks +",
            "chunks −",
            "lock wait p50 ms",
            "run p50 ms",
            "errors",
        ],  # fmt: skip
        [
            [
                f"indexer {r['indexer']}",
                r["loops"],
                *(r["totals"].get(k) for k in ("added", "updated", "removed")),
                r["totals"].get("chunks_added"),
                r["totals"].get("chunks_removed"),
                r["lock_wait"].get("p50_ms"),
                r["index_run"].get("p50_ms"),
                len(r["errors"]),
            ]  # fmt: skip
            for r in idx
        ]
        + [["clients (10)", sum(c["searches"] for c in cli), *([None] * 7), sum(len(c["errors"]) for c in cli)]],
    )
    print_table(
        "Client search latency during the run, ms (median over clients of each client's p50 / p95)",
        ["mode", "p50", "p95"],
        [
            [
                m,
                float(np.median([s["p50_ms"] for s in v if s.get("n")])),
                float(np.median([s["p95_ms"] for s in v if s.get("n")])),
            ]  # fmt: skip
            for m, v in all_lat.items()
        ],
    )
    print_table("End state against a fresh index of the final folders", ["check", "value"], list(check.items()))
    for e in errors[:5]:
        console.print(f"[red]{e}[/red]")
    bad = check["lost_count"] + check["extra_count"] + check["duplicated_published"] + check["duplicated_catalog"]
    bad += check["documents_not_whole_count"] + check["rows_differing"] + check["sources_differing"]
    targets = [
        Target("errors (indexers + clients + exit codes)", len(errors) + sum(c != 0 for c in exit_codes), "<=", 0),
        Target("lost, extra, duplicated or partial chunks", bad, "<=", 0),
        Target("vectors differing from a fresh index", check["vectors_differing"], "<=", 0),
        Target("searches served", sum(c["searches"] for c in cli), ">=", 1),
    ]
    print_targets(targets, quick=args.quick)
    name = "store_concurrency" if args.store == "postgresql" else f"store_concurrency_{args.store}"
    write_result(name, quick=args.quick, results=results, targets=targets, out=args.out)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


def _hidden() -> str:
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    main()
