"""The ``clusterbench`` command: thin Typer modules over the library.

Each sub-module defines plain functions; they are registered here explicitly (no discovery magic).
User errors (``ClusterbenchError``) become one paragraph on stderr and exit code 1.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from clusterbench.errors import ClusterbenchError

app = typer.Typer(
    name="clusterbench",
    help="Benchmark deep clustering: fetch data sets, run methods over seeds, report the papers' tables.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err_console = Console(stderr=True)


def _register() -> None:
    from clusterbench.cli import data as data_cli

    app.command("datasets")(data_cli.datasets)
    app.command("fetch")(data_cli.fetch)
    from clusterbench.cli import run as run_cli  # noqa: E402
    app.command("run")(run_cli.run)
    app.command("runs")(run_cli.runs)
    app.command("merge")(run_cli.merge)


_register()


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    try:
        rc = app(args=argv, standalone_mode=False)
        if isinstance(rc, int) and rc:  # `raise typer.Exit(code)` returns the code in this mode
            sys.exit(rc)
    except ClusterbenchError as exc:
        err_console.print(f"[bold red]Error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err_console.print("[yellow]Interrupted.[/] Finished work was kept.")
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err_console.print("Aborted.")
        sys.exit(1)
    except Exception as exc:  # click usage errors
        try:  # typer >= 0.20 vendors click as typer._click
            from click.exceptions import ClickException
        except ImportError:
            from typer._click.exceptions import ClickException

        if isinstance(exc, ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise
