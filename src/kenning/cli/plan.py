"""``kenning plan``: what each mode would cost a collection before it is paid, and which to choose; and the question
asked before an LLM-heavy build (:func:`confirm_llm_build`)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..engine_plan import MODE_TITLES, MODES, REUSE_QUERIES, Plan
from ._shared import CollectionOpt, HomeOpt, JsonOpt, app, emit_json, load_config, resolve_home

__all__ = ["plan", "render_plan", "confirm_llm_build", "money", "duration", "count"]

PRICES_HELP = (
    'Prices are USD per 1M (prompt, completion) tokens; set or correct one in kenning.toml: [llm.prices] "MODEL" = '
    "[0.15, 0.60]."
)


@app.command(
    name="plan",
    help=f"""Estimate what each mode would cost a collection, and recommend one.

Per mode (vector, contextual chunks, LazyGraphRAG, GraphRAG): the LLM calls, tokens, money and time an index
build still has to pay (what the caches hold is not paid again), one query's cost, and, where a build was recorded,
its estimate beside what it really used. Then the design's three questions (reuse above ~{REUSE_QUERIES:,} queries?
auditable trail? thematic questions?) give a recommendation; an unanswered one shows where each answer leads.

{PRICES_HELP} A model not in the table shows "unknown price"; a local model costs $0.""",
)
def plan(
    home: HomeOpt = None,
    collection: CollectionOpt = "default",
    llm: Annotated[
        str | None,
        typer.Option(
            "--llm",
            help="PROVIDER:MODEL to price the LLM work with, e.g. openai:gpt-4o-mini (default: [graph] llm_model, "
            "else [llm], else the packaged local model).",
        ),
    ] = None,
    queries: Annotated[
        int | None, typer.Option(min=0, help=f"Questions the index will serve (reuse: more than {REUSE_QUERIES:,}).")
    ] = None,
    audit: Annotated[
        bool | None, typer.Option("--audit/--no-audit", help="Do answers need an auditable trail?")
    ] = None,
    thematic: Annotated[
        bool | None, typer.Option("--thematic/--no-thematic", help="Will people ask whole-corpus questions?")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    from ..engine import Engine

    h = resolve_home(home)
    engine = Engine(h, collection=collection, config=load_config(h, collection))
    try:
        result = engine.plan(model=llm, queries=queries, audit=audit, thematic=thematic)
    finally:
        engine.close()
    if as_json:
        emit_json(result)
    else:
        render_plan(Console(), result)


# -- rendering ------------------------------------------------------------------------------------------------------


def money(usd: float | None, *, local: bool = False) -> str:
    """``$0.0123``, ``$0 (local)``, or ``unknown price``.

    >>> money(0.012345), money(None), money(0.0, local=True), money(1234.5)
    ('$0.0123', 'unknown price', '$0 (local)', '$1,234.50')
    """
    if usd is None:
        return "unknown price"
    if usd == 0:
        return "$0 (local)" if local else "$0"
    return f"${usd:,.2f}" if usd >= 1 else f"${usd:.4f}"


def duration(seconds: float | None) -> str:
    """``0.4 s``, ``3.2 min``, ``1.5 h``; ``–`` when not known.

    >>> duration(None), duration(0.35), duration(192), duration(5400)
    ('–', '0.3 s', '3.2 min', '1.5 h')
    """
    if seconds is None:
        return "–"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def count(n: float) -> str:
    """A count people read at a glance: ``950``, ``12.3k``, ``2.3M``.

    >>> count(950), count(12_345), count(2_284_461)
    ('950', '12.3k', '2.3M')
    """
    for size, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= size:
            return f"{n / size:.1f}{unit}"
    return f"{n:,.0f}"


def render_plan(console: Console, p: Plan) -> None:
    """The plan as people read it: what building each mode still costs, what answering costs, the recommendation,
    and the recorded builds beside their estimates."""
    console.print(
        f"[bold]{escape(p.collection)}[/]: {p.documents:,} documents, {p.chunks:,} chunks, {p.chunk_tokens:,} tokens; "
        f"LLM costs for {escape(p.model)}"
    )
    build = Table(title="building the index (what is still to pay)", title_justify="left", box=box.SIMPLE_HEAD)
    for name in ("mode", "LLM calls", "tokens in", "tokens out", "money", "time"):
        build.add_column(name, justify="left" if name == "mode" else "right", no_wrap=True)
    for row in p.rows:
        s = row.index
        build.add_row(
            escape(row.title + (" ✓" if row.built else "")),
            count(s.calls),
            count(s.prompt_tokens),
            count(s.completion_tokens),
            escape(money(s.cost_usd, local=p.local)),
            duration(s.seconds),
        )
    console.print(build)
    asking = Table(title="answering", title_justify="left", box=box.SIMPLE_HEAD)
    for name in ("mode", "per query", "LLM calls", "tokens"):
        asking.add_column(name, justify="left" if name == "mode" else "right", no_wrap=True)
    if p.queries is not None:
        asking.add_column(f"build + {p.queries:,} queries", justify="right", no_wrap=True)
    for row in p.rows:
        q = row.per_query
        cells = [row.title, money(q.cost_usd, local=p.local), count(q.calls), count(q.tokens)]
        if p.queries is not None:
            cells.append(money(row.total(p.queries).cost_usd, local=p.local))
        asking.add_row(*map(escape, cells))
    console.print(asking)
    cached = ", ".join(f"{r.title} {r.cached_calls:,}" for r in p.rows if r.cached_calls)
    console.print(
        "[dim]✓ built and current"
        + (f". LLM calls cached, not paid again: {escape(cached)}" if cached else "")
        + f". Default prices as of {p.prices_as_of}. {escape(PRICES_HELP)}[/]"
    )
    _render_decision(console, p)
    for row in p.rows:
        for check in row.checks:
            console.print(f"last build, {escape(row.title)}: {escape(check.line())}")
        if row.paid is not None and row.paid.calls:
            console.print(
                f"paid so far, {escape(row.title)}: {row.paid.calls:,} calls, {row.paid.tokens:,} tokens, "
                f"{escape(money(row.paid.cost_usd, local=p.local))}"
            )
    console.print("\n[dim]assumptions:[/]")
    for row in p.rows:
        console.print(f"[dim]  {escape(row.title)}: {escape('; '.join(row.notes))}[/]")


def _render_decision(console: Console, p: Plan) -> None:
    d = p.decision
    answered = ", ".join(f"{q}: {'not answered' if a is None else 'yes' if a else 'no'}" for q, a in d.answers)
    title = MODE_TITLES[d.mode] if d.mode else "not decided yet"
    console.print(f"\n[bold]recommendation: {escape(title)}[/] ({escape(answered)})")
    for reason in d.reasons:
        console.print(f"  because {escape(reason)}")
    for branch in d.branches:
        console.print(f"  if {escape(branch)}")


# -- before an LLM-heavy build ---------------------------------------------------------------------------------------


def confirm_llm_build(console: Console, plan: Plan, mode: str, *, yes: bool) -> bool:
    """Print what building ``mode`` (``contextual`` or ``graphrag``) will cost and ask to go on. True: build.

    With ``yes``, or when nothing is left to pay, it only prints. Without a terminal to ask on and without ``yes``
    it refuses (False) and says to pass ``--yes``."""
    if mode not in MODES:
        raise typer.BadParameter(f"unknown mode {mode!r}; the modes are {', '.join(MODES)}")
    row = plan.row(mode)
    s = row.index
    line = (
        f"{row.title} with {plan.model}: {s.calls:,} LLM calls ({row.cached_calls:,} cached), "
        f"~{s.prompt_tokens:,} prompt + ~{s.completion_tokens:,} completion tokens, "
        f"{money(s.cost_usd, local=plan.local)}, {duration(s.seconds)}"
    )
    console.print(escape(line), highlight=False, soft_wrap=True)
    if yes or s.calls == 0:
        return True
    if not sys.stdin.isatty():
        console.print(
            "[bold red]error:[/] this build pays for LLM calls and there is no terminal to ask on: pass --yes to "
            "build anyway (kenning plan shows the estimate)",
            highlight=False,
            soft_wrap=True,
        )
        return False
    return typer.confirm("Go on?", default=False)
