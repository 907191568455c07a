"""DC3 Table 3 (dSprites disentanglement) is fillable from the commands the report prints: the
pool's runs with the disentanglement evaluator, then ``clusterbench model-centrality``, on a tiny
full-factorial dSprites-format data set; the "+ MC" cell reads the selection record, which lists
the pool, and the plain rows never read it."""

from __future__ import annotations

import json
import shlex

import pytest
from cli_helper import run_cli
from method_data import write_tiny_dsprites

from clusterbench import paths
from clusterbench.results.records import SELECTION_KEY, iter_records

#: Tiny-run options appended to the printed commands (training length, evaluator sample sizes);
#: none of them is a setting of a Table 3 cell, so the runs still count for the cells.
TINY_RUN = ["--seeds", "2", "--set", "epochs=1", "--set", "batch_size=64", "--set", "disentanglement_scale=0.005"]
TINY_MC = ["--grid", "5", "--scale", "0.001", "--device", "cpu"]


def _table(capsys):
    rc, out, err = run_cli(capsys, "report", "--paper", "dc3", "--table", "3", "--format", "json")
    assert rc == 0, err
    return json.loads(out)[0]["cells"]


def _run_printed(capsys, command: str) -> None:
    """Run a printed fill command (``run ... && model-centrality ...``) with the tiny options."""
    for part in command.split("&&"):
        args = shlex.split(part)[1:]  # drop "clusterbench"
        if args[0] == "run":
            i = args.index("--seeds")
            args = args[:i] + args[i + 2 :] + TINY_RUN
        else:
            args = args + TINY_MC
        rc, out, err = run_cli(capsys, *args)
        assert rc == 0, f"{args}: {out}{err}"


@pytest.fixture()
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("CLUSTERBENCH_HOME", str(tmp_path / "home"))
    write_tiny_dsprites()
    return tmp_path / "home"


def test_ours_plus_mc_row_fills_from_its_printed_command(home, capsys):
    cells = [c for c in _table(capsys) if c["row"] == "Ours + MC"]
    assert len(cells) == 7 and all(c["status"] == "missing" for c in cells)
    command = cells[0]["command"]
    assert command.startswith("clusterbench run dc3-gan-dsprites --dataset dsprites --seeds 10")
    assert "--set evaluate=disentanglement" in command and "&& clusterbench model-centrality dc3-gan-dsprites" in command
    assert all(c["command"] == command for c in cells)  # one command fills the row
    _run_printed(capsys, command)

    records = [r for _, r in iter_records(paths.results_home()) if r.method == "dc3-gan-dsprites"]
    runs = [r for r in records if r.config.get(SELECTION_KEY) == "none"]
    sel = [r for r in records if r.config.get(SELECTION_KEY) == "model-centrality"]
    assert len(runs) == 2 and len(sel) == 1
    info = sel[0].extras["model_selection"]
    assert sorted(p["key"] for p in info["pool"]) == sorted(r.key for r in runs)  # the record lists the pool
    chosen = next(r for r in runs if r.key == info["selected"])
    assert sel[0].metrics == chosen.metrics and sel[0].seed == chosen.seed
    assert len(info["similarity"]) == 2 and info["sample_scale"] == 0.001

    after = {c["column"]: c for c in _table(capsys) if c["row"] == "Ours + MC"}
    assert all(c["status"] == "measured" and c["n"] == 1 and c["command"] is None for c in after.values())
    assert after["FactorVAE"]["measured"] == pytest.approx(chosen.metrics["factorvae"])
    assert after["MIG"]["measured"] == pytest.approx(chosen.metrics["mig"])
    # the selection record is no trained run: a second selection does not pool it
    _run_printed(capsys, command.split("&&")[1].strip())
    assert len([r for _, r in iter_records(paths.results_home()) if r.method == "dc3-gan-dsprites"]) == 3


def test_plain_rows_never_read_selection_records(home, capsys):
    """The InfoGAN row (infogan-cr, CR weight 0) fills from its runs' mean over seeds; a
    ModelCentrality record of those runs does not count as a third seed."""
    cells = [c for c in _table(capsys) if c["row"] == "InfoGAN"]
    command = cells[0]["command"]
    assert "--set cr_weight=0.0" in command and "model-centrality" not in command
    _run_printed(capsys, command)
    _run_printed(capsys, "clusterbench model-centrality infogan-cr --dataset dsprites --set cr_weight=0.0 "
                         "--set evaluate=disentanglement")
    after = [c for c in _table(capsys) if c["row"] == "InfoGAN"]
    assert all(c["status"] == "measured" and c["n"] == 2 and c["seeds"] == [0, 1] for c in after)
    mc = [c for c in _table(capsys) if c["row"] == "InfoGAN-CR + MC"]
    assert all(c["status"] == "missing" for c in mc)  # CR weight 2 only: the CR-0 pool is not InfoGAN-CR's


def test_selection_needs_a_pool_and_is_not_a_training_option(home, capsys):
    rc, _, err = run_cli(capsys, "model-centrality", "infogan-cr", "--dataset", "dsprites")
    assert rc == 1 and "pool of at least 2" in err and "clusterbench run infogan-cr" in err
    rc, _, err = run_cli(capsys, "model-centrality", "kmeans", "--dataset", "dsprites")
    assert rc == 1 and "infogan-cr" in err
    rc, _, err = run_cli(capsys, "model-centrality", "infogan-cr", "--dataset", "digits")  # 8x8: never a pool
    assert rc == 1 and "cannot run on digits" in err and "Train the pool" not in err
    rc, out, err = run_cli(capsys, "run", "infogan-cr", "--dataset", "dsprites", "--set", "model_selection=model-centrality",
                           "--set", "epochs=1")
    recs = [r for _, r in iter_records(paths.results_home())]
    assert recs and recs[0].status == "failed" and "clusterbench model-centrality" in recs[0].error


def test_selection_refuses_a_record_naming_a_model_outside_the_results_home(home, tmp_path, capsys):
    """A pool record is data: a ``model`` artifact that resolves outside the results home (an edited
    or foreign record) is refused with a message, never loaded."""
    rc, out, err = run_cli(capsys, "run", "infogan-cr", "--dataset", "dsprites", *TINY_RUN, "--set", "cr_weight=0.0")
    assert rc == 0, out + err
    (path, rec), *_ = [(p, r) for p, r in iter_records(paths.results_home()) if r.method == "infogan-cr"]
    outside = tmp_path / "outside.pt"
    outside.write_bytes((path.parent / rec.artifacts["model"]).read_bytes())
    data = json.loads(path.read_text())
    data["artifacts"]["model"] = str(outside)
    path.write_text(json.dumps(data))
    rc, _, err = run_cli(capsys, "model-centrality", "infogan-cr", "--dataset", "dsprites", "--set", "cr_weight=0.0",
                         *TINY_MC)
    assert rc == 1 and "outside the results home" in err
