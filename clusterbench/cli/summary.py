"""``clusterbench summary``: a table of the user's own runs (any grid of records)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from clusterbench.errors import ConfigError, UnknownNameError


def summary(
    metric: Annotated[Optional[list[str]], typer.Option("--metric", "-m", help="Metric key to show; repeat for several (default: acc and nmi; `clusterbench report --metrics` lists the keys).")] = None,
    method: Annotated[Optional[list[str]], typer.Option("--method", help="Only these methods.")] = None,
    dataset: Annotated[Optional[list[str]], typer.Option("--dataset", "-d", help="Only these data sets.")] = None,
    best: Annotated[bool, typer.Option("--best", help="Best of n seeds instead of mean ± std.")] = False,
    fmt: Annotated[str, typer.Option("--format", "-f", help="md, latex, csv or json.")] = "md",
    results: Annotated[Optional[Path], typer.Option("--results", help="Results home (default: $CLUSTERBENCH_HOME/runs).")] = None,
) -> None:
    """Summarise your runs: method x data set, mean ± std (n) of the chosen metrics over seeds.

    \b
    Examples:
      clusterbench summary
      clusterbench summary -m acc -m nmi -m ari --format latex
      clusterbench summary --method dual-aae --best
    """
    from clusterbench import paths
    from clusterbench.report.summary import FORMATS, render_summary, summarize_records

    if fmt not in FORMATS:
        raise UnknownNameError("format", fmt, FORMATS)
    home = Path(results).expanduser() if results is not None else paths.results_home()
    if results is not None and not home.is_dir():
        raise ConfigError(f"--results {home} is not a folder.", hint="Give the folder that holds the run records.")
    metrics = tuple(metric or ("acc", "nmi"))
    rows = summarize_records(home, metrics=metrics, methods=method, datasets=dataset)
    if not rows:
        typer.echo(f"No run records in {home} (run e.g. `clusterbench run kmeans --seeds 3` first).", err=True)
        return
    typer.echo(render_summary(rows, metrics, fmt, best=best), nl=False)
