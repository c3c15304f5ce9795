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

import sys

import typer

from ..errors import KenningError
from . import collections  # noqa: F401 - registered first, so its commands (index, search …) lead kenning --help

# isort: split
from . import answering, answers_eval, evaluation, mcp, serving, sweep, synth, tuning  # noqa: F401 - registers the commands
from ._shared import app, err

__all__ = ["app", "main"]


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
    except Exception as exc:  # usage errors: click's, or the copy of click that newer typer releases vendor
        if isinstance(exc, _usage_errors()):
            exc.show()
            sys.exit(exc.exit_code)
        raise


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
