"""``kenning tune``: learn from the collection's own documents, adopting only what measurably wins."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from ._shared import CollectionOpt, HomeOpt, JsonOpt, LlmOpt, app, emit_json, err, llm_stage, load_config, resolve_home


def _ints(text: str | None, what: str) -> tuple[int, ...]:
    if not text:
        return ()
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise typer.BadParameter(f"{what}: comma-separated whole numbers, got {text!r}") from None


@app.command()
def tune(
    home: HomeOpt = None,
    collection: CollectionOpt = "default",
    budget: Annotated[
        str, typer.Option(help="Wall-clock budget: 45m, 1h30m, 900s. Training steps are capped to fit.")
    ] = "60m",
    embedder: Annotated[bool, typer.Option("--embedder/--no-embedder", help="Fine-tune the embedder.")] = True,
    reranker: Annotated[bool, typer.Option("--reranker/--no-reranker", help="Train a reranker.")] = True,
    max_pairs: Annotated[int, typer.Option(help="Training queries to make from the chunks.")] = 8000,
    rerank_depth: Annotated[int, typer.Option(help="Candidates the reranker reorders (20-50 is usual).")] = 30,
    matryoshka: Annotated[
        str | None, typer.Option(help="Matryoshka dimensions to train, e.g. 384,256,128 (then --dim can cut vectors).")
    ] = None,
    dim: Annotated[int | None, typer.Option(help="Keep this many vector dimensions (one of --matryoshka).")] = None,
    llm_queries: Annotated[
        int | None,
        typer.Option(
            help="Questions the LLM writes as well (default: 300 with a remote LLM configured, else 0; the local "
            "generator takes seconds each, so ask for it explicitly)."
        ),
    ] = None,
    llm: LlmOpt = None,
    adopt: Annotated[
        bool, typer.Option("--adopt/--no-adopt", help="--no-adopt: train and report, change nothing.")
    ] = True,
    epochs: Annotated[float, typer.Option(help="Passes over the training pairs (the budget may stop sooner).")] = 1.0,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Adapt the embedder and train a reranker on this collection's own chunks; a model replaces the current one only
    if it wins on held-out queries by a paired test. Resumable: run it again after an interruption."""
    from ..engine import Engine
    from ..train.tune import TuneOptions, parse_budget

    h = resolve_home(home)
    config = load_config(h, llm=llm_stage(llm))
    if llm_queries is None:
        llm_queries = 300 if config.llm.provider in ("openai", "anthropic") else 0
    options = TuneOptions(
        budget_seconds=parse_budget(budget),
        max_pairs=max_pairs,
        embedder=embedder,
        reranker=reranker,
        rerank_depth=rerank_depth,
        matryoshka=_ints(matryoshka, "--matryoshka"),
        dim=dim,
        llm_queries=llm_queries,
        epochs=epochs,
        seed=seed,
        adopt=adopt,
    )
    engine = Engine(h, collection=collection, config=config)
    model = engine.answer_model("generate") if llm_queries else None
    columns = (
        TextColumn("{task.description:<20}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err, transient=True) as progress:
        tasks: dict[str, object] = {}

        def update(stage: str, done: int, total: int | None) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(stage, total=total)
            progress.update(tasks[stage], completed=done, total=total)  # type: ignore[arg-type]

        report = engine.tune(options, llm=model, progress=update, say=lambda text: progress.console.print(text))
    if as_json:
        emit_json(report.to_json())
        return
    console = Console()
    table = Table(title=f"{collection}: held-out queries, nDCG@10 before → after (95% CI, paired p)")
    for col in ("mode", "before", "after", "diff", "p"):
        table.add_column(col, justify="right" if col != "mode" else "left")
    for mode, cmp in report.comparisons.items():
        c = cmp["ndcg@10"]
        a = report.after[mode]["ndcg@10"]
        style = (
            "green" if c["diff"] > 0 and c["p_value"] < 0.05 else "red" if c["diff"] < 0 and c["p_value"] < 0.05 else ""
        )
        table.add_row(
            mode,
            f"{c['before']:.3f}",
            f"{a['mean']:.3f} [{a['low']:.3f}, {a['high']:.3f}]",
            f"[{style}]{c['diff']:+.3f}[/]" if style else f"{c['diff']:+.3f}",
            f"{c['p_value']:.3g}",
        )
    console.print(table)
    for what, info in (("embedder", report.embedder), ("reranker", report.reranker)):
        if info.get("trained"):
            verdict = "adopted" if info.get("adopted") else "kept the current one"
            console.print(f"{what}: {verdict}: {info['decision']['reason']}")
    console.print(f"{report.seconds / 60:.1f} min; report: {report.folder / 'report.html'}")
