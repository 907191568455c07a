"""Every deep method trains on tiny data through the Method contract (image and vector data)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from clusterbench.methods import METHODS, make_config
from clusterbench.methods.gan.model import GANConfig
from method_data import SHAPES, accepts, tiny_data

torch.set_num_threads(1)
AE = {"dual-aae", "dual-aae-nocr", "aae"}  # methods with an auto-encoder pre-training phase
DEEP = sorted(n for n, m in METHODS.items() if getattr(m, "deep", False))
#: (method, shape id) for every shape of ``SHAPES`` the method accepts.
CASES = [(n, s) for n in DEEP for s, shape in SHAPES.items() if accepts(METHODS[n], shape)]


def test_all_paper_methods_are_registered():
    assert {"dual-aae", "dual-aae-nocr", "aae", "infogan", "catgan", "infogan-cr"} <= set(DEEP)


def test_every_deep_method_is_covered_by_a_shape():
    assert {n for n, _ in CASES} == set(DEEP)


@pytest.mark.parametrize(("name", "shape_id"), CASES)
def test_trains_two_epochs_and_returns_valid_output(name, shape_id, tmp_path):
    n, k, shape = 64, 4, SHAPES[shape_id]
    X = tiny_data(shape, n)
    cls = METHODS[name]
    opts = {"epochs": 2, "batch_size": 32, **({"pretrain_epochs": 1} if name in AE else {})}
    options = {f.name for f in dataclasses.fields(cls.Config)}
    if "monitor_every" in options:
        opts["monitor_every"] = 1
    cfg = make_config(cls.Config, opts)
    seen = []

    def monitor(p):
        seen.append(p.shape)
        return {"acc": 0.5}

    out = cls(cfg).fit(X, k, seed=0, workdir=tmp_path, monitor=monitor)
    out.validate(n, clusters=cls.clusters)
    epochs = [r for r in out.history if r["phase"] != "init"]
    assert len(epochs) == cfg.epochs + getattr(cfg, "pretrain_epochs", 0)
    init = [r for r in out.history if r["phase"] == "init"]  # k-means start of y after pre-training
    assert len(init) == (1 if name in AE else 0)
    assert all(r["init_beta"] > 0 for r in init)
    if cls.clusters:
        assert out.proba.shape == (n, k)
        monitored = [r for r in out.history if "acc" in r]
        assert all(r["seconds"] > 0 for r in out.history) and all(r["acc"] == 0.5 for r in monitored)
        assert out.history[-1]["acc"] == 0.5
        if not isinstance(cfg, GANConfig):  # GANs count monitor_every in generator iterations (issue 23)
            assert len(monitored) == len(out.history)
        assert seen and all(s == (n, k) for s in seen)
        hist = out.extras["cluster_histogram"]
        assert len(hist) == k and sum(hist) == n
    else:  # generator only (wgan-gp): no posterior, no monitor, no histogram
        assert out.proba is None and not seen and "cluster_histogram" not in out.extras
        assert all(r["seconds"] > 0 and "acc" not in r for r in out.history)
    assert out.artifacts["model"].exists() and "checkpoint" not in out.artifacts
    pngs = [p for name_, p in out.artifacts.items() if str(p).endswith(".png")]
    if len(shape) == 3 and name != "catgan" and "save_samples" in options:  # dSprites GANs write no grids
        assert "samples_per_cluster" in out.artifacts and len(pngs) >= 2
        assert all(p.exists() and p.read_bytes()[:4] == b"\x89PNG" for p in pngs)
    else:
        assert not pngs


def test_save_samples_off_writes_no_png(tmp_path):
    X = np.random.default_rng(0).random((32, 1, 8, 8), dtype=np.float32)
    cfg = make_config(METHODS["dual-aae"].Config, {"epochs": 1, "pretrain_epochs": 0, "batch_size": 16,
                                                   "save_samples": False})
    out = METHODS["dual-aae"](cfg).fit(X, 3, seed=0, workdir=tmp_path)
    assert not list(tmp_path.glob("*.png")) and set(out.artifacts) == {"model"}


def test_gan_without_pretraining_phase_refuses_pretrain_epochs():
    from clusterbench.errors import ConfigError

    X = np.random.default_rng(0).random((32, 10), dtype=np.float32)
    cfg = make_config(METHODS["catgan"].Config, {"epochs": 1, "pretrain_epochs": 2})
    with pytest.raises(ConfigError, match="pre-training"):
        METHODS["catgan"](cfg).fit(X, 3, seed=0)
