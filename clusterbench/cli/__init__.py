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
    from clusterbench.cli import report as report_cli
    from clusterbench.cli import run as run_cli

    app.command("datasets")(data_cli.datasets)
    app.command("fetch")(data_cli.fetch)
    app.command("report")(report_cli.report)
    app.command("run")(run_cli.run)
    app.command("runs")(run_cli.runs)
    app.command("merge")(run_cli.merge)
    from clusterbench.cli import check as check_cli; app.command("check")(check_cli.check)  # noqa: E702
    from clusterbench.cli import retrieval as retrieval_cli; app.command("retrieval")(retrieval_cli.retrieval)  # noqa: E702


_register()


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point.

    Typer runs in standalone mode, so usage errors (unknown option, bad value) print the usage
    and exit with code 2; clusterbench's own user errors print one paragraph and exit with 1.
    """
    try:
        app(args=argv, prog_name="clusterbench")
    except SystemExit as exc:  # standalone mode always exits; success returns normally
        if exc.code not in (0, None):
            raise
    except ClusterbenchError as exc:
        err_console.print(f"[bold red]Error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err_console.print("[yellow]Interrupted.[/] Finished work was kept.")
        sys.exit(130)
