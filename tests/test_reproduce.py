"""``clusterbench reproduce`` end to end on CPU with a tiny table plug-in (digits, embedded and
offline): the plan is printed first, one run fills every cell that asks for it, a rerun does
nothing, the plan's estimate is within 2x of the measured wall time, shortened runs render apart
from the paper's cells, and bad input is refused before anything runs."""

from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path

import pytest

from cli_helper import run_cli as _cli
from clusterbench.report import spec as S
from clusterbench.results.records import iter_records

TINY = """\
[paper]
id = "tiny"
title = "A tiny paper"

[[table]]
number = "1"
label = "Table 1"
caption = "Digits, two methods."
dataset = "digits"
aggregation = "mean_std"
seeds = 2
metric_definition = "Hungarian ACC; NMI arithmetic."
nmi = "arithmetic"
split = "All 1,797 digits."
aggregation_note = "Mean of 2."
columns = [{ label = "ACC", metric = "acc" }, { label = "NMI", metric = "nmi" }]
rows = [
  { label = "K-means", method = "kmeans", set = { n_init = 2 }, values = ["0.70", "0.70"] },
  { label = "Stepped", method = "stepped", set = { step_s = 0.05 }, values = ["0.90", "0.85"] },
  { label = "DEC", method = "dec", reported = true, values = ["0.80", "0.80"] },
]

[[table]]
number = "2"
label = "Table 2"
caption = "The same k-means runs, another metric."
dataset = "digits"
aggregation = "best"
seeds = 2
metric_definition = "ARI."
nmi = "none"
split = "All 1,797 digits."
aggregation_note = "Best of 2."
columns = [{ label = "ARI", metric = "ari" }]
rows = [{ label = "K-means", method = "kmeans", set = { n_init = 2 }, values = ["0.60"] }]

[[table]]
number = "3"
label = "Table 3"
caption = "Nothing this suite measures."
dataset = "digits"
aggregation = "best"
seeds = 1
metric_definition = "ACC."
nmi = "none"
split = "-"
aggregation_note = "-"
columns = [{ label = "ACC", metric = "acc" }]
rows = [{ label = "DEC", method = "dec", reported = true, values = ["0.80"] }]

[[table]]
number = "4"
label = "Table 4"
caption = "A data set without a public copy."
dataset = "ytf"
aggregation = "best"
seeds = 1
metric_definition = "ACC."
nmi = "none"
split = "-"
aggregation_note = "-"
columns = [{ label = "ACC", metric = "acc" }]
rows = [{ label = "K-means", method = "kmeans", values = ["0.60"] }]
"""


def install_tiny(site: Path, monkeypatch) -> None:
    """The tiny table plug-in as an installed distribution on ``sys.path`` (and the ``stepped``
    test method registered), as pip would leave it."""
    from clusterbench.methods import METHODS
    from runner_methods import Stepped

    monkeypatch.setitem(METHODS, "stepped", Stepped)
    pkg = site / "tiny_pkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "tiny.toml").write_text(TINY)
    info = site / "tiny_pkg-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tiny-pkg\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(textwrap.dedent("""\
        [clusterbench.tables]
        tiny = tiny_pkg:tiny.toml
        """))
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delitem(sys.modules, "tiny_pkg", raising=False)  # an earlier test's copy must not be found
    S.clear_cache()


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    install_tiny(tmp_path / "site", monkeypatch)
    yield tmp_path / "results"
    sys.modules.pop("tiny_pkg", None)
    S.clear_cache()


def _records(home: Path) -> dict[str, tuple[Path, object]]:
    return {r.key: (p, r) for p, r in iter_records(home)}


def test_reproduce_tiny_table_end_to_end(tiny, capsys):
    home = str(tiny)
    rc, out, err = _cli(capsys, "reproduce", "--paper", "tiny", "--table", "1", "--table", "2",
                        "--device", "cpu", "--results", home)
    assert rc == 0, err
    # the plan comes first: per method x data set, runs, done, estimate and how it was obtained
    plan, _, tables = out.partition("### tiny Table 1")
    assert plan.startswith("Plan: tiny Table 1, Table 2: 5 measured cell(s) -> 4 distinct run(s)")
    assert re.search(r"kmeans\s+digits\s+2\s+0\s+2\s", plan) and re.search(r"stepped\s+digits\s+2\s+0\s+2\s", plan)
    assert "calibrated" in plan and "Left out: DEC (Table 1): reported by the paper only" in plan
    # one k-means run per seed fills Table 1 (ACC, NMI) and Table 2 (ARI)
    recs = _records(tiny)
    assert sorted((r.method, r.seed) for _, r in recs.values()) == [("kmeans", 0), ("kmeans", 1),
                                                                   ("stepped", 0), ("stepped", 1)]
    assert all(r.status == "ok" and r.schedule is None for _, r in recs.values())
    assert "4 of 4 cells measured" in tables and "1 of 1 cells measured" in tables
    assert tables.count("(n=2)") == 4 and "(best of 2)" in tables
    # the plan's estimate is within a factor of 2 of the measured wall time of the grid
    m = re.search(r"Ran 4 run\(s\) in ([\d.]+) s of wall time \(the plan estimated ([\d.]+) s", err)
    assert m, err
    wall, estimate = float(m.group(1)), float(m.group(2))
    assert 0.5 <= estimate / wall <= 2.0, (estimate, wall)
    # a rerun does nothing: every run is done, no record is rewritten, no calibration is measured
    mtimes = {k: p.stat().st_mtime_ns for k, (p, _) in recs.items()}
    rc, out2, err2 = _cli(capsys, "reproduce", "--paper", "tiny", "--table", "1", "--table", "2",
                          "--device", "cpu", "--results", home)
    assert rc == 0, err2
    assert re.search(r"kmeans\s+digits\s+2\s+2\s+0\s", out2) and "Total: 0 run(s) to run" in out2
    assert "calibrating" not in err2 and "running 0." in err2 and "Ran " not in err2
    assert {k: p.stat().st_mtime_ns for k, (p, _) in _records(tiny).items()} == mtimes
    assert out2.partition("### tiny Table 1")[2] == tables

    # shortened: its own, labelled table; never the paper's cells
    rc, out3, err3 = _cli(capsys, "reproduce", "--paper", "tiny", "--table", "1", "--budget", "50%",
                          "--device", "cpu", "--results", home)
    assert rc == 0, err3
    assert "shortened to 50 % of the paper's schedule" in out3.split("\n")[0]
    assert "shortened: epochs=2" in out3
    assert re.search(r"kmeans\s+digits\s+2\s+2\s+0\s", out3)  # nothing to shorten: the paper runs serve
    short = out3.partition("### tiny Table 1")[2]
    assert "SHORTENED TO 50 % OF THE PAPER'S SCHEDULE (not a reproduction)" in short
    assert "not a reproduction of the paper's values" in short and "4 of 4 cells measured" in short
    recs = _records(tiny)
    assert sorted(r.schedule for _, r in recs.values() if r.schedule) == [0.5, 0.5]
    assert {r.config["epochs"] for _, r in recs.values() if r.schedule} == {2}
    # the paper's table (report) still reads the full runs only, and says why the others are left out
    rc, rep, _ = _cli(capsys, "report", "--paper", "tiny", "--table", "1", "--results", home)
    assert rc == 0 and "4 of 4 cells measured" in rep
    assert "2 shortened run(s) of stepped on digits" in rep and "SHORTENED" not in rep


def test_report_never_fills_a_paper_cell_with_a_shortened_run(tiny, capsys):
    """Only shortened runs of a cell: the paper's table has no value there, the shortened table has."""
    home = str(tiny)
    rc, out, err = _cli(capsys, "reproduce", "--paper", "tiny", "--table", "2", "--budget", "50%",
                        "--device", "cpu", "--results", home)
    assert rc == 0, err  # k-means has nothing to shorten: its runs are the paper's schedule
    assert "SHORTENED" in out and "1 of 1 cells measured" in out
    rc, rep, _ = _cli(capsys, "report", "--paper", "tiny", "--table", "2", "--results", home)
    assert "1 of 1 cells measured" in rep
    from clusterbench.report.render import fill_table, load_results
    from clusterbench.results.records import read_record, write_record

    # mark the runs shortened (as a --budget run of a deep method would be): out of the paper's cell
    for path, r in list(iter_records(tiny)):
        rec = read_record(path)
        rec.schedule = 0.5
        write_record(tiny, rec)
    res = load_results(tiny)
    paper = fill_table(S.get_table("tiny", 2), res)
    assert paper.n_measured == 0 and paper.cells[0][0].n_shortened == 2
    shortened = fill_table(S.get_table("tiny", 2), res, schedule=0.5)
    assert shortened.n_measured == 1 and shortened.schedule == 0.5


@pytest.mark.parametrize("args, message", [
    (["--paper", "nope"], "Unknown paper 'nope'"),
    (["--paper", "tiny", "--table", "9"], "Paper 'tiny' has no table '9'"),
    (["--paper", "tiny", "--table", "1", "--method", "dls"], "Method 'dls' has no cell in tiny Table 1"),
    (["--paper", "tiny", "--table", "1", "--dataset", "mnist"], "Data set 'mnist' has no cell in tiny Table 1"),
    (["--paper", "tiny", "--table", "3"], "Nothing to reproduce in tiny Table 3"),
    (["--paper", "tiny", "--table", "4"], "Data set 'ytf', needed by 1 run(s) of tiny Table 4, has no public copy"),
    (["--paper", "tiny", "--table", "1", "--budget", "150%"], "--budget 150% must be more than 0"),
    (["--paper", "tiny", "--table", "1", "--budget", "10%", "--scale", "0.1"], "Give --budget or --scale, not both"),
    (["--paper", "tiny", "--table", "2", "--max-hours", "0.0000001"], "more than --max-hours 1e-07; nothing was fetched or run"),
])
def test_bad_input_is_one_paragraph_before_any_run(tiny, capsys, args, message):
    rc, out, err = _cli(capsys, "reproduce", *args, "--device", "cpu", "--results", str(tiny),
                        *(["--no-calibrate"] if "max-hours" not in " ".join(args) else []))
    assert rc == 1 and "Traceback" not in err
    assert message in " ".join(err.split()), err
    assert not list(iter_records(tiny))  # nothing ran, nothing half-written


def test_data_that_cannot_be_fetched_stops_before_any_run(tiny, capsys, monkeypatch):
    """Offline and no mirror: the fetch fails, the error names the data set, nothing runs."""
    from clusterbench.data import fetch as fetch_mod
    from clusterbench.errors import DownloadError

    def offline(name, **kw):
        raise DownloadError(f"No URL or mirror delivered the files of {name} (network unreachable).",
                            hint="Check the network.")

    monkeypatch.setattr(fetch_mod, "fetch", offline)
    tbl = TINY.replace('dataset = "ytf"', 'dataset = "pendigits"')
    (Path(str(tiny)).parent / "site" / "tiny_pkg" / "tiny.toml").write_text(tbl)
    S.clear_cache()
    rc, out, err = _cli(capsys, "reproduce", "--paper", "tiny", "--table", "4", "--device", "cpu",
                        "--no-calibrate", "--results", str(tiny))
    text = " ".join(err.split())
    assert rc == 1 and "Traceback" not in err
    assert "Data set 'pendigits', needed by 1 run(s) of tiny Table 4, could not be fetched" in text
    assert "Nothing was run" in text and "--mirror DIR" in text
    assert out.startswith("Plan: tiny Table 4") and "pendigits" in out
    assert not list(iter_records(tiny))


def test_dry_run_prints_the_plan_only(tiny, capsys):
    rc, out, err = _cli(capsys, "reproduce", "--paper", "tiny", "--table", "2", "--dry-run", "--device", "cpu",
                        "--results", str(tiny))
    assert rc == 0 and out.startswith("Plan: tiny Table 2") and "### " not in out
    assert "calibrating kmeans on digits" in err and "Total: 2 run(s) to run, about" in out
    assert not list(iter_records(tiny))
    # the calibration is stored and reused (not measured again)
    rc, out2, err2 = _cli(capsys, "reproduce", "--paper", "tiny", "--table", "2", "--dry-run", "--device", "cpu",
                          "--results", str(tiny))
    assert rc == 0 and "calibrating" not in err2 and "Calibration measured now" not in out2
    assert "Calibration measured now" in out
