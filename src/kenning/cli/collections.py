"""Index, search and look after collections."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from .. import render
from ..errors import ConfigError, KenningError
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
    load_config,
    resolve_home,
)


@app.command()
def index(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Files, folders, archives or BEIR dataset folders.")
    ] = None,
    home: HomeOpt = None,
    collection: CollectionOpt = "default",
    chunker: Annotated[str | None, typer.Option(help="fixed, recursive, structure or semantic.")] = None,
    chunk_size: Annotated[int | None, typer.Option(help="Chunk size in tokens.")] = None,
    chunk_overlap: Annotated[int | None, typer.Option(help="Overlap in tokens.")] = None,
    embedder: Annotated[str | None, typer.Option(help="Registered embedder or local model folder.")] = None,
    context: Annotated[
        str | None,
        typer.Option(
            help="Context given to each chunk before it is embedded and searched, comma-separated: headers (title and "
            "heading path), late (late chunking), llm (an LLM-written situating sentence), or none."
        ),
    ] = None,
    context_model: Annotated[
        str | None,
        typer.Option(help="PROVIDER:MODEL that writes the llm contexts (default: [llm], else the local generator)."),
    ] = None,
    estimate: Annotated[
        bool, typer.Option("--estimate", help="Only print what the llm contexts would cost, then stop.")
    ] = False,
    repair: Annotated[
        bool,
        typer.Option(
            "--repair",
            help="Repair a damaged collection instead: rebuild its snapshot (and a damaged manifest) from the catalog, "
            "set a damaged catalog or lock aside.",
        ),
    ] = False,
    graph: Annotated[
        bool,
        typer.Option(
            "--graph",
            help="Also build the concept graph (LazyGraphRAG's index); once built, every index keeps it current.",
        ),
    ] = False,
    ray: Annotated[
        str | None,
        typer.Option(
            "--ray",
            metavar="ADDRESS",
            help="Parse, chunk and embed on the Ray cluster at HOST:PORT (`ray start --head` prints it) while this "
            "process writes to the store (pip install 'kenning\\[ray]').",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Index PATHS into a collection. Unchanged documents are skipped; removed ones are dropped.

    A PATH that does not exist is an error (exit code 1) after the others are indexed; what was indexed from it
    before is kept.
    """
    from ..engine import Engine

    h = resolve_home(home)
    if repair or not paths:
        if not repair:
            raise typer.BadParameter("give the files or folders to index (or --repair)", param_hint="PATHS")
        if paths:
            raise typer.BadParameter("--repair takes no paths: it rebuilds from the catalog", param_hint="PATHS")
        _repair(h, collection, embedder, as_json)
        return
    cfg = load_config(
        h,
        collection,
        chunking={"strategy": chunker, "size": chunk_size, "overlap": chunk_overlap},
        context={**_context_flags(context), "llm_model": context_model},
        embedder={"name": embedder},
        graph={"build": True if graph else None},
    )
    engine = Engine(h, collection=collection, config=cfg)
    settings = engine.context_settings()
    if estimate or settings.llm:
        if not settings.llm:
            raise ConfigError("--estimate prices the llm contexts; add --context llm (with headers, late as wanted)")
        guess = engine.estimate_context([str(p) for p in paths])
        if estimate:
            engine.close()
            if as_json:
                emit_json(guess)
            else:
                Console().print(f"would write {guess.line()}")
            return
        err.print(f"contexts: {guess.line()}")
    with render.IndexProgress(err) as progress:
        report = engine.index([str(p) for p in paths], progress=progress.update, ray=ray)
    engine.close()
    if as_json:
        emit_json(report)
    else:
        render.index_report(err if as_json else Console(), report)
    missing = [str(p) for p in paths if not os.path.lexists(p)]
    if missing:
        err.print(
            f"[bold red]error:[/] no such file or folder: {escape(', '.join(missing))}", highlight=False, soft_wrap=True
        )
        raise typer.Exit(1)


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    home: HomeOpt = None,
    collection: CollectionOpt = "default",
    mode: Annotated[str | None, typer.Option(help="bm25, dense, hybrid or lazy (default: [retrieval] mode).")] = None,
    k: Annotated[int | None, typer.Option("--k", "-k", help="How many results (default: [retrieval] k).")] = None,
    filter_: Annotated[
        list[str] | None, typer.Option("--filter", help="field=value: source=PREFIX, kind=html, ext=.md, KEY=VALUE.")
    ] = None,
    reranker: Annotated[
        Path | None, typer.Option(help="A local cross-encoder folder to rerank with (default: the collection's own).")
    ] = None,
    rerank: RerankOpt = None,
    no_rerank: Annotated[bool, typer.Option("--no-rerank", help="Skip reranking (same as --rerank none).")] = False,
    transform: TransformOpt = None,
    llm: LlmOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Search a collection and show ranked chunks with their sources."""
    from ..door import cross_encoder
    from ..engine import Engine

    h, cfg = home_and_config(home, llm, collection=collection)
    engine = Engine(h, collection=collection, config=cfg)
    rr = cross_encoder(reranker) if reranker else None
    hits, usage, notes = engine.search_with_usage(
        query,
        mode=mode,
        k=k,
        filters=filter_,
        reranker=rr,
        rerank=False if no_rerank else rerank,
        transform=transform,
    )
    engine.close()
    if as_json:
        mode = mode or engine.config.retrieval.mode
        emit_json({"query": query, "mode": mode, "hits": hits, "usage": usage, "notes": notes})
    else:
        for note in notes:
            err.print(f"[yellow]note:[/] {note}")
        render.hits(Console(), query, hits)


@app.command()
def collections(home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """List the collections in the index folder."""
    from ..engine import Engine

    h = resolve_home(home)
    names = Engine(h).collections()
    rows = []
    for name in names:  # one damaged collection is listed as such and never hides the others
        eng = Engine(h, collection=name)
        try:
            rows.append(eng.info())
        except KenningError as exc:
            rows.append({"collection": name, "damaged": str(exc)})
        finally:
            eng.close()
    if as_json:
        emit_json(rows)
    else:
        render.collections(Console(), h, rows)


@app.command()
def info(home: HomeOpt = None, collection: CollectionOpt = "default", as_json: JsonOpt = False) -> None:
    """Show a collection's settings and size."""
    from ..engine import Engine

    h = resolve_home(home)
    eng = Engine(h, collection=collection)
    data = eng.info()
    eng.close()
    if as_json:
        emit_json(data)
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
    from ..engine import Engine

    h = resolve_home(home)
    eng = Engine(h, collection=collection)
    eng.collection()  # raises CollectionNotFound with its hint before asking
    if not yes and not as_json and not typer.confirm(f"Delete collection {collection!r} in {h}?"):
        raise typer.Exit(1)
    eng.delete_collection()
    if as_json:
        emit_json({"deleted": collection})
    else:
        err.print(f"deleted collection {collection!r}")


def _repair(home: Path, collection: str, embedder: str | None, as_json: bool) -> None:
    from ..engine import Engine

    cfg = load_config(home, collection, embedder={"name": embedder})
    done = Engine(home, collection=collection, config=cfg).repair()
    if as_json:
        emit_json({"collection": collection, "repaired": done})
        return
    for line in done or [f"collection {collection!r} needed no repair"]:
        err.print(line, highlight=False, soft_wrap=True)


_CONTEXT_WORDS = {"headers": "headers", "late": "late_chunking", "llm": "llm"}


def _context_flags(value: str | None) -> dict[str, bool | None]:
    """``--context headers,late`` → the ContextConfig switches (all three set, so unnamed ones turn off)."""
    if value is None:
        return {}
    words = {w.strip().lower() for w in value.split(",") if w.strip()}
    unknown = words - set(_CONTEXT_WORDS) - {"none"}
    if unknown:
        raise ConfigError(
            f"--context: unknown {', '.join(sorted(unknown))}; use any of {', '.join(_CONTEXT_WORDS)}, or none"
        )
    return {field: word in words for word, field in _CONTEXT_WORDS.items()}
