"""The ``kenning`` command: a thin shell over :class:`~kenning.engine.Engine`.

Every command takes ``--home`` (or ``$KENNING_HOME``) and ``--json``; with ``--json`` the result goes to stdout as
JSON and everything for people (progress, tables, warnings) goes to stderr. This is the one place kenning's errors
become exit codes: 1 for a kenning error, 2 for bad usage.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from . import render
from .config import KenningConfig, default_home
from .errors import KenningError

app = typer.Typer(
    name="kenning",
    help="Retrieval you can trust: index documents, search them, measure the results.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
eval_app = typer.Typer(help="Measure retrieval quality.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")

err = Console(stderr=True)

HomeOpt = Annotated[
    Path | None, typer.Option("--home", envvar="KENNING_HOME", help="Index folder (default ~/.kenning).")
]
CollectionOpt = Annotated[str, typer.Option("--collection", "-c", help="Collection name.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]


def _config(home: Path, **stages: dict[str, Any]) -> KenningConfig:
    return KenningConfig.load(home, **stages)


def _home(home: Path | None) -> Path:
    return home.expanduser() if home else default_home()


def _emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=_default) + "\n")


def _default(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj):
        return dataclasses.asdict(obj)
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__}")


@app.command()
def index(
    paths: Annotated[list[Path], typer.Argument(help="Files, folders, archives or BEIR dataset folders.")],
    home: HomeOpt = None,
    collection: CollectionOpt = "default",
    chunker: Annotated[str | None, typer.Option(help="fixed, recursive or structure.")] = None,
    chunk_size: Annotated[int | None, typer.Option(help="Chunk size in tokens.")] = None,
    chunk_overlap: Annotated[int | None, typer.Option(help="Overlap in tokens.")] = None,
    embedder: Annotated[str | None, typer.Option(help="Registered embedder or local model folder.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Index PATHS into a collection. Unchanged documents are skipped; removed ones are dropped."""
    from .engine import Engine

    h = _home(home)
    cfg = _config(
        h,
        chunking={"strategy": chunker, "size": chunk_size, "overlap": chunk_overlap},
        embedder={"name": embedder},
    )
    engine = Engine(h, collection=collection, config=cfg)
    with render.IndexProgress(err) as progress:
        report = engine.index([str(p) for p in paths], progress=progress.update)
    engine.close()
    if as_json:
        _emit_json(report)
    else:
        render.index_report(err if as_json else Console(), report)


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    home: HomeOpt = None,
    collection: CollectionOpt = "default",
    mode: Annotated[str, typer.Option(help="bm25, dense or hybrid.")] = "hybrid",
    k: Annotated[int, typer.Option("--k", "-k", help="How many results.")] = 10,
    filter_: Annotated[
        list[str] | None, typer.Option("--filter", help="field=value: source=PREFIX, kind=html, ext=.md, KEY=VALUE.")
    ] = None,
    reranker: Annotated[Path | None, typer.Option(help="A local cross-encoder folder to rerank with.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Search a collection and show ranked chunks with their sources."""
    from .engine import Engine
    from .rerank import CrossEncoderReranker

    h = _home(home)
    engine = Engine(h, collection=collection, config=_config(h))
    rr = CrossEncoderReranker(reranker) if reranker else None
    hits = engine.search(query, mode=mode, k=k, filters=filter_, reranker=rr)
    engine.close()
    if as_json:
        _emit_json({"query": query, "mode": mode, "hits": hits})
    else:
        render.hits(Console(), query, hits)


@app.command()
def collections(home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """List the collections in the index folder."""
    from .engine import Engine

    h = _home(home)
    names = Engine(h).collections()
    rows = []
    for name in names:
        eng = Engine(h, collection=name)
        rows.append(eng.info())
        eng.close()
    if as_json:
        _emit_json(rows)
    else:
        render.collections(Console(), h, rows)


@app.command()
def info(home: HomeOpt = None, collection: CollectionOpt = "default", as_json: JsonOpt = False) -> None:
    """Show a collection's settings and size."""
    from .engine import Engine

    h = _home(home)
    eng = Engine(h, collection=collection)
    data = eng.info()
    eng.close()
    if as_json:
        _emit_json(data)
    else:
        Console().print_json(json.dumps(data))


@app.command()
def delete(
    collection: Annotated[str, typer.Argument(help="The collection to delete.")],
    home: HomeOpt = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Delete a collection and everything indexed in it."""
    from .engine import Engine

    h = _home(home)
    eng = Engine(h, collection=collection)
    col = eng.collection()
    if not yes and not as_json and not typer.confirm(f"Delete collection {collection!r} in {h}?"):
        raise typer.Exit(1)
    col.delete()
    if as_json:
        _emit_json({"deleted": collection})
    else:
        err.print(f"deleted collection {collection!r}")


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
    as_json: JsonOpt = False,
) -> None:
    """Index a BEIR dataset (if needed) and report nDCG@10, recall@10/100 and MRR@10 for each mode."""
    from .engine import Engine
    from .evaluate.beir_eval import evaluate_beir

    h = _home(home)
    modes = [m.strip() for m in mode.split(",") if m.strip()]
    name = collection or f"beir-{dataset.resolve().name}"
    engine = Engine(h, collection=name, config=_config(h))
    with render.IndexProgress(err) as progress:
        engine.index([str(dataset)], progress=progress.update)
    with render.StepProgress(err, "searching") as progress:
        result = evaluate_beir(engine, dataset, split=split, modes=modes, run_path=run, progress=progress.update)
    engine.close()
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2))
    if as_json:
        _emit_json(result)
    else:
        render.beir_table(Console(), result)


def main() -> None:
    """Entry point: run the app, turning kenning's errors into a message and exit code 1."""
    try:
        app(standalone_mode=False)
    except KenningError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(1)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err.print("aborted")
        sys.exit(1)
    except Exception as exc:  # click usage errors
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise


if __name__ == "__main__":
    main()
