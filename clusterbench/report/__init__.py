"""Reports: the four papers' tables (declared as data in ``tables/*.toml``) filled from run
records, rendered as Markdown/LaTeX/CSV/JSON, plus figures (PNG).

Python use::

    from clusterbench.report import load_results, fill_table, get_table, render
    res = load_results(clusterbench.paths.results_home())
    print(render_tables([fill_table(get_table("dual-aae", 1), res)], "md"))
"""

from __future__ import annotations

from clusterbench.report.render import (
    CellResult,
    Results,
    TableResult,
    fill_table,
    load_results,
    render_latex,
    render_markdown,
)
from clusterbench.report.spec import (
    DATASET_IDS,
    DEFAULT_PAPER,
    TableSpec,
    all_tables,
    get_paper,
    get_table,
    load_papers,
)
from clusterbench.report.build import write_all
from clusterbench.report.render import render as render_tables

__all__ = [
    "CellResult", "Results", "TableResult", "fill_table", "load_results", "render_tables", "render_latex",
    "render_markdown", "DATASET_IDS", "DEFAULT_PAPER", "TableSpec",
    "all_tables", "get_paper", "get_table", "load_papers", "write_all",
]
