"""``clusterbench model-centrality``: select the central model of a pool of finished runs
(InfoGAN-CR's ModelCentrality; DC3 Table 3's "+ MC" rows). See
:mod:`clusterbench.runner.model_centrality`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from clusterbench import paths

out = Console()


def model_centrality(
    method: Annotated[str, typer.Argument(help="infogan-cr or dc3-gan-dsprites.", show_default=False)],
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="Data set name.")] = "dsprites",
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Pool filter key=value: only runs with this option value; repeatable.")] = None,
    grid: Annotated[int, typer.Option("--grid", help="Values per code in the pairwise FactorVAE scores.")] = 100,
    scale: Annotated[float, typer.Option("--scale", help="Fraction of FactorVAE's sample sizes (1 = the library's).")] = 1.0,
    device: Annotated[str, typer.Option("--device", help="auto | cpu | cuda.")] = "auto",
    results: Annotated[Optional[Path], typer.Option("--results", help="Results home (default: $CLUSTERBENCH_HOME/runs).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the selection record as JSON.")] = False,
) -> None:
    """Pool the finished runs of METHOD on the data set (seeds x the options that differ), select
    the most central model and write its record (config model_selection=model-centrality), which
    fills the report's "+ MC" rows; the record lists the pool."""
    # lazy: torch, the methods and scikit-learn only when the command runs (fast `--help`)
    from clusterbench.runner.model_centrality import select
    from clusterbench.runner.spec import parse_overrides
    from clusterbench.runtime import resolve_device

    overrides = parse_overrides(set_, [method])[method]  # the one --set parser (as `run`)
    home = paths.results_home(results, writable=True)
    rec = select(home, method, dataset, overrides, grid=grid, scale=scale, device=resolve_device(device))
    info = rec.extras["model_selection"]
    if json_out:
        out.print_json(json.dumps(rec.to_dict()))
        return
    out.print(f"ModelCentrality over {len(info['pool'])} runs of {method} on {dataset}: selected {info['selected'][:12]} "
              f"(seed {info['selected_seed']}); record {rec.key[:12]}", highlight=False)
    for p in info["pool"]:
        mark = "*" if p["key"] == info["selected"] else " "
        out.print(f" {mark} {p['key'][:12]} seed {p['seed']}: centrality {p['centrality']:.3f}", highlight=False)
