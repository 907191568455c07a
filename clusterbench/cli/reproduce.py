"""``clusterbench reproduce``: plan (with costs), fetch, run (locally or on Slurm), render a
paper's tables. The library is :mod:`clusterbench.runner.reproduce`; this module parses and prints."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console

from clusterbench.errors import ConfigError, UnknownNameError

err = Console(stderr=True)
FORMATS = ("md", "latex", "csv", "json")


def reproduce(
    paper: Annotated[str, typer.Option("--paper", "-p", help="Paper id: dual-aae, dls, dc3, clustergan-bspl or a table plug-in's.", show_default=False)],
    table: Annotated[Optional[list[str]], typer.Option("--table", "-t", help="Table number; repeat for several. [default: every table of the paper]", show_default=False)] = None,
    dataset: Annotated[Optional[list[str]], typer.Option("--dataset", "-d", help="Only the cells of this data set; repeatable.", show_default=False)] = None,
    method: Annotated[Optional[list[str]], typer.Option("--method", "-m", help="Only the cells of this method; repeatable.", show_default=False)] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan (runs, data to fetch, estimated time) and stop.")] = False,
    budget: Annotated[Optional[str], typer.Option("--budget", help="Shorten every run's schedule (epochs, iterations) to this share, e.g. 10%. Such runs never fill the paper's cells: they render in a table of their own.", show_default=False)] = None,
    scale: Annotated[Optional[float], typer.Option("--scale", help="The same as --budget, as a fraction (0.1 = 10%).", show_default=False)] = None,
    max_hours: Annotated[Optional[float], typer.Option("--max-hours", help="Refuse (before anything runs) a plan whose estimated run time is longer.", show_default=False)] = None,
    device: Annotated[str, typer.Option("--device", help="auto | cpu | cuda (used by deep methods).")] = "auto",
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="Parallel runs (local: process pool).")] = 1,
    executor: Annotated[str, typer.Option("--executor", help="local | slurm (one job array per method x data set).")] = "local",
    partition: Annotated[Optional[str], typer.Option("--partition", help="Slurm partition.")] = None,
    time_limit: Annotated[Optional[str], typer.Option("--time", help="Slurm time limit per run. [default: from the plan: 1.5 x the estimate + 10 min]", show_default=False)] = None,
    gpus: Annotated[int, typer.Option("--gpus", help="Slurm GPUs per run of a deep method (classical methods get none).")] = 0,
    cpus: Annotated[int, typer.Option("--cpus", help="Slurm CPUs per run.")] = 1,
    mem: Annotated[Optional[str], typer.Option("--mem", help="Slurm memory per run, e.g. 16G.")] = None,
    no_wait: Annotated[bool, typer.Option("--no-wait", help="Slurm: return right after submission; run the same command again to collect and render.")] = False,
    mirror: Annotated[Optional[str], typer.Option("--mirror", help="A folder or URL prefix holding the raw files, tried first when fetching.")] = None,
    no_calibrate: Annotated[bool, typer.Option("--no-calibrate", help="Do not measure missing calibrations (their estimates show as unknown).")] = False,
    fmt: Annotated[str, typer.Option("--format", "-f", help="md, latex, csv or json.")] = "md",
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write the rendered tables to this file instead of stdout.")] = None,
    results: Annotated[Optional[Path], typer.Option("--results", help="Results home (default: $CLUSTERBENCH_HOME/runs).")] = None,
) -> None:
    """Reproduce a paper's tables: plan with costs, fetch, run every measured cell, render.

    One run fills every cell that asks for the same method, data set, settings and seed; finished
    runs are skipped, Ctrl-C keeps them. The plan (printed first; all of --dry-run) gives per
    method x data set the runs, what is done, the data to fetch and the estimated time per run
    and in total on the chosen device, from a calibration measured on this machine and stored in
    the results home (it says which figures are calibrated and which extrapolated).

    \b
    Examples:
      clusterbench reproduce --paper dls --table 3 --dry-run
      clusterbench reproduce --paper dls --table 3 --method kmeans --dataset mnist
      clusterbench reproduce --paper dual-aae --table 1 --budget 10%      # a laptop's look
      clusterbench reproduce --paper dls --table 3 --executor slurm --gpus 1 --partition gpu --no-wait
    """
    import os

    # lazy: loaded on use (torch, h5py, scikit-learn or the runner behind it), not on import
    from clusterbench import paths
    from clusterbench.fsutil import write_text_atomic
    from clusterbench.runner import reproduce as R
    from clusterbench.schedule import parse_budget, schedule_text

    # lazy: loaded on use (torch, h5py, scikit-learn or the runner behind it), not on import
    from clusterbench.cli.run import check_run_options

    check_run_options(executor=executor, device=device, jobs=jobs, no_wait=no_wait)
    if gpus < 0:
        raise ConfigError(f"--gpus must be 0 or more, got {gpus}.")
    if fmt not in FORMATS:
        raise UnknownNameError("format", fmt, FORMATS)
    frac = parse_budget(budget, scale)
    if time_limit is not None:
        # lazy: loaded on use (torch, h5py, scikit-learn or the runner behind it), not on import
        from clusterbench.runner.executors import parse_time_minutes

        time_limit = str(parse_time_minutes(time_limit))
    home = paths.results_home(results, writable=not dry_run)

    # 1-2. select and plan (nothing runs before both are valid)
    sel = R.select(paper, table or (), datasets=dataset or (), methods=method or ())
    if executor == "local" and not dry_run:
        # lazy: loaded on use (torch, h5py, scikit-learn or the runner behind it), not on import
        from clusterbench.runner import LocalExecutor

        LocalExecutor.for_device(jobs, device)  # --device cuda without a GPU: refused here
    plan = R.make_plan(sel, home, device=device, executor=executor, gpus=gpus, scale=frac,
                       calibrate=not no_calibrate, on_calibrate=lambda m: err.print(m, highlight=False))
    typer.echo(R.plan_text(plan, jobs=jobs, executor=executor), nl=False)
    R.check_budget(plan, max_hours)
    if dry_run:
        return

    # 3. data, once, before any run or submission
    R.fetch_missing(plan, mirror=mirror, on_fetch=lambda m: err.print(m, highlight=False))

    # 4. run
    from clusterbench.runner import LocalExecutor, run_grid

    ex: Any
    if executor == "local":
        ex = LocalExecutor.for_device(jobs, device)
    else:
        ex = R.ArraySlurmExecutor(plan, partition=partition, time=time_limit, gpus=gpus, cpus=cpus, mem=mem,
                                  wait=not no_wait)
    os.environ.setdefault("CLUSTERBENCH_QUIET", "1")  # one line per run, not per epoch, in a long grid

    def on_plan(g) -> None:
        p = g.plan
        msg = f"{len(g.specs)} run(s); {len(p.skipped)} finished (skipped)"
        if p.retried:
            msg += f"; retrying {p.retried} failed"
        err.print(msg + f"; running {len(p.to_run)}.", highlight=False)

    def on_done(res: dict[str, Any]) -> None:
        tag = "ok" if res["status"] == "ok" else "failed"
        line = f"{tag} {res['method']} / {res['dataset']} / seed {res['seed']}"
        if res.get("total_s") is not None:
            line += f" ({res['total_s']:.1f} s)"
        if res["status"] != "ok":
            line += f"  {res['error']}"
        err.print(line, highlight=False)

    t0 = time.perf_counter()
    g = run_grid(plan.requests, home, executor=ex, on_plan=on_plan, on_done=on_done)
    wall = time.perf_counter() - t0
    if not g.waited and not ex.job_ids:
        err.print(f"Nothing new to submit: {len(g.plan.to_run)} run(s) are still queued on Slurm from an earlier "
                  "submission. Run the same command again to collect and render.", highlight=False, soft_wrap=True)
        return
    if not g.waited:
        err.print(f"Submitted {len(ex.job_ids)} Slurm job(s) in {len(ex.arrays)} array(s) ({ex.summary()}); logs "
                  f"under {home / '.slurm'}. Run the same command again (without --no-wait) to collect and render.",
                  highlight=False, soft_wrap=True)
        return
    if g.plan.to_run:
        err.print(f"Ran {len(g.plan.to_run)} run(s) in {wall:.1f} s of wall time (the plan estimated "
                  f"{plan.total_s:.1f} s of run time).", highlight=False)

    # 5. render
    text = R.render_selection(sel, home, scale=frac, fmt=fmt)
    if frac is not None:
        err.print(f"The tables below are {schedule_text(frac)}: not a reproduction. The paper's cells: "
                  f"`clusterbench report --paper {paper}`.", highlight=False, soft_wrap=True)
    if out is None:
        typer.echo(text, nl=False)
    else:
        write_text_atomic(out, text)
        err.print(f"Wrote {out}", highlight=False)
    if g.n_failed:
        err.print(f"{g.n_failed} run(s) failed (`clusterbench runs --status failed --results {home}`); the same "
                  "command retries them.", highlight=False, soft_wrap=True)
        raise typer.Exit(1)
