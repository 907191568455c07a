"""Run the ``clusterbench`` CLI in-process in tests."""

from __future__ import annotations

import os

from clusterbench.cli import main


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    """``clusterbench ARGS`` in this process: (exit code, stdout, stderr). The environment is
    restored afterwards: a command may set variables for its own workers (``run --quiet`` sets
    ``CLUSTERBENCH_QUIET``), which must not leak into later tests of the same process."""
    saved = dict(os.environ)
    try:
        main(list(args))
        rc = 0
    except SystemExit as exc:
        rc = exc.code if isinstance(exc.code, int) else 1
    finally:
        os.environ.clear()
        os.environ.update(saved)
    out = capsys.readouterr()
    return rc, out.out, out.err
