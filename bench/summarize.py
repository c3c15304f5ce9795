"""Print the "Latest results" section of bench/README.md (Markdown) from the JSON files in bench/results/.

python bench/summarize.py            # full runs where present, else the --quick ones (marked as such)
"""

from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def load(name: str) -> dict | None:
    for path in (RESULTS / f"{name}.json", RESULTS / f"{name}.quick.json"):
        if path.is_file():
            return json.loads(path.read_text())
    return None


def f(x: float | None, digits: int = 3) -> str:
    if x is None:
        return "—"
    if x and abs(x) < 1e-3:
        return f"{x:.1e}"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:.{digits}f}" if abs(x) < 10 else f"{x:.1f}"


def header(data: dict) -> str:
    env = data["environment"]
    kind = "`--quick` (small data, not the verdict)" if data["quick"] else "full run"
    return (
        f"*{kind}, {data['finished']}, {env['cpu_count']} cores, load average {env['load_average_at_start'][0]} at "
        f"start / {env.get('load_average_at_end', ['?'])[0]} at end.*"
    )


def targets(data: dict) -> list[str]:
    lines = ["", "| target | measured | goal | verdict |", "| --- | --- | --- | --- |"]
    for t in data["targets"]:
        value = "—" if t["value"] is None else f(t["value"], 4) + t["unit"]
        name = (t["name"] + (f" ({t['note']})" if t["note"] else "")).replace("|", "\\|")
        lines.append(f"| {name} | {value} | {t['op']} {f(t['threshold'], 4)}{t['unit']} | **{t['verdict']}** |")
    return lines


def scifact(data: dict) -> list[str]:
    r = data["results"]
    out = ["### scifact.py", "", header(data), ""]
    out += [
        "| mode | nDCG@10 | recall@10 | recall@100 | MRR@10 | ms/query (batches of 64) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for mode, m in r["quality"].items():
        mm = m["metrics"]
        out.append(
            f"| {mode} | {f(mm['ndcg@10'], 4)} | {f(mm['recall@10'], 4)} | {f(mm['recall@100'], 4)} | "
            f"{f(mm['mrr@10'], 4)} | {f(m['ms_per_query'], 1)} |"
        )
    i, e, re_ = r["index"], r["encode"], r["reindex"]
    out += [
        "",
        f"Indexing {i['documents']:,} documents → {i['chunks']:,} chunks: `Engine.index` {f(i['seconds'], 1)} s "
        f"({f(i['chunks_per_second'], 1)} chunks/s); `embed()` of the same chunks {f(e['seconds'], 1)} s; "
        f"ratio **{f(e['index_over_encode'], 3)}**. Re-index unchanged: {f(re_['seconds'], 3)} s, "
        f"{re_['chunks_embedded']} chunks embedded, speed-up **{f(re_['speedup'], 0)}×**. pytrec_eval: max |Δ| "
        + ", ".join(
            f"{m} {max(v['max_abs_diff_per_query'], v['max_abs_diff_mean']):.1e}" for m, v in r["pytrec_eval"].items()
        )
        + ".",
    ]
    return out + targets(data)


def scale(data: dict) -> list[str]:
    r = data["results"]
    out = [
        "### scale.py",
        "",
        header(data) + f" Vectors: {r['vectors']}; torch threads: {r.get('torch_threads') or 'default'}.",
        "",
    ]
    out += [
        "| chunks | bm25 p50/p95 | dense exact p50/p95 | dense HNSW p50/p95 | hybrid exact p50/p95 | hybrid HNSW p50/p95 "
        "| HNSW recall@10 | RSS loaded / after queries (MB) | disk MB | build s (insert + publish) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for s in r["per_size"]:
        lat = s["latency"]

        def pp(key: str, lat: dict = lat) -> str:
            return f"{f(lat[key]['p50_ms'], 1)} / {f(lat[key]['p95_ms'], 1)}"

        b = s["build"]
        out.append(
            f"| {s['size']:,} | {pp('bm25')} | {pp('dense/exact')} | {pp('dense/hnsw')} | {pp('hybrid/exact')} | "
            f"{pp('hybrid/hnsw')} | {f(s['hnsw_recall_at_10'], 3)} | {f(s['rss_mb']['collection_after_loading'], 0)} / "
            f"{f(s['rss_mb']['collection_after_all_queries'], 0)} | {f(s['disk']['total_mb'], 0)} | "
            f"{f(b['catalog_insert_seconds'], 1)} + {f(b['publish_seconds'], 1)} |"
        )
    out += ["", "Hybrid query breakdown (p50 ms, kenning's default dense index for the size):", ""]
    out += [
        "| chunks | index | embed | bm25 | dense | fusion | hydrate | total |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for s in r["per_size"]:
        b = s["hybrid_breakdown"]
        cells = " | ".join(f(b[k]["p50_ms"], 2) for k in ("embed", "bm25", "dense", "fusion", "hydrate", "total"))
        out.append(f"| {s['size']:,} | {b['ann']} | {cells} |")
    out += ["", "One query's embedding by torch threads (p50 / p95 ms):", ""]
    for s in r["per_size"]:
        parts = [
            f"{n} thread(s) {f(v['p50_ms'], 1)} / {f(v['p95_ms'], 1)}"
            for n, v in s["query_embed_by_torch_threads"].items()
        ]
        out.append(f"- {s['size']:,}: " + "; ".join(parts))
    return out + targets(data)


def ann_choice(data: dict) -> list[str]:
    r = data["results"]
    out = ["### ann_choice.py", "", header(data) + f" {r['n']:,} × {r['dim']}-d vectors, {r['queries']} queries.", ""]
    for kind, d in r["datasets"].items():
        out += [
            f"Dataset `{kind}` — hnswlib choice: {d['hnswlib_choice']}",
            "",
            "| library | build s | p50 ms | p95 ms | recall@10 (ef 128) | recall / p50 ms at ef 32 · 64 · 256 · 512 | index MB |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for row in d["rows"]:
            sweep = row.get("ef_sweep", {})
            sw = " · ".join(
                f"{sweep[e]['recall_at_10']:.3f}/{sweep[e]['latency']['p50_ms']:.3f}"
                for e in ("32", "64", "256", "512")
                if e in sweep
            )
            out.append(
                f"| {row['library']} | {f(row['build_seconds'], 1)} | {f(row['latency']['p50_ms'], 3)} | "
                f"{f(row['latency']['p95_ms'], 3)} | {f(row['recall_at_10'], 3)} | {sw or '—'} | {f(row['index_mb'], 1)} |"
            )
        out.append("")
    out += ["| library | delete | filter inside search |", "| --- | --- | --- |"]
    for lib, facts in r["support"].items():
        out.append(f"| {lib} | {facts['delete']} | {facts['filter']} |")
    return out + targets(data)


def frameworks(data: dict) -> list[str]:
    r = data["results"]
    out = ["### frameworks.py", "", header(data) + f" {r['queries']} queries.", ""]
    out += [
        "| system | index s | p50 ms | p95 ms | nDCG@10 | MRR@10 | recall@100 |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, s in r["systems"].items():
        out.append(
            f"| {name} | {f(s['index_seconds'], 1)} | {f(s['latency']['p50_ms'], 1)} | {f(s['latency']['p95_ms'], 1)} | "
            f"{f(s['ndcg@10'], 4)} | {f(s['mrr@10'], 4)} | {f(s['recall@100'], 4)} |"
        )
    return out + targets(data)


def main() -> None:
    sections = []
    for name, fn in (("scifact", scifact), ("scale", scale), ("ann_choice", ann_choice), ("frameworks", frameworks)):
        data = load(name)
        sections.append("\n".join(fn(data)) if data else f"### {name}.py\n\nNot run yet.")
    print("\n\n".join(sections))


if __name__ == "__main__":
    main()
