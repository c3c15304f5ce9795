"""Ask questions, verify answers made anywhere, and train the offline verifier."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from .. import render
from ..config import RetrievalConfig, build
from ._shared import (
    CollectionOpt,
    HomeOpt,
    JsonOpt,
    LlmOpt,
    RerankOpt,
    TransformOpt,
    app,
    emit_json,
    err,
    home_and_config,
    resolve_home,
    train_app,
)

if TYPE_CHECKING:
    from ..engine import Engine


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question.")],
    home: HomeOpt = None,
    collection: CollectionOpt = "default",
    llm: LlmOpt = None,
    llm_base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible or Anthropic server URL.")] = None,
    mode: Annotated[
        str | None,
        typer.Option(
            help="auto (the configured LLM, else the packaged local generator, else extractive), generate, extractive; "
            "lazy (LazyGraphRAG over the concept graph: whole-corpus questions), global / local (GraphRAG)."
        ),
    ] = None,
    agent: Annotated[bool, typer.Option("--agent", help="Let the model search and fetch on its own.")] = False,
    verify: Annotated[bool, typer.Option("--verify/--no-verify", help="Check every claim against its sources.")] = True,
    verifier: Annotated[str | None, typer.Option(help="auto, llm, offline, trained or lexical.")] = None,
    policy: Annotated[str | None, typer.Option(help="Unsupported claims: annotate, strip or retry.")] = None,
    k: Annotated[int | None, typer.Option("--k", "-k", help="Chunks given to the generator.")] = None,
    parent: Annotated[
        str | None,
        typer.Option(help="section: the generator reads each chunk's surrounding section; none: just the chunk."),
    ] = None,
    filter_: Annotated[list[str] | None, typer.Option("--filter", help="field=value, as for search.")] = None,
    reranker: Annotated[Path | None, typer.Option(help="A local cross-encoder folder to rerank with.")] = None,
    rerank: RerankOpt = None,
    transform: TransformOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Answer a question from a collection: cited sources and a verdict for every claim."""
    from ..door import cross_encoder
    from ..engine import Engine

    h, cfg = home_and_config(home, llm, llm_base_url, collection=collection)
    engine = Engine(h, collection=collection, config=cfg)
    _retrieval_flags(engine, transform=transform, rerank=rerank)
    on_step = None if as_json else (lambda step: render.agent_step(err, step))
    with render.Streaming(err, "thinking", enabled=not as_json and not agent) as stream:
        answer = engine.ask(
            question,
            mode=mode,
            on_token=stream.token if not as_json else None,
            agent=agent,
            verify=verify,
            verifier=verifier,
            policy=policy,
            k=k,
            parent=parent,
            filters=filter_,
            reranker=cross_encoder(reranker) if reranker else None,
            on_step=on_step,
        )
    engine.close()
    if as_json:
        emit_json(answer)
    else:
        render.answer(Console(), answer)


def _retrieval_flags(engine: Engine, **flags: str | None) -> None:
    """``--transform`` / ``--rerank`` win over kenning.toml, the collection's own ``[collections.NAME]`` included."""
    given = {name: value for name, value in flags.items() if value is not None}
    if given:
        data = {**engine.config.retrieval.model_dump(exclude_unset=True), **given}
        retrieval = build(RetrievalConfig, data, where="--transform / --rerank")
        engine.config = engine.config.model_copy(update={"retrieval": retrieval})


@app.command("verify")
def verify_cmd(
    file: Annotated[Path, typer.Argument(help='JSONL: {"id", "answer", "sources": [{"id", "text"}]} per line.')],
    home: HomeOpt = None,
    verifier: Annotated[str, typer.Option(help="offline, trained, lexical or llm.")] = "offline",
    llm: LlmOpt = None,
    out: Annotated[Path | None, typer.Option(help="Write results here instead of stdout.")] = None,
) -> None:
    """Verdicts for answers produced anywhere: one output line per input line."""
    from ..door import verify_file
    from ..engine import Engine

    h, cfg = home_and_config(home, llm)
    engine = Engine(h, config=cfg)
    check, notes = engine.verifier(verifier)
    for note in notes:
        err.print(f"[yellow]note:[/] {note}")
    sink = open(out, "w", encoding="utf-8") if out else sys.stdout  # noqa: SIM115 - closed below
    try:
        with render.StepProgress(err, "verifying") as progress:
            stats = verify_file(file, check, sink, progress=progress.update)
    finally:
        if out:
            sink.close()
    err.print(
        f"{stats.lines} answers, {stats.claims} claims: "
        + ", ".join(f"{n} {label}" for label, n in stats.labels.items())
        + (f"; [red]{stats.errors} bad lines[/]" if stats.errors else "")
        + (f"; [red]{stats.unchecked} answers the verifier could not check[/]" if stats.unchecked else "")
        + f" (verifier {check.name})"
    )
    if stats.errors or stats.unchecked:
        raise typer.Exit(1)


@train_app.command("verifier")
def train_verifier_cmd(
    home: HomeOpt = None,
    out: Annotated[Path | None, typer.Option(help="Model folder (default <home>/models/verifier).")] = None,
    quick: Annotated[
        bool, typer.Option("--quick", help="A smoke run: 60 claim pairs, 100 made pairs, a few steps.")
    ] = False,
    limit_pairs: Annotated[int | None, typer.Option(help="Use only this many SciFact claim pairs.")] = None,
    epochs: Annotated[float, typer.Option(help="Passes over the training pairs (may be fractional).")] = 1.5,
    synthetic: Annotated[int, typer.Option(help="Pairs made from corpus sentences.")] = 600,
    train_pairs: Annotated[
        Path | None,
        typer.Option(help="Claims JSONL (SciFact's claims_train_pairs.jsonl format); needed unless --calibrate-only."),
    ] = None,
    corpus: Annotated[Path | None, typer.Option(help="BEIR corpus.jsonl to make extra pairs from.")] = None,
    threads: Annotated[int | None, typer.Option(help="torch threads (default: torch's choice).")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    calibrate_only: Annotated[
        bool, typer.Option("--calibrate-only", help="Only choose the thresholds of the model in --out again.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Train the offline grounding verifier (a MiniLM cross-encoder) from SciFact claims and generated pairs.

    The model is tested on held-out claims against the lexical verifier; the "offline" verifier uses it only where
    it measurably beats the lexical one (``--verifier trained`` uses it regardless).
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ..door import recalibrate_verifier, train_verifier, verifier_dir

    h = resolve_home(home)
    folder = out or verifier_dir(h)
    columns = (TextColumn("{task.description:<10}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True, disable=as_json) as progress:
        tasks: dict[str, object] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(stage, total=total)
            progress.update(tasks[stage], completed=done, total=total)

        if calibrate_only:
            manifest = recalibrate_verifier(folder, train_pairs=train_pairs, progress=update)
        else:
            if train_pairs is None:
                raise typer.BadParameter("pass --train-pairs FILE (claims with their evidence, one JSON per line)")
            report = train_verifier(
                folder,
                train_pairs=train_pairs,
                corpus=corpus,
                epochs=0.25 if quick else epochs,
                synthetic=100 if quick else synthetic,
                limit_pairs=60 if quick and limit_pairs is None else limit_pairs,
                threads=threads,
                seed=seed,
                progress=update,
            )
            manifest = report.manifest
    if as_json:
        emit_json(manifest)
        return
    held = manifest.get("heldout", {})
    err.print(
        f"verifier in {folder}: held-out accuracy {held.get('binary_accuracy', float('nan')):.3f} with the model, "
        f"{held.get('lexical_accuracy', float('nan')):.3f} lexical alone ({held.get('pairs', 0)} claim pairs)"
        + (f"; trained in {manifest['total_seconds']:.0f} s" if "total_seconds" in manifest else "")
    )
    if manifest.get("beats_lexical"):
        err.print("[green]it beats the lexical verifier: --verifier offline (and auto) will use it[/]")
    else:
        err.print(
            "[yellow]it does not measurably beat the lexical verifier, so --verifier offline keeps judging "
            "lexically; --verifier trained uses the model anyway[/]"
        )
