"""``clusterbench run``, ``clusterbench runs`` and ``clusterbench merge``: thin wrappers over
clusterbench.runner and clusterbench.results.

Progress: one Rich bar for the grid (on stderr, so ``--json`` output stays clean). Per-run progress
needs no new method interface: with ``--jobs 1`` the runner wraps the ``monitor`` callback it
passes to ``fit`` (methods.base) and ticks a per-run line each time the method calls it, which the
deep training loop does once per epoch (showing the epoch count, elapsed time and the last ACC).
Pool workers and Slurm jobs report per run only (started / finished).
"""

from __future__ import annotations

import contextlib
import json
import time
import warnings
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from clusterbench import paths
from clusterbench.cli.output import first_cell_hint, stdout_console
from clusterbench.progress import hms
from clusterbench.progress import quiet as progress_quiet
from clusterbench.progress import sink as note_sink
from clusterbench.errors import ClusterbenchError, ConfigError

err = Console(stderr=True)


def _out() -> Console:
    """stdout console; wide when not a terminal (pipes, logs) so tables are not squeezed to 80."""
    return stdout_console()


def _in_a_paper_table(datasets: set[str]) -> bool:
    """Whether a measured cell of any paper table reads one of ``datasets``."""
    import clusterbench.report.spec as S  # lazy: the table specs, only after a grid

    return any(c.dataset in datasets and not c.reported
               for p in S.load_papers().values() for spec in p.tables.values() for c in spec.iter_cells())


def _fmt(mean: float | None, std: float | None) -> str:
    return "-" if mean is None else f"{mean:.3f} ± {std:.3f}"


def check_run_options(*, executor: str, device: str, jobs: int, no_wait: bool) -> None:
    """The options ``run`` and ``reproduce`` share, checked before anything runs."""
    if executor not in ("local", "slurm"):
        raise ConfigError(f"--executor must be local or slurm, got {executor!r}.")
    if device not in ("auto", "cpu", "cuda"):
        raise ConfigError(f"--device must be auto, cpu or cuda, got {device!r}.")
    if jobs < 1:
        raise ConfigError(f"--jobs must be at least 1, got {jobs}.")
    if no_wait and executor != "slurm":
        raise ConfigError("--no-wait only applies to --executor slurm.")


def run(
    methods: Annotated[list[str], typer.Argument(help="Method names (METHODS registry).", show_default=False)],
    dataset: Annotated[
        Optional[list[str]],
        typer.Option("--dataset", "-d", help="Data set name; repeat for several. [default: digits, the embedded offline set]", show_default=False),
    ] = None,
    seeds: Annotated[int, typer.Option("--seeds", help="Number of seeds per method x data set.")] = 1,
    seed_start: Annotated[int, typer.Option("--seed-start", help="First seed (seeds are seed_start .. seed_start+N-1).")] = 0,
    subset: Annotated[Optional[int], typer.Option("--subset", help="Run on a stratified subset of N samples (fixed subset seed, part of the run key).")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Config override key=value (every method) or METHOD.key=value; repeatable.")] = None,
    device: Annotated[str, typer.Option("--device", help="auto | cpu | cuda (used by deep methods).")] = "auto",
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="Parallel runs (local: process pool; 1 = in this process).")] = 1,
    executor: Annotated[str, typer.Option("--executor", help="local | slurm")] = "local",
    partition: Annotated[Optional[str], typer.Option("--partition", help="Slurm partition.")] = None,
    time_limit: Annotated[str, typer.Option("--time", help="Slurm time limit per run: minutes, H:MM:SS, 2h ...")] = "60",
    gpus: Annotated[int, typer.Option("--gpus", help="Slurm GPUs per run.")] = 0,
    cpus: Annotated[int, typer.Option("--cpus", help="Slurm CPUs per run.")] = 1,
    mem: Annotated[Optional[str], typer.Option("--mem", help="Slurm memory per run, e.g. 16G.")] = None,
    no_wait: Annotated[bool, typer.Option("--no-wait", help="Slurm: return right after submission.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Rerun runs that already have an ok record.")] = False,
    results: Annotated[Optional[Path], typer.Option("--results", help="Results home (default: $CLUSTERBENCH_HOME/runs).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No per-epoch progress (bar or, when stderr is not a terminal, plain lines).")] = False,
    keep_checkpoints: Annotated[bool, typer.Option("--keep-checkpoints", help="Deep runs: keep the full checkpoint (optimizer and RNG state), not only the final weights model.pt.")] = False,
) -> None:
    """Run methods on data sets over seeds; one record per run in the results home.

    Finished ok runs are skipped (use --force to rerun); failed ones are retried.
    Exit code 1 when any run failed (reasons: `clusterbench runs --status failed`).

    \b
    Examples:
      clusterbench run kmeans dual-aae --seeds 3 --set dual-aae.epochs=20
      clusterbench run dual-aae --dataset fashion-mnist --subset 5000 --device cuda
      clusterbench run kmeans --dataset mnist --jobs 2 > log.txt   # plain progress lines in the log
    """
    import os

    if quiet:
        os.environ["CLUSTERBENCH_QUIET"] = "1"  # read by the training loop, inherited by workers
    quiet = progress_quiet()  # --quiet or CLUSTERBENCH_QUIET=1
    # lazy: the runner imports every method (torch) on first use; `clusterbench --help` must not
    from clusterbench.runner import GridRequest, GridResult, LocalExecutor, SlurmExecutor, run_grid
    from clusterbench.runner.executors import checkpoints_kept, records_written_since

    check_run_options(executor=executor, device=device, jobs=jobs, no_wait=no_wait)
    home = paths.results_home(results, writable=True)  # one paragraph for a place that cannot hold records
    request = GridRequest(tuple(methods), tuple(dataset or ["digits"]), seeds=seeds, seed_start=seed_start,
                          subset=subset, overrides=tuple(set_ or ()), device=device,
                          keep_checkpoints=keep_checkpoints)
    ex: Any
    if executor == "local":
        ex = LocalExecutor.for_device(jobs, device)  # --device cuda without a GPU fails here, before anything runs
    else:
        ex = SlurmExecutor(partition=partition, time=time_limit, gpus=gpus, cpus=cpus, mem=mem, wait=not no_wait)

    counts = {"ok": 0, "failed": 0}
    # a bar on a terminal; plain lines in a log (the bar is never started there, so no frame leaks)
    live = err.is_terminal
    progress = Progress(
        SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=err, transient=False,
    )
    grid_task = progress.add_task("grid", total=None, visible=False)
    run_task = progress.add_task("", total=None, visible=False)

    planned: list = []  # the runs to execute, for the Ctrl-C message
    started: dict[str, float] = {}  # run key -> time.time() it started

    def on_plan(g: GridResult) -> None:
        p = g.plan
        planned.extend(p.to_run)
        msg = f"{len(g.specs)} run(s) in the grid"
        if p.skipped:
            msg += f"; skipping {len(p.skipped)} finished (ok) run(s) (--force reruns them)"
        if p.retried:
            msg += f"; retrying {p.retried} failed run(s)"
        err.print(msg + ".", highlight=False)
        if p.to_run and live:
            progress.update(grid_task, total=len(p.to_run), visible=True)
            progress.start()

    def on_start(spec) -> None:
        started[spec.key] = time.time()
        if jobs == 1 and executor == "local" and live:
            progress.reset(run_task, total=None, description=f"  {spec.label}", visible=True)
        elif not quiet:
            progress.console.print(f"started {spec.label} ({len(started)} of {len(planned)})", highlight=False,
                                   soft_wrap=True)

    def on_epoch(spec, m: dict[str, float]) -> None:
        # one monitor call = one epoch of a deep method (the training loop calls it)
        progress.advance(run_task)
        progress.update(run_task, description=f"  {spec.label} · epoch acc {m.get('acc', float('nan')):.3f}")

    def on_note(label: str, done: int, total: int, what: str) -> None:
        # a step inside a run without epochs (k-means restarts): the run's bar on a terminal
        progress.update(run_task, total=total, completed=done, description=f"  {label} · {what}")

    def on_done(res: dict[str, Any]) -> None:
        counts[res["status"]] = counts.get(res["status"], 0) + 1
        progress.advance(grid_task)
        tag = "[green]ok[/]" if res["status"] == "ok" else "[red]failed[/]"
        line = f"{tag} {escape(res['method'])} / {escape(res['dataset'])} / seed {res['seed']}"
        t0 = next((started[k] for k in (res.get("key"),) if k in started), None)
        if t0 is not None:
            line += f" in {hms(time.time() - t0)}"
        if res["status"] == "ok":
            line += f"  acc={res['metrics'].get('acc', float('nan')):.3f} nmi={res['metrics'].get('nmi', float('nan')):.3f}"
        else:
            line += f"  {escape(str(res['error']))}"
        if res.get("warnings"):
            line += f"  ({res['warnings']} warning(s) recorded: `clusterbench runs --json`)"
        if not live:
            line += f"  [{sum(counts.values())}/{len(planned)} done, {hms(time.time() - t_grid)} elapsed]"
        progress.console.print(line, highlight=False, soft_wrap=True)

    t_grid = time.time()
    try:
        with note_sink(on_note) if live and jobs == 1 and executor == "local" else contextlib.nullcontext():
            g = run_grid(request, home, executor=ex, force=force, on_plan=on_plan, on_start=on_start,
                         on_done=on_done, on_epoch=on_epoch)
    except KeyboardInterrupt:
        progress.stop()
        kept = records_written_since(planned, home, t_grid)  # read back: exactly what is on disk
        kept_keys = {s.key for s in kept}
        running = [s for s in planned if s.key in started and s.key not in kept_keys]
        ckpts = checkpoints_kept(running, home)
        bare = len(running) - len(ckpts)
        err.print(
            f"[yellow]Interrupted.[/] {len(kept)} run(s) of this grid finished and were kept in {escape(str(home))}"
            + (": " + "; ".join(escape(s.label) for s in kept[:10]) + (" ..." if len(kept) > 10 else "") if kept else "")
            + ". " + (f"{len(ckpts)} run(s) in progress kept a training checkpoint (the next run resumes from its "
                      "epoch and says which): " + "; ".join(escape(f"{s.label} ({c})") for s, c in ckpts[:5])
                      + (" ..." if len(ckpts) > 5 else "") + ". " if ckpts else "")
            + (f"{bare} run(s) in progress had no checkpoint yet and left nothing. " if bare else "")
            + "Run the same command again to continue (finished runs are skipped)."
            + (" Submitted Slurm jobs keep running." if executor == "slurm" else ""),
            highlight=False, soft_wrap=True,
        )
        raise
    finally:
        progress.update(run_task, visible=False)
        progress.stop()

    from clusterbench.cli.methods import catalog  # lazy: only after a grid

    try:
        catalog()  # the methods are imported now: describe them once for a fast `clusterbench methods`
    except (OSError, ClusterbenchError):  # an unusable cache place costs `methods` speed only, never a run
        pass
    if not g.waited:
        err.print(
            f"Submitted {len(g.plan.to_run)} Slurm job(s) ({', '.join(ex.job_ids[:3])}{' ...' if len(ex.job_ids) > 3 else ''}); "
            f"logs in {escape(str(ex.submit_folder))}. Records appear in {escape(str(home))} as jobs finish (`clusterbench runs`).",
            highlight=False,
        )
        return

    t = Table(title=f"Summary ({escape(str(home))})")
    for c in ("method", "data set", "ok", "skipped", "failed", "ACC mean ± std", "NMI mean ± std"):
        t.add_column(c, no_wrap=c.endswith("std"))
    for c in g.cells:
        d = c.as_dict()
        t.add_row(escape(c.method), escape(c.dataset), str(c.ok), str(c.skipped), f"[red]{c.failed}[/]" if c.failed else "0",
                  _fmt(d["acc_mean"], d["acc_std"]), _fmt(d["nmi_mean"], d["nmi_std"]))
    _out().print(t)
    if not _in_a_paper_table({c.dataset for c in g.cells}):
        err.print(first_cell_hint(f"No paper table uses {', '.join(sorted({c.dataset for c in g.cells}))}: "
                                  "`clusterbench report` shows these runs in no cell."),
                  highlight=False, soft_wrap=True, markup=False)
    if g.n_failed:
        where = [f for c in g.cells for f in c.failed_records]
        err.print(
            f"[bold red]{g.n_failed} run(s) failed.[/] Their reasons and tracebacks are in their records, e.g. {escape(str(where[0]))}; "
            f"list them with `clusterbench runs --status failed --results {escape(str(home))}`. Rerunning the same command retries them.",
            highlight=False, soft_wrap=True,
        )
        raise typer.Exit(1)


def runs(
    method: Annotated[Optional[list[str]], typer.Option("--method", help="Only these methods.")] = None,
    dataset: Annotated[Optional[list[str]], typer.Option("--dataset", "-d", help="Only these data sets.")] = None,
    status: Annotated[Optional[str], typer.Option("--status", help="ok | failed")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the records as JSON.")] = False,
    results: Annotated[Optional[Path], typer.Option("--results", help="Results home (default: $CLUSTERBENCH_HOME/runs).")] = None,
) -> None:
    """List run records (filters: --method, --dataset, --status) as a table or --json."""
    from clusterbench.results.records import iter_records  # lazy: h5py, only when the command runs

    if status is not None and status not in ("ok", "failed"):
        raise ConfigError(f"--status must be ok or failed, got {status!r}.")
    home = Path(results) if results is not None else paths.results_home()
    rows = []
    with warnings.catch_warnings(record=True) as caught:  # invalid records: one line each, below
        warnings.simplefilter("always")
        found = list(iter_records(home))
    for w in caught:
        err.print(f"[yellow]Warning:[/] {escape(str(w.message))}", highlight=False, soft_wrap=True)
    for path, r in found:
        if method and r.method not in method:
            continue
        if dataset and r.dataset not in dataset:
            continue
        if status and r.status != status:
            continue
        rows.append((path, r))
    if json_out:
        out = []
        for path, r in rows:
            d = r.to_dict()
            d["path"] = str(path)
            out.append(d)
        typer.echo(json.dumps(out, indent=2, default=str))
        return
    t = Table(title=f"{len(rows)} run record(s) in {escape(str(home))}")
    for c in ("key", "method", "data set", "seed", "subset", "status", "ACC", "NMI", "fit s"):
        t.add_column(c, no_wrap=True)
    t.add_column("created / reason", overflow="ellipsis", no_wrap=True, max_width=40)
    for _, r in rows:
        ok = r.status == "ok"
        t.add_row(
            r.key[:8], escape(r.method), escape(r.dataset), str(r.seed), "-" if r.subset is None else str(r.subset),
            "[green]ok[/]" if ok else "[red]failed[/]",
            f"{r.metrics['acc']:.3f}" if ok and "acc" in r.metrics else "-",
            f"{r.metrics['nmi']:.3f}" if ok and "nmi" in r.metrics else "-",
            f"{r.timings['fit_s']:.2f}" if "fit_s" in r.timings else "-",
            escape(r.created[:16].replace("T", " ") if ok else (r.error or "")),
        )
    _out().print(t)


def merge(
    sources: Annotated[list[Path], typer.Argument(help="Results homes to merge from (other machines' runs folders).", show_default=False)],
    into: Annotated[Optional[Path], typer.Option("--into", help="Target results home (default: $CLUSTERBENCH_HOME/runs).")] = None,
) -> None:
    """Merge run records (and their .h5 outputs) without duplicates: for one key an ok record
    beats a failed one, else the newer wins."""
    from clusterbench.results.records import merge_homes  # lazy: h5py, only when the command runs

    target = Path(into) if into is not None else paths.results_home()
    rep = merge_homes(sources, target)
    _out().print(
        f"Merged {rep.sources} results home(s) into {escape(str(target))}: {rep.added} added, {rep.replaced} replaced "
        f"(better or newer), {rep.kept} already present (kept)"
        + (f", {rep.refused} refused as unsafe (named in the warnings above)." if rep.refused else "."),
        highlight=False,
    )
