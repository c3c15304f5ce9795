"""Evaluation commands: chunking sweeps and HTML reports (``kenning eval sweep``, ``kenning eval report``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..errors import ConfigError, MissingExtraError
from ._shared import HomeOpt, JsonOpt, LlmOpt, emit_json, err, eval_app, llm_stage, load_config, resolve_home

SWEEP_LOCAL_LLM = "local:qwen2.5-0.5b"  # the sweep's LLM when neither --llm nor [llm] names one: fast on a CPU


def _ints(value: str, name: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise ConfigError(f"--{name}: expected comma-separated whole numbers, got {value!r}") from None


def _floats(value: str, name: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise ConfigError(f"--{name}: expected comma-separated numbers, got {value!r}") from None


def _words(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


class _SweepProgress:
    """A bar for configurations and one for the current stage (embedding chunks, scoring questions)."""

    def __init__(self, console: Console, enabled: bool = True) -> None:
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description:<14}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=not enabled,
        )
        self._tasks: dict[str, Any] = {}

    def __enter__(self) -> _SweepProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def update(self, stage: str, done: int, total: int | None) -> None:
        if stage == "documents":
            return
        label = {"cells": "configurations", "embedding": "embedding", "scoring": "scoring"}.get(stage, stage)
        task = self._tasks.get(label)
        if task is None:
            task = self._tasks[label] = self._progress.add_task(label, total=total)
        elif stage == "embedding" and done == 0:
            self._progress.reset(task)
        self._progress.update(task, completed=done, total=total)


def _table(result: dict[str, Any], top: int = 10) -> Table:
    primary = result["primary_metric"]
    rows = sorted(result["configs"], key=lambda c: -c["metrics"][primary])[:top]
    shown = [
        m for m in ("recall", "precision", "iou", "precision_omega", "span_recall", "rr") if m in result["metrics"]
    ]
    table = Table(title=f"top {len(rows)} of {len(result['configs'])} by {primary}", title_justify="left")
    table.add_column("configuration")
    table.add_column("chunks", justify="right")
    for m in shown:
        table.add_column(m, justify="right")
    for c in rows:
        table.add_row(c["id"], str(c["chunks"]), *(f"{c['metrics'][m]:.3f}" for m in shown))
    return table


@eval_app.command("sweep")
def eval_sweep(
    data: Annotated[Path, typer.Argument(help="A Chroma-style span eval folder, or a corpus (with --eval-set).")],
    out: Annotated[Path, typer.Option("--out", help="Folder for results.json, report.html, cells and work files.")],
    eval_set: Annotated[
        Path | None, typer.Option("--eval-set", help="QA JSONL with gold_spans or gold_doc_ids, for a corpus DATA.")
    ] = None,
    chunkers: Annotated[
        str,
        typer.Option(
            help="Comma-separated: fixed, recursive, structure, semantic (splits where sentence embeddings change "
            "topic; embeds every sentence, so slower cells)."
        ),
    ] = "recursive,structure",
    sizes: Annotated[str, typer.Option(help="Chunk sizes in tokens, comma-separated.")] = "200,400,800",
    overlaps: Annotated[
        str, typer.Option(help="Overlaps in tokens; cells with overlap >= size are skipped.")
    ] = "0,50,100",
    modes: Annotated[
        str | None, typer.Option(help="bm25, dense, hybrid (comma-separated). Default: dense for Chroma, else hybrid.")
    ] = None,
    rrf_k: Annotated[str, typer.Option("--rrf-k", help="RRF constants for hybrid, comma-separated.")] = "60",
    contexts: Annotated[
        str,
        typer.Option(
            help="What each chunk carries into the index, comma-separated: none, or '+'-joined headers (title and "
            "heading path), late (late chunking), llm (an LLM situating sentence; needs --llm), e.g. none,headers+late."
        ),
    ] = "none",
    transforms: Annotated[
        str, typer.Option(help="Query transforms, comma-separated: none, hyde, multi (both need the LLM).")
    ] = "none",
    rerankers: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated: none, cross-encoder (needs --reranker), llm-listwise, llm-pointwise (need the "
            "LLM). Default: cross-encoder when --rerank-depth is given, else none."
        ),
    ] = None,
    rerank_depth: Annotated[
        str | None,
        typer.Option("--rerank-depth", help="Candidates given to each reranker, comma-separated (default 20)."),
    ] = None,
    reranker: Annotated[Path | None, typer.Option(help="A local cross-encoder folder to rerank with.")] = None,
    llm: LlmOpt = None,
    baseline: Annotated[
        str | None,
        typer.Option(help="The configuration id every other is tested against (default: the grid's first)."),
    ] = None,
    k: Annotated[int, typer.Option("--k", "-k", help="Chunks retrieved and scored per question.")] = 5,
    per_corpus: Annotated[
        bool, typer.Option("--per-corpus", help="Chroma sets: rank only the query's own corpus, not all of them.")
    ] = False,
    embedder: Annotated[str | None, typer.Option(help="Registered embedder or local model folder.")] = None,
    cache: Annotated[
        Path | None, typer.Option(help="Embedding cache file to share between sweeps (default OUT/embeddings.sqlite).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap intervals.")] = 0,
    keep_work: Annotated[bool, typer.Option("--keep-work", help="Keep each cell's collection under OUT/work.")] = False,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Sweep chunker × size × overlap × context (× mode, RRF k, transform, reranker, depth): index each cell, score
    it, test every configuration against the baseline, write a report.

    The LLM (for llm contexts, hyde/multi and llm-* rerankers) is --llm, else [llm] in kenning.toml, else the packaged
    local:qwen2.5-0.5b. Finished cells are reused when the sweep is run again with the same inputs and settings.
    """
    from ..door import caching_embedder, closing, cross_encoder
    from ..door import embedder as get_embedder
    from ..evaluate.chroma import is_chroma_folder, load_chroma, span_eval_set
    from ..evaluate.report import write_report
    from ..evaluate.sweep import SweepGrid, run_sweep

    if eval_set is not None:
        dataset = span_eval_set(data, eval_set)
    elif is_chroma_folder(data):
        dataset = load_chroma(data)
    else:
        raise ConfigError(
            f"{data} is not a Chroma-style eval folder; for a corpus, give its questions: --eval-set FILE"
        )
    h = resolve_home(home)
    cfg = load_config(h, embedder={"name": embedder}, llm=llm_stage(llm))
    grid = SweepGrid(
        chunkers=_words(chunkers),
        sizes=_ints(sizes, "sizes"),
        overlaps=_ints(overlaps, "overlaps"),
        modes=_words(modes) if modes else (("dense",) if dataset.kind == "chroma" else ("hybrid",)),
        rrf_ks=_floats(rrf_k, "rrf-k"),
        rerank_depths=_ints(rerank_depth, "rerank-depth") if rerank_depth else (),
        k=k,
        tokenizer=cfg.chunking.tokenizer,
        per_group=per_corpus,
        contexts=_words(contexts),
        transforms=_words(transforms),
        rerankers=_words(rerankers) if rerankers else (),
        baseline=baseline,
    )
    grid.plan()  # a bad --baseline fails here, before a model is loaded
    inner = get_embedder(
        cfg.embedder.name, batch_size=cfg.embedder.batch_size, max_seq_length=cfg.embedder.max_seq_length
    )
    shared = caching_embedder(inner, cache) if cache else None
    rr = cross_encoder(reranker) if reranker else None
    model = _sweep_llm(cfg.llm, explicit=llm is not None) if "llm" in grid.uses else None
    with _SweepProgress(err, enabled=True) as progress, closing(model):
        result = run_sweep(
            dataset,
            grid,
            out,
            embedder=inner,
            cache=shared,
            reranker=rr,
            reranker_name=str(reranker.resolve()) if reranker else "",
            llm=model,
            seed=seed,
            keep_work=keep_work,
            progress=progress.update,
        )
    try:
        paths = write_report(result.results, out, timings=result.timings, seed=seed)
    except MissingExtraError as exc:  # the results are written; only the HTML page needs matplotlib
        err.print(f"[yellow]no HTML report:[/] {exc}")
        paths = {}
    for note in result.results["skipped"]:
        err.print(f"[yellow]skipped[/] {note['cell']}: {note['reason']}")
    for c in result.results["configs"]:
        for note in c.get("notes", []):
            err.print(f"[yellow]{c['id']}:[/] {note}")
    summary = {
        "results": str(result.paths["results"]),
        "timings": str(result.paths["timings"]),
        "report": str(paths["html"]) if paths else None,
        "wall_seconds": result.timings["wall_seconds"],
        "configs_reused": result.timings["configs_reused"],
        "best": result.results["best"],
        "baseline": result.results["vs_baseline"]["baseline"],
        "llm": result.timings.get("llm", {}).get("total"),
        "configs": [{"id": c["id"], "chunks": c["chunks"], "metrics": c["metrics"]} for c in result.results["configs"]],
    }
    if as_json:
        emit_json(summary)
        return
    console = Console()
    console.print(_table(result.results))
    console.print(
        f"{len(result.results['configs'])} configurations ({result.timings['configs_reused']} reused) in "
        f"{result.timings['wall_seconds']:.1f} s; results: {result.paths['results']}"
        + (f"; report: {paths['html']}" if paths else "")
    )


def _sweep_llm(config: Any, *, explicit: bool) -> Any:
    """The LLM the grid asked for: --llm, else [llm], else the packaged small local generator."""
    from ..door import language_model, llm_settings

    if config.provider == "none":
        if explicit:
            raise ConfigError("--llm none: the grid's llm contexts, transforms or llm rerankers need a language model")
        config = config.model_copy(update=llm_settings(SWEEP_LOCAL_LLM))
    return language_model(config)


@eval_app.command("report")
def eval_report(
    runs: Annotated[list[Path], typer.Argument(help="RUN.json (or its folder), or RUN_A RUN_B to compare A → B.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for report.html (and comparison.json).")],
    title: Annotated[str | None, typer.Option(help="Page title.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the paired bootstrap and randomization test.")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Write an HTML report for one run, or a before/after comparison of two runs (B against baseline A)."""
    from ..evaluate.report import load_run, write_report

    if len(runs) not in (1, 2):
        raise ConfigError(f"give one run, or two to compare; got {len(runs)}")
    loaded = [load_run(p) for p in runs]
    run, baseline = loaded[-1], (loaded[0] if len(loaded) == 2 else None)
    timings = None
    if baseline is None:
        folder = runs[0] if runs[0].is_dir() else runs[0].parent
        if (folder / "timings.json").is_file():
            timings = load_run(folder / "timings.json")
    paths = write_report(run, out, baseline=baseline, timings=timings, title=title, seed=seed)
    if as_json:
        emit_json({k: str(v) for k, v in paths.items()})
    else:
        err.print(f"report: {paths['html']}")
