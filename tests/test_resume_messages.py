"""Interrupt and resume (issue 26.3): wall-time checkpoints, "resumed from epoch N", a Ctrl-C
message that matches the disk, fit time over every session; the schedule and estimate of a deep
run and the per-phase ETA (issue 26.5/26.6)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from cli_helper import run_cli
from clusterbench import progress
from clusterbench.training.checkpoints import safe_load
from clusterbench.training.contract import DeepModel
from clusterbench.training.loop import LoopOptions, train

torch.set_num_threads(1)


class _Lin(DeepModel):
    def __init__(self, device, d=5, k=3):
        super().__init__(device)
        self.lin = torch.nn.Linear(d, k)
        self.nets["lin"] = self.lin
        self.optims["sgd"] = torch.optim.SGD(self.lin.parameters(), lr=0.1)

    def training_step(self, x, step):
        with self.optimizing("sgd") as opt:
            loss = opt.backward(-torch.log_softmax(self.lin(x), 1).mean())
        return {"loss": loss.detach()}

    @torch.no_grad()
    def predict(self, x):
        return self.lin(x).softmax(1), x


class Stop(Exception):
    pass


def _crash_at(n):
    calls = {"n": 0}

    def monitor(proba):
        calls["n"] += 1
        if calls["n"] == n:
            raise Stop
        return {}

    return monitor


X = np.random.default_rng(0).normal(size=(40, 5)).astype(np.float32)


@pytest.mark.parametrize("seconds, kept", [(1e-9, True), (0.0, False)])
def test_wall_time_checkpoints_without_epoch_cadence(tmp_path, seconds, kept):
    """checkpoint_every=0 (epochs never due): only the wall-time cadence can keep epoch 2."""
    opts = LoopOptions(epochs=4, batch_size=8, checkpoint_every=0, checkpoint_seconds=seconds)
    with pytest.raises(Stop):
        train(lambda d: _Lin(d), X, options=opts, seed=0, workdir=tmp_path, monitor=_crash_at(3),
              fingerprint={"method": "lin"})
    ckpt = tmp_path / "checkpoint.pt"
    assert ckpt.exists() is kept
    if kept:
        state = safe_load(ckpt)
        assert state["epoch_done"] == 2 and state["fit_seconds"] > 0


def test_resume_says_its_epoch_and_counts_every_sessions_fit_time(tmp_path, capsys):
    opts = LoopOptions(epochs=4, batch_size=8, checkpoint_every=1)
    with pytest.raises(Stop):
        train(lambda d: _Lin(d), X, options=opts, seed=0, workdir=tmp_path, monitor=_crash_at(3),
              fingerprint={"method": "lin"})
    before = float(safe_load(tmp_path / "checkpoint.pt")["fit_seconds"])
    capsys.readouterr()
    res = train(lambda d: _Lin(d), X, options=opts, seed=0, workdir=tmp_path, fingerprint={"method": "lin"})
    err = capsys.readouterr().err
    assert "resumed from epoch 2 of 4" in err
    assert res.resumed_from_epoch == 2 and res.fit_s_before == pytest.approx(before)
    assert safe_load(tmp_path / "model.pt")["fit_seconds"] > before  # both sessions


def test_schedule_estimate_and_per_phase_eta_lines(capsys, monkeypatch):
    monkeypatch.delenv("CLUSTERBENCH_QUIET", raising=False)
    monkeypatch.setattr(progress, "CPU_WARN_S", 0.0)  # any estimate "exceeds an hour" here
    opts = LoopOptions(epochs=2, batch_size=4)
    with progress.run_label("lin / toy / seed 0"):
        orig = progress.StepProbe.__init__

        def fast(self, *a, **k):
            orig(self, *a, **{**k, "min_seconds": 0.0})

        monkeypatch.setattr(progress.StepProbe, "__init__", fast)
        train(lambda d: _Lin(d), X, options=opts, seed=0, fingerprint={"method": "lin"})
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "[lin / toy / seed 0] schedule on cpu: 2 train epochs of 10 steps (batch 4), 20 steps in all"
    est = [ln for ln in err if "estimate on cpu" in ln]
    assert len(est) == 1 and "remaining 14 steps" in est[0] and "--device cuda" in est[0] and "--gpus 1" in est[0]
    assert any(ln.startswith("[lin / toy / seed 0] train epoch 2/2") for ln in err)


def test_eta_of_a_two_phase_run_uses_each_phases_own_pace():
    phases = [("pretrain", 10), ("train", 10)]
    # after 2 fast pretrain epochs (1 s each), the slow train phase is not measured: a lower bound
    left, exact = progress.phase_eta(phases, {"pretrain": 2}, {"pretrain": 2.0}, "pretrain", 2)
    assert (left, exact) == (8.0 + 10 * 1.0, False)
    # after 2 train epochs of 5 s each: the remaining 8 at 5 s, not at the session's mean
    left, exact = progress.phase_eta(phases, {"pretrain": 10, "train": 2}, {"pretrain": 10.0, "train": 10.0}, "train", 2)
    assert (left, exact) == (40.0, True)


def _stop_at_epoch(monkeypatch, n):
    """Ctrl-C (KeyboardInterrupt) when the loop starts its ``n``-th epoch of this session."""
    import clusterbench.training.loop as T

    real, calls = T._run_epoch, {"n": 0}

    def run_epoch(*a, **k):
        calls["n"] += 1
        if calls["n"] == n:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(T, "_run_epoch", run_epoch)


def test_ctrl_c_message_matches_the_disk_and_the_rerun_resumes(capsys, monkeypatch, cb_home):
    args = ("run", "dual-aae", "--subset", "200", "--set", "epochs=3", "--set", "pretrain_epochs=1",
            "--set", "checkpoint_every=1", "--set", "save_samples=false")
    _stop_at_epoch(monkeypatch, 3)  # pretrain 1 and train 1 done (and checkpointed)
    rc, _, err = run_cli(capsys, *args)
    assert rc == 130
    ckpts = list((cb_home / "runs").rglob("checkpoint.pt"))
    assert len(ckpts) == 1
    assert "kept a training checkpoint" in err and str(ckpts[0]) in err.replace("\n", "")
    assert "left nothing" not in err
    monkeypatch.undo()
    monkeypatch.setenv("CLUSTERBENCH_HOME", str(cb_home))
    rc, _, err = run_cli(capsys, *args)
    assert rc == 0, err
    assert "resumed from epoch 2 of 4" in err
    rec = json.loads(next((cb_home / "runs").rglob("*.json")).read_text())
    t = rec["timings"]
    assert t["fit_s"] > t["fit_s_this_session"] > 0


def test_ctrl_c_before_any_checkpoint_says_nothing_was_left(capsys, monkeypatch, cb_home):
    _stop_at_epoch(monkeypatch, 1)
    rc, _, err = run_cli(capsys, "run", "dual-aae", "--subset", "200", "--set", "epochs=2",
                         "--set", "pretrain_epochs=1", "--set", "save_samples=false")
    assert rc != 0
    assert not list((cb_home / "runs").rglob("checkpoint.pt"))
    assert "1 run(s) in progress had no checkpoint yet and left nothing" in err
