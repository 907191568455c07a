"""Progress of long commands in a piped log: plain lines, no bar or spinner frames (issue 26.2)."""

from __future__ import annotations

import re

import pytest

from cli_helper import run_cli
from clusterbench import progress

#: Terminal control characters (escape, carriage return, ...) and the glyphs of Rich's bars and
#: spinners: none may reach a log.
FRAME = re.compile(r"[\x00-\x08\x0b-\x1f\x7f━╸╺⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]")


def _clean(text: str) -> None:
    bad = [ln for ln in text.splitlines() if FRAME.search(ln)]
    assert not bad, f"bar/spinner frames or control characters in a piped log: {bad[:3]}"


def test_classical_run_prints_started_restarts_and_done_with_time(capsys, monkeypatch) -> None:
    monkeypatch.setattr(progress, "EVERY_S", 0.0)  # every restart, not one line per 10 s
    rc, out, err = run_cli(capsys, "run", "kmeans", "--subset", "300", "--seeds", "2", "--set", "n_init=3")
    assert rc == 0, err
    _clean(err)
    _clean(out.split("Summary")[0])  # the summary table may draw its box; nothing before it
    lines = err.splitlines()
    assert any(ln.startswith("started kmeans / digits / seed 0") for ln in lines), err
    for k in range(4):
        assert any(ln.startswith("[kmeans / digits / seed 1 subset=300] k-means restarts done") and f" {k}/3 " in ln
                   for ln in lines), (k, err)
    done = [ln for ln in lines if ln.startswith("ok kmeans / digits / seed ")]
    assert len(done) == 2 and all(re.search(r" in \d+:\d\d:\d\d ", ln) for ln in done), err
    assert "[2/2 done" in done[-1]


def test_quiet_run_prints_no_progress_lines(capsys) -> None:
    rc, _, err = run_cli(capsys, "run", "kmeans", "--subset", "300", "--set", "n_init=2", "--quiet")
    assert rc == 0
    assert "started" not in err and "restarts" not in err
    assert "ok kmeans" in err


def test_report_all_prints_one_line_per_table_and_figure_family(capsys, tmp_path) -> None:
    from clusterbench.report.build import n_steps

    rc, out, err = run_cli(capsys, "report", "--all", "--out", str(tmp_path / "rep"))
    assert rc == 0, err
    _clean(err)
    steps = [ln for ln in err.splitlines() if ln.startswith("report --all ")]
    assert len(steps) == n_steps() > 10
    assert steps[0].startswith(f"report --all 1/{n_steps()}: dual-aae Table I ")
    assert any("figures: tsne plots" in ln for ln in steps)


@pytest.mark.parametrize("every", [10.0])
def test_notes_are_rate_limited_but_the_last_is_always_printed(capsys, monkeypatch, every) -> None:
    monkeypatch.setattr(progress, "EVERY_S", every)
    monkeypatch.delenv("CLUSTERBENCH_QUIET", raising=False)
    with progress.run_label("x / y / seed 0"):
        for k in range(5):
            progress.note(k, 4, "steps")
    err = capsys.readouterr().err.splitlines()
    assert err == [ln for ln in err if ln.startswith("[x / y / seed 0] steps ")]
    assert [ln.split()[7] for ln in err] == ["0/4", "4/4"], err


def test_ncuts_reports_its_steps(capsys, monkeypatch) -> None:
    monkeypatch.setattr(progress, "EVERY_S", 0.0)
    rc, _, err = run_cli(capsys, "run", "ncuts", "--subset", "300")
    assert rc == 0, err
    _clean(err)
    steps = [ln for ln in err.splitlines() if "ncuts steps done" in ln]
    assert [ln.split("ncuts steps done (reduce, k-NN, graph, eigenvectors, k-means) ")[1].split()[0]
            for ln in steps] == ["1/5", "2/5", "3/5", "4/5", "5/5"], err
