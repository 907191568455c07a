"""DC3 Tables 1, 2 and 8 fill from the `clusterbench run` commands the report prints.

Each test takes a cell's printed fill command, runs it through the CLI (in this process) on a
tiny stand-in for MNIST (40 images of two separable "digits", written as the fetched ``mnist``
data set of a temporary home) with a short schedule appended, and checks that the resulting
record fills that cell. The MNIST classifier (mode counting, FID features, SSIM's class
matching) is a tiny two-class one trained into the home's model cache; FID's 10,000 generated
samples (the table's ``fid_samples``) are made by the method's generator, and only the feature
network is replaced by a cheap one (its correctness is tests/test_evaluate_fid.py's).
"""

from __future__ import annotations

import shlex

import numpy as np
import pytest
import torch

from clusterbench.cli import main
from clusterbench.report import spec as S
from clusterbench.report.render import fill_table, load_results, render_markdown

torch.set_num_threads(1)

#: A short schedule per method, appended to the printed command (it is not part of the cell's settings).
SHORT = {
    "dc3-gan": ["iterations=2", "critic_iters=1", "batch_size=16", "save_samples=false"],
    "clustergan": ["iterations=2", "critic_iters=1", "batch_size=16", "save_samples=false"],
    "wgan-gp": ["iterations=2", "critic_iters=1", "batch_size=16", "save_samples=false"],
    "infogan": ["epochs=1", "batch_size=16", "save_samples=false"],
}


@pytest.fixture
def tiny_mnist(cb_home, monkeypatch):
    """A 40-image, 2-class ``mnist`` in the temporary home, its classifier cached, cheap FID features."""
    from clusterbench import paths
    from clusterbench.data.hdf5 import Prepared, write_dataset
    from clusterbench.evaluate import fid
    from clusterbench.evaluate import mnist_classifier as mc

    rng = np.random.default_rng(0)
    X = rng.random((40, 1, 28, 28), dtype=np.float32) * 0.5
    y = np.arange(40) % 2
    X[y == 0, :, :14] += 0.5
    mc.train_classifier(X[:30], y[:30], X[30:], y[30:], epochs=2, batch_size=10, min_accuracy=0.0,
                        directory=paths.models_dir())
    write_dataset(paths.dataset_file("mnist"), Prepared(X, y, {"preprocessor": "test"}), name="mnist", n_clusters=2)
    # 4x4 average pools (49-d) instead of the CNN's 128-d layer: the same evaluator path, cheaper
    monkeypatch.setattr(fid, "penultimate_features",
                        lambda clf, x, device="cpu": np.asarray(x, np.float64).reshape(len(x), 7, 4, 7, 4).mean((2, 4)).reshape(len(x), -1))
    return cb_home


def _cell(t, row: str, col: str):
    i = [str(r["label"]) for r in t.spec.rows].index(row)
    j = [str(c["label"]) for c in t.spec.columns].index(col)
    return t.cells[i][j]


def _run_printed(cell, home) -> None:
    """Run the cell's printed command (plus the short schedule) through the CLI."""
    args = shlex.split(cell.command)
    assert args[:2] == ["clusterbench", "run"]
    for s in SHORT[cell.spec.method]:
        args += ["--set", s]
    main([*args[1:], "--device", "cpu", "--results", str(home)])  # raises SystemExit on a failed run


@pytest.mark.parametrize("method,column", [("dc3-gan", "Ours"), ("clustergan", "ClusterGAN"),
                                           ("wgan-gp", "WGAN"), ("infogan", "InfoGAN")])
def test_table_1_fid_cell_fills_from_its_printed_command(tiny_mnist, method, column):
    home = tiny_mnist / "runs"
    spec = S.get_table("dc3", 1)
    cell = _cell(fill_table(spec, load_results(home)), "MNIST", column)
    assert cell.status == "missing" and cell.spec.method == method
    assert "--set evaluate=fid" in cell.command and "--set fid_network=mnist-cnn" in cell.command
    _run_printed(cell, home)
    t = fill_table(spec, load_results(home))
    done = _cell(t, "MNIST", column)
    assert done.status == "measured" and done.n == 1 and done.command is None
    assert np.isfinite(done.value) and done.value >= 0
    (path, rec), = load_results(home).records()
    facts = rec.extras["evaluation"]["fid"]
    assert facts["fid_network"] == "mnist-cnn" and facts["classifier"] == "mnist"
    assert facts["n_generated"] == 10000 and facts["n_real"] == 40  # all 40 real images (fewer than 10,000)
    assert rec.metrics["fid"] == pytest.approx(done.value)
    assert "FID feature network: mnist-cnn" in render_markdown(t)
    # the Fashion cell of the same method is not filled by an MNIST run
    assert _cell(t, "Fashion", column).status == "missing"


@pytest.mark.parametrize("method,row", [("dc3-gan", "Ours"), ("clustergan", "ClusterGAN")])
def test_table_2_ssim_cells_fill_from_the_printed_command(tiny_mnist, method, row):
    home = tiny_mnist / "runs"
    spec = S.get_table("dc3", 2)
    cell = _cell(fill_table(spec, load_results(home)), row, "0")
    assert "--set evaluate=ssim" in cell.command and "--set ssim_pairs=200" in cell.command
    _run_printed(cell, home)
    t = fill_table(spec, load_results(home))
    (_, rec), = load_results(home).records()
    assert rec.extras["evaluation"]["ssim"]["pairs"] == 200 and rec.extras["evaluation"]["ssim"]["matched"]
    filled = {c.spec.metric for c in t.cells[[str(r["label"]) for r in spec.rows].index(row)] if c.status == "measured"}
    # two clusters, matched to the tiny classifier's two classes: the columns of digits 0 and 1
    assert filled == {k for k in rec.metrics if k.startswith("ssim@")} and filled <= {"ssim@0", "ssim@1"} and filled
    for c in filled:
        assert 0 <= rec.metrics[c] <= 1


def test_table_8_ablation_row_fills_from_its_printed_command(tiny_mnist):
    home = tiny_mnist / "runs"
    spec = S.get_table("dc3", 8)
    cell = _cell(fill_table(spec, load_results(home)), "No L_AE", "ACC")
    assert cell.command.endswith("--set loss_ae=false")
    _run_printed(cell, home)
    t = fill_table(spec, load_results(home))
    assert _cell(t, "No L_AE", "ACC").status == "measured" and _cell(t, "No L_AE", "NMI").status == "measured"
    assert _cell(t, "Full setting", "ACC").status == "missing"  # the ablated run is not the full model


def test_a_run_with_more_evaluators_fills_both_tables(tiny_mnist):
    """evaluate=fid,ssim meets Table 1's evaluate=fid and Table 2's evaluate=ssim."""
    from clusterbench.report.render import _config_matches

    cfg = {"evaluate": ["fid", "ssim"], "fid_network": "mnist-cnn"}
    assert _config_matches(cfg, {"evaluate": "fid", "fid_network": "mnist-cnn"}, {})
    assert _config_matches(cfg, {"evaluate": "ssim"}, {})
    assert not _config_matches(cfg, {"evaluate": "modes"}, {})
    assert not _config_matches({"evaluate": ["fid"], "fid_network": "auto"}, {"evaluate": "fid", "fid_network": "mnist-cnn"}, {})
    assert _config_matches({"count_modes": True}, {"evaluate": "modes"}, {})


def test_fid_and_ssim_cells_must_name_their_evaluator_and_network(tmp_path):
    from clusterbench.errors import ConfigError

    head = ('[paper]\nid = "x"\n[[table]]\nnumber = "1"\nlabel = "T"\ncaption = "c"\naggregation = "best"\n'
            'seeds = 1\nmetric_definition = "m"\nnmi = "none"\nsplit = "s"\naggregation_note = "a"\n')
    body = 'rows = [{label = "r", method = "dc3-gan", dataset = "mnist", values = ["0.1"]}]\n'
    cases = {
        'columns = [{label = "FID", metric = "fid"}]\n': "evaluate",
        'set = { evaluate = "fid" }\ncolumns = [{label = "FID", metric = "fid"}]\n': "feature network",
        'set = { evaluate = "fid", fid_network = "auto" }\ncolumns = [{label = "FID", metric = "fid"}]\n': "feature network",
        'set = { evaluate = "fid" }\ncolumns = [{label = "0", metric = "ssim@0"}]\n': "ssim",
    }
    for i, (cols, msg) in enumerate(cases.items()):
        f = tmp_path / f"t{i}.toml"
        f.write_text(head + cols + body)
        with pytest.raises(ConfigError, match=msg):
            S.load_paper_file(f)
    f = tmp_path / "ok.toml"
    f.write_text(head + 'set = { evaluate = "fid,ssim", fid_network = "inception" }\n'
                 'columns = [{label = "FID", metric = "fid"}, {label = "0", metric = "ssim@0"}]\n'
                 'rows = [{label = "r", method = "dc3-gan", dataset = "mnist", values = ["0.1", "0.2"]}]\n')
    assert S.load_paper_file(f).tables["1"].cells[0][0].settings["fid_network"] == "inception"
