"""Reports: table specs, filling cells from run records, renderers, figures and the CLI.

Fixtures are fake run records written with ``write_record`` into a temporary results home.
Golden files: ``tests/golden/``; regenerate with ``CLUSTERBENCH_UPDATE_GOLDEN=1 pytest tests/test_report.py``
(and read the diff before committing).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from clusterbench.cli import main
from clusterbench.errors import ConfigError, UnknownNameError
from clusterbench.metrics import catalog
from clusterbench.report import spec as S
from clusterbench.report.build import write_all
from clusterbench.report.render import (
    fill_table,
    column_blocks,
    latex_document,
    latex_escape,
    load_results,
    render,
    render_latex,
    render_markdown,
)
from clusterbench.results.records import RunRecord, write_record
from latex_helper import pdflatex_fits

GOLDEN = Path(__file__).parent / "golden"
ROOT = Path(__file__).resolve().parents[1]
IMPL = {"kmeans", "dual-aae", "aae", "dc3-gan", "clustergan-bspl"}  # fixed, independent of METHODS


def rec(home: Path, method: str, dataset: str, seed: int, metrics: dict | None = None, *,
        status: str = "ok", config: dict | None = None, subset: int | None = None,
        created: str = "2026-01-01T00:00:00", key: str | None = None, **kw) -> Path:
    key = key or f"{method}-{dataset}-{seed}-{status}-{subset}-{created[-2:]}-{abs(hash(json.dumps(config, sort_keys=True))) % 10**6}"
    r = RunRecord(key=key, method=method, dataset=dataset, seed=seed, status=status, config=config or {},
                  subset=subset, metrics=metrics or {}, created=created,
                  error="boom" if status == "failed" else None, **kw)
    return write_record(home, r)


@pytest.fixture
def home(tmp_path) -> Path:
    h = tmp_path / "results"
    h.mkdir()
    return h


def table1_fixture(home: Path) -> None:
    """A few Dual-AAE Table I runs: 3 dual-aae seeds on MNIST, 1 failed, 2 kmeans seeds, 1 subset run."""
    for seed, a in enumerate([0.97, 0.98, 0.975]):
        rec(home, "dual-aae", "mnist", seed, {"acc": a, "nmi": 0.93})
    rec(home, "dual-aae", "mnist", 3, {"acc": 0.11}, status="failed")
    rec(home, "kmeans", "mnist", 0, {"acc": 0.5312})
    rec(home, "kmeans", "mnist", 1, {"acc": 0.5400})
    rec(home, "kmeans", "hhar", 0, {"acc": 0.61}, subset=500)


# --------------------------------------------------------------------------- specs


EXPECTED_TABLES = {
    "dual-aae": ["1", "2", "3", "4"],
    "dls": ["3", "4"],
    "dc3": ["1", "2", "3", "4", "5", "6", "7", "8"],
    "clustergan-bspl": ["2", "3"],
}


def test_every_spec_loads_with_valid_ids():
    papers = S.load_papers()
    assert {p: list(v.tables) for p, v in papers.items()} == EXPECTED_TABLES
    for t in S.all_tables():
        assert t.caption and t.metric_definition and t.split and t.aggregation_note
        assert t.aggregation in ("mean_std", "best") and t.seeds >= 1
        for c in t.iter_cells():
            if c.reported:
                continue
            assert isinstance(c.method, str) and c.method, (t.id, c)
            assert c.dataset in S.DATASET_IDS, (t.id, c)
            catalog.lookup(c.metric)  # raises on a metric key the catalogue does not know
            if c.printed.strip() not in S.MISSING_MARKS:
                assert c.paper_value is not None


def test_dataset_ids():
    from clusterbench.data.registry import load_registry

    assert set(S.DATASET_IDS) == {n for n, s in load_registry().items() if not s.user}
    used = {c.dataset for t in S.all_tables() for c in t.iter_cells() if not c.reported}
    assert used == {"mnist", "fashion-mnist", "usps-11k", "hhar", "stl10", "reuters", "pendigits", "10x_73k",
                    "ytf", "coil100", "cifar10", "cifar10-test", "frgc", "dsprites", "stl10-images"}


def test_metric_not_recorded_is_not_a_missing_run(home):
    rec(home, "kmeans", "coil100", 0, {"purity": 0.6})  # no nmi_geometric, no ari
    t = fill_table(S.get_table("dls", 4), load_results(home), implemented=IMPL)
    md = render_markdown(t)
    assert "nmi_geometric not recorded by 1 run(s) / 0.836" in md
    assert _cell(t, "K-means", "ACC").value == pytest.approx(0.6)


@pytest.mark.parametrize("paper,table,row,col,printed", [
    ("dual-aae", "1", "Dual-AAE", "MNIST", "97.86"),
    ("dual-aae", "1", "N-Cuts", "REUTERS", "N/A"),
    ("dual-aae", "2", "KL(q(y) || p(y))", "Dual-AAE", "0.0026±0.00028"),
    ("dual-aae", "4", "Threshold 0.90", "Rejection rate", "8.16"),
    ("dls", "3", "K-means [30]", "Pendigits ACC", "0.793*"),
    ("dls", "4", "Our method", "ARI", "0.764"),
    ("dc3", "4", "Ours", "10x_73k NMI", "0.820"),
    ("dc3", "6", "IIC (2019) [20]", "ACC", "0.617 (0.576)*"),
    ("dc3", "7", "Ours", "FID Score", "28.5±0.02"),
    ("clustergan-bspl", "2", "ClusterGAN", "CIFAR-10 ACC", "0.412"),
    ("clustergan-bspl", "3", "ITQ [18]", "MNIST mAP@1000 64", "80.23*"),
])
def test_transcribed_values(paper, table, row, col, printed):
    t = S.get_table(paper, table)
    i = [r["label"] for r in t.rows].index(row)
    j = [c["label"] for c in t.columns].index(col)
    assert t.cells[i][j].printed == printed


def test_parse_printed():
    assert S.parse_printed("8.10±2.99") == (8.10, 2.99)
    assert S.parse_printed("0.793*") == (0.793, None)
    assert S.parse_printed("24.86†") == (24.86, None)
    assert S.parse_printed("-") == (None, None) and S.parse_printed("N/A") == (None, None)
    # the typo "0.0.851" is read through the spec's explicit `numbers`
    t = S.get_table("dc3", 8)
    assert t.cells[1][1].printed == "0.0.851" and t.cells[1][1].paper_value == 0.851


def test_table_lookup_accepts_roman_and_label():
    assert S.get_table("dual-aae", "IV").number == "4"
    assert S.get_table("dual-aae", "Table II").number == "2"
    with pytest.raises(UnknownNameError, match="Valid tables of dual-aae"):
        S.get_table("dual-aae", 9)
    with pytest.raises(UnknownNameError, match="clustergan-bspl"):
        S.get_paper("dual")


def test_bad_spec_file_is_a_config_error(tmp_path):
    bad = tmp_path / "x.toml"
    bad.write_text('[paper]\nid = "x"\n[[table]]\nnumber = "1"\nlabel = "T"\ncaption = "c"\naggregation = "mean_std"\n'
                   'seeds = 1\nmetric_definition = "m"\nnmi = "none"\nsplit = "s"\naggregation_note = "a"\n'
                   'columns = [{label = "A", dataset = "nope", metric = "acc"}]\n'
                   'rows = [{label = "r", method = "kmeans", values = ["1"]}]\n')
    with pytest.raises(ConfigError, match="unknown data set 'nope'"):
        S.load_paper_file(bad)
    bad.write_text(bad.read_text().replace('"nope"', '"mnist"').replace('metric = "acc"', 'metric = "accuracy"'))
    with pytest.raises(ConfigError, match="Unknown metric 'accuracy'"):
        S.load_paper_file(bad)


def test_unregistered_method_is_not_implemented_yet_not_a_spec_error(home, tmp_path):
    f = tmp_path / "x.toml"
    f.write_text('[paper]\nid = "x"\n[[table]]\nnumber = "1"\nlabel = "T"\ncaption = "c"\naggregation = "mean_std"\n'
                 'seeds = 1\nmetric_definition = "m"\nnmi = "none"\nsplit = "s"\naggregation_note = "a"\n'
                 'columns = [{label = "A", dataset = "mnist", metric = "acc"}]\n'
                 'rows = [{label = "r", method = "not-yet-a-method", values = ["1"]},\n'
                 '        {label = "k", method = "kmeans", values = ["2"]}]\n')
    spec = S.load_paper_file(f).tables["1"]
    t = fill_table(spec, load_results(home))  # default: the registered methods (plugins.method_names)
    assert t.cells[0][0].status == "not_implemented"
    assert t.cells[1][0].status == "missing"  # kmeans is registered: it only has no runs


def test_report_imports_no_method_runner_or_fetch_module():
    """report/ reads records and renders: rendering every table imports no method module, no runner
    and no data.fetch (checked in a fresh interpreter)."""
    code = ("import sys\nfrom clusterbench.report import all_tables, fill_table, load_results, render_tables\n"
            "import tempfile, pathlib\n"
            "res = load_results(pathlib.Path(tempfile.mkdtemp()))\n"
            "for fmt in ('md', 'latex', 'csv', 'json'):\n"
            "    render_tables([fill_table(t, res) for t in all_tables()], fmt)\n"
            "bad = [m for m in sys.modules if m.startswith(('clusterbench.methods', 'clusterbench.runner', "
            "'clusterbench.data.fetch'))]\n"
            "print(bad)\nassert not bad, bad\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr + out.stdout


# --------------------------------------------------------------------------- filling cells


def _cell(t, row_label, col_label):
    i = [r["label"] for r in t.spec.rows].index(row_label)
    j = [c["label"] for c in t.spec.columns].index(col_label)
    return t.cells[i][j]


def test_mean_std_failed_and_subset_runs(home):
    table1_fixture(home)
    t = fill_table(S.get_table("dual-aae", 1), load_results(home), implemented=IMPL)
    c = _cell(t, "Dual-AAE", "MNIST")
    assert c.status == "measured" and c.n == 3 and c.n_failed == 1
    assert c.value == pytest.approx(np.mean([97, 98, 97.5]))
    assert c.std == pytest.approx(np.std([97, 98, 97.5]))
    assert c.diff == pytest.approx(c.value - 97.86)
    assert c.command == "clusterbench run dual-aae --dataset mnist --seeds 10"  # 3 < 10 seeds: completes
    h = _cell(t, "K-means", "HHAR")
    assert h.status == "missing" and h.n_subset == 1
    assert _cell(t, "InfoGAN", "MNIST").status == "not_implemented"
    assert _cell(t, "VaDE", "MNIST").status == "reported"
    md = render_markdown(t)
    assert "1 failed run(s) of dual-aae on mnist not counted" in md
    assert "1 run(s) of kmeans on hhar on a subset of the data not counted" in md


def test_best_of_n_and_direction(home, tmp_path):
    for seed, p in enumerate([0.60, 0.70, 0.65]):
        rec(home, "kmeans", "coil100", seed, {"purity": p, "nmi_geometric": 0.8, "ari": 0.5})
    t = fill_table(S.get_table("dls", 4), load_results(home), implemented=IMPL)
    c = _cell(t, "K-means", "ACC")
    assert c.status == "measured" and c.n == 3 and c.value == pytest.approx(0.70) and c.std is None
    assert "0.700 (best of 3)" in render_markdown(t)
    # a lower-is-better metric takes the minimum under best-of-n
    f = tmp_path / "fidtest.toml"
    f.write_text('[paper]\nid = "x"\n[[table]]\nnumber = "1"\nlabel = "T"\ncaption = "c"\naggregation = "best"\n'
                 'seeds = 3\nmetric_definition = "m"\nnmi = "none"\nsplit = "s"\naggregation_note = "a"\n'
                 'set = { evaluate = "fid", fid_network = "mnist-cnn" }\n'
                 'columns = [{label = "FID", dataset = "mnist", metric = "fid"}]\n'
                 'rows = [{label = "r", method = "dc3-gan", values = ["0.15"]}]\n')
    for seed, v in enumerate([0.3, 0.2, 0.25]):
        rec(home, "dc3-gan", "mnist", seed, {"fid": v},
            config={"latent_dim": 25, "evaluate": ["fid"], "fid_network": "mnist-cnn"})  # DC3 Table 9's d_n
    spec = S.load_paper_file(f).tables["1"]
    assert fill_table(spec, load_results(home), implemented=IMPL).cells[0][0].value == pytest.approx(0.2)


def test_latest_record_per_seed_counts(home):
    rec(home, "kmeans", "mnist", 0, {"acc": 0.40}, created="2026-01-01T00:00:01")
    rec(home, "kmeans", "mnist", 0, {"acc": 0.50}, created="2026-01-02T00:00:02")
    t = fill_table(S.get_table("dual-aae", 1), load_results(home), implemented=IMPL)
    c = _cell(t, "K-means", "MNIST")
    assert c.n == 1 and c.value == pytest.approx(50.0)


def test_ablation_settings_and_method_defaults(home):
    d_n = {"latent_dim": 25}  # DC3 Table 9 (methods/dataset_settings.toml): every MNIST cell requires it
    rec(home, "dc3-gan", "mnist", 0, {"purity": 0.97, "nmi_geometric": 0.94}, config=d_n)    # full model
    rec(home, "dc3-gan", "mnist", 0, {"purity": 0.50, "nmi_geometric": 0.40}, config={**d_n, "loss_ce": False})
    rec(home, "dc3-gan", "mnist", 1, {"purity": 0.99, "nmi_geometric": 0.99})  # d_n not the paper's: not read
    res = load_results(home)
    t4 = fill_table(S.get_table("dc3", 4), res, implemented=IMPL)
    assert _cell(t4, "Ours", "MNIST ACC").value == pytest.approx(0.97)  # the ablated run is not mixed in
    t8 = fill_table(S.get_table("dc3", 8), res, implemented=IMPL)
    assert _cell(t8, "No L_CE", "ACC").value == pytest.approx(0.50)
    assert _cell(t8, "Full setting", "ACC").value == pytest.approx(0.97)
    assert _cell(t8, "No L_AE", "ACC").command == ("clusterbench run dc3-gan --dataset mnist --seeds 5 --set latent_dim=25 "
                                                   "--set loss_ae=false")  # DC3 Table 9 d_n, then the ablation


def test_column_settings_in_fill_commands(home):
    """BSPL Table 3 is a retrieval table: its cells name `clusterbench retrieval`, hash_bits as --bits;
    the shallow hash functions (not methods) count as implemented there."""
    t = fill_table(S.get_table("clustergan-bspl", 3), load_results(home), implemented=IMPL)
    cmds = {c.command for row in t.cells for c in row if c.command}
    assert cmds == {f"clusterbench retrieval {m} --dataset {d} --seeds 5 --bits {b}"
                    for m in ("clustergan-bspl", "kmh", "sphh", "speh", "pcah", "lsh", "itq")
                    for d in ("cifar10", "mnist") for b in (32, 64)}
    t = fill_table(S.get_table("clustergan-bspl", 3), load_results(home))
    assert _cell(t, "ITQ [18]", "MNIST mAP 32").status == "missing"     # a hash function: implemented
    assert _cell(t, "DH [13]", "MNIST mAP 32").status == "reported"
    t2 = fill_table(S.get_table("clustergan-bspl", 2), load_results(home), implemented=IMPL)
    assert _cell(t2, "K-means", "MNIST ACC").command == "clusterbench run kmeans --dataset mnist --seeds 5"


def test_reject_option_cells(home):
    rec(home, "dual-aae", "mnist", 0, {"acc": 0.9786, "reject_rate@0.5": 0.0089, "reject_acc@0.5": 0.9822})
    t = fill_table(S.get_table("dual-aae", 4), load_results(home), implemented=IMPL)
    assert _cell(t, "Threshold 0.50", "Rejection rate").value == pytest.approx(0.89)
    assert _cell(t, "Threshold 0.50", "ACC").value == pytest.approx(98.22)
    assert _cell(t, "Threshold 0.90", "ACC").status == "missing"


def test_epoch_seconds_from_timings(home):
    rec(home, "aae", "mnist", 0, {"acc": 0.8}, timings={"epoch_s": [40.0, 42.0]})
    t = fill_table(S.get_table("dual-aae", 3), load_results(home), implemented=IMPL)
    assert _cell(t, "AAE", "MNIST").value == pytest.approx(41.0)


# --------------------------------------------------------------------------- rendering


def _golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("CLUSTERBENCH_UPDATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{name} differs from the golden file"


def test_golden_markdown_and_latex(home):
    table1_fixture(home)
    t = fill_table(S.get_table("dual-aae", 1), load_results(home), implemented=IMPL)
    _golden("dual-aae-table-1.md", render_markdown(t))
    _golden("dual-aae-table-1.tex", render_latex(t))


def test_no_runs_still_renders_paper_values_and_fill_commands(home):
    t = fill_table(S.get_table("dual-aae", 1), load_results(home), implemented=IMPL)
    md = render_markdown(t)
    assert "0 of 31 cells measured" in md
    for printed in ("53.55", "97.86", "N/A", "94.46"):
        assert printed in md
    assert "`clusterbench run kmeans --dataset reuters --seeds 10`" in md
    assert "not implemented yet / 97.04" in md  # dual-aae-nocr is not in IMPL


def test_csv_and_json_are_long_rows(home):
    table1_fixture(home)
    t = fill_table(S.get_table("dual-aae", 1), load_results(home), implemented=IMPL)
    rows = list(csv.DictReader(io.StringIO(render([t], "csv"))))
    assert len(rows) == 13 * 4
    r = next(r for r in rows if r["row"] == "Dual-AAE" and r["column"] == "MNIST")
    assert r["status"] == "measured" and r["n"] == "3" and float(r["paper_value"]) == 97.86
    doc = json.loads(render([t], "json"))
    assert doc[0]["n_measured"] == 2 and len(doc[0]["cells"]) == 52
    with pytest.raises(UnknownNameError):
        render([t], "html")


def test_latex_escape():
    assert latex_escape("a_b & 5% #1 $x$ {y} ~^\\") == (
        r"a\_b \& 5\% \#1 \$x\$ \{y\} \textasciitilde{}\textasciicircum{}\textbackslash{}")
    assert latex_escape("±β†—é") == r"$\pm$$\beta$\dag{}---e"


def test_latex_compiles_and_fits_the_page(home, tmp_path):
    """Every table of every paper, in one standard ``article`` (text width 345 pt), compiles and
    overflows nowhere; so does a standalone Table I."""
    table1_fixture(home)
    res = load_results(home)
    pdflatex_fits(tmp_path, "t1", render_latex(fill_table(S.get_table("dual-aae", 1), res, implemented=IMPL),
                                               standalone=True))
    body = "\n".join(render_latex(fill_table(t, res, implemented=IMPL)) + "\\clearpage" for t in S.all_tables())
    log = pdflatex_fits(tmp_path, "all", latex_document(body))
    pages = int(re.search(r"Output written on all.pdf \((\d+) pages?", log.replace("\n", "")).group(1))
    assert pages >= len(S.all_tables())


def test_latex_overflow_is_detected(tmp_path):
    """The fit check can fail: a 14-column table in the old single-tabular layout overflows."""
    wide = "\\begin{tabular}{" + "c" * 14 + "}" + " & ".join(["97.50 $\\pm$ 0.41 (n=3)"] * 14) + "\\end{tabular}\n"
    with pytest.raises(AssertionError, match="overfull"):
        pdflatex_fits(tmp_path, "wide", latex_document(wide))


def test_column_blocks_are_balanced():
    assert column_blocks(4) == [[0, 1, 2, 3]]
    assert [len(b) for b in column_blocks(10)] == [4, 3, 3]
    assert [len(b) for b in column_blocks(12)] == [4, 4, 4]
    assert sum(column_blocks(7), []) == list(range(7))


# --------------------------------------------------------------------------- CLI


def test_cli_list_counts(home, capsys):
    table1_fixture(home)
    main(["report", "--list", "--results", str(home)])
    out = capsys.readouterr().out
    line = next(l for l in out.splitlines() if l.startswith("Table I ") and "dual-aae" in l)
    assert line.split()[6] == "2/31"  # dual-aae and kmeans on MNIST; the subset/failed runs do not count
    assert sum(1 for l in out.splitlines() if "cells measured" in l) == 16


def test_cli_table_formats_and_out(home, tmp_path, capsys):
    table1_fixture(home)
    main(["report", "--table", "1", "--results", str(home), "--format", "latex"])
    stdout = capsys.readouterr().out
    assert r"\toprule" in stdout and r"\bottomrule" in stdout
    target = tmp_path / "out" / "t1.tex"
    main(["report", "--table", "I", "--results", str(home), "--format", "latex", "--out", str(target)])
    assert target.read_text() == stdout
    assert not [p for p in target.parent.iterdir() if p.name.startswith(".")]  # no temp file left


def test_cli_unknown_table_and_paper_exit_1(home, capsys):
    with pytest.raises(SystemExit) as e:
        main(["report", "--table", "9", "--results", str(home)])
    assert e.value.code == 1
    err = capsys.readouterr().err
    assert "Valid tables of dual-aae" in err and "Traceback" not in err
    with pytest.raises(SystemExit) as e:
        main(["report", "--paper", "dc4", "--results", str(home)])
    assert e.value.code == 1
    assert "dc3" in capsys.readouterr().err


def test_cli_subprocess_no_traceback(home):
    env = dict(os.environ, CLUSTERBENCH_HOME=str(home.parent / "cbh"))
    p = subprocess.run([sys.executable, "-m", "clusterbench", "report", "--paper", "nope"], cwd=ROOT,
                       capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 1 and "Traceback" not in p.stderr and "Valid papers" in p.stderr


def test_cli_corrupt_record_warns_on_stderr(home, capsys):
    table1_fixture(home)
    bad = home / "kmeans" / "mnist" / "broken.json"
    bad.write_text("{not json")
    main(["report", "--table", "1", "--results", str(home)])
    cap = capsys.readouterr()
    assert "broken.json" in cap.err and "skipping corrupt run record" in cap.err
    assert "97.50 ± 0.41 (n=3)" in cap.out


# --------------------------------------------------------------------------- --all and figures


def _write_outputs(path: Path, **arrays) -> None:
    import h5py

    with h5py.File(path.with_suffix(".h5"), "w") as f:
        for k, v in arrays.items():
            f[k] = v


def test_all_writes_tables_and_figures(home, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(0)
    n, k = 60, 3
    y = np.repeat(np.arange(k), n // k)
    proba = np.full((n, k), 0.1)
    proba[np.arange(n), y] = 0.8
    proba[:6] = 1.0 / k  # a few uncertain samples
    emb = rng.normal(size=(n, 4)) + y[:, None] * 3
    for seed in (0, 1):
        hist = [{"epoch": e, "acc": 0.5 + 0.1 * e + 0.01 * seed} for e in range(4)]
        path = rec(home, "dual-aae", "digits", seed, {"acc": 0.9}, history=hist,
                   artifacts={"samples": "grid.png"} if seed == 0 else {})
        _write_outputs(path, proba=proba, embedding=emb, y=y)
    grid = home / "dual-aae" / "digits" / "grid.png"
    plt.imsave(grid, rng.random((8, 8)))
    out = tmp_path / "rep"
    rep = write_all(out, load_results(home), implemented=IMPL)
    assert len(rep.tables) == 16
    for pid, nums in EXPECTED_TABLES.items():
        for num in nums:
            assert (out / pid / f"table-{num}.md").exists() and (out / pid / f"table-{num}.tex").exists()
    names = sorted(p.name for p in rep.figures.made)
    assert names == ["acc_vs_epoch_digits.png", "dual-aae_digits_s0_samples.png",
                     "reject_dual-aae_digits.png", "tsne_dual-aae_digits.png"]
    for p in rep.figures.made:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # only the ClusterGAN-BSPL and DC3 Fig. 3 figures (no such GAN runs here) are missing
    assert sorted({m.split(" ")[0].split(":")[0] for m in rep.figures.missing
                   if not m.startswith("dc3_fig3")}) == ["bspl_ablations", "bspl_pca"]
    assert "acc_vs_epoch_digits.png" in (out / "index.md").read_text()


def test_all_without_data_lists_missing_figures(home, tmp_path, capsys):
    main(["report", "--all", "--out", str(tmp_path / "rep"), "--results", str(home)])
    cap = capsys.readouterr()
    assert "Wrote 16 tables" in cap.out
    missing = (tmp_path / "rep" / "figures" / "MISSING.md").read_text()
    for what in ("acc_vs_epoch", "reject-option", "t-SNE", "sample grids"):
        assert what in missing
    assert not list((tmp_path / "rep" / "figures").glob("*.png"))
    with pytest.raises(SystemExit):
        main(["report", "--all", "--results", str(home)])  # --all needs --out


def test_hard_clusterer_gets_no_reject_figure_but_a_note(home, tmp_path):
    """k-means stores one-hot posteriors: its reject-option curve would be empty, so it is skipped
    with the reason; a soft clusterer on the same data still gets its figure."""
    from clusterbench.report.figures import is_hard, reject_curves
    from clusterbench.results.records import iter_records

    n, k = 30, 3
    y = np.repeat(np.arange(k), n // k)
    onehot = np.eye(k)[y]
    soft = np.full((n, k), 0.2)
    soft[np.arange(n), y] = 0.6
    _write_outputs(rec(home, "kmeans", "digits", 0, {"acc": 1.0}), proba=onehot, y=y)
    _write_outputs(rec(home, "kmeans", "digits", 1, {"acc": 1.0}), proba=onehot, y=y)  # one note, not one per seed
    _write_outputs(rec(home, "dual-aae", "digits", 0, {"acc": 1.0}), proba=soft, y=y)
    assert is_hard(onehot) and not is_hard(soft) and not is_hard(np.zeros((0, k)))
    rep = reject_curves(list(iter_records(home)), tmp_path)
    assert [p.name for p in rep.made] == ["reject_dual-aae_digits.png"]
    assert len(rep.missing) == 1 and rep.missing[0].startswith("reject_kmeans_digits: kmeans is a hard clusterer")
    assert "no reject option" in rep.missing[0]
    assert not (tmp_path / "reject_kmeans_digits.png").exists()


def test_reject_curve_numbers():
    from clusterbench.report.figures import reject_curve

    y = np.array([0, 0, 1, 1])
    proba = np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8], [0.45, 0.55]])
    rate, acc = reject_curve(y, proba, thresholds=(0.0, 0.58, 0.85))
    # t=0: all accepted, pred [0,1,1,1] -> 3/4; t=0.58: sample 3 (0.55) rejected; t=0.85: only sample 0
    assert list(rate) == [0.0, 0.25, 0.75]
    assert list(acc) == pytest.approx([0.75, 2 / 3, 1.0])


# --------------------------------------------------------------------------- regression bands


def test_regression_bands(tmp_path):
    from clusterbench.runner.regression import compare, has_regression, render_changes, update_references

    ref, cur = tmp_path / "ref", tmp_path / "cur"
    for seed in (0, 1):
        rec(ref, "kmeans", "digits", seed, {"acc": 0.80, "nmi": 0.70, "fid": 1.0}, subset=300, key=f"old{seed}")
        rec(ref, "gmm", "digits", seed, {"acc": 0.60}, subset=300, key=f"oldg{seed}")
    # kmeans: acc within band, nmi dropped beyond it, fid (lower is better) went down: improved
    for seed in (0, 1):
        rec(cur, "kmeans", "digits", seed, {"acc": 0.81, "nmi": 0.60, "fid": 0.5}, subset=300, key=f"new{seed}")
    rec(cur, "kmeans", "digits", 9, {"acc": 0.0}, subset=300, key="extra")       # seed absent from the reference
    rec(cur, "nmf", "digits", 0, {"acc": 0.5}, subset=300, key="nmf")             # new group
    rec(cur, "gmm", "digits", 0, {"acc": 0.1}, status="failed", subset=300)        # gmm only failed: missing
    changes, _ = compare(cur, ref)
    st = {(c.method, c.metric): c.status for c in changes}
    assert st == {("kmeans", "acc"): "ok", ("kmeans", "nmi"): "regressed", ("kmeans", "fid"): "improved",
                  ("nmf", "acc"): "new", ("gmm", "acc"): "missing"}
    assert has_regression(changes)
    text = render_changes(changes)
    assert "REGRESSED" in text and "MISSING" in text and "-0.1000" in text
    written = update_references(cur, ref)
    assert len(written) == 4  # the stale gmm reference records are removed
    assert sorted(p.stem for p in ref.glob("*/*/*.json")) == sorted(["new0", "new1", "extra", "nmf"])
    changes, _ = compare(cur, ref)
    assert not has_regression(changes)


def test_cli_metrics_and_bad_format(home, capsys):
    main(["report", "--metrics"])
    out = capsys.readouterr().out
    for key in ("acc", "purity", "nmi_geometric", "modes", "kl", "epoch_seconds", "fid", "precision@1000", "reject_acc@"):
        assert key in out
    with pytest.raises(SystemExit) as e:
        main(["report", "--format", "html", "--results", str(home)])
    assert e.value.code == 1 and "Valid formats" in capsys.readouterr().err


def test_training_epochs_only_in_epoch_times_and_acc_curves():
    """Pre-training epochs (numbered 1.. again) and the initialisation row neither count as
    Table III training epochs nor overwrite the Fig. 3 curve."""
    from clusterbench.report.figures import train_curve
    from clusterbench.runner.execute import _epoch_seconds

    history = [{"phase": "pretrain", "epoch": 1, "seconds": 1.0, "acc": 0.2},
               {"phase": "pretrain", "epoch": 2, "seconds": 1.0, "acc": 0.3},
               {"phase": "init", "epoch": 0, "acc": 0.7},
               {"phase": "train", "epoch": 1, "seconds": 5.0, "acc": 0.8},
               {"phase": "train", "epoch": 2, "seconds": 7.0, "acc": 0.9}]
    assert _epoch_seconds(history) == [5.0, 7.0]
    assert train_curve(history) == {1: 0.8, 2: 0.9}
    assert _epoch_seconds([{"epoch": 1, "seconds": 3.0}]) == [3.0]  # histories without phases


def test_datasets_and_report_share_one_vocabulary_of_papers_and_tables():
    """Every `used_by` entry names a report paper id and only tables that `report` renders;
    architecture / latent-size tables are named as setting tables (issue 16.7)."""
    import re

    from clusterbench.data.registry import load_registry

    papers = {pid: set(p.tables) for pid, p in S.load_papers().items()}
    roman = {"I": "1", "II": "2", "III": "3", "IV": "4"}
    for name, spec in load_registry().items():
        for entry in spec.used_by:
            pid, _, rest = entry.partition(": ")
            if pid == "clusterbench":
                continue
            assert pid in papers, (name, entry)
            m = re.match(r"Tables? ([0-9IV, ]+)", rest)
            if m:
                for n in (x.strip() for x in m.group(1).split(",") if x.strip()):
                    assert roman.get(n, n) in papers[pid], (name, entry, n)


# --------------------------------------------------------------------------- like with like (issue 9, items 8-10)


def test_row_definition_decides_what_the_measured_cell_reads(home):
    """DLS Table 3: K-means's MNIST value is DualAE's Hungarian ACC, its Pendigits value (*) the
    authors' purity; NMF's is Mukherjee et al.'s purity. Each measured cell reads that same key."""
    rec(home, "kmeans", "mnist", 0, {"acc": 0.55, "purity": 0.60, "nmi_geometric": 0.5})
    rec(home, "kmeans", "pendigits", 0, {"acc": 0.70, "purity": 0.75, "nmi_geometric": 0.6})
    rec(home, "nmf", "mnist", 0, {"acc": 0.50, "purity": 0.58, "nmi_geometric": 0.4})
    t = fill_table(S.get_table("dls", 3), load_results(home), implemented=IMPL | {"nmf"})
    km, km_p, nmf = _cell(t, "K-means [30]", "MNIST ACC"), _cell(t, "K-means [30]", "Pendigits ACC"), _cell(t, "NMF [27]", "MNIST ACC")
    assert (km.spec.metric, km.value) == ("acc", pytest.approx(0.55))
    assert (km_p.spec.metric, km_p.value) == ("purity", pytest.approx(0.75))
    assert (nmf.spec.metric, nmf.value) == ("purity", pytest.approx(0.58))
    # cited rows declare their definition too (DEC from DualAE: Hungarian), and DC3 Table 6 mixes
    # IIC's Hungarian rows with the paper's own purity
    assert _cell(t, "DEC [46]", "MNIST ACC").spec.metric == "acc"
    t6 = S.get_table("dc3", 6)
    assert [r[0].metric for r in t6.cells] == ["acc"] * 9 + ["purity"]


def test_definition_marks_in_every_format(home):
    t = fill_table(S.get_table("dls", 3), load_results(home), implemented=IMPL)
    md, tex = render_markdown(t), render_latex(t)
    assert "0.532<sup>H,a</sup>" in md and "0.560<sup>P</sup>" in md      # K-means (DualAE), NMF (Mukherjee)
    assert "- H: ACC (Hungarian)" in md and "- P: ACC (purity)" in md
    assert r"0.532\textsuperscript{H,a}" in tex and "H: ACC (Hungarian)" in tex
    rows = {(r["row"], r["column"]): r for r in csv.DictReader(io.StringIO(render([t], "csv")))}
    km = rows[("K-means [30]", "MNIST ACC")]
    assert (km["metric"], km["definition"], km["marks"]) == ("acc", "ACC (Hungarian)", "H,a")
    assert rows[("NMF [27]", "MNIST ACC")]["definition"] == "ACC (purity)"
    doc = json.loads(render([t], "json"))[0]
    assert doc["legend"]["H"].startswith("ACC (Hungarian)") and doc["legend"]["P"].startswith("ACC (purity)")
    cell = next(c for c in doc["cells"] if c["row"] == "DEC [46]" and c["column"] == "YTF ACC")
    assert (cell["metric"], cell["marks"]) == ("acc", "H")
    # a table with one definition per family carries no definition mark (its header says it)
    md1 = render_markdown(fill_table(S.get_table("dual-aae", 1), load_results(home), implemented=IMPL))
    assert not any(m in md1 for m in ("<sup>H", "<sup>P", "- H:", "- P:"))  # (a caveat's "?" mark may be there)


def test_ran_or_cited_and_paper_aggregation_in_every_format(home):
    """BSPL Table 2: K-means's MNIST values are cited, its CIFAR-10 ones (*) the authors' runs (mean of 5)."""
    t = fill_table(S.get_table("clustergan-bspl", 2), load_results(home), implemented=IMPL)
    rows = {(r["row"], r["column"]): r for r in csv.DictReader(io.StringIO(render([t], "csv")))}
    cited, ran = rows[("K-means", "MNIST ACC")], rows[("K-means", "CIFAR-10 ACC")]
    assert (cited["paper_source"], cited["cited_from"], cited["paper_aggregation"]) == (
        "cited", "the reference papers", "aggregation not stated")
    assert (ran["paper_source"], ran["cited_from"], ran["paper_aggregation"]) == ("ran", "", "mean of 5")
    assert ran["measured_aggregation"] == "mean ± std over 5 seeds"
    own = rows[("ClusterGAN", "MNIST ACC")]
    assert (own["paper_source"], own["marks"]) == ("ran", "")            # one provenance in the row: no mark
    md, tex = render_markdown(t), render_latex(t)
    assert "0.239\\*<sup>b</sup>" in md and "| per cell: a, b |" in md   # a row that mixes: a mark per cell
    assert "- b: paper value: run by the paper; mean of 5" in md
    assert "run by the paper; mean of 5 |" in md                          # ClusterGAN's Paper value column
    assert "0.239*\\textsuperscript{b}" in tex and "per cell: a, b" in tex
    doc = json.loads(render([t], "json"))[0]
    assert doc["legend"]["a"] == "paper value: cited from the reference papers; aggregation not stated"
    # DLS Table 3: ClusterGAN cited from Mukherjee et al. (best of 5 by validation), the paper's own best of 5
    md3 = render_markdown(fill_table(S.get_table("dls", 3), load_results(home), implemented=IMPL))
    assert "| cited from [34] (ClusterGAN); best of 5 by validation score |" in md3
    assert "| ran by the paper" not in md3 and "| run by the paper; best of 5 |" in md3


def test_uncertain_cells_and_fixed_specs(home):
    t = fill_table(S.get_table("clustergan-bspl", 3), load_results(home), implemented=IMPL)
    rows = {(r["row"], r["column"]): r for r in csv.DictReader(io.StringIO(render([t], "csv")))}
    for col in ("CIFAR-10 precision@1000 32", "CIFAR-10 mAP@1000 64", "MNIST precision@1000 64", "MNIST mAP@1000 32"):
        assert rows[("ClusterGAN", col)]["caveat"] and "?" in rows[("ClusterGAN", col)]["marks"].split(",")
    assert rows[("ClusterGAN", "CIFAR-10 mAP 32")]["caveat"] == ""
    md = render_markdown(t)
    assert "/ 40.62<sup>?</sup>" in md and "- ?: ClusterGAN's precision@1000 and mAP@1000" in md
    note = " ".join(t.spec.notes)
    assert "LSH on CIFAR-10 has precision@1000 above mAP@1000" in note and "the order of every shallow row" not in note
    t6 = S.get_table("dc3", 6)
    assert "10,000 CIFAR-10 test images" in t6.split and "all 60,000 images (IIC protocol)" not in t6.split.split(";")[0]
    assert _cell(fill_table(t6, load_results(home), implemented=IMPL), "Ours", "ACC").spec.caveat
    assert ("The proposed DC3-GAN achieves desirable scores in most cases. The implementation of DC3-GAN is based "
            "on the source code of InfoGAN-CR, and MC") in S.get_table("dc3", 3).caption


def test_catalogue_direction_drives_best_of_n(home, monkeypatch):
    """'best of N' takes the max or the min by the catalogue's direction of the cell's metric."""
    from dataclasses import replace

    for seed, p in enumerate([0.60, 0.70, 0.65]):
        rec(home, "kmeans", "coil100", seed, {"purity": p})
    res = load_results(home)
    spec = S.get_table("dls", 4)
    assert _cell(fill_table(spec, res, implemented=IMPL), "K-means", "ACC").value == pytest.approx(0.70)
    flipped = tuple(replace(m, better="min") if m.key == "purity" else m for m in catalog.BUILTIN_METRICS)
    monkeypatch.setattr(catalog, "_catalogue", lambda: flipped)
    assert _cell(fill_table(spec, res, implemented=IMPL), "K-means", "ACC").value == pytest.approx(0.60)


def test_provenance_spec_errors(tmp_path):
    f = tmp_path / "x.toml"
    head = ('[paper]\nid = "x"\n[[table]]\nnumber = "1"\nlabel = "T"\ncaption = "c"\naggregation = "best"\n'
            'seeds = 1\nmetric_definition = "m"\nnmi = "none"\nsplit = "s"\naggregation_note = "a"\n'
            'columns = [{label = "A", dataset = "mnist", metric = "purity"}]\n')
    f.write_text(head + 'rows = [{label = "r", method = "kmeans", source = "cited", values = ["1"]}]\n')
    with pytest.raises(ConfigError, match="cited_from"):
        S.load_paper_file(f)
    f.write_text(head + 'rows = [{label = "r", method = "kmeans", paper_aggregation = "median", values = ["1"]}]\n')
    with pytest.raises(ConfigError, match="paper_aggregation must be one of"):
        S.load_paper_file(f)
    f.write_text(head + 'rows = [{label = "r", method = "kmeans", caveat = "x", caveat_columns = ["B"], values = ["1"]}]\n')
    with pytest.raises(ConfigError, match="caveat_columns names no column"):
        S.load_paper_file(f)
    f.write_text(head + 'rows = [{label = "r", method = "kmeans", redefine = { purity = "acc" }, values = ["1"]}]\n')
    assert S.load_paper_file(f).tables["1"].cells[0][0].metric == "acc"


def test_every_cited_cell_names_its_source():
    for t in S.all_tables():
        for c in t.iter_cells():
            assert c.source in ("ran", "cited", "not_stated"), (t.id, c)
            if c.source == "cited":
                assert c.cited_from, (t.id, c)


def test_catalogue_format_where_the_paper_printed_no_value(home, tmp_path):
    f = tmp_path / "x.toml"
    f.write_text('[paper]\nid = "x"\n[[table]]\nnumber = "1"\nlabel = "T"\ncaption = "c"\naggregation = "mean_std"\n'
                 'seeds = 1\nmetric_definition = "m"\nnmi = "none"\nsplit = "s"\naggregation_note = "a"\n'
                 'columns = [{label = "KL", dataset = "mnist", metric = "kl"}, {label = "KL2", dataset = "mnist", metric = "kl"}]\n'
                 'rows = [{label = "r", method = "dual-aae", values = ["-", "0.38"]}]\n')
    rec(home, "dual-aae", "mnist", 0, {"kl": 0.123456})
    t = fill_table(S.load_paper_file(f).tables["1"], load_results(home), implemented=IMPL)
    assert t.cells[0][0].decimals == catalog.lookup("kl").decimals == 4   # no printed value: the catalogue's
    assert t.cells[0][1].decimals == 2                                      # as printed

def test_all_survives_a_truncated_sidecar_and_writes_through_a_staging_folder(home, tmp_path, monkeypatch):
    """Issue 15 class 4: a truncated ``.h5`` is skipped with a warning naming it; a failure while
    the report is written leaves the previous report folder as it was (no half-written folder)."""
    y = np.repeat(np.arange(3), 20)
    proba = np.eye(3)[y] * 0.8 + 0.066
    good = rec(home, "dual-aae", "digits", 0, {"acc": 0.9})
    _write_outputs(good, proba=proba, embedding=proba, y=y)
    bad = rec(home, "dual-aae", "digits", 1, {"acc": 0.8}, created="2026-02-01T00:00:00")
    _write_outputs(bad, proba=proba, embedding=proba, y=y)
    data = bad.with_suffix(".h5").read_bytes()
    bad.with_suffix(".h5").write_bytes(data[: len(data) // 3])  # truncated
    out = tmp_path / "rep"
    with pytest.warns(UserWarning, match=str(bad.with_suffix(".h5").name)):
        rep = write_all(out, load_results(home), implemented=IMPL)
    assert len(rep.tables) == 16 and all(p.exists() and out in p.parents for p in rep.files)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    # a crash half way through the next report: the old one stays complete, no temp folder left
    import clusterbench.report.build as B

    def boom(*a, **k):
        raise RuntimeError("crash while writing the figures")

    monkeypatch.setattr(B, "make_figures", boom)
    with pytest.raises(RuntimeError):
        write_all(out, load_results(home), implemented=IMPL)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_gan_tsne_of_z_n_beside_the_raw_data(home, tmp_path):
    """DLS Fig. 2 / DC3 Fig. 3: the z_n t-SNE of a GAN method comes with the raw data's, of the
    same rows (a subset run's stored indices); a data set that is not fetched is a missing note."""
    import matplotlib

    matplotlib.use("Agg")
    from clusterbench import load
    from clusterbench.report.figures import tsne_plots

    X, y_full, _ = load("digits")  # embedded: prepared on first use
    rows = np.arange(0, 120, 2)[::-1]  # a "subset" in a stored order that is not sorted
    y = y_full[rows]
    emb = np.random.default_rng(0).normal(size=(len(rows), 5))
    path = rec(home, "dls", "digits", 0, {"purity": 0.5}, subset=len(rows))
    _write_outputs(path, proba=np.full((len(rows), 10), 0.1), embedding=emb, y=y, indices=rows)
    path2 = rec(home, "clustergan", "usps", 0, {"purity": 0.5})
    _write_outputs(path2, proba=np.full((len(rows), 10), 0.1), embedding=emb, y=y)
    rep = tsne_plots(load_results(home).records(), tmp_path)
    assert sorted(p.name for p in rep.made) == ["tsne_clustergan_usps.png", "tsne_data_digits_subset60.png",
                                                "tsne_dls_digits.png"]
    assert len(rep.missing) == 1 and "raw usps data" in rep.missing[0] and "not fetched" in rep.missing[0]
    from clusterbench.report.figures import _raw_rows, _read_outputs

    dls_record = next(r for _, r in load_results(home).records() if r.method == "dls")
    got, _ = _raw_rows(dls_record, len(rows), _read_outputs(path.with_suffix(".h5")))
    np.testing.assert_allclose(got, X[rows].reshape(len(rows), -1))  # the stored rows, in their order


def test_bspl_figures_2_and_3_render_from_tiny_runs(cb_home, tmp_path, capsys):
    """ClusterGAN-BSPL Fig. 2 (ablation ACC differences) and Fig. 3 (PCA of raw data, BSPL+Lcons and
    the full method) from real tiny clustergan-bspl runs; a run with other settings is not mixed in."""
    from cli_helper import run_cli

    from clusterbench.report.figures import _bspl_groups, bspl_ablation_figure, bspl_pca_figure
    from clusterbench.results.records import iter_records

    base = ["run", "clustergan-bspl", "-d", "digits", "--subset", "200", "--device", "cpu", "--set", "epochs=1",
            "--set", "batch_size=50", "--set", "save_samples=false", "--set", "kmeans_n_init=1"]
    for extra in ([], ["--set", "gan=false"], ["--set", "self_paced=off"], ["--set", "consistency=false"],
                  ["--set", "self_paced=spl"], ["--set", "epochs=2", "--set", "gan=false"]):
        rc, _, err = run_cli(capsys, *base, *extra)
        assert rc == 0, err
    records = list(iter_records(cb_home / "runs"))
    groups = _bspl_groups(records)
    (variants,) = [v for v in groups.values() if "full" in v]
    assert sorted(variants) == sorted(["full", "BSPL+Lcons", "GAN+Lcons", "GAN+BSPL", "GAN+SPL+Lcons"])
    out = tmp_path / "figs"
    out.mkdir()
    fig2 = bspl_ablation_figure(records, out)
    fig3 = bspl_pca_figure(records, out)
    assert [p.name for p in fig2.made] == ["bspl_ablations_digits_subset200.png"] and not fig2.missing
    assert [p.name for p in fig3.made] == ["bspl_pca_digits_subset200.png"] and not fig3.missing
    for p in fig2.made + fig3.made:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # without ablation runs: listed as missing, with the reason
    only_full = [(p, r) for p, r in records if r.config.get("gan", True) and r.config.get("self_paced") == "bspl"
                 and r.config.get("consistency", True)]
    assert "no data set has clustergan-bspl runs" in bspl_ablation_figure(only_full, out).missing[0]
    assert "BSPL+Lcons" in bspl_pca_figure(only_full, out).missing[0]


def test_bspl_ablation_differences_pair_runs_by_seed():
    """Fig. 2's differences compare an ablation with the full method on the same seeds (a one-seed
    ablation against a three-seed mean would show seed noise), the latest record per seed; with no
    seed in common, the means, marked unpaired."""
    from types import SimpleNamespace

    from clusterbench.report.figures import bspl_ablation_differences

    def run(seed, acc, created="2026-01-01"):
        return (Path(f"r{seed}"), SimpleNamespace(seed=seed, metrics={"acc": acc}, created=created, key=f"k{seed}{acc}"))

    variants = {"full": [run(0, 0.50), run(1, 0.70), run(2, 0.90)],
                "BSPL+Lcons": [run(0, 0.40, "2025-01-01"), run(0, 0.55, "2026-06-01")],  # latest: 0.55
                "GAN+BSPL": [run(7, 0.60)]}
    rows = {name: rest for name, *rest in bspl_ablation_differences(variants)}
    assert rows["BSPL+Lcons"][0] == pytest.approx(5.0) and rows["BSPL+Lcons"][1:] == [1, True]
    assert rows["GAN+BSPL"][0] == pytest.approx(-10.0) and rows["GAN+BSPL"][1:] == [1, False]
