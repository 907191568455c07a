"""``clusterbench check``: the CI regression check (thin wrapper over clusterbench.runner.check)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from clusterbench.errors import ConfigError
from clusterbench.cli.output import stdout_console

err = Console(stderr=True)

_STYLE = {"regressed": "bold red", "missing": "bold red", "improved": "yellow", "new": "cyan", "ok": "green"}


def _out() -> Console:
    return stdout_console()


def _f(x: float | None, fmt: str = ".4f") -> str:
    return "-" if x is None else format(x, fmt)


def check(
    update: Annotated[bool, typer.Option("--update", help="Rewrite the reference records from this run (atomically).")] = False,
    results: Annotated[Optional[Path], typer.Option("--results", help="Results home for the check's runs (default: a temporary folder, removed afterwards; finished runs in DIR are reused).")] = None,
    reference: Annotated[Optional[Path], typer.Option("--reference", help="Reference records folder (default: results/check of the source checkout).")] = None,
    grid: Annotated[Optional[Path], typer.Option("--grid", help="Grid TOML (default: clusterbench/runner/check.toml).")] = None,
    method: Annotated[Optional[list[str]], typer.Option("--method", "-m", help="Only these methods (default: every registered method).")] = None,
    dataset: Annotated[Optional[list[str]], typer.Option("--dataset", "-d", help="Only these data sets of the grid.")] = None,
    jobs: Annotated[Optional[int], typer.Option("--jobs", "-j", help="Parallel runs (default: the grid's).")] = None,
    all_rows: Annotated[bool, typer.Option("--all", help="Show every compared metric, not only those that moved.")] = False,
) -> None:
    """Run the fixed small grid (every method, few epochs) and compare with the committed reference
    records; exit 1 on a regression (a metric beyond its band, a missing or failed run)."""
    # lazy: the check imports every method (torch) and the runner; `clusterbench --help` must not
    from clusterbench.runner.check import default_reference, load_grid, run_check

    if jobs is not None and jobs < 1:
        raise ConfigError(f"--jobs must be at least 1, got {jobs}.")
    g = load_grid(grid)
    ref = Path(reference) if reference is not None else default_reference()

    def on_done(res: dict[str, Any]) -> None:
        tag = "[green]ok[/]" if res["status"] == "ok" else "[red]failed[/]"
        t = res.get("total_s")
        line = f"{tag} {escape(res['method'])} / {escape(res['dataset'])} / seed {res['seed']}" + (f"  {t:.1f} s" if t is not None else "")
        if res["status"] != "ok":
            line += f"  {escape(str(res['error']))}"
        err.print(line, highlight=False)

    def on_note(note: str) -> None:
        err.print(f"[yellow]Note:[/] {escape(note)}", highlight=False, soft_wrap=True)

    res = run_check(g, reference=ref, results=results, update=update, methods=method, datasets=dataset, jobs=jobs,
                    on_note=on_note, on_done=on_done)
    out = _out()

    for w in res.warnings:
        err.print(f"[yellow]Warning:[/] {escape(str(w))}", highlight=False, soft_wrap=True)
    # "new" rows are summed up in one line below (a new method has every metric new) unless --all
    rows = [c for c in res.changes if all_rows or c.status not in ("ok", "new")]
    if rows:
        t = Table(title=f"Check against {escape(str(res.reference))}")
        for col in ("status", "method", "data set", "subset", "metric", "reference", "current", "delta", "band", "seeds"):
            t.add_column(col, no_wrap=True, justify="right" if col in ("reference", "current", "delta", "band", "seeds") else "left")
        for c in rows:
            label = "new, no reference" if c.status == "new" else c.status.upper() if c.status in ("regressed", "missing") else c.status
            t.add_row(f"[{_STYLE[c.status]}]{label}[/]", escape(c.method), escape(c.dataset), "all" if c.subset is None else str(c.subset),
                      c.metric, _f(c.reference), _f(c.current), _f(c.delta, "+.4f"), f"±{c.tolerance:g}", str(c.n_seeds))
        out.print(t)
    if res.failures:
        t = Table(title="Failed runs")
        for col in ("method", "data set", "seed", "reason", "record"):
            t.add_column(col, overflow="fold")
        for f in res.failures:
            t.add_row(escape(f.method), escape(f.dataset), str(f.seed), escape(f.reason), escape(str(f.record)) if f.record else "-")
        out.print(t)

    n = {s: sum(c.status == s for c in res.changes) for s in ("ok", "regressed", "missing", "improved", "new")}
    times = ", ".join(f"{m} {s:.0f} s" for m, s in sorted(res.run_seconds.items(), key=lambda kv: -kv[1]))
    out.print(
        f"{res.n_runs} run(s) in {res.seconds:.0f} s (run time per method: {times or '-'}). {len(res.changes)} metric(s): "
        f"{n['ok']} within band, {n['regressed']} regressed, {n['missing']} missing, {n['improved']} improved, "
        f"{n['new']} new; {len(res.failures)} failed run(s).",
        highlight=False, soft_wrap=True,
    )
    if res.updated is not None:
        out.print(f"[green]Updated[/] {len(res.updated)} reference record(s) in {escape(str(res.reference))}; commit them.", highlight=False)
        return
    if res.new_methods:
        out.print(f"[cyan]New, no reference:[/] {', '.join(res.new_methods)} (not a failure). Run `clusterbench check --update` "
                  "and commit results/check/ to add references.", highlight=False, soft_wrap=True)
    if n["improved"]:
        out.print("[yellow]Some metrics improved beyond their band:[/] the references are stale; `clusterbench check --update` "
                  "refreshes them.", highlight=False, soft_wrap=True)
    if res.regressed:
        out.print("[bold red]Regression.[/] A metric moved beyond its band, a reference run is missing, or a run failed "
                  "(see above). If the change is intended, refresh the references with `clusterbench check --update`.",
                  highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    out.print("[green]Check passed.[/]", highlight=False)
