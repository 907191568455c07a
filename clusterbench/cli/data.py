"""``clusterbench datasets`` and ``clusterbench fetch``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from clusterbench import paths
from clusterbench.data.registry import load_registry
from clusterbench.errors import ConfigError

console = Console()


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
    console.print(t)


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
) -> None:
    """Download, verify and preprocess data sets into HDF5 (or register your own with --from/--name)."""
    from clusterbench.data.fetch import fetch as do_fetch

    if name is not None:
        if from_file is None:
            raise ConfigError("--name registers a data set from a file and needs --from FILE.")
        if names:
            raise ConfigError("Give either data set names to fetch, or --from FILE --name NAME, not both.")
        from clusterbench.data.byod import register_local

        info = register_local(from_file, name=name, label_column=label_column, n_clusters=n_clusters, force=force)
        _done(info)
        return
    if not names:
        raise ConfigError("Name at least one data set to fetch.", hint="`clusterbench datasets` lists them.")
    if from_file is not None and len(names) != 1:
        raise ConfigError("--from FILE goes with exactly one data set name.")
    for n in names:
        info = do_fetch(n, mirror=mirror, from_file=from_file, force=force)
        _done(info)


def _done(info) -> None:
    shape = "x".join(map(str, info.sample_shape))
    console.print(
        f"[green]✓[/] {info.name}: {info.n_samples:,} samples of shape {shape}, {info.n_clusters} clusters"
        f" → {info.path}"
    )
