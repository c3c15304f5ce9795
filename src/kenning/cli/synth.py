"""``kenning eval synth``: a synthetic eval set (train/test JSONL and a manifest) from an indexed collection."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from .. import render
from ..errors import ConfigError
from ._shared import CollectionOpt, HomeOpt, JsonOpt, LlmOpt, emit_json, err, eval_app, home_and_config


@eval_app.command("synth")
def eval_synth(
    out: Annotated[Path, typer.Option("--out", help="Folder for train.jsonl, test.jsonl and manifest.json.")],
    home: HomeOpt = None,
    collection: CollectionOpt = "default",
    n: Annotated[int, typer.Option("--n", help="Questions to write (fewer if the collection runs out).")] = 200,
    seed: Annotated[int, typer.Option(help="Seed for sampling and the split; the same seed gives the same files.")] = 0,
    test_fraction: Annotated[float, typer.Option(help="Share of the questions in test.jsonl.")] = 0.5,
    method: Annotated[
        str,
        typer.Option(
            help="auto (llm with a remote --llm, else cloze), cloze or keywords (offline), or llm.",
        ),
    ] = "auto",
    llm: LlmOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Sample chunks across documents, write a question each answers, filter bad ones, split train/test."""
    from ..door import language_model
    from ..engine import Engine

    h, cfg = home_and_config(home, llm)
    if method == "auto":
        method = "llm" if cfg.llm.provider in ("openai", "anthropic") else "cloze"
    model = None
    if method == "llm":
        model = language_model(cfg.llm)
        if model is None:
            raise ConfigError("--method llm needs a language model: add --llm PROVIDER:MODEL (e.g. openai:gpt-4o-mini)")
    from ..evaluate.synth import synthesize

    engine = Engine(h, collection=collection, config=cfg)
    col = engine.collection()
    try:
        with render.StepProgress(err, "synth") as progress:
            result = synthesize(
                col, n=n, seed=seed, test_fraction=test_fraction, method=method, llm=model, progress=progress.update
            )
    finally:
        engine.close()
    paths = result.write(out)
    m = result.manifest
    if m["shortfall"]:
        err.print(
            f"[yellow]note:[/] only {m['counts']['items']} of {n} questions: the collection ran out of usable chunks"
        )
    if as_json:
        emit_json({**m, "paths": {k: str(v) for k, v in paths.items()}})
        return
    table = Table(title=f"synthetic eval set from {col.name!r} ({m['method']}, seed {seed})")
    table.add_column("what")
    table.add_column("count", justify="right")
    c = m["counts"]
    rows = [
        ("questions", c["items"]),
        ("  train", c["train"]),
        ("  test", c["test"]),
        ("documents", c["documents"]),
        ("chunks examined", c["chunks_examined"]),
        *((f"skipped chunk: {k}", v) for k, v in m["skipped_chunks"].items() if v),
        *((f"filtered question: {k}", v) for k, v in m["filtered_questions"].items() if v),
    ]
    for what, count in rows:
        table.add_row(what, str(count))
    console = Console()
    console.print(table)
    console.print(f"wrote {paths['train']}, {paths['test']}, {paths['manifest']}")
