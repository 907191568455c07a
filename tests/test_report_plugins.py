"""Metric and table plug-ins: a toy distribution on ``sys.path`` (a ``*.dist-info`` folder with
its ``entry_points.txt``, as pip would install it) adds a metric to the catalogue and a paper's
table to the report, with no edit to clusterbench."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from clusterbench.cli import main
from clusterbench.metrics import catalog
from clusterbench.report import spec as S
from clusterbench.results.records import RunRecord, write_record

TOY_TABLE = """\
[paper]
id = "toy"
title = "A toy paper"

[[table]]
number = "1"
label = "Table 1"
caption = "Toy scores."
dataset = "mnist"
aggregation = "best"
seeds = 2
metric_definition = "toy_error = 1 - Hungarian ACC (a plug-in metric, lower is better)."
nmi = "none"
split = "MNIST."
aggregation_note = "Best of 2."
paper_aggregation = "best"
paper_runs = 2
columns = [{ label = "Error", metric = "toy_error" }, { label = "ACC", metric = "acc" }]
rows = [
  { label = "K-means", method = "kmeans", values = ["0.45", "0.55"] },
  { label = "Someone", method = "someone", reported = true, source = "cited", cited_from = "[1]", values = ["0.30", "0.70"] },
]
"""

TOY_METRICS = """\
from clusterbench.metrics.catalog import Metric


def toy_error(y_true, y_pred):
    from clusterbench.metrics import acc

    return 1.0 - acc(y_true, y_pred)


TOY_ERROR = Metric("toy_error", "toy error", "1 - Hungarian ACC", "min", compute="toy_pkg.metrics:toy_error")
"""


def _clear() -> None:
    S.clear_cache()
    catalog.clear_cache()


@pytest.fixture
def toy_dist(tmp_path, monkeypatch) -> Path:
    site = tmp_path / "site"
    pkg = site / "toy_pkg"
    (pkg / "tables").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "tables" / "__init__.py").write_text("")
    (pkg / "tables" / "toy.toml").write_text(TOY_TABLE)
    (pkg / "metrics.py").write_text(TOY_METRICS)
    info = site / "toy_pkg-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-pkg\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(textwrap.dedent("""\
        [clusterbench.tables]
        toy = toy_pkg.tables

        [clusterbench.metrics]
        toy-error = toy_pkg.metrics:TOY_ERROR
        """))
    monkeypatch.syspath_prepend(str(site))
    _clear()
    yield site
    _clear()


def test_plugin_metric_is_in_the_catalogue_and_report_metrics(toy_dist, capsys):
    m = catalog.lookup("toy_error")
    assert m.better == "min" and m.function()([0, 1], [0, 0]) == pytest.approx(0.5)
    main(["report", "--metrics"])
    out = capsys.readouterr().out
    assert "toy_error" in out and "lower is better; toy error: 1 - Hungarian ACC" in out
    assert "toy_pkg.metrics:toy_error" in out


def test_plugin_table_in_report_list_and_table(toy_dist, tmp_path, capsys):
    home = tmp_path / "results"
    for seed, a in enumerate([0.50, 0.60]):
        write_record(home, RunRecord(key=f"k{seed}", method="kmeans", dataset="mnist", seed=seed, status="ok",
                                     config={}, metrics={"acc": a, "toy_error": 1 - a},
                                     created="2026-01-01T00:00:00"))
    main(["report", "--list", "--results", str(home)])
    out = capsys.readouterr().out
    assert "--paper toy --table 1" in out and "2/2   cells measured" in out.split("--paper toy")[1].splitlines()[0]
    main(["report", "--paper", "toy", "--table", "1", "--results", str(home)])
    md = capsys.readouterr().out
    # best of 2 by the plug-in metric's direction (lower is better): 0.40, not 0.50
    assert "0.40 (best of 2) / 0.45 (Δ -0.05)" in md and "0.60 (best of 2) / 0.55" in md
    assert "| cited from [1]; best of 2 |" in md and "| run by the paper; best of 2 |" in md
    main(["report", "--paper", "toy", "--table", "1", "--format", "json", "--results", str(home)])
    doc = json.loads(capsys.readouterr().out)
    assert doc[0]["paper"] == "toy" and doc[0]["cells"][0]["definition"] == "toy error"


def test_plugin_one_file_and_broken_plugins_warn(tmp_path, monkeypatch):
    site = tmp_path / "site"
    (site / "other_pkg").mkdir(parents=True)
    (site / "other_pkg" / "__init__.py").write_text("")
    (site / "other_pkg" / "bad.toml").write_text('[paper]\nid = "bad"\n[[table]]\nnumber = "1"\n')
    (site / "other_pkg" / "dup.toml").write_text(TOY_TABLE.replace('id = "toy"', 'id = "dls"').replace('"toy_error"', '"purity"'))
    info = site / "other_pkg-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: other-pkg\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[clusterbench.tables]\nbad = other_pkg:bad.toml\ndup = other_pkg:dup.toml\nmissing = no_such_pkg\n"
        "[clusterbench.metrics]\nbroken = other_pkg:NOTHING\n")
    monkeypatch.syspath_prepend(str(site))
    _clear()
    try:
        with pytest.warns(UserWarning) as caught:
            papers = S.load_papers()
            catalog.catalogue()
        text = " ".join(str(w.message) for w in caught)
        assert "'bad'" in text and "missing 'label'" in text          # a bad spec is named, left out
        assert "paper id 'dls' is taken" in text                       # built-ins win
        assert "'no_such_pkg' could not be found" in text
        assert "Plug-in metric 'broken'" in text
        assert "bad" not in papers and papers["dls"].title.startswith("Clustering by Directly")
    finally:
        _clear()
