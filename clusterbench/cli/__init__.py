"""The ``clusterbench`` command: thin Typer modules over the library.

Each sub-module defines plain functions; they are registered here explicitly (no discovery magic).
User errors (``ClusterbenchError``) become one paragraph on stderr and exit code 1.
"""

from __future__ import annotations

import errno
import sys

import typer
from rich.console import Console
from rich.markup import escape  # user text (names, paths, hints) is never Rich markup

from clusterbench.errors import ClusterbenchError

app = typer.Typer(
    name="clusterbench",
    help="Benchmark deep clustering: fetch data sets, run methods over seeds, report the papers' tables.",
    epilog=(
        "\b\nExamples:\n"
        "  clusterbench fetch fashion-mnist\n"
        "  clusterbench run kmeans dual-aae --seeds 3 --set dual-aae.epochs=20\n"
        "  clusterbench summary\n"
        "  clusterbench report --table 1\n"
        "  clusterbench reproduce --paper dls --table 3 --dry-run\n"
        "  clusterbench methods dual-aae\n"
        "\b\nEnvironment:\n"
        "  CLUSTERBENCH_HOME     where data sets, weights and runs live (default: the per-user cache dir)\n"
        "  CLUSTERBENCH_RESULTS  the results home alone (default: $CLUSTERBENCH_HOME/runs)\n"
        "  CLUSTERBENCH_QUIET    1: no progress lines or bars (as `run --quiet`)"
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain (click-style) help: flags shown as flags (Typer's Rich panels print "--json <bool>"),
    # "[default: ...]" texts kept (Rich read them as markup and dropped them), pipe-friendly.
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
err_console = Console(stderr=True)
#: OSErrors that mean "this place cannot be written", not a bug.
_USER_FS_ERRORS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.EEXIST, errno.EISDIR,
                   errno.ENOSPC, errno.EDQUOT}


def _register() -> None:
    # lazy: each command module imports its library on call, so `clusterbench --help` stays fast
    from clusterbench.cli import data as data_cli
    from clusterbench.cli import report as report_cli
    from clusterbench.cli import run as run_cli

    app.command("datasets")(data_cli.datasets)
    app.command("fetch")(data_cli.fetch)
    app.command("fetch-weights")(data_cli.fetch_weights)
    app.command("report")(report_cli.report)
    app.command("run")(run_cli.run)
    app.command("runs")(run_cli.runs)
    app.command("merge")(run_cli.merge)
    from clusterbench.cli import check as check_cli; app.command("check")(check_cli.check)  # noqa: E702
    from clusterbench.cli import methods as methods_cli; app.command("methods")(methods_cli.methods)  # noqa: E702
    from clusterbench.cli import summary as summary_cli; app.command("summary")(summary_cli.summary)  # noqa: E702
    from clusterbench.cli import simclr as simclr_cli; app.command("simclr")(simclr_cli.simclr)  # noqa: E702
    from clusterbench.cli import retrieval as retrieval_cli; app.command("retrieval")(retrieval_cli.retrieval)  # noqa: E702
    from clusterbench.cli import selection as selection_cli; app.command("model-centrality")(selection_cli.model_centrality)  # noqa: E702
    from clusterbench.cli import reproduce as reproduce_cli; app.command("reproduce")(reproduce_cli.reproduce)  # noqa: E702


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
        err_console.print(f"[bold red]Error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except OSError as exc:  # a place the user named cannot be written (read-only, under a file, full)
        if exc.errno not in _USER_FS_ERRORS:
            raise  # anything else is a bug: keep the traceback
        if exc.errno in (errno.ENOSPC, errno.EDQUOT) and exc.filename:
            from clusterbench.fsutil import disk_full_error  # lazily: only on this error path

            err_console.print(f"[bold red]Error:[/] {escape(str(disk_full_error(exc.filename)))}", highlight=False,
                              soft_wrap=True)
            sys.exit(1)
        where = exc.filename or "a file"
        err_console.print(
            f"[bold red]Error:[/] Cannot write {escape(str(where))}: {escape(str(exc.strerror or exc))}. Check that the folder exists, is a "
            "folder (not a file) and is writable, or choose another place (--out, --results, CLUSTERBENCH_HOME).",
            highlight=False, soft_wrap=True,
        )
        sys.exit(1)
    except KeyboardInterrupt:
        err_console.print("[yellow]Interrupted.[/] Finished work was kept.")
        sys.exit(130)
