"""A table of the user's own runs: any grid of records, method x data set, chosen metrics.

A query over :func:`clusterbench.results.records.records_frame` (tidy rows): ok runs are grouped
by (method, data set, subset, configuration); each cell is ``mean ± std (n)`` over seeds
(sample std, n − 1), or the best of n with ``best=True`` (max or min by the metric's direction).
Failed runs are counted, never averaged in. When one method × data set was run with several
configurations, each is its own row, labelled by the config keys whose values differ.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from clusterbench.metrics.catalog import direction
from clusterbench.report.render import LATEX_NEEDS, column_blocks, latex_breakable, latex_pcol
from clusterbench.results.records import records_frame

FORMATS = ("md", "latex", "csv", "json")


@dataclass
class SummaryRow:
    method: str
    dataset: str
    subset: int | None
    setting: str                       # the config keys that set this row apart ("" if none)
    n_ok: int
    n_failed: int
    cells: dict[str, dict[str, float | int | None]] = field(default_factory=dict)  # metric -> mean/std/n/best


def _setting_labels(configs: list[str]) -> dict[str, str]:
    """config JSON -> 'k=v, ...' of the keys whose values differ between the configs."""
    if len(configs) < 2:
        return {c: "" for c in configs}
    dicts = {c: json.loads(c) for c in configs}
    keys = sorted({k for d in dicts.values() for k in d})
    differ = [k for k in keys if len({json.dumps(d.get(k), sort_keys=True) for d in dicts.values()}) > 1]
    return {c: ", ".join(f"{k}={d.get(k)}" for k in differ) for c, d in dicts.items()}


def summarize_records(home: Path, *, metrics: tuple[str, ...] = ("acc", "nmi"), methods: list[str] | None = None,
                      datasets: list[str] | None = None) -> list[SummaryRow]:
    """Aggregate the records under ``home`` into rows (see the module docstring)."""
    df = records_frame(home)
    if methods:
        df = df[df["method"].isin(methods)]
    if datasets:
        df = df[df["dataset"].isin(datasets)]
    if df.empty:
        return []
    df = df.assign(subset=df["subset"].astype("Int64"))
    rows: list[SummaryRow] = []
    for (method, dataset), g in df.groupby(["method", "dataset"], sort=True):
        labels = _setting_labels(sorted(g["config"].unique()))
        for (subset, config), gc in g.groupby(["subset", "config"], dropna=False, sort=True):
            runs = gc.drop_duplicates("key")
            row = SummaryRow(method=method, dataset=dataset, subset=None if pd.isna(subset) else int(subset),
                             setting=labels[config], n_ok=int((runs["status"] == "ok").sum()),
                             n_failed=int((runs["status"] != "ok").sum()))
            ok = gc[gc["status"] == "ok"]
            for m in metrics:
                v = ok.loc[ok["metric"] == m, "value"].dropna()
                if v.empty:
                    row.cells[m] = {"mean": None, "std": None, "n": 0, "best": None}
                    continue
                best = float(v.max() if direction(m) == "max" else v.min())
                row.cells[m] = {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
                                "n": int(len(v)), "best": best}
            rows.append(row)
    return rows


def _cell_text(c: dict[str, Any], *, best: bool, pm: str = "±") -> str:
    if c["n"] == 0:
        return "-"
    if best:
        return f"{c['best']:.3f} (best of {c['n']})"
    return f"{c['mean']:.3f} {pm} {c['std']:.3f} ({c['n']})"


def _label(r: SummaryRow) -> tuple[str, str, str]:
    data = r.dataset + (f" [{r.subset}]" if r.subset is not None else "")
    return r.method, data, r.setting


def render_summary(rows: list[SummaryRow], metrics: tuple[str, ...], fmt: str, *, best: bool = False) -> str:
    """Rows as Markdown, LaTeX (booktabs longtable that fits a standard article), CSV or JSON."""
    if fmt == "json":
        return json.dumps([{"method": r.method, "dataset": r.dataset, "subset": r.subset, "setting": r.setting,
                            "ok": r.n_ok, "failed": r.n_failed, "metrics": r.cells} for r in rows], indent=2) + "\n"
    if fmt == "csv":
        out = []
        for r in rows:
            for m, c in r.cells.items():
                out.append({"method": r.method, "dataset": r.dataset, "subset": r.subset, "setting": r.setting,
                            "metric": m, "mean": c["mean"], "std": c["std"], "n": c["n"], "best": c["best"],
                            "failed": r.n_failed})
        return pd.DataFrame(out, columns=["method", "dataset", "subset", "setting", "metric", "mean", "std", "n",
                                          "best", "failed"]).to_csv(index=False)
    head = ["method", "data set", "setting", *[m.upper() if m in ("acc", "nmi", "ari") else m for m in metrics], "failed"]
    if fmt == "md":
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in rows:
            cells = [_cell_text(r.cells[m], best=best) for m in metrics]
            lines.append("| " + " | ".join([*_label(r), *cells, str(r.n_failed)]) + " |")
        agg = "best of n seeds" if best else "mean ± sample std (n seeds)"
        return "\n".join(lines) + f"\n\nCells: {agg}; failed runs are counted, never averaged in.\n"
    if fmt == "latex":
        return _render_summary_latex(rows, metrics, head, best=best)
    raise ValueError(f"unknown format {fmt!r}")


# LaTeX layout: fits a standard ``article`` (345 pt) like the paper tables
# (:mod:`clusterbench.report.render`): wrapping ``p`` columns in ``\footnotesize`` (method 15 %,
# data set 13 %, setting 16 %, each metric 16 %, failed 8 % of the line), at most
# ``SUMMARY_METRICS_PER_BLOCK`` metric columns per ``longtable`` (more metrics: several, each
# repeating the row labels; a longtable breaks across pages).
SUMMARY_METRICS_PER_BLOCK = 3


def _render_summary_latex(rows: list[SummaryRow], metrics: tuple[str, ...], head: list[str], *, best: bool) -> str:
    n_lab = 3
    out = [LATEX_NEEDS, "\\begingroup", r"\setlength{\tabcolsep}{3pt}",
           r"\footnotesize"]
    label_spec = (latex_pcol(0.15, r"\raggedright") + latex_pcol(0.13, r"\raggedright")
                  + latex_pcol(0.16, r"\raggedright"))
    for block in column_blocks(len(metrics), SUMMARY_METRICS_PER_BLOCK):
        cols = label_spec + latex_pcol(0.16, r"\centering") * len(block) + latex_pcol(0.08, r"\raggedleft")
        hd = head[:n_lab] + [head[n_lab + j] for j in block] + [head[-1]]
        out += [r"\begin{longtable}{" + cols + "}", r"\toprule",
                " & ".join(latex_breakable(h) for h in hd) + r" \\", r"\midrule", r"\endhead"]
        for r in rows:
            cells = [latex_breakable(_cell_text(r.cells[metrics[j]], best=best)) for j in block]
            out.append(" & ".join([*(latex_breakable(x) for x in _label(r)), *cells, str(r.n_failed)]) + r" \\")
        out += [r"\bottomrule", r"\end{longtable}"]
    agg = "best of n seeds" if best else "mean $\\pm$ sample std (n seeds)"
    out += [r"\par\smallskip", f"Cells: {agg}; failed runs are counted, never averaged in.\\par", "\\endgroup"]
    return "\n".join(out) + "\n"
