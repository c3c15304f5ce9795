"""Terminal rendering for the CLI (rich): progress bars, result tables, reports. People read this; scripts use --json."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from .types import Answer, Citation, Hit, IndexReport

__all__ = [
    "IndexProgress",
    "StepProgress",
    "Spinner",
    "index_report",
    "hits",
    "collections",
    "beir_table",
    "answer",
    "agent_step",
]

_VERDICT_STYLE = {"SUPPORT": "green", "PARTIAL": "yellow", "NOT_SUPPORTED": "bold red"}


class IndexProgress:
    """Live counters for indexing: documents read and chunks embedded (totals are unknown while streaming)."""

    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description:<10}"),
            TextColumn("{task.completed:>8,.0f}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self._tasks: dict[str, Any] = {}

    def __enter__(self) -> IndexProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def update(self, stage: str, done: int, total: int | None) -> None:
        task = self._tasks.get(stage)
        if task is None:
            task = self._tasks[stage] = self._progress.add_task(stage, total=total)
        self._progress.update(task, completed=done, total=total)


class StepProgress:
    """One bar for a loop with a known length."""

    def __init__(self, console: Console, label: str) -> None:
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn(label),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self._task = None
        self._label = label

    def __enter__(self) -> StepProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def update(self, stage: str, done: int, total: int | None) -> None:
        if self._task is None:
            self._task = self._progress.add_task(self._label, total=total)
        self._progress.update(self._task, completed=done, total=total, description=stage)


def index_report(console: Console, r: IndexReport) -> None:
    console.print(
        f"[bold]{r.collection}[/]: {r.documents_added} added, {r.documents_updated} updated, "
        f"{r.documents_unchanged} unchanged, {r.documents_removed} removed; "
        f"{r.chunks_embedded} chunks embedded; now {r.total_documents} documents, {r.total_chunks} chunks "
        f"({r.seconds:.1f} s)"
    )
    if r.chunking_embedded:
        console.print(
            f"semantic chunking embedded {r.chunking_embedded:,} sentences ({r.chunking_embed_seconds:.1f} s) to place "
            "its breakpoints"
        )
    if r.context is not None:
        c = r.context
        money = "price unknown" if c.usage.cost_usd is None else f"${c.usage.cost_usd:,.4f}"
        console.print(
            f"contexts by {c.model}: {c.written} written, {c.reused} from the cache, {c.empty} empty, {c.cut} cut; "
            f"{c.usage.prompt_tokens:,} prompt tokens ({c.usage.cached_tokens:,} from a prompt cache), "
            f"{c.usage.completion_tokens:,} written, {money}, {c.seconds:.1f} s"
        )
    if r.skipped:
        table = Table(title=f"skipped {len(r.skipped)}", show_lines=False, title_justify="left")
        table.add_column("source", overflow="fold")
        table.add_column("reason", overflow="fold")
        for s in r.skipped[:50]:
            table.add_row(s.source, s.reason)
        console.print(table)
        if len(r.skipped) > 50:
            console.print(f"… and {len(r.skipped) - 50} more (use --json for all)")


def _short_source(source: str) -> str:
    if "!/" in source:
        archive, member = source.split("!/", 1)
        return f"{Path(archive).name}!/{member}"
    return source


def hits(console: Console, query: str, results: list[Hit]) -> None:
    if not results:
        console.print(f"no results for {query!r}")
        return
    table = Table(title=f"{query}", title_justify="left", show_lines=True)
    table.add_column("#", justify="right")
    table.add_column("score", justify="right")
    table.add_column("chunk / source", overflow="fold", max_width=48)
    table.add_column("text", overflow="fold")
    for h in results:
        path = " › ".join(h.heading_path)
        where = f"[dim]{h.chunk_id}[/]\n{_short_source(h.source)}" + (f"\n[cyan]{path}[/]" if path else "")
        snippet = " ".join(h.text.split())
        table.add_row(str(h.rank), f"{h.score:.4f}", where, snippet[:300] + ("…" if len(snippet) > 300 else ""))
    console.print(table)


def collections(console: Console, home: Path, rows: list[dict]) -> None:
    if not rows:
        console.print(f"no collections in {home}; create one with: kenning index PATH")
        return
    table = Table(title=str(home), title_justify="left")
    for col in ("collection", "documents", "chunks", "embedder", "chunking"):
        table.add_column(col)
    for r in rows:
        if "damaged" in r:
            table.add_row(r["collection"], "[red]damaged[/]", "", "", escape(r["damaged"]))
            continue
        ch = r["chunking"]
        table.add_row(
            r["collection"],
            str(r["documents"]),
            str(r["chunks"]),
            r["embedder"]["model"],
            f"{ch['strategy']} {ch['size']}/{ch['overlap']}",
        )
    console.print(table)


def beir_table(console: Console, result: dict) -> None:
    table = Table(title=f"{result['dataset']} ({result['split']}, {result['queries']} queries)", title_justify="left")
    metrics = list(next(iter(result["modes"].values()))["metrics"]) if result["modes"] else []
    table.add_column("mode")
    for m in metrics:
        table.add_column(m, justify="right")
    table.add_column("ms/query", justify="right")
    for mode, r in result["modes"].items():
        table.add_row(mode, *[f"{r['metrics'][m]:.4f}" for m in metrics], f"{r['ms_per_query']:.1f}")
    console.print(table)


class Spinner:
    """A status spinner on stderr while something slow runs (off for --json)."""

    def __init__(self, console: Console, label: str, *, enabled: bool = True) -> None:
        self._status = console.status(label) if enabled else None

    def __enter__(self) -> Spinner:
        if self._status:
            self._status.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._status:
            self._status.stop()


class Streaming(Spinner):
    """A spinner on stderr until the first generated token, then the tokens themselves as they arrive (dimmed: the
    checked answer follows on stdout)."""

    def __init__(self, console: Console, label: str, *, enabled: bool = True) -> None:
        super().__init__(console, label, enabled=enabled)
        self._console = console
        self._streamed = False

    def token(self, piece: str) -> None:
        if self._status and not self._streamed:
            self._status.stop()
        self._streamed = True
        self._console.print(piece, end="", style="dim", markup=False, highlight=False, soft_wrap=True)

    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)
        if self._streamed:
            self._console.print()


def _where(c: Citation) -> str:
    """A source as the tables show it: the file, then its title and heading path and the chunk id."""
    path = " › ".join(dict.fromkeys(p for p in (c.title, *c.heading_path) if p))
    return f"{escape(_short_source(c.source))}\n[cyan]{escape(path)}[/] [dim]{c.chunk_id}[/]"


def answer(console: Console, a: Answer) -> None:
    """The answer with each claim coloured by its verdict, then sources, verdicts and cost."""
    body = Text(a.text)
    for v in a.verdicts:
        if v.end > v.start:
            body.stylize(_VERDICT_STYLE[v.label], v.start, v.end)
    how = a.mode if a.model in ("", a.mode) else f"{a.mode} · {a.model}"
    console.print(Panel(body, title=escape(a.question), title_align="left", subtitle=escape(how)))
    if not a.answerable and a.citations:
        table = Table(title="closest sources (none answers the question)", title_justify="left", show_header=False)
        table.add_column(no_wrap=True)
        table.add_column(overflow="fold")
        for c in sorted(a.citations, key=lambda c: c.rank)[:3]:
            table.add_row(f"{c.rank}.", _where(c))
        console.print(table)
    cited = [c for c in a.citations if c.cited]
    if cited:
        table = Table(title="sources", title_justify="left", show_header=False, box=None)
        table.add_column(no_wrap=True)
        table.add_column(overflow="fold")  # a source path is shown whole, folded, never cut
        for c in cited:
            table.add_row(f"[{c.number}]", _where(c))
        console.print(table)
    if a.invalid_citations:
        console.print(f"[yellow]dropped citations to sources that were not given: {a.invalid_citations}[/]")
    if a.verdicts:
        table = Table(title=f"claims checked by {a.verifier}", title_justify="left")
        table.add_column("verdict")
        table.add_column("claim", overflow="fold")
        table.add_column("evidence", overflow="fold")
        for v in a.verdicts:
            table.add_row(
                f"[{_VERDICT_STYLE[v.label]}]{v.label}[/]",
                escape(v.claim),
                escape(v.evidence[:240]) + (f"\n[dim]{escape(v.reasoning)}[/]" if v.reasoning else ""),
            )
        console.print(table)
    for note in a.notes:
        console.print(f"[yellow]note:[/] {escape(note)}")
    cost = f", ${a.usage.cost_usd:.4f}" if a.usage.cost_usd else ""
    sure = f"; P(answerable) {a.confidence:.2f}" if a.confidence is not None else ""
    console.print(
        f"[dim]{a.usage.prompt_tokens} prompt + {a.usage.completion_tokens} completion tokens{cost}; "
        f"{a.seconds:.1f} s{sure}[/]"
    )


def agent_step(console: Console, step: dict) -> None:
    """One agent step, printed as it happens."""
    if "error" in step:
        console.print(f"[red]step {step['step']}: {escape(step['error'])}[/]")
        return
    args = ", ".join(f"{k}={str(v)[:80]!r}" for k, v in step.get("args", {}).items() if k != "answer")
    line = f"[bold]step {step['step']}[/] {step['tool']}({escape(args)})"
    if step.get("chunk_ids") is not None:
        line += f" → {len(step['chunk_ids'])} chunk(s)"
    if step.get("verdicts"):
        counts: dict[str, int] = {}
        for v in step["verdicts"]:
            counts[v["verdict"]] = counts.get(v["verdict"], 0) + 1
        line += " → " + ", ".join(f"{n} {k}" for k, n in counts.items())
    tok = step.get("tokens", {})
    console.print(
        f"{line} [dim]({tok.get('prompt', 0)}+{tok.get('completion', 0)} tok, {step.get('seconds', 0):.1f} s)[/]"
    )
    if step.get("thought"):
        console.print(f"  [dim]{escape(step['thought'][:200])}[/]")
