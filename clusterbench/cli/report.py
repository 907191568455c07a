"""``clusterbench report``: the papers' tables with the user's measurements beside the paper's."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from clusterbench.errors import ConfigError, UnknownNameError

FORMATS = ("md", "latex", "csv", "json")


def _warn(lines: list[str]) -> None:
    for w in lines:
        typer.echo(f"Warning: {w}", err=True)


def report(
    table: Annotated[Optional[str], typer.Option("--table", "-t", help="Table number (1, 'I', 'Table I'). Default: every table of the paper.")] = None,
    paper: Annotated[Optional[str], typer.Option("--paper", "-p", help="dual-aae (default), dls, dc3, clustergan-bspl, or a table plug-in's paper id (see --list; with --list: only that paper's tables).", show_default=False)] = None,
    list_: Annotated[bool, typer.Option("--list", help="List every table with how many cells have measurements.")] = False,
    all_: Annotated[bool, typer.Option("--all", help="Every table (md + tex) and the figures into the folder --out.")] = False,
    fmt: Annotated[str, typer.Option("--format", "-f", help="md, latex, csv or json.")] = "md",
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write to this file (a folder with --all) instead of stdout.")] = None,
    results: Annotated[Optional[Path], typer.Option("--results", help="Results home to read run records from (default: the clusterbench results home).")] = None,
    metrics: Annotated[bool, typer.Option("--metrics", help="List the metric keys the tables read from run records.")] = False,
) -> None:
    """Render the papers' tables: measured (mean ± std or best of n, as the paper) / paper value (difference).

    Cells without runs are marked and a footnote gives the `clusterbench run` command that fills them.
    """
    # lazy: the report stack (pandas, table specs) only when the command runs
    from clusterbench import paths
    from clusterbench.fsutil import write_text_atomic
    import clusterbench.report.spec as S
    from clusterbench.metrics.catalog import catalogue
    from clusterbench.report.render import fill_table, load_results, render
    from clusterbench.report.build import write_all

    if fmt not in FORMATS:
        raise UnknownNameError("format", fmt, FORMATS)
    if metrics:
        for m in catalogue():
            where = m.compute or {"extras": f"MethodOutput.extras[{m.extra!r}]", "evaluator": "an evaluator",
                                  "timings": "the record's timings"}.get(m.inputs, m.inputs)
            values = f" at {', '.join(f'{v:g}' for v in m.values)}" if m.values else ""
            typer.echo(f"{m.key:16s} {'higher' if m.better == 'max' else 'lower'} is better; {m.name}: "
                       f"{m.definition}. Computed by {where}{values}; shown x{m.scale:g}, {m.decimals} decimals.")
        return
    home = Path(results).expanduser() if results is not None else paths.results_home()
    if results is not None and not home.is_dir():
        raise ConfigError(f"--results {home} is not a folder.", hint="Give the folder that holds the run records (METHOD/DATASET/KEY.json).")
    res = load_results(home)
    _warn(res.warnings)

    if list_:
        typer.echo(f"Run records: {home}")
        papers = S.load_papers() if paper is None else {paper: S.get_paper(paper)}
        for pid, p in papers.items():
            for num, spec in p.tables.items():
                t = fill_table(spec, res)
                cmd = f"--paper {pid} --table {num}"
                typer.echo(f"{spec.label:10s} {cmd:38s} {t.n_measured:3d}/{t.n_to_fill:<3d} cells measured  "
                           f"{spec.caption}")  # whole: a log or a pager wraps it, a cut one misleads
        return
    paper = paper or S.DEFAULT_PAPER

    if all_:
        if out is None:
            raise ConfigError("--all needs --out DIR.", hint="E.g. `clusterbench report --all --out report/`.")
        # lazy, as the imports above: the report stack only when the command runs
        from clusterbench.cli.output import Steps
        from clusterbench.report.build import n_steps

        with Steps(n_steps(), "report --all") as steps:
            rep = write_all(out, res, on_step=steps.start)
        typer.echo(f"Wrote {len(rep.tables)} tables (Markdown + LaTeX) and {len(rep.figures.made)} figures to {out}")
        for m in rep.figures.missing:
            typer.echo(f"Missing figure: {m}", err=True)
        return

    specs = [S.get_table(paper, table)] if table is not None else list(S.get_paper(paper).tables.values())
    filled = [fill_table(s, res) for s in specs]
    text = render(filled, fmt)
    if out is None:
        typer.echo(text, nl=False)
    else:
        write_text_atomic(out, text)
        typer.echo(f"Wrote {out}", err=True)
    if not any(t.n_measured for t in filled):  # after the output: an error above stays the only message
        from clusterbench.cli.output import first_cell_hint  # lazy: only for an empty table

        typer.echo(first_cell_hint("No cell of the table(s) shown is measured yet (runs on digits fill none)."), err=True)
