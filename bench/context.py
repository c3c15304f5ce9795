"""Issue 10's table: every context and query technique against one baseline, with paired tests, on four sets.

    python bench/context.py                       # index techniques on all four sets, then the LLM query techniques
    python bench/context.py --sets faq,postgres --techniques baseline,headers,late
    python bench/context.py --llm-sample 30       # LLM techniques (HyDE, multi-query, LLM rerank) on 30 queries a set
    python bench/context.py pg-llm --chunks 300   # LLM situating contexts on a PostgreSQL manual sample
    python bench/context.py --quick               # small sets: a smoke test, not the verdict

Sets: SciFact test (BEIR, 300 queries, document gold), the Chroma chunking set (472 questions, span gold), a seeded
100-page PostgreSQL manual sample with 200 cloze questions (span gold; bench/sweep.py builds it), and the Python FAQ
(answers as documents, questions as queries; document gold).

Techniques, each one index (or one query path) compared with the **baseline** (structure chunker, 500 tokens,
overlap 50, hybrid BM25 + MiniLM with RRF, no reranker — kenning's defaults):

* ``headers``: title and heading path prepended to what is embedded and BM25-indexed;
* ``late``: late chunking (whole-document token vectors pooled per chunk);
* ``headers+late``: both;
* ``semantic``: the semantic chunker (percentile 95) instead of the structure chunker;
* ``hyde``, ``multi``, ``llm-rerank`` (listwise over the top 20): query-time LLM techniques with the local
  generator, on a seeded sample of each set's queries (an LLM call per query on 2 CPU cores is seconds);
* ``llm-context`` (the ``pg-llm`` stage): LLM situating sentences on ≥300 chunks of the PostgreSQL manual.

Per query: recall@5 and recall@20 (gold spans overlapped, or gold documents found), nDCG@10 (binary; a gold span or
document counts once), and top-20 failure (no gold in the top 20). Each technique's per-query values are compared
with the baseline's on the same queries (paired bootstrap interval, paired sign-flip p). Index time is wall time of
``Engine.index`` with a shared embedding cache (so a technique that re-embeds what the baseline embedded is not
charged twice; the cache hits are reported); LLM cost is tokens (local models cost $0).

Results: ``bench/results/context.json``; finished cells are kept under ``--work`` and reused by a re-run.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import (
    BENCH,
    SCIFACT,
    Target,
    arg_parser,
    console,
    print_table,
    print_targets,
    scifact_queries,
    write_result,
)

SHARED = BENCH.parents[1] / "shared" / "data"
CHROMA = Path(os.environ.get("KENNING_CHROMA", SHARED / "chunking" / "chroma"))
SETS = ("scifact", "chroma", "postgres", "faq")
INDEX_TECHNIQUES = {
    "baseline": {},
    "headers": {"context": {"headers": True}},
    "late": {"context": {"late_chunking": True}},
    "headers+late": {"context": {"headers": True, "late_chunking": True}},
    "semantic": {"chunking": {"strategy": "semantic"}},
}
QUERY_TECHNIQUES = {
    "hyde": {"transform": "hyde"},
    "multi": {"transform": "multi"},
    "llm-rerank": {"rerank": "llm"},
}
METRICS = ("recall@5", "recall@20", "ndcg@10", "fail@20")
# pg-llm: 200-token chunks in 600-token document windows, so ~3 chunks share a window's cached prompt prefix and 300
# contexts take ~20 minutes of the 0.5B model on 2 cores rather than an hour
PG_LLM_CHUNKING = {"size": 200, "overlap": 20}
PG_LLM_CONTEXT = {"llm": True, "document_tokens": 600, "max_tokens": 60}


@dataclass(frozen=True)
class Query:
    qid: str
    question: str
    spans: tuple[tuple[str, int, int], ...]  # (source name, start, end)
    docs: tuple[str, ...]  # source names


@dataclass(frozen=True)
class DataSet:
    name: str
    paths: tuple[Path, ...]
    queries: tuple[Query, ...]
    info: dict[str, Any]


# ------------------------------------------------------------------------------------------------------- data


def _beir_set(name: str, folder: Path, split: str, limit: int | None) -> DataSet:
    texts, qrels = scifact_queries(split, folder)  # kenning's BEIR loader, for any BEIR folder
    qids = [q for q in qrels if q in texts and any(score > 0 for score in qrels[q].values())][: limit or None]
    queries = tuple(
        Query(q, texts[q], (), tuple(f"corpus.jsonl#{d}" for d, score in qrels[q].items() if score > 0)) for q in qids
    )
    return DataSet(name, (folder,), queries, {"queries": len(queries), "gold": "documents"})


def _span_set(name: str, data: Any, info: dict[str, Any]) -> DataSet:
    queries = tuple(
        Query(q.qid, q.question, tuple((g.doc_id or g.source, g.start, g.end) for g in q.spans), tuple(q.docs))
        for q in data.queries
    )
    return DataSet(name, tuple(data.paths), queries, {**info, "queries": len(queries), "gold": "spans"})


def load_set(name: str, work: Path, *, quick: bool, embedder: Any) -> DataSet:
    if name == "scifact":
        if quick:
            from tune import _scifact_quick

            return _beir_set(name, _scifact_quick(work / "scifact-quick"), "test", None)
        return _beir_set(name, SCIFACT, "test", None)
    if name == "faq":
        from tune import _faq

        return _beir_set(name, _faq(work / "python-faq"), "test", 60 if quick else None)
    if name == "chroma":
        from sweep import _chroma_data

        return _span_set(name, _chroma_data(work, quick), {"corpora": "chroma"})
    if name == "postgres":
        from sweep import _postgres_data

        data, info = _postgres_data(work, embedder, quick, 0)
        return _span_set(name, data, info)
    raise SystemExit(f"unknown set {name!r}; choose from {', '.join(SETS)}")


# ---------------------------------------------------------------------------------------------------- scoring


def _score(hits: list[Any], gold_spans: list[tuple[str, int, int]], gold_docs: set[str]) -> dict[str, float]:
    """recall@5/@20, nDCG@10 and fail@20 of ranked hits (doc_id, start, end) against resolved gold."""
    items: list[Any] = gold_spans if gold_spans else sorted(gold_docs)

    def matches(h: Any) -> set[int]:
        if gold_spans:
            return {i for i, (d, s, e) in enumerate(gold_spans) if h.doc_id == d and h.start < e and s < h.end}
        return {i for i, d in enumerate(items) if h.doc_id == d}

    found_at: dict[int, int] = {}  # gold item -> first rank (1-based) that found it
    gains = []
    for rank, h in enumerate(hits[:20], 1):
        new = {i for i in matches(h) if i not in found_at}
        for i in new:
            found_at[i] = rank
        gains.append(1.0 if new else 0.0)
    n = len(items)
    if not n:
        return dict.fromkeys(METRICS, 0.0)
    dcg = sum(g / math.log2(r + 1) for r, g in enumerate(gains[:10], 1))
    idcg = sum(1 / math.log2(r + 1) for r in range(1, min(n, 10) + 1))
    return {
        "recall@5": sum(r <= 5 for r in found_at.values()) / n,
        "recall@20": len(found_at) / n,
        "ndcg@10": dcg / idcg,
        "fail@20": 0.0 if found_at else 1.0,
    }


def _gold(engine: Any, data: DataSet) -> dict[str, tuple[list[tuple[str, int, int]], set[str]]]:
    from kenning.evaluate.chroma import resolve_sources

    names = [s[0] for q in data.queries for s in q.spans] + [d for q in data.queries for d in q.docs]
    where = resolve_sources(engine.collection().catalog.document_sources(), names)
    return {
        q.qid: ([(where[s], a, b) for s, a, b in q.spans if s in where], {where[d] for d in q.docs if d in where})
        for q in data.queries
    }


def run_queries(engine: Any, data: DataSet, qids: list[str] | None, **search: Any) -> dict[str, Any]:
    gold = _gold(engine, data)
    per_query: dict[str, dict[str, float]] = {}
    usage_tokens = calls = 0
    notes: dict[str, int] = {}
    t0 = time.perf_counter()
    for q in data.queries:
        if qids is not None and q.qid not in qids:
            continue
        hits, usage, why = engine.search_with_usage(q.question, k=20, **search)
        usage_tokens += usage.total_tokens
        calls += usage.calls
        for note in why:
            notes[note.split(":")[0][:80]] = notes.get(note.split(":")[0][:80], 0) + 1
        per_query[q.qid] = _score(hits, *gold[q.qid])
    n = max(1, len(per_query))
    return {
        "per_query": per_query,
        "query_seconds": round((time.perf_counter() - t0) / n, 4),
        "llm_tokens_per_query": round(usage_tokens / n, 1),
        "llm_calls": calls,
        "notes": notes,
    }


# ------------------------------------------------------------------------------------------------------ cells


def _engine(home: Path, settings: dict[str, Any], embedder: Any, llm: str | None = None) -> Any:
    from kenning import Engine
    from kenning.config import KenningConfig, build
    from kenning.providers.llm import parse_llm_spec

    data: dict[str, Any] = {"retrieval": {"mode": "hybrid", "rerank": "none", "rerank_depth": 20}}
    for stage, values in settings.items():
        data.setdefault(stage, {}).update(values)
    if llm:
        data["llm"] = parse_llm_spec(llm)
    return Engine(home, collection="bench", config=build(KenningConfig, data), embedder=embedder)


def index_cell(
    data: DataSet, technique: str, work: Path, embedder: Any, *, settings: dict[str, Any] | None = None
) -> tuple[Any, dict[str, Any]]:
    home = work / data.name / technique
    shutil.rmtree(home, ignore_errors=True)
    engine = _engine(home, INDEX_TECHNIQUES[technique] if settings is None else settings, embedder)
    before = embedder.stats
    t0 = time.perf_counter()
    report = engine.index([str(p) for p in data.paths])
    seconds = time.perf_counter() - t0
    after = embedder.stats
    return engine, {
        "index_seconds": round(seconds, 1),
        "chunks": report.total_chunks,
        "documents": report.total_documents,
        "texts_embedded": after.misses - before.misses,
        "embedding_cache_hits": after.hits - before.hits,
        "skipped": len(report.skipped),
    }


def compare(base: dict[str, dict[str, float]], cand: dict[str, dict[str, float]]) -> dict[str, Any]:
    from kenning.evaluate.stats import paired_test

    shared = sorted(set(base) & set(cand))
    out: dict[str, Any] = {"n": len(shared)}
    for m in METRICS:
        a = {q: base[q][m] for q in shared}
        b = {q: cand[q][m] for q in shared}
        r = paired_test(a, b, resamples=5000, seed=0)
        out[m] = {
            "baseline": round(r.mean_baseline, 4),
            "value": round(r.mean_candidate, 4),
            "diff": round(r.diff, 4),
            "ci": [round(r.low, 4), round(r.high, 4)],
            "p": round(r.p_value, 4),
        }
    base_fail = out["fail@20"]["baseline"]
    out["fail@20_change"] = None if not base_fail else round(out["fail@20"]["value"] / base_fail - 1, 4)
    return out


def _cell_path(work: Path, data: DataSet, technique: str, n: int | None = None) -> Path:
    return work / "cells" / f"{data.name}-{technique}{'' if n is None else f'-n{n}'}.json"


def bench_set(
    data: DataSet,
    techniques: list[str],
    work: Path,
    embedder: Any,
    *,
    llm: str,
    llm_sample: int,
    rerank_sample: int,
) -> dict[str, Any]:
    out: dict[str, Any] = {"info": data.info, "techniques": {}}
    cells: dict[str, dict[str, Any]] = {}
    order = ["baseline", *[t for t in techniques if t != "baseline"]]
    base_engine = None
    for technique in order:
        if technique in QUERY_TECHNIQUES:
            continue
        path = _cell_path(work, data, technique)
        if path.is_file():
            cells[technique] = json.loads(path.read_text())
            continue
        console.print(f"[bold]{data.name}[/] · indexing with {technique} (load {os.getloadavg()[0]:.1f})")
        engine, cell = index_cell(data, technique, work, embedder)
        cell.update(run_queries(engine, data, None))
        if technique == "baseline":
            base_engine = engine
        else:
            engine.close()
            shutil.rmtree(work / data.name / technique, ignore_errors=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(cell))
        cells[technique] = cell
    llm_techniques = [t for t in techniques if t in QUERY_TECHNIQUES]
    if llm_techniques:
        sample = sorted(random.Random(0).sample([q.qid for q in data.queries], min(llm_sample, len(data.queries))))
        for technique in llm_techniques:
            path = _cell_path(work, data, technique, rerank_sample if technique == "llm-rerank" else llm_sample)
            if path.is_file():
                cells[technique] = json.loads(path.read_text())
                continue
            base_home = work / data.name / "baseline"
            if base_engine is None and not (base_home / "collections" / "bench" / "manifest.json").is_file():
                base_engine, _ = index_cell(data, "baseline", work, embedder)  # an earlier run's index is gone
            n = min(rerank_sample, len(sample)) if technique == "llm-rerank" else len(sample)
            console.print(f"[bold]{data.name}[/] · {technique} with {llm} on {n} queries")
            engine = _engine(work / data.name / "baseline", {}, embedder, llm=llm)
            cell = run_queries(engine, data, sample[:n], **QUERY_TECHNIQUES[technique])
            engine.close()
            cell["sample"] = n
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(cell))
            cells[technique] = cell
    if base_engine is not None:
        base_engine.close()
    # cells an earlier run finished (other techniques) belong in the table too
    for technique in [*INDEX_TECHNIQUES, *QUERY_TECHNIQUES]:
        n = None if technique in INDEX_TECHNIQUES else rerank_sample if technique == "llm-rerank" else llm_sample
        path = _cell_path(work, data, technique, n)
        if technique not in cells and path.is_file():
            cells[technique] = json.loads(path.read_text())
    base = cells["baseline"]
    order = [t for t in [*INDEX_TECHNIQUES, *QUERY_TECHNIQUES] if t in cells]
    for technique in order:
        if technique not in cells:
            continue
        cell = cells[technique]
        row = {k: v for k, v in cell.items() if k != "per_query"}
        row["means"] = {
            m: round(sum(v[m] for v in cell["per_query"].values()) / max(1, len(cell["per_query"])), 4) for m in METRICS
        }
        if technique != "baseline":
            row["vs_baseline"] = compare(base["per_query"], cell["per_query"])
        out["techniques"][technique] = row
    return out


# ------------------------------------------------------------------------------------------- LLM contexts (pg)


def bench_pg_llm(work: Path, embedder: Any, *, chunks: int, llm: str, quick: bool) -> dict[str, Any]:
    """LLM situating contexts with the local generator on a sample of the PostgreSQL manual's chunks."""

    data = load_set("postgres", work, quick=quick, embedder=embedder)
    # the sample: whole pages (so each page's window is read once per window, as prompt caching wants) until
    # at least `chunks` chunks, and the questions whose gold lies in those pages
    # its own baseline index (work/pg-llm-full/), so a table run using postgres/baseline is not disturbed; chunks of
    # PG_LLM_CHUNKING, small enough that several share one document window (and llama.cpp's prompt cache)
    full = DataSet("pg-llm-full", data.paths, data.queries, data.info)
    base_engine, base_cell = index_cell(full, "baseline", work, embedder, settings={"chunking": PG_LLM_CHUNKING})
    catalog = base_engine.collection().catalog
    per_doc: dict[str, int] = {}
    for row in catalog.iter_chunks():
        per_doc[row.doc_id] = per_doc.get(row.doc_id, 0) + 1
    sources = catalog.document_sources()
    asked = {Path(sp[0]).name for q in data.queries for sp in q.spans}
    order = sorted(per_doc, key=lambda d: sources[d][0])
    random.Random(1).shuffle(order)
    order.sort(key=lambda d: Path(sources[d][0]).name not in asked)  # pages that have questions first
    picked, total = [], 0
    for d in order:
        if total >= chunks:
            break
        picked.append(d)
        total += per_doc[d]
    sample_dir = work / "pg-llm-sample"
    shutil.rmtree(sample_dir, ignore_errors=True)
    sample_dir.mkdir(parents=True)
    names = set()
    for d in picked:
        src = Path(sources[d][0])
        shutil.copy(src, sample_dir / src.name)
        names.add(src.name)
    inside = set(picked) | names  # gold is named by doc id (synthesized questions) or by file name
    queries = tuple(
        q for q in data.queries if q.spans and all(s[0] in inside or Path(s[0]).name in names for s in q.spans)
    )
    sample = DataSet("postgres-sample", (sample_dir,), queries, {"pages": len(picked), "chunks": total})
    base_engine.close()
    # the estimate for the whole 100-page sample and for this subset, before anything is spent
    cfg = {"chunking": PG_LLM_CHUNKING, "context": {**PG_LLM_CONTEXT, "llm_model": llm}}
    estimator = _engine(work / "pg-estimate", cfg, embedder)
    full_estimate = estimator.estimate_context([str(p) for p in data.paths])
    estimator.close()
    shutil.rmtree(work / "pg-estimate", ignore_errors=True)
    results: dict[str, Any] = {
        "llm": llm,
        "sample": sample.info | {"questions": len(queries)},
        "estimate_100_pages": _slots(full_estimate),
    }
    cells = {}
    rows = (
        ("baseline", {"chunking": PG_LLM_CHUNKING}),
        ("llm-context", cfg),
        ("headers+llm-context", _with_headers(cfg)),
    )
    for technique, settings in rows:
        saved = work / "cells" / f"pg-llm-{technique}-{chunks}.json"
        if saved.is_file():
            cells[technique] = json.loads(saved.read_text())
            continue
        # both LLM techniques share one collection, so the second re-indexes with headers and reuses every context
        home = work / "pg-llm" / ("baseline" if technique == "baseline" else "llm")
        if technique in ("baseline", "llm-context"):
            shutil.rmtree(home, ignore_errors=True)
        engine = _engine(home, settings, embedder)
        if technique != "baseline":
            guess = engine.estimate_context([str(sample_dir)])
            results.setdefault("estimates", {})[technique] = _slots(guess)
            console.print(f"[bold]pg-llm[/] · {technique}: would write {guess.line()}")
        t0 = time.perf_counter()
        report = engine.index([str(sample_dir)])
        cell = {"index_seconds": round(time.perf_counter() - t0, 1), "chunks": report.total_chunks}
        if report.context is not None:
            c = report.context
            cell["context"] = {
                "written": c.written,
                "reused": c.reused,
                "empty": c.empty,
                "cut": c.cut,
                "prompt_tokens": c.usage.prompt_tokens,
                "completion_tokens": c.usage.completion_tokens,
                "cached_tokens": c.usage.cached_tokens,
                "seconds": c.seconds,
                "cost_usd": c.usage.cost_usd,
            }
            if c.written:
                cell["per_1000_chunks"] = {
                    "seconds": round(c.seconds / c.written * 1000, 1),
                    "prompt_tokens": round(c.usage.prompt_tokens / c.written * 1000),
                    "completion_tokens": round(c.usage.completion_tokens / c.written * 1000),
                    "cost_usd": 0.0,
                }
            cell["example_contexts"] = _examples(engine)
        cell.update(run_queries(engine, sample, None))
        engine.close()
        saved.parent.mkdir(parents=True, exist_ok=True)
        saved.write_text(json.dumps(cell))
        cells[technique] = cell
    results["techniques"] = {}
    for technique, cell in cells.items():
        row = {k: v for k, v in cell.items() if k != "per_query"}
        if technique != "baseline" and cell["per_query"]:
            row["vs_baseline"] = compare(cells["baseline"]["per_query"], cell["per_query"])
        results["techniques"][technique] = row
    return results


def bench_pg_estimate(work: Path, embedder: Any, *, llm: str, measured: dict[str, Any] | None) -> dict[str, Any]:
    """What LLM contexts for the whole PostgreSQL manual would cost, before a token is spent: with the local model
    (time from the pg-llm run's seconds per context) and, for comparison, with Claude 3.5 Haiku's list prices."""
    from types import SimpleNamespace

    from sweep import POSTGRES

    from kenning.config import ChunkingConfig, ContextConfig, IngestConfig
    from kenning.index.context import Situator, estimate
    from kenning.index.writer import changed_documents

    home = work / "pg-estimate-full"
    shutil.rmtree(home, ignore_errors=True)
    cfg = {"chunking": PG_LLM_CHUNKING, "context": {**PG_LLM_CONTEXT, "llm_model": llm}}
    engine = _engine(home, cfg, embedder)
    t0 = time.perf_counter()
    local = engine.estimate_context([str(POSTGRES)])
    seconds = time.perf_counter() - t0
    out: dict[str, Any] = {"corpus": POSTGRES.name, "estimate_seconds": round(seconds, 1), "local": _slots(local)}
    per_context = None
    if measured:
        ctx = (measured.get("techniques", {}).get("llm-context") or {}).get("context") or {}
        if ctx.get("written"):
            per_context = ctx["seconds"] / ctx["written"]
    out["local"]["seconds"] = None if per_context is None else round(local.calls * per_context)
    docs = list(
        changed_documents(
            None,  # a fresh home: nothing indexed, nothing cached
            [str(POSTGRES)],
            ingest=IngestConfig(),
            chunking=ChunkingConfig(**PG_LLM_CHUNKING),
            context=ContextConfig(**cfg["context"]),
        )
    )
    remote = SimpleNamespace(name="anthropic:claude-3-5-haiku")  # only its name is read: nothing is called
    situator = Situator(remote, ContextConfig(**{**cfg["context"], "document_tokens": 8000}))  # type: ignore[arg-type]
    out["claude-3-5-haiku, 8k-token windows"] = _slots(estimate(None, docs, situator))
    engine.close()
    shutil.rmtree(home, ignore_errors=True)
    return out


def _with_headers(cfg: dict[str, Any]) -> dict[str, Any]:
    return {**cfg, "context": {**cfg["context"], "headers": True}}


def _slots(value: Any) -> dict[str, Any]:
    return {name: getattr(value, name) for name in getattr(value, "__slots__", ())}


def _examples(engine: Any, n: int = 3) -> list[str]:
    rows = [t for _, t in engine.collection().catalog.chunk_texts()]
    return [t.split("\n\n", 1)[0][:300] for t in rows[:n]]


# ------------------------------------------------------------------------------------------------------- main


def _table(name: str, result: dict[str, Any]) -> None:
    rows = []
    for technique, row in result["techniques"].items():
        vs = row.get("vs_baseline")
        cells = [technique, str(row.get("sample") or result["info"].get("queries", ""))]
        for m in METRICS:
            value = row["means"][m] if "means" in row else vs[m]["value"] if vs else None
            if vs:
                d = vs[m]
                cells.append(f"{d['value']:.3f} ({d['diff']:+.3f}, p={d['p']:.3f})")
            else:
                cells.append(f"{value:.3f}")
        cells.append(f"{row.get('index_seconds', '')}")
        cells.append(f"{row.get('query_seconds', '')}")
        cells.append(f"{row.get('llm_tokens_per_query', 0)}")
        rows.append(cells)
    print_table(
        f"{name}: each technique against the baseline (value (Δ, paired p))",
        ["technique", "queries", *METRICS, "index s", "s/query", "LLM tok/query"],
        rows,
    )


def markdown(results: dict[str, Any]) -> str:
    """The table for README / bench/README: value (Δ vs baseline, paired p) per metric, index time, LLM cost."""
    lines = [
        "| set | technique | queries | recall@5 | recall@20 | nDCG@10 | top-20 failures | index s | LLM tokens/query |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, res in results.get("sets", {}).items():
        for technique, row in res["techniques"].items():
            vs = row.get("vs_baseline")
            cells = []
            for m in METRICS:
                if vs:
                    d = vs[m]
                    bold = "**" if d["p"] < 0.05 else ""
                    cells.append(f"{bold}{d['value']:.3f} ({d['diff']:+.3f}, p={d['p']:.2f}){bold}")
                else:
                    cells.append(f"{row['means'][m]:.3f}")
            n = row.get("sample") or res["info"].get("queries", "")
            index = row.get("index_seconds", "—")
            lines.append(
                f"| {name} | {technique} | {n} | "
                + " | ".join(cells)
                + f" | {index} | {row.get('llm_tokens_per_query', 0):g} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = arg_parser(__doc__.splitlines()[0])
    parser.add_argument("stage", nargs="?", default="table", choices=("table", "pg-llm", "pg-estimate", "markdown"))
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--techniques", default=",".join([*INDEX_TECHNIQUES, *QUERY_TECHNIQUES]))
    parser.add_argument("--llm", default="local:qwen2.5-0.5b", help="the LLM of the query techniques / contexts")
    parser.add_argument("--llm-sample", type=int, default=30, help="queries per set for HyDE and multi-query")
    parser.add_argument("--rerank-sample", type=int, default=15, help="queries per set for LLM reranking (~25 s each)")
    parser.add_argument("--chunks", type=int, default=300, help="pg-llm: chunks to contextualize")
    parser.add_argument("--work", type=Path, default=Path("/tmp/kenning-bench-context"))
    args = parser.parse_args()
    from kenning.providers import get_embedder
    from kenning.providers.cache import CachingEmbedder

    if args.stage == "markdown":  # print the saved results as a Markdown table, run nothing
        saved = BENCH / "results" / ("context.quick.json" if args.quick else "context.json")
        print(markdown(json.loads(saved.read_text())["results"]))
        return
    work = args.work / ("quick" if args.quick else "full")
    work.mkdir(parents=True, exist_ok=True)
    embedder = CachingEmbedder(get_embedder("minilm"), work / "embeddings.sqlite")
    result_path = BENCH / "results" / ("context.quick.json" if args.quick else "context.json")
    previous = json.loads(result_path.read_text())["results"] if result_path.is_file() else {}
    results: dict[str, Any] = {
        "sets": previous.get("sets", {}),
        "pg_llm": previous.get("pg_llm"),
        "pg_estimate": previous.get("pg_estimate"),
    }
    targets: list[Target] = []
    if args.stage == "pg-estimate":
        results["pg_estimate"] = bench_pg_estimate(work, embedder, llm=args.llm, measured=results.get("pg_llm"))
        console.print_json(json.dumps(results["pg_estimate"], default=str))
    elif args.stage == "pg-llm":
        results["pg_llm"] = bench_pg_llm(work, embedder, chunks=args.chunks, llm=args.llm, quick=args.quick)
        console.print_json(json.dumps(results["pg_llm"]["techniques"], default=str))
    else:
        techniques = [t.strip() for t in args.techniques.split(",") if t.strip()]
        unknown = [t for t in techniques if t not in INDEX_TECHNIQUES and t not in QUERY_TECHNIQUES]
        if unknown:
            raise SystemExit(f"unknown technique(s) {unknown}; choose from {[*INDEX_TECHNIQUES, *QUERY_TECHNIQUES]}")
        for name in [s.strip() for s in args.sets.split(",") if s.strip()]:
            data = load_set(name, work, quick=args.quick, embedder=embedder.inner)
            results["sets"][name] = bench_set(
                data,
                techniques,
                work,
                embedder,
                llm=args.llm,
                llm_sample=args.llm_sample,
                rerank_sample=args.rerank_sample,
            )
            _table(name, results["sets"][name])
            write_result("context", quick=args.quick, results=results, targets=targets)
    # the bar: headers + late chunking lowers the top-20 failure rate by >= 20 % on at least two sets
    changes = {
        name: (s["techniques"].get("headers+late", {}).get("vs_baseline") or {}).get("fail@20_change")
        for name, s in results["sets"].items()
    }
    met = sum(1 for v in changes.values() if v is not None and v <= -0.20)
    targets.append(
        Target(
            "sets where headers+late cut top-20 failures by >= 20 %",
            float(met),
            ">=",
            2,
            note=", ".join(f"{k}: {v:+.0%}" if v is not None else f"{k}: n/a" for k, v in changes.items()),
        )
    )
    for name, s in results["sets"].items():
        _table(name, s)
    print_targets(targets, quick=args.quick)
    write_result("context", quick=args.quick, results=results, targets=targets)


if __name__ == "__main__":
    main()
