"""Ask questions, verify answers made anywhere, and train the offline verifier."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from .. import render
from ._shared import (
    CollectionOpt,
    HomeOpt,
    JsonOpt,
    LlmOpt,
    _default,
    app,
    emit_json,
    err,
    llm_stage,
    load_config,
    resolve_home,
    train_app,
)


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question.")],
    home: HomeOpt = None,
    collection: CollectionOpt = "default",
    llm: LlmOpt = None,
    llm_base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible or Anthropic server URL.")] = None,
    agent: Annotated[bool, typer.Option("--agent", help="Let the model search and fetch on its own.")] = False,
    verify: Annotated[bool, typer.Option("--verify/--no-verify", help="Check every claim against its sources.")] = True,
    verifier: Annotated[str | None, typer.Option(help="auto, llm, offline or lexical.")] = None,
    policy: Annotated[str | None, typer.Option(help="Unsupported claims: annotate, strip or retry.")] = None,
    k: Annotated[int | None, typer.Option("--k", "-k", help="Chunks given to the generator.")] = None,
    filter_: Annotated[list[str] | None, typer.Option("--filter", help="field=value, as for search.")] = None,
    reranker: Annotated[Path | None, typer.Option(help="A local cross-encoder folder to rerank with.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Answer a question from a collection: cited sources and a verdict for every claim."""
    from ..engine import Engine
    from ..rerank import CrossEncoderReranker

    h = resolve_home(home)
    cfg = load_config(h, llm=llm_stage(llm, llm_base_url))
    engine = Engine(h, collection=collection, config=cfg)
    on_step = None if as_json else (lambda step: render.agent_step(err, step))
    with render.Spinner(err, "thinking", enabled=not as_json and not agent):
        answer = engine.ask(
            question,
            agent=agent,
            verify=verify,
            verifier=verifier,
            policy=policy,
            k=k,
            filters=filter_,
            reranker=CrossEncoderReranker(reranker) if reranker else None,
            on_step=on_step,
        )
    engine.close()
    if as_json:
        emit_json(answer)
    else:
        render.answer(Console(), answer)


@app.command("verify")
def verify_cmd(
    file: Annotated[Path, typer.Argument(help='JSONL: {"id", "answer", "sources": [{"id", "text"}]} per line.')],
    home: HomeOpt = None,
    verifier: Annotated[str, typer.Option(help="offline, lexical or llm.")] = "offline",
    llm: LlmOpt = None,
    out: Annotated[Path | None, typer.Option(help="Write results here instead of stdout.")] = None,
) -> None:
    """Verdicts for answers produced anywhere: one output line per input line."""
    from ..engine import Engine
    from ..verify.batch import verify_jsonl

    h = resolve_home(home)
    engine = Engine(h, config=load_config(h, llm=llm_stage(llm)))
    check, notes = engine.verifier(verifier)
    for note in notes:
        err.print(f"[yellow]note:[/] {note}")
    sink = open(out, "w", encoding="utf-8") if out else sys.stdout  # noqa: SIM115 - closed below
    try:
        with render.StepProgress(err, "verifying") as progress:
            stats = verify_jsonl(file, check, sink, progress=progress.update)
    finally:
        if out:
            sink.close()
    err.print(
        f"{stats.lines} answers, {stats.claims} claims: "
        + ", ".join(f"{n} {label}" for label, n in stats.labels.items())
        + (f"; [red]{stats.errors} bad lines[/]" if stats.errors else "")
        + f" (verifier {check.name})"
    )
    if stats.errors:
        raise typer.Exit(1)


@train_app.command("verifier")
def train_verifier_cmd(
    home: HomeOpt = None,
    out: Annotated[Path | None, typer.Option(help="Model folder (default <home>/models/verifier).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Train the offline grounding verifier (a MiniLM cross-encoder) from SciFact claims and generated pairs."""
    from ..train.verifier import train_verifier
    from ..verify.offline import default_verifier_dir

    h = resolve_home(home)
    folder = out or default_verifier_dir(h)
    with render.StepProgress(err, "training") as progress:
        report = train_verifier(folder, progress=progress.update)
    if as_json:
        emit_json(report)
    else:
        err.print(f"verifier trained in {folder}")
        Console().print_json(json.dumps(report, default=_default))
