"""No training step waits for the host (issue 23): each deep method's steps run under a watch that
fails on ``.item()``/``nonzero``/host copies/tensors made from host data (the CPU stand-in for
``torch.cuda.set_sync_debug_mode("error")``, ``clusterbench.step_probe``), with the settings the
loop applies on CUDA (fused optimizers) emulated on the CPU. BSPL's device code equals the numpy
reference."""

from __future__ import annotations

import contextlib
import dataclasses

import numpy as np
import pytest
import torch
from method_data import SHAPES, accepts, tiny_data

from clusterbench import step_probe
from clusterbench.device_settings import device_settings
from clusterbench.methods import METHODS, make_config
from clusterbench.methods.gan import bspl, bspl_device

torch.set_num_threads(1)
DEEP = sorted(n for n, m in METHODS.items() if getattr(m, "deep", False))
#: one accepted shape per deep method (the first of SHAPES)
CASES = [(n, next(s for s, shape in SHAPES.items() if accepts(METHODS[n], shape))) for n in DEEP]


def _as_on_cuda(model, options, device):
    device_settings(model, options, "cuda", emulate=True)


def _watched_fit(name: str, shape_id: str, *, batch: int = 8) -> step_probe.StepProbe:
    cls = METHODS[name]
    fields = {f.name for f in dataclasses.fields(cls.Config)}
    over = {"batch_size": batch}
    if "save_samples" in fields:
        over["save_samples"] = False
    if "pretrain_epochs" in fields and getattr(cls.Config, "pretrain_epochs", 0):
        over["pretrain_epochs"] = 1
    cfg = make_config(cls.Config, over)
    m = int(getattr(cfg, "critic_iters", 1) or 1) if hasattr(cfg, "iterations") else 1
    phases = ("pretrain", "train") if getattr(cfg, "pretrain_epochs", 0) else ("train",)
    X = tiny_data(SHAPES[shape_id], batch * (m + 2))
    probe = step_probe.StepProbe(phases=phases, skip=0, stop_after=m + 1, fail_on_sync=True, on_model=_as_on_cuda)
    with step_probe.probing(probe), contextlib.suppress(step_probe.ProbeDone):
        cls(cfg).fit(X, 3, seed=0)
    return probe


@pytest.mark.parametrize(("name", "shape_id"), CASES)
def test_training_steps_never_sync_with_the_host(name, shape_id):
    probe = _watched_fit(name, shape_id)  # raises HostSyncError at the first sync
    train = probe.of("train")
    assert len(train) >= 2 and all(r.kernels > 0 and not r.syncs for r in train)
    assert probe.model is not None
    fused = [o for o in probe.model.optims.values() if type(o) in (torch.optim.Adam, torch.optim.SGD)]
    assert all(g["fused"] for o in fused for g in o.param_groups)


def test_simclr_step_never_syncs():
    from clusterbench.methods.pretrain import simclr

    X = tiny_data((3, 32, 32), 24)
    cfg = simclr.SimCLRConfig(epochs=1, batch_size=8, augment="batched", proj_hidden=16, proj_dim=8)
    probe = step_probe.StepProbe(skip=0, stop_after=2, fail_on_sync=True, on_model=_as_on_cuda)
    import tempfile

    with tempfile.TemporaryDirectory() as d, step_probe.probing(probe), contextlib.suppress(step_probe.ProbeDone):
        simclr.pretrain(X, cfg, seed=0, directory=__import__("pathlib").Path(d))
    assert len(probe.of("train")) == 2


def test_the_watch_fails_on_each_kind_of_sync():
    x = torch.arange(6.0)
    for bad in (lambda: x.sum().item(), lambda: float(x[0]), lambda: x.nonzero(), lambda: x[x > 2],
                lambda: x.numpy(), lambda: x.tolist(), lambda: torch.tensor([1.0]),
                lambda: torch.from_numpy(np.ones(2)), lambda: torch.bincount(x.long())):
        with pytest.raises(step_probe.HostSyncError), step_probe.SyncWatch(fail=True):
            bad()
    with step_probe.SyncWatch(fail=True) as w:  # device-side work only
        y = (x * 2).index_select(0, torch.arange(3)).softmax(0)
        torch.nn.functional.one_hot(torch.arange(3), 4)  # no check on CUDA (device asserts)
    assert w.kernels >= 3 and not w.syncs and y.shape == (3,)


def test_the_loop_steps_were_syncing_before_the_device_permutation(monkeypatch):
    """The watch sees the old per-step host -> device copy of the batch indices (the test above
    can fail): a loop that copies each batch's indices is caught."""
    from clusterbench.training import data as training

    monkeypatch.setattr(training._Data, "on_device", lambda self, batches: batches)
    with pytest.raises(step_probe.HostSyncError, match="host -> device"):
        _watched_fit("dual-aae", "img28")


@pytest.mark.parametrize("seed", range(6))
def test_device_bspl_equals_the_numpy_reference(seed):
    rng = np.random.default_rng(seed)
    b, c = int(rng.integers(5, 120)), int(rng.integers(1, 8))
    losses = rng.random(b) * rng.choice([0.01, 1.0, 30.0])
    if seed == 0:
        losses[: b // 2] = losses[0]  # ties
    groups = rng.integers(0, c, b)
    lt, gt = torch.from_numpy(losses), torch.from_numpy(groups)
    for gamma in (0.0, 0.01, 0.3):
        for lam in np.quantile(losses, [0.1, 0.5, 0.9]) + [0.0, 0.02, 0.5]:
            ref = bspl.bspl_weights(losses, groups, float(lam), gamma)
            got = bspl_device.bspl_weights(lt, gt, float(lam), gamma, c).numpy()
            np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12)
    for scale in (1.0, 0.0):
        for frac in (0.01, 0.3):
            ref_p = bspl.PaceSchedule(start_fraction=frac, gamma_scale=scale)
            ref_p.calibrate(losses, groups, c)
            dev_p = bspl_device.DevicePace(start_fraction=frac, gamma_scale=scale)
            dev_p.calibrate(lt, gt, c)
            spread = losses.max() - losses.min() + 1
            assert dev_p.gamma == pytest.approx(ref_p.gamma, rel=1e-12, abs=1e-15)
            assert dev_p.lam0 == pytest.approx(ref_p.lam0, rel=0, abs=1e-9 * spread)
            assert dev_p.lam_end == pytest.approx(ref_p.lam_end, rel=1e-12)
            assert bspl.selected_count(losses, groups, dev_p.lam0, ref_p.gamma) == \
                bspl.selected_count(losses, groups, ref_p.lam0, ref_p.gamma)
            for t in (0.0, 0.3, 0.74, 0.8):
                ref_w = ref_p.weights(losses, groups, t, c)
                got_w = dev_p.weights(lt, gt, t, c).numpy()
                np.testing.assert_allclose(got_w, ref_w, rtol=0, atol=1e-9)
