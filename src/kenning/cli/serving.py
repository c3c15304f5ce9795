"""``kenning serve`` (the HTTP API and web UI) and ``kenning keys`` (the API keys it accepts)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import ConfigError, MissingExtraError
from ._shared import LOOPBACK, HomeOpt, JsonOpt, LlmOpt, app, emit_json, err, home_and_config, resolve_home

keys_app = typer.Typer(help="API keys for kenning serve: made once, stored hashed, scoped to collections.")
app.add_typer(keys_app, name="keys")


def _store(home: Path | None):
    from ..serve.keys import KeyStore

    return KeyStore(resolve_home(home) / "server" / "keys.json")


@app.command("serve")
def serve(
    home: HomeOpt = None,
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    host: Annotated[str, typer.Option(help="Address to bind; anything but loopback needs --public.")] = "127.0.0.1",
    public: Annotated[
        bool, typer.Option("--public", help="Listen on all interfaces (0.0.0.0 unless --host); needs API keys.")
    ] = False,
    require_keys: Annotated[
        bool, typer.Option("--require-keys", help="Refuse requests without a key, even from this machine.")
    ] = False,
    max_upload_mb: Annotated[int, typer.Option(help="Largest upload accepted, in MB.")] = 100,
    reports: Annotated[
        Path | None, typer.Option(help="Folder of evaluation reports the UI lists (default HOME/reports).")
    ] = None,
    llm: LlmOpt = None,
) -> None:
    """Serve the collections of HOME: JSON API, server-sent answers, /v1/chat/completions, web UI and /docs.

    Without a key only clients on this machine are served; make keys with `kenning keys add`.
    """
    try:
        import uvicorn

        from ..serve.app import ServerSettings, create_app
        from ..serve.pool import Engines
    except ImportError as exc:
        raise MissingExtraError(f"kenning serve needs its extra: pip install 'kenning[serve]' ({exc})") from None
    h, cfg = home_and_config(home, llm)
    if public and host in LOOPBACK:
        host = "0.0.0.0"
    if host not in LOOPBACK and not public:
        raise ConfigError(f"--host {host} exposes the server beyond this machine: add --public (and make API keys)")
    if public and not _store(h):
        raise ConfigError(
            "--public without API keys would serve anyone: make one first, e.g. kenning keys add NAME --scope read"
        )
    settings = ServerSettings(
        home=h, max_upload_bytes=max_upload_mb * 1024 * 1024, require_keys=require_keys or public, reports=reports
    )
    application = create_app(settings, engines=Engines(h, config=cfg))
    err.print(f"kenning serving {h} on http://{host}:{port}/ (API docs at /docs)")
    uvicorn.run(application, host=host, port=port, log_level="warning")


@keys_app.command("add")
def keys_add(
    name: Annotated[str, typer.Argument(help="A name for the key (who or what uses it).")],
    scope: Annotated[str, typer.Option(help="read, write (upload, delete documents) or admin.")] = "read",
    collection: Annotated[
        list[str] | None, typer.Option("--collection", "-c", help="A collection it reaches (repeat); default all.")
    ] = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Make a key and print it — the only time it is shown; the server stores its hash."""
    secret = _store(home).add(name, scope=scope, collections=collection or ["*"])
    if as_json:
        emit_json({"name": name, "scope": scope, "collections": collection or ["*"], "key": secret})
    else:
        err.print(f"key {name!r} ({scope} on {', '.join(collection or ['all collections'])}); it is shown only now:")
        typer.echo(secret)


@keys_app.command("list")
def keys_list(home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """The keys (names, scopes, collections; never the keys themselves)."""
    keys = _store(home).keys()
    if as_json:
        emit_json([{"name": k.name, "scope": k.scope, "collections": list(k.collections)} for k in keys])
        return
    for k in keys:
        typer.echo(f"{k.name}\t{k.scope}\t{','.join(k.collections)}")


@keys_app.command("revoke")
def keys_revoke(name: Annotated[str, typer.Argument()], home: HomeOpt = None) -> None:
    """Delete a key; a running server refuses it from its next request."""
    if not _store(home).revoke(name):
        raise ConfigError(f"no key named {name!r}")
    err.print(f"revoked {name!r}")
