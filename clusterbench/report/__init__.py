"""Reports: the four papers' tables (declared as data in ``tables/*.toml``) filled from run
records, rendered as Markdown/LaTeX/CSV/JSON, plus figures (PNG).

Python use::

    from clusterbench.report import load_results, fill_table, get_table, render
    res = load_results(clusterbench.paths.results_home())
    print(render_tables([fill_table(get_table("dual-aae", 1), res)], "md"))
"""

from __future__ import annotations

import importlib
from typing import Any

#: name -> (module, attribute). Imported on first use (PEP 562): ``import clusterbench.report.spec``
#: (the table specs, e.g. for ``clusterbench methods``) must not pull in pandas through render.
_EXPORTS = {
    **{n: ("clusterbench.report.render", n) for n in (
        "CellResult", "Results", "TableResult", "fill_table", "load_results", "render_latex", "render_markdown")},
    "render_tables": ("clusterbench.report.render", "render"),
    **{n: ("clusterbench.report.spec", n) for n in (
        "DATASET_IDS", "DEFAULT_PAPER", "TableSpec", "all_tables", "get_paper", "get_table", "load_papers")},
    "write_all": ("clusterbench.report.build", "write_all"),
}


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'clusterbench.report' has no attribute {name!r}")
    module, attr = _EXPORTS[name]
    return getattr(importlib.import_module(module), attr)


__all__ = list(_EXPORTS)
