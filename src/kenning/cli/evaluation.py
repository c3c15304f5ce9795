"""Evaluation commands: BEIR retrieval benchmarks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from .. import render
from ..errors import ConfigError, KenningError, check_choice
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
    """Index a BEIR dataset (if needed) and report nDCG@10, recall@10/100 and MRR@10 for each mode.

    The dataset and the modes are checked before anything is indexed; a collection this run created is deleted
    again if the run fails.
    """
    from ..engine import Engine
    from ..evaluate.beir_eval import RERANKED, evaluate_beir
    from ..evaluate.datasets import load_beir

    h = resolve_home(home)
    modes = [m.strip() for m in mode.split(",") if m.strip()]
    for m in modes:
        check_choice("--mode", m.removesuffix(RERANKED), ("bm25", "dense", "hybrid"))
    if not modes:
        raise ConfigError("--mode names no mode; use any of bm25, dense, hybrid (comma-separated)")
    load_beir(dataset, split)  # a missing file, split or bad line is an error before the collection exists
    name = collection or f"beir-{dataset.resolve().name}"
    engine = Engine(h, collection=name, config=load_config(h))
    created = name not in engine.collections()
    try:
        with render.IndexProgress(err) as progress:
            engine.index([str(dataset)], progress=progress.update)
        with render.StepProgress(err, "searching") as progress:
            result = evaluate_beir(engine, dataset, split=split, modes=modes, run_path=run, progress=progress.update)
    except Exception:
        if created and name in engine.collections():
            try:
                engine.delete_collection()
            except (KenningError, OSError) as exc:
                err.print(f"could not remove the collection {name!r} this run created: {exc}", highlight=False)
            else:
                err.print(f"removed the collection {name!r} this run created", highlight=False)
        raise
    finally:
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
