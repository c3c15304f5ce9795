"""The ``kenning`` command: a thin shell over :class:`~kenning.engine.Engine`.

Every command takes ``--home`` (or ``$KENNING_HOME``) and ``--json``; with ``--json`` the result goes to stdout as
JSON and everything for people (progress, tables, warnings) goes to stderr. This is the one place kenning's errors
become exit codes: 1 for a kenning error, 2 for bad usage.

Commands live by concept: ``collections.py`` (index, search, info…), ``answering.py`` (ask, verify, train),
``evaluation.py`` (eval …). Importing them registers them on ``app``.

One door: commands reach kenning through :class:`~kenning.engine.Engine` and :mod:`kenning.door` (models by name,
verifying a file, training the verifier), never a stage's internals (retrieve, index, verify, generate, rerank,
providers …), so every setting means on the command line what it means to the HTTP server and MCP. The evaluation
commands (``eval``, ``sweep``, ``synth``, ``tune``) also call the :mod:`kenning.evaluate` and :mod:`kenning.train`
facades: they are harnesses over many Engines, and putting each behind Engine would be out of proportion.
``tests/test_engine_door.py`` enforces this.
"""

from __future__ import annotations

import os
import sqlite3
import sys
from typing import Any, NoReturn

import typer
from rich.markup import escape

from ..errors import KenningError, storage_error
from . import collections  # noqa: F401 - registered first, so its commands (index, search …) lead kenning --help

# isort: split
from . import answering, answers_eval, evaluation, graph, mcp, plan, serving, sweep, synth, tuning  # noqa: F401 - registers the commands
from ._shared import app, err, resolve_home

__all__ = ["app", "main"]


def main() -> None:
    """Entry point: kenning's errors become one line and exit code 1, usage errors one line and exit code 2; a disk
    that is full, read-only or not a folder is said so in one line naming the file, never as a traceback."""
    try:
        code = app(standalone_mode=False)  # typer.Exit(n) raised by a command comes back as n
    except KenningError as exc:
        _fail(str(exc))
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err.print("aborted")
        sys.exit(1)
    except (OSError, sqlite3.Error) as exc:
        mapped = storage_error(exc, _home_argument())
        _fail(str(mapped) if mapped else _os_message(exc))
    except Exception as exc:  # usage errors: click's, or the copy of click that newer typer releases vendor
        if isinstance(exc, _usage_errors()):
            if type(exc).__name__ == "NoArgsIsHelpError" or not hasattr(exc, "ctx"):
                exc.show()  # the help text itself, or a plain ClickException's message
            else:
                _usage(exc)
            sys.exit(exc.exit_code)
        raise
    sys.exit(code if isinstance(code, int) else 0)


def _fail(message: str) -> NoReturn:
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    sys.exit(1)


def _usage(exc: Any) -> None:
    """A usage error as one line: what is wrong, and the command whose --help explains it."""
    ctx = exc.ctx
    hint = f" (see: {ctx.command_path} --help)" if ctx is not None else ""
    err.print(f"[bold red]error:[/] {escape(exc.format_message() + hint)}", highlight=False, soft_wrap=True)


def _os_message(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        where = f": {os.fsdecode(exc.filename)}" if exc.filename else ""
        return f"{exc.strerror or exc}{where}"
    return f"the index database failed ({exc}) under {_home_argument()}"


def _home_argument() -> str:
    """The index folder this command names (``--home``, ``$KENNING_HOME`` or the default), for messages."""
    args = sys.argv[1:]
    for i, arg in enumerate(args):
        if arg == "--home" and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith("--home="):
            return arg.split("=", 1)[1]
    return str(resolve_home(None))


def _usage_errors() -> tuple[type[Exception], ...]:
    import click

    found: list[type[Exception]] = [click.ClickException]
    try:
        from typer._click.exceptions import ClickException as Vendored
    except ImportError:
        pass
    else:
        found.append(Vendored)
    return tuple(found)
