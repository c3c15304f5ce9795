"""Sweeps: chunker × size × overlap × context (× mode, RRF k, query transform, reranker, depth), each cell indexed
and scored, every configuration tested against a baseline. The grid is :class:`~.sweep_grid.SweepGrid`.

Every chunking cell is indexed into its own temporary collection under ``OUT/work/``, all cells embedding through one
:class:`~kenning.providers.cache.CachingEmbedder` (``OUT/embeddings.sqlite`` unless another cache is given), so a
chunk text that two cells share is embedded once: a sweep costs about its *distinct* chunks. Retrieval settings
(mode, RRF k, transform, reranker) reuse their cell's index. Cells with ``overlap >= size`` are skipped with a note.
LLM contexts, query transforms and LLM rerankers use the ``llm`` given to :func:`run_sweep`; what it spent (tokens,
calls, cost) per cell and configuration goes to ``timings.json``.

**Resumable.** Each configuration's scores are written to ``OUT/cells/<id>.json`` as soon as they exist, with a
fingerprint of everything they depend on (input bytes, embedder, chunking, retrieval settings, k, scorer version).
A re-run reuses every cell whose fingerprint matches and does no indexing or embedding for it.

**Deterministic.** ``OUT/results.json`` holds no timestamps or durations, keys are sorted and floats rounded to 6
places, so the same inputs, grid and seed give the same bytes (with a model in the loop: the same model replies).
``vs_baseline`` holds every configuration against the baseline (paired bootstrap interval, paired randomization
p-value). Wall times, cache hits, embedding counts and LLM usage go to ``OUT/timings.json`` (with the CPU seconds, a
measure that other work on the machine does not inflate).

>>> grid = SweepGrid(chunkers=("recursive", "structure"), sizes=(128, 256), overlaps=(0, 32))   # doctest: +SKIP
>>> result = run_sweep(load_chroma("chroma/"), grid, "out/", embedder=get_embedder("minilm"))  # doctest: +SKIP
>>> result.results["best"]["recall"]                                                           # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..config import ChunkingConfig, ContextConfig, IngestConfig, KenningConfig
from ..errors import ConfigError
from ..index import Collection, index_paths
from ..index.context import PROMPT_VERSION as CONTEXT_PROMPT
from ..index.context import Situator
from ..providers.cache import CachingEmbedder
from ..providers.embedders import Embedder
from ..providers.llm.base import LLM
from ..rerank import LLMReranker, Reranker
from ..rerank.llm import PROMPT_VERSION as RERANK_PROMPT
from ..retrieve.transforms import PROMPT_VERSION as TRANSFORM_PROMPT
from ..types import Usage
from .chroma import SpanEvalSet, SpanRun, evaluate_spans, omega_scores
from .spans import SPAN_METRICS
from .stats import bootstrap_ci
from .sweep_grid import CHUNKERS, Config, SweepGrid, context_config, vs_baseline

__all__ = [
    "SweepGrid",
    "Config",
    "SweepResult",
    "run_sweep",
    "write_json",
    "RESULTS_FORMAT",
    "SCORER_VERSION",
    "CHUNKERS",
]

RESULTS_FORMAT = "kenning-sweep/1"
SCORER_VERSION = 1  # bump when a metric's definition changes: every cached cell is then recomputed
METRICS = (*SPAN_METRICS, "precision_omega")
RERANK_STYLES = ("llm-listwise", "llm-pointwise")
SweepProgress = Callable[[str, int, int | None], None]
"""``progress(stage, done, total)``: stage ``"cells"`` (configurations done), ``"embedding"`` (chunks embedded in
the current cell), ``"scoring"`` (questions scored in the current configuration)."""


@dataclass
class SweepResult:
    """What :func:`run_sweep` wrote: the results (also in ``results.json``) and the timings (``timings.json``)."""

    results: dict[str, Any]
    timings: dict[str, Any]
    paths: dict[str, Path] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------------- helpers


def _round(value: Any, places: int = 6) -> Any:
    if isinstance(value, float):
        out = round(value, places)
        return 0.0 if out == 0 else out  # no "-0.0"
    if isinstance(value, dict):
        return {k: _round(v, places) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_round(v, places) for v in value]
    return value


# json.dumps(indent=…) puts a newline right after "[" of every non-empty list; a string never holds a raw newline
_NUMBER_LIST = re.compile(r"\[\n\s*(-?[0-9][0-9.eE+-]*(?:,\n\s*-?[0-9][0-9.eE+-]*)*)\n\s*\]")


def write_json(path: Path, data: Any) -> Path:
    """Write ``data`` as stable JSON (sorted keys, 2-space indent, lists of numbers on one line), atomically."""
    text = json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False)
    text = _NUMBER_LIST.sub(lambda m: "[" + ", ".join(x.strip() for x in m.group(1).split(",")) + "]", text)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def _fingerprint(parts: dict[str, Any]) -> str:
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False).encode()
    return hashlib.blake2b(blob, digest_size=16).hexdigest()


def _summary(qids: Sequence[str], values: Sequence[float], seed: int) -> tuple[float, float, tuple[float, float]]:
    """Mean, standard deviation and 95% percentile-bootstrap interval (2,000 resamples) of per-query values."""
    x = np.asarray(values, dtype=np.float64)
    if not x.size:
        return 0.0, 0.0, (0.0, 0.0)
    ci = bootstrap_ci(dict(zip(qids, values, strict=True)), resamples=2000, seed=seed)
    return float(x.mean()), float(x.std()), (ci.low, ci.high)


# ---------------------------------------------------------------------------------------------------- the sweep


def run_sweep(
    data: SpanEvalSet,
    grid: SweepGrid,
    out: str | Path,
    *,
    embedder: Embedder,
    cache: CachingEmbedder | None = None,
    reranker: Reranker | None = None,
    reranker_name: str = "",
    llm: LLM | None = None,
    seed: int = 0,
    keep_work: bool = False,
    progress: SweepProgress | None = None,
) -> SweepResult:
    """Run (or resume) every configuration of ``grid`` on ``data`` and write ``results.json`` and ``timings.json``
    into ``out``. ``embedder`` is wrapped in ``cache`` (default: a cache at ``out/embeddings.sqlite``); ``reranker``
    is the cross-encoder, ``llm`` writes LLM contexts, query rewrites and LLM rerankings."""
    t0, cpu0 = time.perf_counter(), time.process_time()
    configs, skipped = grid.plan()
    uses = grid.uses
    if "cross-encoder" in uses and reranker is None:
        raise ConfigError("sweep: rerank depths were given but no reranker; pass a cross-encoder folder")
    if "llm" in uses and llm is None:
        asked = sorted({c.context for c in configs if "llm" in c.context.split("+")} | set(grid.transforms) - {"none"})
        asked += [r for r in grid.rerankers if r.startswith("llm")]
        raise ConfigError(f"sweep: {', '.join(asked)} need a language model; pass llm= (kenning eval sweep --llm)")
    inner = cache.inner if cache is not None else embedder
    if "late" in uses and getattr(inner, "embed_late", None) is None:
        raise ConfigError(f"sweep: late chunking needs an embedder that can do it; {inner.name} cannot")
    if grid.per_group and data.kind != "chroma":
        raise ConfigError("sweep: per-corpus ranking needs a Chroma-style eval folder")
    out = Path(out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    own_cache = cache is None
    cache = cache or CachingEmbedder(embedder, out / "embeddings.sqlite")
    tick = progress or (lambda stage, done, total: None)
    base = {
        "scorer": SCORER_VERSION,
        "data": data.fingerprint,
        "embedder": cache.name,
        "k": grid.k,
        "per_group": grid.per_group,
    }
    llm_rerankers = {r: LLMReranker(llm, style=r.split("-", 1)[1]) for r in RERANK_STYLES if llm is not None}
    cells: dict[str, list[Config]] = {}
    for c in configs:
        cells.setdefault(c.cell, []).append(c)

    done: dict[str, dict[str, Any]] = {}
    timings: dict[str, Any] = {"cells": {}}
    spent: dict[str, Any] = {}
    total = Usage()
    n_done = n_reused = 0
    tick("cells", 0, len(configs))
    for cell, members in cells.items():
        chunking = ChunkingConfig(
            strategy=members[0].chunker,  # type: ignore[arg-type]
            size=members[0].size,
            overlap=members[0].overlap,
            tokenizer=grid.tokenizer,  # type: ignore[arg-type]
        )
        context = context_config(members[0].context)
        prints = {c.id: _fingerprint(_depends(base, chunking, c, reranker_name, llm)) for c in members}
        todo = []
        for c in members:
            cached = _read_cell(out / "cells" / f"{_file(c.id)}.json", prints[c.id])
            if cached is None:
                todo.append(c)
            else:
                done[c.id] = cached
                n_done += 1
                n_reused += 1
                tick("cells", n_done, len(configs))
        if not todo:
            timings["cells"][cell] = {"reused": True}
            continue
        t_cell = time.perf_counter()
        before = cache.stats
        scored: dict[str, float] = {}
        situator = Situator(llm, context, tokenizer=grid.tokenizer) if context.llm and llm is not None else None
        collection = _cell_collection(out, cell, chunking, context, cache)
        try:
            with collection.locked():
                report = index_paths(
                    collection,
                    [str(p) for p in data.paths],
                    ingest=IngestConfig(),
                    chunking=chunking,
                    embedder=cache,
                    progress=lambda stage, n, total: tick(stage, n, total),
                    context=context,
                    situator=situator,
                )
            indexing = report.context.usage if report.context is not None else Usage()
            total = total + indexing
            spans = collection.catalog.chunk_spans()
            n_chunks, mean_tokens = len(spans), sum(c.n_tokens for c in spans) / max(1, len(spans))
            omega = omega_scores(collection, data)
            t_indexed = time.perf_counter()
            for c in todo:
                t_score = time.perf_counter()
                run = evaluate_spans(
                    collection,
                    data,
                    embedder=cache if c.mode != "bm25" else None,
                    mode=c.mode,
                    k=grid.k,
                    rrf_k=c.rrf_k if c.rrf_k is not None else 60.0,
                    reranker=reranker if c.reranker == "cross-encoder" else llm_rerankers.get(c.reranker),
                    rerank_depth=c.rerank_depth,
                    per_group=grid.per_group,
                    transform=c.transform,
                    llm=llm,
                    progress=lambda n, total: tick("scoring", n, total),
                )
                record = _cell_record(c, prints[c.id], run, omega, int(n_chunks), float(mean_tokens))
                write_json(out / "cells" / f"{_file(c.id)}.json", record)
                done[c.id] = record
                scored[c.id] = round(time.perf_counter() - t_score, 3)
                if c.needs_llm:
                    spent[c.id] = {"index": _usage(indexing), "queries": _usage(run.usage)}
                    total = total + run.usage
                n_done += 1
                tick("cells", n_done, len(configs))
        finally:
            collection.close()
            if not keep_work:
                shutil.rmtree(out / "work" / "collections" / f"sweep-{_file(cell)}", ignore_errors=True)
        after = cache.stats
        timings["cells"][cell] = {
            "reused": False,
            "scoring_seconds": scored,
            "index_seconds": round(t_indexed - t_cell, 3),
            "seconds": round(time.perf_counter() - t_cell, 3),
            "chunks": int(n_chunks),
            "texts_embedded": after.misses - before.misses,
            "cache_hits": after.hits - before.hits,
            "embedding_seconds": round(after.inner_seconds - before.inner_seconds, 3),
            "documents": report.total_documents,
        }
        if report.context is not None:
            timings["cells"][cell]["llm_contexts"] = {
                "written": report.context.written,
                "reused": report.context.reused,
            }
    llm_name = llm.name if llm is not None and "llm" in uses else ""
    results = _assemble(data, grid, configs, skipped, done, cache.name, seed, reranker_name, llm_name)
    stats = cache.stats
    timings.update(
        {
            "wall_seconds": round(time.perf_counter() - t0, 3),
            "cpu_seconds": round(time.process_time() - cpu0, 3),  # all threads of this process
            "configs": len(configs),
            "configs_reused": n_reused,
            "cache": {
                "hits": stats.hits,
                "misses": stats.misses,
                "inner_calls": stats.inner_calls,
                "embedding_seconds": round(stats.inner_seconds, 3),
            },
            "cache_path": str(cache.path),
        }
    )
    if llm is not None and "llm" in uses:
        timings["llm"] = {"model": llm.name, "total": _usage(total), "configs": spent}
    if own_cache:
        cache.close()
    paths = {"results": write_json(out / "results.json", results), "timings": write_json(out / "timings.json", timings)}
    return SweepResult(results, timings, paths)


def _depends(
    base: dict[str, Any], chunking: ChunkingConfig, c: Config, reranker_name: str, llm: LLM | None
) -> dict[str, Any]:
    """Everything a configuration's scores depend on (what was there before an option existed keeps its form)."""
    out = {
        **base,
        "reranker": reranker_name if c.reranker == "cross-encoder" else "",
        "chunking": chunking.model_dump(),
        **c.settings(),
    }
    if c.needs_llm:
        out["llm"] = llm.name if llm is not None else ""
        out["prompts"] = [CONTEXT_PROMPT, TRANSFORM_PROMPT, RERANK_PROMPT]
    return out


def _file(name: str) -> str:
    """A cell or configuration id as a file or collection name (``ctx:`` has a colon; collections allow no ``+``)."""
    return re.sub(r"[^A-Za-z0-9_.+-]", "_", name)


def _usage(u: Usage) -> dict[str, Any]:
    cost = None if u.cost_usd is None else round(u.cost_usd, 6)
    return {
        "calls": u.calls,
        "prompt_tokens": u.prompt_tokens,
        "completion_tokens": u.completion_tokens,
        "cached_tokens": u.cached_tokens,
        "cost_usd": cost,
    }


def _cell_collection(
    out: Path, cell: str, chunking: ChunkingConfig, context: ContextConfig, cache: CachingEmbedder
) -> Collection:
    """The cell's collection under ``out/work`` (kept by a killed run, it is brought up to date, not rebuilt)."""
    config = KenningConfig(chunking=chunking, context=context)
    return Collection.create_or_open(out / "work", f"sweep-{_file(cell)}", config, model=cache.name, dim=cache.dim)


def _read_cell(path: Path, fingerprint: str) -> dict[str, Any] | None:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if record.get("fingerprint") == fingerprint else None


def _cell_record(
    c: Config, fingerprint: str, run: SpanRun, omega: Sequence[float], n_chunks: int, mean_tokens: float
) -> dict[str, Any]:
    per_query = {m: list(v) for m, v in run.scores.items()}
    per_query["precision_omega"] = list(omega)
    return _round(
        {
            "id": c.id,
            "fingerprint": fingerprint,
            **c.settings(),
            "chunks": n_chunks,
            "chunk_tokens_mean": mean_tokens,
            "qids": list(run.qids),
            "groups": list(run.groups),
            "per_query": per_query,
            "unresolved": run.unresolved,
            **({"notes": list(run.notes)} if run.notes else {}),
        }
    )


def _assemble(
    data: SpanEvalSet,
    grid: SweepGrid,
    configs: list[Config],
    skipped: list[dict[str, Any]],
    done: dict[str, dict[str, Any]],
    model: str,
    seed: int,
    reranker_name: str,
    llm_name: str = "",
) -> dict[str, Any]:
    qids = [q.qid for q in data.queries]
    groups = [q.group for q in data.queries]
    rows = []
    for c in configs:
        rec = done[c.id]
        if rec["qids"] != qids:
            raise ConfigError(f"sweep: cell {c.id} was scored on other questions; delete its cell file and re-run")
        metrics, std, ci, by_group = {}, {}, {}, {}
        for m in METRICS:
            values = rec["per_query"][m]
            metrics[m], std[m], ci[m] = _summary(qids, values, seed)
        for g in sorted(set(groups) - {""}):
            idx = [i for i, x in enumerate(groups) if x == g]
            by_group[g] = {m: float(np.mean([rec["per_query"][m][i] for i in idx])) for m in METRICS}
        rows.append(
            {
                "id": c.id,
                **c.settings(),
                "chunks": rec["chunks"],
                "chunk_tokens_mean": rec["chunk_tokens_mean"],
                "metrics": metrics,
                "std": std,
                "ci95": ci,
                "by_group": by_group,
                "per_query": rec["per_query"],
                "unresolved": rec["unresolved"],
                **({"notes": rec["notes"]} if rec.get("notes") else {}),
            }
        )
    order = {c.id: i for i, c in enumerate(configs)}
    best = {m: max(rows, key=lambda r, m=m: (r["metrics"][m], -order[r["id"]]))["id"] for m in METRICS}
    with_spans = sum(1 for q in data.queries if q.spans)
    gold_kind = "spans" if with_spans == len(qids) else "documents" if not with_spans else "mixed"
    primary = "recall" if data.kind == "chroma" else "span_recall"
    extra = {"llm": llm_name} if llm_name else {}
    return _round(
        {
            **extra,
            "format": RESULTS_FORMAT,
            "kind": "sweep",
            "data": {
                "name": data.name,
                "kind": data.kind,
                "gold": gold_kind,
                "queries": len(qids),
                "groups": list(data.groups),
                "fingerprint": data.fingerprint,
            },
            "embedder": model,
            "reranker": reranker_name or None,
            "seed": seed,
            "scorer": SCORER_VERSION,
            "grid": grid.describe(),
            "metrics": list(METRICS),
            # Chroma sets are judged on the share of gold characters found; other sets on recall@k of the gold
            # passages (a retrieved chunk overlaps a gold span, or comes from a gold document)
            "primary_metric": primary,
            "skipped": skipped,
            "query_ids": qids,
            "query_groups": groups,
            "configs": rows,
            "best": best,
            "vs_baseline": vs_baseline(_round(rows), qids, primary, baseline=grid.baseline, seed=seed),
        }
    )
