"""``kenning mcp``: the collections of one home as an MCP server, over stdio or streamable HTTP."""

from __future__ import annotations

from typing import Annotated

import typer

from ..errors import ConfigError, check_choice
from ._shared import LOOPBACK, CollectionOpt, HomeOpt, LlmOpt, app, err, home_and_config

ANSWER_MODES = ("auto", "generate", "extractive")


@app.command("mcp")
def mcp_cmd(
    home: HomeOpt = None,
    collection: CollectionOpt = "default",
    http: Annotated[bool, typer.Option("--http", help="Serve streamable HTTP instead of stdio.")] = False,
    host: Annotated[str, typer.Option(help="With --http: the address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="With --http: the port.")] = 8765,
    mode: Annotated[
        str | None,
        typer.Option(
            help="Answer mode of the ask tool: auto, generate or extractive (default: answer.mode in kenning.toml)."
        ),
    ] = None,
    llm: LlmOpt = None,
) -> None:
    """Serve search_docs, fetch_doc, ask and list_collections to MCP clients (all read-only).

    stdio by default, for a client that starts kenning itself; --http serves streamable HTTP at http://HOST:PORT/mcp.
    Tools take a collection name (default --collection); chunks are resources kenning://COLLECTION/chunks/CHUNK_ID.
    """
    if mode is not None:
        check_choice("--mode", mode, ANSWER_MODES)
    if http and host not in LOOPBACK:
        raise ConfigError(
            f"--host {host}: the MCP HTTP transport has no API keys, so it serves this machine (loopback) only; "
            "remote clients use kenning serve with keys"
        )
    from ..serve import Engines
    from ..serve.mcp import build_server  # raises MissingExtraError without the mcp package

    h, cfg = home_and_config(home, llm)  # each collection's [collections.NAME] settings apply in its own Engine
    engines = Engines(h, config=cfg)
    server = build_server(engines, collection=collection, mode=mode)
    try:
        if http:
            err.print(f"kenning MCP server on http://{host}:{port}/mcp (collection {collection!r}, home {h})")
            server.run("streamable-http", host=host, port=port)
        else:
            server.run("stdio")
    finally:
        engines.close()
