"""``clusterbench summary``: the user's own runs as a table (mean ± std (n), best of n, formats)."""

from __future__ import annotations

import json
import statistics

from cli_helper import run_cli

from clusterbench.results.records import iter_records


def _run(capsys, *args):
    rc, out, err = run_cli(capsys, "run", *args)
    assert rc == 0, err


def test_summary_aggregates_each_configuration_over_seeds(capsys, cb_home):
    _run(capsys, "kmeans", "--seeds", "2", "--set", "n_init=2")
    _run(capsys, "kmeans", "--seeds", "3", "--set", "n_init=1")
    rc, out, _ = run_cli(capsys, "summary", "--format", "json", "-m", "acc", "-m", "nmi")
    assert rc == 0
    rows = {r["setting"]: r for r in json.loads(out)}
    assert set(rows) == {"n_init=1", "n_init=2"}
    accs = [r.metrics["acc"] for _, r in iter_records(cb_home / "runs") if r.config["n_init"] == 1]
    cell = rows["n_init=1"]["metrics"]["acc"]
    assert cell["n"] == 3 and abs(cell["mean"] - statistics.fmean(accs)) < 1e-12
    assert abs(cell["std"] - statistics.stdev(accs)) < 1e-12 and cell["best"] == max(accs)


def test_summary_formats_and_best(capsys, cb_home):
    _run(capsys, "kmeans", "--seeds", "2", "--set", "n_init=1")
    rc, md, _ = run_cli(capsys, "summary")
    assert rc == 0 and "| kmeans | digits |" in md and "(2)" in md
    rc, tex, _ = run_cli(capsys, "summary", "--format", "latex", "--best")
    assert rc == 0 and r"\toprule" in tex and "best of 2" in tex
    rc, csv, _ = run_cli(capsys, "summary", "--format", "csv")
    assert rc == 0 and csv.splitlines()[0].startswith("method,dataset,subset,setting,metric")
    rc, _, err = run_cli(capsys, "summary", "--format", "xls")
    assert rc == 1 and "md" in err


def test_summary_without_records_says_what_to_do(capsys):
    rc, _, err = run_cli(capsys, "summary")
    assert rc == 0 and "No run records" in err


def test_summary_latex_compiles_and_fits(capsys, cb_home, tmp_path):
    """Long settings and six metrics (two column blocks) in a standard article: no overfull line."""
    from latex_helper import pdflatex_fits

    from clusterbench.report.render import latex_document

    _run(capsys, "kmeans", "--seeds", "2", "--set", "n_init=1")
    _run(capsys, "kmeans", "--seeds", "2", "--set", "n_init=2")
    rc, tex, _ = run_cli(capsys, "summary", "--format", "latex", *(a for m in ("acc", "nmi", "ari", "purity", "nmi_geometric", "fit_seconds")
                                                                   for a in ("-m", m)))
    assert rc == 0 and tex.count(r"\begin{longtable}") == 2 and r"n\_init=1" in tex.replace(r"\allowbreak{}", "")
    pdflatex_fits(tmp_path, "summary", latex_document(tex))
