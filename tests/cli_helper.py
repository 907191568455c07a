"""Run the ``clusterbench`` CLI in-process in tests."""

from __future__ import annotations

from clusterbench.cli import main


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    """``clusterbench ARGS`` in this process: (exit code, stdout, stderr)."""
    try:
        main(list(args))
        rc = 0
    except SystemExit as exc:
        rc = exc.code if isinstance(exc.code, int) else 1
    out = capsys.readouterr()
    return rc, out.out, out.err
