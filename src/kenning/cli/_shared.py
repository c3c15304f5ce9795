"""What every kenning command shares: the Typer apps, common options, config loading and JSON output."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from ..config import KenningConfig, default_home

__all__ = [
    "app",
    "eval_app",
    "train_app",
    "err",
    "HomeOpt",
    "CollectionOpt",
    "JsonOpt",
    "LlmOpt",
    "TransformOpt",
    "RerankOpt",
    "load_config",
    "resolve_home",
    "emit_json",
    "llm_stage",
    "LOOPBACK",
]

app = typer.Typer(
    name="kenning",
    help="Retrieval you can trust: index documents, search them, answer with checked citations, measure the results.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
eval_app = typer.Typer(help="Measure retrieval and answer quality.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")
train_app = typer.Typer(help="Train kenning's own models from data it has.", no_args_is_help=True)
app.add_typer(train_app, name="train")


@app.callback()
def _store_option(
    store: Annotated[
        str | None,
        typer.Option(
            "--store",
            envvar="KENNING_STORE",
            help="Where collections are kept: postgresql://user@host/db for a shared PostgreSQL database "
            "(pip install 'kenning\\[postgres]'); default the --home folder (SQLite). Overrides \\[store] url.",
        ),
    ] = None,
) -> None:
    """Retrieval you can trust: index documents, search them, answer with checked citations, measure the results."""
    if store is not None:
        # every command (and every Engine it builds, a server's included) reads settings through KenningConfig.load,
        # which lays $KENNING_STORE over kenning.toml: one place, the same meaning on every door
        os.environ["KENNING_STORE"] = store


err = Console(stderr=True)

LOOPBACK = ("127.0.0.1", "::1", "localhost")
"""Host names a server may bind without serving other machines (kenning serve, kenning mcp --http)."""

HomeOpt = Annotated[
    Path | None, typer.Option("--home", envvar="KENNING_HOME", help="Index folder (default ~/.kenning).")
]
CollectionOpt = Annotated[str, typer.Option("--collection", "-c", help="Collection name.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]
LlmOpt = Annotated[
    str | None,
    typer.Option(
        "--llm",
        help="PROVIDER:MODEL, e.g. openai:gpt-4o-mini, anthropic:claude-3-5-haiku-latest, local:smollm2, none.",
    ),
]

TransformOpt = Annotated[
    str | None,
    typer.Option(help="Query transform: none, hyde or multi (default: [retrieval] transform)."),
]
RerankOpt = Annotated[
    str | None,
    typer.Option(
        "--rerank",
        help="auto (the collection's own reranker), llm (the configured LLM, else the local one) or none "
        "(default: [retrieval] rerank).",
    ),
]


def load_config(home: Path, collection: str | None = None, **stages: dict[str, Any]) -> KenningConfig:
    """kenning.toml (with ``[collections.<collection>]`` applied) under the options given on the command line."""
    return KenningConfig.load(home, collection, **stages)


def resolve_home(home: Path | None) -> Path:
    return home.expanduser() if home else default_home()


def home_and_config(
    home: Path | None, llm: str | None = None, base_url: str | None = None, *, collection: str | None = None
) -> tuple[Path, KenningConfig]:
    """The index folder and its settings, with ``--llm`` / ``--llm-base-url`` laid over ``kenning.toml`` (and its
    ``[collections.<collection>]`` sections)."""
    h = resolve_home(home)
    return h, load_config(h, collection, llm=llm_stage(llm, base_url))


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=_default) + "\n")


def _default(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj):
        return dataclasses.asdict(obj)
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, set | frozenset):
        return sorted(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__}")


def llm_stage(llm: str | None, base_url: str | None = None) -> dict[str, Any]:
    """``[llm]`` settings from ``--llm PROVIDER:MODEL`` and ``--llm-base-url``."""
    if not llm and not base_url:
        return {}
    from ..door import llm_settings

    stage = llm_settings(llm) if llm else {}
    if base_url:
        stage["base_url"] = base_url
    elif llm:
        # another provider on the command line must not inherit kenning.toml's server URL ("" = its default)
        stage.setdefault("base_url", "")
    return stage
