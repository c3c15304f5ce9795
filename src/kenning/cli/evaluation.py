"""Evaluation commands: BEIR retrieval benchmarks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from .. import render
from ._shared import HomeOpt, JsonOpt, emit_json, err, eval_app, load_config, resolve_home


@eval_app.command("beir")
def eval_beir(
    dataset: Annotated[Path, typer.Argument(help="A BEIR dataset folder (corpus.jsonl, queries.jsonl, qrels/).")],
    home: HomeOpt = None,
    collection: Annotated[str | None, typer.Option("--collection", "-c", help="Default: beir-<folder>.")] = None,
    split: Annotated[str, typer.Option(help="qrels split.")] = "test",
    mode: Annotated[str, typer.Option(help="Comma-separated: bm25,dense,hybrid.")] = "bm25,dense,hybrid",
    out: Annotated[Path | None, typer.Option(help="Write the results JSON here.")] = None,
    run: Annotated[
        Path | None, typer.Option(help="Write TREC run files (top 100); MODE is added to the name if several.")
    ] = None,
    report: Annotated[
        Path | None, typer.Option(help="Write results.json and a self-contained report.html into this folder.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Index a BEIR dataset (if needed) and report nDCG@10, recall@10/100 and MRR@10 for each mode."""
    from ..engine import Engine
    from ..evaluate.beir_eval import evaluate_beir

    h = resolve_home(home)
    modes = [m.strip() for m in mode.split(",") if m.strip()]
    name = collection or f"beir-{dataset.resolve().name}"
    engine = Engine(h, collection=name, config=load_config(h))
    with render.IndexProgress(err) as progress:
        engine.index([str(dataset)], progress=progress.update)
    with render.StepProgress(err, "searching") as progress:
        result = evaluate_beir(engine, dataset, split=split, modes=modes, run_path=run, progress=progress.update)
    engine.close()
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2))
    if report:
        from ..evaluate.report import write_report
        from ..evaluate.sweep import write_json

        write_json(report / "results.json", result)
        write_report(result, report)
    if as_json:
        emit_json(result)
    else:
        render.beir_table(Console(), result)
