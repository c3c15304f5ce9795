"""``kenning graph``: build and describe a collection's concept graph (LazyGraphRAG's index, no LLM)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .. import render
from ._shared import (
    CollectionOpt,
    HomeOpt,
    JsonOpt,
    LlmOpt,
    app,
    emit_json,
    err,
    home_and_config,
    load_config,
    resolve_home,
)

if TYPE_CHECKING:
    from ..engine_graph import GraphInfo

__all__ = ["graph_app"]

graph_app = typer.Typer(help="The concept graph of a collection (LazyGraphRAG's index).", no_args_is_help=True)
app.add_typer(graph_app, name="graph")


@graph_app.command("build")
def build(
    home: HomeOpt = None,
    collection: CollectionOpt = "default",
    graphrag: Annotated[
        bool,
        typer.Option(
            "--graphrag",
            help="Also build GraphRAG's entity graph and community reports with an LLM (--llm, [graph] llm_model or "
            "[llm]); prints the estimated cost first (kenning plan) and asks.",
        ),
    ] = False,
    llm: LlmOpt = None,
    llm_base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible or Anthropic server URL.")] = None,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Build without asking (the estimate is still shown).")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Build the concept graph (or bring it up to date: only changed chunks are extracted again). Once built,
    `kenning index` keeps it current. With --graphrag, then GraphRAG's LLM build (cached by content: a re-run pays
    only for what changed)."""
    from ..engine import Engine

    h, cfg = home_and_config(home, llm, llm_base_url, collection=collection)
    engine = Engine(h, collection=collection, config=cfg)
    if graphrag:
        from .plan import confirm_llm_build

        plan = engine.plan(model=llm)
        if not confirm_llm_build(err, plan, "graphrag", yes=yes):
            engine.close()
            raise typer.Exit(1)
    with render.IndexProgress(err) as progress:
        built = engine.build_graph(progress=progress.update)
        entity = engine.build_graphrag(progress=progress.update) if graphrag else None
    engine.close()
    if as_json:
        emit_json({"concept": built, "entity": entity} if entity is not None else built)
        return
    if entity is not None:
        e = entity.stats
        err.print(
            escape(
                f"GraphRAG: {e.get('entities', 0):,} entities, {e.get('relationships', 0):,} relationships, "
                f"{e.get('reports', 0):,} reports; {e.get('calls_paid', 0):,} LLM calls paid, "
                f"{e.get('calls_cached', 0):,} cached, {e.get('prompt_tokens', 0):,} + "
                f"{e.get('completion_tokens', 0):,} tokens, {e.get('chunks_failed', 0)} chunks failed"
            ),
            highlight=False,
        )
    s = built.stats
    table = Table(title=f"concept graph of {escape(collection)}", show_header=False)
    rows = [
        ("extractor", s["extractor"]),
        ("chunks", f"{s['chunks']:,} ({s['extracted']:,} extracted, {s['cached']:,} cached)"),
        ("concepts", f"{s['concepts_kept']:,} kept, {s['concepts_dropped']:,} dropped"),
        ("edges", f"{s['edges']:,}"),
        ("communities", " / ".join(str(n) for n in s["communities"]) + " (per level, top first)"),
        ("seconds", f"extract {s['seconds_extract']}, graph {s['seconds_graph']}, "
         f"communities {s['seconds_communities']}"),
    ]  # fmt: skip
    for name, value in rows:
        table.add_row(name, str(value))
    Console().print(table)
    if "note" in s:
        err.print(f"note: {escape(s['note'])}")


@graph_app.command("info")
def info(home: HomeOpt = None, collection: CollectionOpt = "default", as_json: JsonOpt = False) -> None:
    """Whether the concept graph is built and current, its size and its top-level communities."""
    from ..engine import Engine

    h = resolve_home(home)
    engine = Engine(h, collection=collection, config=load_config(h, collection))
    data = engine.graph_info()
    engine.close()
    if as_json:
        emit_json(data)
    else:
        _print_info(Console(), collection, data)


def _print_info(console: Console, collection: str, data: GraphInfo) -> None:
    if not data.built:
        console.print(f"no concept graph; run `kenning graph build -c {escape(collection)}` or index with --graph")
        return
    state = "[yellow]stale[/] (documents changed since; it is rebuilt on the next index)" if data.stale else "current"
    levels = " / ".join(str(n) for n in data.communities) or "none"
    console.print(
        f"concept graph: {state}; {data.nodes:,} concepts, {data.edges:,} edges, communities per level: {levels}"
    )
    if "note" in data.stats:
        console.print(f"note: {escape(data.stats['note'])}")
    table = Table("id", "top-level community", "chunks")
    for c in data.top[:20]:
        table.add_row(str(c.id), escape(c.title), str(c.n_chunks))
    if data.top:
        console.print(table)
    if len(data.top) > 20:
        console.print(f"… and {len(data.top) - 20} more (--json lists them all)")
