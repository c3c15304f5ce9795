"""Issue 12's concept graph on the PostgreSQL manual: what building it adds to indexing, per extractor and per Leiden
library.

    python bench/graph.py build                          # index the manual into a fresh home, then build the graph
    python bench/graph.py build --home H --index-seconds S   # reuse an index made (and timed) before
    python bench/graph.py build --quick                  # 60 pages: a smoke test, not the verdict

1. ``kenning index`` of the manual (the .tar.gz as it is), wall time of the command.
2. ``kenning graph build`` with the default extractor, wall time of the command (imports included), cold cache.
3. Each extractor on a seeded sample of chunks: chunks per second, and agreement with ``spacy`` (mean Jaccard of the
   per-chunk concept sets); full-corpus extraction seconds extrapolated from the rate.
4. hierarchical Leiden on the built graph's edges: igraph (what kenning uses) and graspologic-native's
   ``hierarchical_leiden`` when installed (``pip install graspologic-native==1.3.1``; not a dependency): seconds,
   modularity of the top level, communities per level, and whether two runs with one seed agree.

Target: graph build seconds / index seconds <= 0.25. Results: ``bench/results/graph_build.json``.
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

from _common import RESULTS, Target, arg_parser, console, print_table, print_targets, write_result

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "corpora" / "postgresql-15.20-doc-html.tar.gz"
COLLECTION = "pg"


def _cli(*args: str) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "kenning.cli", *args], capture_output=True, text=True, check=False)
    if proc.returncode:
        raise SystemExit(f"kenning {' '.join(args)} failed: {proc.stderr[-2000:]}")
    return time.perf_counter() - t0, proc.stdout


def _quick_corpus(dest: Path, pages: int) -> Path:
    import tarfile

    with tarfile.open(CORPUS) as tar:
        members = sorted((m for m in tar.getmembers() if m.name.endswith(".html")), key=lambda m: m.name)
        for m in random.Random(13).sample(members, pages):
            m.name = Path(m.name).name
            tar.extract(m, dest, filter="data")
    return dest


def _extractors(texts: list[str]) -> dict[str, dict[str, float]]:
    from kenning.graph.concepts import EXTRACTORS, get_extractor

    out: dict[str, dict[str, float]] = {}
    sets: dict[str, list[set[str]]] = {}
    for name in EXTRACTORS:
        ex = get_extractor(name)
        ex.extract(["warm up the model"])
        t0 = time.perf_counter()
        concepts = ex.extract(texts)
        seconds = time.perf_counter() - t0
        sets[name] = [set(c) for c in concepts]
        out[name] = {"id": ex.id, "chunks": len(texts), "seconds": seconds, "chunks_per_s": len(texts) / seconds}
    for name, per_chunk in sets.items():
        scores = [len(a & b) / len(a | b) for a, b in zip(per_chunk, sets["spacy"], strict=True) if a | b]
        out[name]["jaccard_vs_spacy"] = sum(scores) / max(len(scores), 1)
    return out


def _communities(home: Path, seed: int, max_size: int) -> dict[str, dict]:
    from kenning import Engine
    from kenning.graph.communities import hierarchical_leiden, modularity
    from kenning.index import graph_tables

    eng = Engine(home, collection=COLLECTION)
    catalog = eng.collection().catalog
    edges = graph_tables.edges(catalog, "concept")
    eng.close()
    connected = sorted({e.a for e in edges} | {e.b for e in edges})
    local = {n: i for i, n in enumerate(connected)}
    numbered = [(local[e.a], local[e.b], e.weight) for e in edges]
    n = len(connected)
    out: dict[str, dict] = {}

    runs = []
    for _ in range(2):
        t0 = time.perf_counter()
        clusters = hierarchical_leiden(n, numbered, max_size=max_size, seed=seed)
        runs.append((time.perf_counter() - t0, clusters))
    top = [c.nodes for c in runs[0][1] if c.level == 0]
    levels = [sum(1 for c in runs[0][1] if c.level == lvl) for lvl in range(max(c.level for c in runs[0][1]) + 1)]
    out["igraph"] = {
        "seconds": min(r[0] for r in runs),
        "modularity_top": modularity(n, numbered, top),
        "communities_per_level": levels,
        "deterministic": runs[0][1] == runs[1][1],
    }
    try:
        import graspologic_native as gn
    except ImportError:
        out["graspologic-native"] = {"note": "not installed (pip install graspologic-native==1.3.1)"}
        return out
    g_runs = []
    as_str = [(str(a), str(b), w) for a, b, w in numbered]
    for _ in range(2):
        t0 = time.perf_counter()
        result = gn.hierarchical_leiden(as_str, max_cluster_size=max_size, seed=seed, use_modularity=True)
        g_runs.append((time.perf_counter() - t0, result))
    rows = sorted((h.level, h.cluster, int(h.node)) for h in g_runs[0][1])
    level0: dict[int, list[int]] = {}
    per_level: dict[int, set[int]] = {}
    for level, cluster, node in rows:
        per_level.setdefault(level, set()).add(cluster)
        if level == 0:
            level0.setdefault(cluster, []).append(node)
    out["graspologic-native"] = {
        "seconds": min(r[0] for r in g_runs),
        "modularity_top": modularity(n, numbered, list(level0.values())),
        "communities_per_level": [len(per_level[lvl]) for lvl in sorted(per_level)],
        "deterministic": rows == sorted((h.level, h.cluster, int(h.node)) for h in g_runs[1][1]),
    }
    return out


def build(args) -> None:  # noqa: ANN001
    from kenning.config import GraphConfig

    quick = args.quick
    home = args.home or Path(tempfile.mkdtemp(prefix="kenning-graph-bench-"))
    results: dict = {"home": str(home), "load_at_start": os.getloadavg()}
    if args.index_seconds is None:
        corpus = _quick_corpus(Path(tempfile.mkdtemp()), 60) if quick else CORPUS
        results["index_seconds"], _ = _cli("index", str(corpus), "-c", COLLECTION, "--home", str(home), "--json")
    else:
        results["index_seconds"] = args.index_seconds
    results["load_after_index"] = os.getloadavg()
    seconds, out = _cli("graph", "build", "-c", COLLECTION, "--home", str(home), "--json")
    built = json.loads(out)
    results["graph_seconds"] = seconds
    results["graph_stats"] = built["stats"]
    results["load_after_graph"] = os.getloadavg()

    from kenning import Engine

    eng = Engine(home, collection=COLLECTION)
    texts = [row.text for row in eng.collection().catalog.iter_chunks()]
    eng.close()
    sample = random.Random(13).sample(texts, min(args.sample, len(texts)))
    results["extractors"] = _extractors(sample)
    for row in results["extractors"].values():
        row["extract_seconds_full_estimate"] = len(texts) / row["chunks_per_s"]
    config = GraphConfig()
    results["communities"] = _communities(home, config.seed, config.max_community_size)
    results["overhead"] = results["graph_seconds"] / results["index_seconds"]
    results["load_at_end"] = os.getloadavg()

    stats = results["graph_stats"]
    print_table(
        "concept graph of the PostgreSQL manual",
        ["step", "seconds", "detail"],
        [
            ("kenning index", results["index_seconds"], f"{stats['chunks']} chunks"),
            (
                "kenning graph build",
                results["graph_seconds"],
                f"{stats['extractor']}, overhead {results['overhead']:.1%}",
            ),
            ("  extract", stats["seconds_extract"], f"{stats['extracted']} extracted"),
            ("  graph", stats["seconds_graph"], f"{stats['concepts_kept']} concepts, {stats['edges']} edges"),
            ("  communities", stats["seconds_communities"], f"per level {stats['communities']}"),
        ],
    )
    print_table(
        f"extractors on {len(sample)} chunks",
        ["extractor", "chunks/s", "full corpus s (est.)", "Jaccard vs spacy"],
        [
            (r["id"], r["chunks_per_s"], r["extract_seconds_full_estimate"], r["jaccard_vs_spacy"])
            for r in results["extractors"].values()
        ],
    )
    print_table(
        "hierarchical Leiden",
        ["library", "seconds", "modularity (top)", "per level", "same seed, same result"],
        [
            (
                name,
                r.get("seconds"),
                r.get("modularity_top"),
                str(r.get("communities_per_level")),
                r.get("deterministic"),
            )
            for name, r in results["communities"].items()
        ],
    )
    targets = [Target("concept graph build / index time", results["overhead"], "<=", 0.25)]
    print_targets(targets, quick=quick)
    write_result("graph_build", quick=quick, results=results, targets=targets, out=args.out)


def main() -> None:
    parser = arg_parser(__doc__.splitlines()[0])
    parser.add_argument("command", choices=["build"])
    parser.add_argument("--home", type=Path, default=None, help="index home (default: a fresh temporary one)")
    parser.add_argument("--index-seconds", type=float, default=None, help="reuse --home's index, timed before")
    parser.add_argument("--sample", type=int, default=300, help="chunks each extractor is timed on")
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    console.print(f"load average {os.getloadavg()}")
    build(args)


if __name__ == "__main__":
    main()
