"""Small things that misled a new user (issue 26.6): footnote markers, ``report --list``, LaTeX
captions, FID table headers, piped listings, ``--help``'s environment, k-means' n_init."""

from __future__ import annotations

import dataclasses
import inspect
import re

import pytest

from cli_helper import run_cli
import clusterbench.report.spec as S
from clusterbench.report.render import fill_table, load_results, render_latex, render_markdown

TABLES = [(pid, num) for pid, p in S.load_papers().items() for num in p.tables]


@pytest.mark.parametrize("pid,num", TABLES)
def test_fill_command_markers_never_look_like_the_papers_citations(tmp_path, pid, num) -> None:
    t = fill_table(S.get_table(pid, num), load_results(tmp_path))  # no runs: every cell has a command
    for text in (render_markdown(t), render_latex(t)):
        feet = re.findall(r"^\[([^\]]+)\] (?:`|\\texttt)", text, flags=re.M)
        assert feet, "a table without runs lists its fill commands"
        assert all(re.fullmatch(r"c\d+", m) for m in feet), feet  # not "[24]": a citation in a note
        body = "\n".join(ln for ln in text.splitlines() if not re.match(r"\[c\d+\] ", ln))
        cited = set(re.findall(r"\[(\d+)\]", body))
        assert not cited & set(feet)


def test_a_note_citing_24_and_the_24th_command_stay_apart() -> None:
    from clusterbench.report.render import _Notes

    notes = _Notes()
    marks = [notes.ref(f"clusterbench run m{i}") for i in range(30)]
    assert marks[23] == "c24" and len(set(marks)) == 30


def test_report_list_honours_paper_and_prints_whole_captions(capsys) -> None:
    rc, out, _ = run_cli(capsys, "report", "--paper", "dls", "--list")
    assert rc == 0
    rows = [ln for ln in out.splitlines() if "--paper" in ln]
    assert rows and all("--paper dls " in ln for ln in rows), rows
    spec = S.get_table("dls", 3)
    assert len(spec.caption) > 60 and spec.caption in out
    rc, out, _ = run_cli(capsys, "report", "--list")  # without --paper: every paper
    assert {"--paper dual-aae ", "--paper dc3 ", "--paper clustergan-bspl "} <= {m for m in re.findall(r"--paper \S+ ", out)}


def test_latex_caption_is_unnumbered(tmp_path) -> None:
    tex = render_latex(fill_table(S.get_table("dls", 3), load_results(tmp_path)))
    assert r"\caption*{Table 3 of " in tex
    assert r"\caption{" not in tex  # LaTeX would print "Table 1: Table 3 of ..."


def test_fid_tables_say_nothing_of_nmi_and_count_one_seed_in_the_singular(tmp_path) -> None:
    spec = S.get_table("dc3", 1)
    assert spec.nmi == "none" and spec.seeds == 1
    md = render_markdown(fill_table(spec, load_results(tmp_path)))
    assert "NMI normalisation" not in md
    assert "over 1 seed." in md and "1 seeds" not in md
    md = render_markdown(fill_table(S.get_table("dls", 3), load_results(tmp_path)))
    assert "NMI normalisation: geometric." in md and "best of 5 seeds." in md


def test_piped_listings_do_not_fold_cells(capsys) -> None:
    rc, out, _ = run_cli(capsys, "datasets")
    assert rc == 0
    assert any("dual-aae: Tables I, II, III, IV" in ln for ln in out.splitlines()), out[:2000]
    rc, out, _ = run_cli(capsys, "methods")
    assert any("dual-aae" in ln and "deep" in ln for ln in out.splitlines())


def test_help_lists_every_environment_variable(capsys) -> None:
    rc, out, _ = run_cli(capsys, "--help")
    assert rc == 0
    for var in ("CLUSTERBENCH_HOME", "CLUSTERBENCH_RESULTS", "CLUSTERBENCH_QUIET"):
        assert var in out


def test_kmeans_docstring_help_and_fill_commands_agree_on_n_init(tmp_path) -> None:
    from clusterbench.methods.baselines.classical import KMeansConfig

    default = next(f.default for f in dataclasses.fields(KMeansConfig) if f.name == "n_init")
    doc = inspect.getdoc(KMeansConfig)
    assert f"runs this default n_init={default}" in doc
    assert str(default) in next(f.metadata["help"] for f in dataclasses.fields(KMeansConfig) if f.name == "n_init")
    res = load_results(tmp_path)
    for pid, num in (("dls", 3), ("dc3", 4), ("dual-aae", 1)):
        t = fill_table(S.get_table(pid, num), res)
        cmds = [c.command for row in t.cells for c in row if c.spec.method == "kmeans" and c.command]
        assert cmds and not any("n_init" in c for c in cmds), cmds  # the cell runs the default


def test_the_first_real_cell_is_pointed_at_after_a_digits_run_and_an_empty_report(capsys) -> None:
    from pathlib import Path

    rc, _, err = run_cli(capsys, "run", "kmeans", "--subset", "200", "--set", "n_init=1")
    assert rc == 0
    err = " ".join(err.split())
    assert "No paper table uses digits" in err
    cmds = ("clusterbench fetch fashion-mnist --mirror /usr/share/datasets/fashion-mnist",
            "clusterbench run kmeans --dataset fashion-mnist --seeds 5 --jobs 2",
            "clusterbench report --paper dls --table 3")
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    for cmd in cmds:
        assert cmd in err and cmd in readme, cmd
    rc, out, err = run_cli(capsys, "report", "--table", "1")
    assert rc == 0 and "cheapest cell on real data" in err and "cheapest" not in out
