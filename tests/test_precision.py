"""Precision (issue 28 defect 3, ``clusterbench.precision``): float32 by default, bf16 autocast a
recorded opt-in, and the losses that need float32 computed in float32 under autocast (checked
under CPU bf16 autocast, which rounds as CUDA's does)."""

from __future__ import annotations

import contextlib

import pytest
import torch

from clusterbench.errors import ConfigError
from clusterbench.methods import METHODS, make_config
from clusterbench.methods.gan.clustergan_bspl import ClusterGANBSPLModel, block_information, entropy_losses
from clusterbench.methods.gan.mmd import mmd_rbf
from clusterbench.methods.gan.wgan import gradient_penalty
from clusterbench.nn.losses import entropy_terms
from clusterbench.training.loop import LoopOptions
from clusterbench.precision import PRECISIONS, autocast_for, float32_region, precision_of
from clusterbench.runner import expand_grid


def _bf16():
    return torch.autocast("cpu", dtype=torch.bfloat16)


def test_fp32_is_the_default_and_bf16_a_recorded_opt_in():
    deep = [m for m, cls in METHODS.items() if "amp" in getattr(cls.Config, "__dataclass_fields__", {})]
    assert {"dls", "dc3-gan", "clustergan", "clustergan-bspl", "dual-aae", "infogan-cr"} <= set(deep)
    for m in deep:
        assert make_config(METHODS[m].Config, {}).amp == "fp32", m
    assert LoopOptions(epochs=1, batch_size=2).amp == "fp32"
    plain, = expand_grid(["dls"], ["digits"], subset=100)
    bf16, = expand_grid(["dls"], ["digits"], subset=100, overrides=["amp=bf16"])
    assert plain.config["amp"] == "fp32" and bf16.config["amp"] == "bf16" and plain.key != bf16.key
    with pytest.raises((ConfigError, ValueError), match="amp"):
        make_config(METHODS["dls"].Config, {"amp": "fp16"})
    # autocast only for bf16 on CUDA; float32 (TF32 allowed by the loop) otherwise
    assert autocast_for(torch.device("cuda"), "fp32") is contextlib.nullcontext
    assert autocast_for(torch.device("cpu"), "bf16") is contextlib.nullcontext
    assert autocast_for(torch.device("cuda"), "bf16") is not contextlib.nullcontext  # (no GPU here to enter it)
    assert PRECISIONS == ("fp32", "bf16")
    # a record written before the change holds a bool: it still loads, same value (same key), same meaning
    old = make_config(METHODS["dls"].Config, {"amp": True})
    assert old.amp is True and precision_of(old.amp) == "bf16" and precision_of(False) == "fp32"
    assert autocast_for(torch.device("cpu"), True) is contextlib.nullcontext


def test_bspl_entropy_losses_stay_finite_under_bf16_autocast():
    """1 - 1e-6 is 1.0 in bf16: without the float32 island, identical codes give log(0) * 0 = NaN."""
    torch.manual_seed(0)
    z = torch.rand(8, 20)
    z[1] = z[0]  # a pair with cosine similarity 1
    ref = entropy_losses(z)
    with _bf16():
        got = entropy_losses(z)
        info = block_information(torch.randn(8, 20), torch.rand(20, 4))
    assert torch.isfinite(got).all() and torch.isfinite(info)
    assert got.dtype == torch.float32 and torch.allclose(got, ref)


def test_penalty_mmd_and_entropies_are_float32_under_autocast():
    torch.manual_seed(0)
    critic = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 8), torch.nn.LeakyReLU(0.2), torch.nn.Linear(8, 1))
    real, fake = torch.rand(6, 1, 4, 4), torch.rand(6, 1, 4, 4)
    q, p = torch.randn(32, 5) * 0.1, torch.randn(32, 5) * 0.1
    probs = torch.softmax(torch.randn(16, 10), 1)
    torch.manual_seed(1)
    gp_ref = gradient_penalty(critic, real, fake)
    ref = (mmd_rbf(q, p), *entropy_terms(probs))
    torch.manual_seed(1)
    with _bf16():
        gp = gradient_penalty(critic, real, fake)
        got = (mmd_rbf(q, p), *entropy_terms(probs.bfloat16()))
        assert torch.is_autocast_enabled("cpu")  # the islands leave the caller's autocast on
    assert gp.dtype == torch.float32 and torch.allclose(gp, gp_ref)
    assert all(g.dtype == torch.float32 for g in got)
    assert torch.allclose(got[0], ref[0], atol=1e-6)
    assert torch.allclose(torch.stack(got[1:]), torch.stack(ref[1:]), atol=1e-2)  # input rounded to bf16
    with _bf16(), float32_region():
        assert not torch.is_autocast_enabled("cpu") and (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32


def test_clustergan_bspl_trains_finite_under_bf16_autocast():
    """The whole step (C, D, G under autocast; the entropy losses in float32) on a batch with
    repeated samples, whose codes are identical: every loss stays finite."""
    torch.manual_seed(0)
    cfg = make_config(METHODS["clustergan-bspl"].Config, {"hash_bits": 8, "batch_size": 8, "epochs": 1})
    model = ClusterGANBSPLModel(torch.device("cpu"), (1, 8, 8), 2, cfg, tanh=False, family="tg-mnist")
    model.autocast = _bf16
    model.n_samples = 64
    x = torch.rand(8, 1, 8, 8)
    x[4:] = x[:4]
    for step in range(3):
        out = model.training_step(x, step)
        assert "ent" in out
        for k, v in out.items():
            assert torch.isfinite(torch.as_tensor(v, dtype=torch.float32)).all(), (step, k, v)


def test_amp_bf16_on_cpu_warns_and_stays_float32():
    cfg = make_config(METHODS["dls"].Config, {"amp": "bf16", "iterations": "1", "batch_size": "8",
                                               "save_samples": "false"})
    X = torch.rand(16, 16).numpy()
    method = METHODS["dls"](cfg)
    with pytest.warns(UserWarning, match="amp=bf16 applies to CUDA runs only"):
        out = method.fit(X, 2, seed=0, device="cpu")
    assert out.proba.dtype.kind == "f" and out.extras["precision"] == "float32"  # what ran, in the record
