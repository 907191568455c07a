"""``clusterbench simclr``: pre-trains on a registered 32x32 data set and reuses the cache;
wrong data and wrong options are one-paragraph errors."""

from __future__ import annotations

import json

import numpy as np

from tests.cli_helper import run_cli


def test_simclr_cli_pretrains_then_reuses(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CLUSTERBENCH_HOME", str(tmp_path / "home"))
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "tiny.npz", X=rng.random((16, 3, 32, 32), dtype=np.float32), y=rng.integers(0, 2, 16))
    rc, _, err = run_cli(capsys, "fetch", "--from", str(tmp_path / "tiny.npz"), "--name", "tiny32")
    assert rc == 0, err
    args = ["simclr", "tiny32", "--device", "cpu", "--set", "epochs=1", "--set", "batch_size=8",
            "--set", "proj_hidden=16", "--set", "proj_dim=8", "--json"]
    rc, out, err = run_cli(capsys, *args)
    assert rc == 0, err
    weights = json.loads(out)["weights"]
    assert weights.startswith(str(tmp_path / "home" / "models" / "simclr-")) and weights.endswith("model.pt")
    rc, out2, _ = run_cli(capsys, *args)
    assert rc == 0 and json.loads(out2)["weights"] == weights


def test_simclr_cli_errors(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CLUSTERBENCH_HOME", str(tmp_path / "home"))
    rc, _, err = run_cli(capsys, "simclr", "digits", "--device", "cpu", "--set", "epochs=1")
    assert rc == 1 and "32 x 32" in err and "Traceback" not in err
    rc, _, err = run_cli(capsys, "simclr", "digits", "--set", "nonsense=1")
    assert rc == 1 and "nonsense" in err and "Traceback" not in err
