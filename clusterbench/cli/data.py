"""``clusterbench datasets`` and ``clusterbench fetch``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from clusterbench import paths
from clusterbench.cli.output import stdout_console
from clusterbench.data.registry import load_registry
from clusterbench.errors import ConfigError

console = Console()
err_console = Console(stderr=True)


def _size(path: Path) -> str:
    if not path.exists():
        return "-"
    n = float(path.stat().st_size)
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return ""


def datasets(
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List every registered data set: papers and tables that use it, size, fetched or not."""
    rows = []
    for name, s in load_registry().items():
        f = paths.dataset_file(name)
        rows.append(
            {
                "name": name,
                "title": s.title,
                "used_by": list(s.used_by),
                "samples": s.n_samples,
                "sample_shape": list(s.sample_shape) if s.sample_shape else None,
                "classes": s.n_clusters,
                "source": s.source,
                "fetched": f.exists(),
                "size_bytes": f.stat().st_size if f.exists() else None,
                "user": s.user,
            }
        )
    if json_out:
        typer.echo(json.dumps(rows, indent=2))
        return
    t = Table(title=f"clusterbench data sets (home: {paths.home()})")
    for col in ("name", "used by (paper: tables)", "samples", "shape", "classes", "source", "size", "fetched"):
        t.add_column(col, overflow="fold")
    for r in rows:
        t.add_row(
            r["name"],
            "\n".join(r["used_by"]),
            f"{r['samples']:,}" if r["samples"] else "?",
            "x".join(map(str, r["sample_shape"])) if r["sample_shape"] else "?",
            str(r["classes"]),
            r["source"],
            _size(paths.dataset_file(r["name"])),
            "[green]yes[/]" if r["fetched"] else "no",
        )
    stdout_console().print(t)


def _setup_logging() -> None:
    """Show clusterbench's INFO log lines (fallback mirrors, recorded checksums) on stderr."""
    import logging

    from rich.logging import RichHandler

    logger = logging.getLogger("clusterbench")
    if not any(getattr(h, "_clusterbench", False) for h in logger.handlers):
        from clusterbench.data.download import stderr_console  # lazy: the download stack, only to log

        h = RichHandler(console=stderr_console(), show_time=False, show_path=False, markup=False)
        h._clusterbench = True  # type: ignore[attr-defined]
        logger.addHandler(h)
    logger.setLevel(logging.INFO)


def fetch(
    names: Annotated[Optional[list[str]], typer.Argument(help="Data set names (see `clusterbench datasets`).")] = None,
    mirror: Annotated[
        Optional[str], typer.Option("--mirror", help="A local directory or URL prefix holding the same raw files; tried first.")
    ] = None,
    from_file: Annotated[
        Optional[Path],
        typer.Option("--from", help="Your copy of the raw file (data sets without a public copy), or a .npz/.csv/.h5 to register with --name."),
    ] = None,
    name: Annotated[Optional[str], typer.Option("--name", help="Register --from FILE as a new data set with this name.")] = None,
    label_column: Annotated[str, typer.Option("--label-column", help="Label column of a .csv given with --from/--name.")] = "label",
    n_clusters: Annotated[Optional[int], typer.Option("--n-clusters", help="Clusters of a registered data set (default: distinct labels).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Download and preprocess again even if intact files exist.")] = False,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="No progress bars.")] = False,
) -> None:
    """Download, verify and preprocess data sets into HDF5 (or register your own with --from/--name)."""
    import time

    # lazy: the download and preprocessing stack, only for `fetch` (not `datasets` or --help)
    from clusterbench.data.fetch import fetch as do_fetch
    from clusterbench.data.fetch import is_fetched
    from clusterbench.errors import ClusterbenchError

    _setup_logging()
    if name is not None:
        if from_file is None:
            raise ConfigError("--name registers a data set from a file and needs --from FILE.")
        if names:
            raise ConfigError("Give either data set names to fetch, or --from FILE --name NAME, not both.")
        from clusterbench.data.byod import register_local  # lazy: only for --from/--name

        info = register_local(from_file, name=name, label_column=label_column, n_clusters=n_clusters, force=force)
        _done(info, "registered")
        return
    if not names:
        raise ConfigError("Name at least one data set to fetch.", hint="`clusterbench datasets` lists them.")
    if from_file is not None and len(names) != 1:
        raise ConfigError("--from FILE goes with exactly one data set name.")
    names = list(dict.fromkeys(names))
    if len(names) == 1:  # one data set: its error is the command's error
        t0 = time.perf_counter()
        cached = is_fetched(names[0]) and not force and from_file is None
        info = do_fetch(names[0], mirror=mirror, from_file=from_file, force=force, progress=not no_progress)
        _done(info, "cached" if cached else f"{time.perf_counter() - t0:.1f} s")
        return
    rows, failed = [], []
    for n in names:
        t0 = time.perf_counter()
        try:
            cached = is_fetched(n) and not force
            info = do_fetch(n, mirror=mirror, force=force, progress=not no_progress)
        except ClusterbenchError as exc:
            err_console.print(f"[bold red]Error ({escape(n)}):[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
            rows.append((escape(n), "[red]failed[/]", "", "", ""))
            failed.append(n)
            continue
        shape = "x".join(map(str, info.sample_shape))
        status = "cached" if cached else f"fetched in {time.perf_counter() - t0:.1f} s"
        rows.append((escape(n), f"[green]{status}[/]", f"{info.n_samples:,}", shape, str(info.n_clusters)))
    t = Table(title="fetch summary")
    for col in ("data set", "status", "samples", "shape", "classes"):
        t.add_column(col)
    for r in rows:
        t.add_row(*r)
    stdout_console().print(t)
    if failed:
        raise ClusterbenchError(
            f"{len(failed)} of {len(names)} data sets could not be fetched: {', '.join(failed)}.",
            hint="See the messages above.",
        )


def _done(info, status: str) -> None:
    shape = "x".join(map(str, info.sample_shape))
    console.print(
        f"[green]✓[/] {escape(info.name)}: {info.n_samples:,} samples of shape {shape}, {info.n_clusters} clusters"
        f" → {escape(str(info.path))} ({status})",
        highlight=False,
    )


def fetch_weights(
    name: Annotated[str, typer.Argument(help="Weights name: inception-fid (the Inception-v3 of FID).")],
    mirror: Annotated[
        Optional[str], typer.Option("--mirror", help="A local directory or URL prefix holding the same file name; tried first.")
    ] = None,
    from_file: Annotated[Optional[Path], typer.Option("--from", help="Your copy of the weights file (its published name).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Download again even if an intact file exists.")] = False,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="No progress bar.")] = False,
) -> None:
    """Download and verify the pretrained weights of an evaluator's feature network (FID)."""
    from clusterbench.evaluate.weights import fetch_weights as do_fetch  # lazy: torch, only for this command

    _setup_logging()
    path = do_fetch(name, mirror=mirror, from_file=from_file, force=force, progress=not no_progress)
    typer.echo(f"{name}: {path}")
