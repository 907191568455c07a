"""DC3-GAN's dSprites variant (``dc3-gan-dsprites``): Table 11's networks with E's 10 outputs, the
double cycle's terms, training through the single loop (deterministic, resumable), reloading."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from method_data import tiny_sprites

from clusterbench.methods import METHODS
from clusterbench.methods.base import make_config
from clusterbench.methods.gan.dc3.dsprites import DC3DSpritesConfig, DC3DSpritesModel, DC3GANDSprites
from clusterbench.methods.gan.infogan_cr import load_model
from clusterbench.methods.gan.mmd import mmd_rbf
from clusterbench.training.checkpoints import load_final_weights

torch.set_num_threads(1)


def cfg(**kw):
    base = {"epochs": 2, "batch_size": 8, "checkpoint_every": 1, **kw}
    return make_config(DC3DSpritesConfig, {k: str(v) for k, v in base.items()}, method="dc3-gan-dsprites")


def test_registered_with_the_papers_defaults():
    assert METHODS["dc3-gan-dsprites"] is DC3GANDSprites and not DC3GANDSprites.clusters
    c = DC3DSpritesConfig()
    assert (c.lr_g, c.lr_d, c.epochs, c.n_codes, c.n_noise) == (1e-3, 2e-3, 28, 5, 5)  # DC3 A.2, Table 11
    assert (c.beta_mmd, c.beta_n) == (0.1, 0.1)  # DC3 Section 3: beta1 = beta2 = 0.1
    assert DC3GANDSprites.incompatibility(sample_shape=(1, 64, 64), sparse=False, n_clusters=3) is None
    assert "64 x 64" in DC3GANDSprites.incompatibility(sample_shape=(1, 28, 28), sparse=False, n_clusters=10)


def test_cycle_terms_by_hand():
    torch.manual_seed(0)
    model = DC3DSpritesModel(torch.device("cpu"), cfg())
    assert model.D.e_head[-1].out_features == 10  # Table 11: "FC 10 for E"
    x = torch.from_numpy(tiny_sprites(8))
    z = model.latents(8)
    fake_codes, real_codes = torch.randn(8, 10), torch.rand(8, 10) * 2 - 1
    t = model.cycle_terms(x, z, fake_codes, real_codes)
    assert torch.allclose(t["info"], 0.5 * ((fake_codes[:, :5] - z[:, :5]) ** 2).sum(1).mean())
    assert torch.allclose(t["n"], ((fake_codes[:, 5:] - z[:, 5:]) ** 2).mean())
    with torch.no_grad():
        assert torch.allclose(t["ae"], (x - model.G(real_codes)).abs().mean(), atol=1e-6)
    assert float(t["mmd"]) < float(mmd_rbf(real_codes + 3.0, model.latents(8)))  # prior-like codes: small MMD


def test_trains_deterministically_and_reloads(tmp_path):
    X = tiny_sprites(24)
    a = DC3GANDSprites(cfg()).fit(X, seed=1, workdir=tmp_path / "a")
    b = DC3GANDSprites(cfg()).fit(X, seed=1)
    rows = [r for r in a.history if r["phase"] == "train"]
    assert len(rows) == 2 and all(np.isfinite(r[k]) for r in rows for k in ("d", "g", "L_info", "L_n", "L_ae", "L_mmd"))
    codes = a.encoder(X)
    assert codes.shape == (24, 5)  # the 5 code means (not the recovered noise)
    np.testing.assert_array_equal(codes, b.encoder(X))
    assert a.generator(4, seed=0).shape == (4, 1, 64, 64)
    assert set(load_final_weights(a.artifacts["model"])) == {"G", "D"}
    loaded = load_model(a.artifacts["model"])
    assert isinstance(loaded, DC3DSpritesModel)
    np.testing.assert_allclose(loaded.encode(torch.from_numpy(X)).numpy(), codes, atol=1e-5)
    assert a.extras["variant"] == "dc3-double-cycle"


def test_resume_mid_training_equals_uninterrupted(tmp_path, monkeypatch):
    X = tiny_sprites(24)  # 3 batches of 8 per epoch
    full = DC3GANDSprites(cfg()).fit(X, seed=0, workdir=tmp_path / "full")

    class Stop(Exception):
        pass

    step = DC3DSpritesModel.training_step
    calls = {"n": 0}

    def crash(self, x, i):
        calls["n"] += 1
        if calls["n"] == 5:  # in epoch 2, after epoch 1's checkpoint
            raise Stop
        return step(self, x, i)

    monkeypatch.setattr(DC3DSpritesModel, "training_step", crash)
    with pytest.raises(Stop):
        DC3GANDSprites(cfg()).fit(X, seed=0, workdir=tmp_path / "cut")
    monkeypatch.undo()
    resumed = DC3GANDSprites(cfg()).fit(X, seed=0, workdir=tmp_path / "cut")
    assert resumed.extras["resumed_from_epoch"] == 1
    np.testing.assert_allclose(resumed.encoder(X), full.encoder(X), atol=1e-6)
