"""InfoGAN-CR on Table 11's networks: shapes, a few iterations on tiny 64x64 binary data through
the single loop, determinism, the CR schedule, plain InfoGAN (CR weight 0), refusals."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from method_data import tiny_sprites

from clusterbench.errors import DataError
from clusterbench.methods.base import make_config
from clusterbench.methods.gan.infogan_cr import (
    InfoGANCRConfig,
    InfoGANCRMethod,
    InfoGANCRModel,
    load_model,
    plain_infogan_config,
)
from clusterbench.nn.dsprites import CRDiscriminator, DiscriminatorEncoder, Generator
from clusterbench.training.checkpoints import load_final_weights

torch.set_num_threads(1)


def test_table11_shapes():
    g, d, cr = Generator(10, 1), DiscriminatorEncoder(1, 5), CRDiscriminator(1, 5)
    with torch.no_grad():
        img = g(torch.rand(4, 10) * 2 - 1)
    assert img.shape == (4, 1, 64, 64) and 0 <= float(img.min()) and float(img.max()) <= 1
    logit, codes = d(img)
    assert logit.shape == (4, 1) and codes.shape == (4, 5)
    assert cr(img, img).shape == (4, 5)
    convs = [m.out_channels for m in d.trunk if isinstance(m, torch.nn.Conv2d)]
    assert convs == [32, 32, 64, 64]


def cfg(**kw):
    base = {"epochs": 2, "batch_size": 8, "cr_start_step": 0, "checkpoint_every": 1}
    base.update(kw)
    return make_config(InfoGANCRConfig, {k: str(v) for k, v in base.items()}, method="infogan-cr")


def test_trains_through_the_loop_and_is_deterministic(tmp_path):
    X = tiny_sprites()
    a = InfoGANCRMethod(cfg()).fit(X, seed=1, workdir=tmp_path / "a")
    b = InfoGANCRMethod(cfg()).fit(X, seed=1, workdir=tmp_path / "b")
    a.validate(len(X), clusters=InfoGANCRMethod.clusters)
    assert a.proba is None and a.embedding is None
    rows = [r for r in a.history if r["phase"] == "train"]
    assert len(rows) == 2 and all(np.isfinite(r[k]) for r in rows for k in ("d", "g", "info", "cr"))
    assert rows[0]["cr_weight"] == 2.0
    codes = a.encoder(X)
    assert codes.shape == (len(X), 5)
    np.testing.assert_array_equal(codes, b.encoder(X))
    nets = load_final_weights(a.artifacts["model"])
    assert set(nets) == {"G", "D", "CR"}
    s = a.generator(6, seed=0)
    assert s.shape == (6, 1, 64, 64) and float(s.min()) >= 0 and float(s.max()) <= 1
    np.testing.assert_array_equal(s, b.generator(6, seed=0))
    with pytest.raises(ValueError, match="no clusters"):
        a.generator(2, cluster=0)
    loaded = load_model(a.artifacts["model"])
    assert set(loaded.nets) == {"G", "D", "CR"} and loaded.cfg == make_config(InfoGANCRConfig, {
        "epochs": "2", "batch_size": "8", "cr_start_step": "0", "checkpoint_every": "1"})
    np.testing.assert_allclose(loaded.encode(torch.from_numpy(X)).numpy(), codes, atol=1e-5)
    with pytest.raises(DataError, match="not the final weights"):
        torch.save({"format": "clusterbench-model/1", "nets": {}, "fingerprint": {"method": "infogan"}},
                   tmp_path / "other.pt")
        load_model(tmp_path / "other.pt")
    c = InfoGANCRMethod(cfg()).fit(X, seed=2)
    assert not np.array_equal(codes, c.encoder(X))


def test_streams_a_stored_uint8_array(tmp_path, monkeypatch):
    """X left in its HDF5 file (uint8, as dSprites is stored): the loop reads it batch by batch and
    gives the same model as the in-memory float32 array; fit never decodes all of X."""
    from clusterbench.data.hdf5 import Prepared, StoredArray, write_dataset

    X = tiny_sprites(16)
    path = tmp_path / "sprites.h5"
    write_dataset(path, Prepared(X=X.astype(np.uint8), y=np.zeros(16, np.int64), recipe={"test": 1}, x_divisor=1.0),
                  name="sprites", n_clusters=3)
    stored = StoredArray(path)
    assert stored.stored_dtype == np.uint8

    def whole(*a, **k):
        raise AssertionError("all of X was decoded")

    monkeypatch.setattr(StoredArray, "__array__", whole)
    a = InfoGANCRMethod(cfg(epochs=1)).fit(stored, seed=0)
    monkeypatch.undo()
    b = InfoGANCRMethod(cfg(epochs=1)).fit(X, seed=0)
    np.testing.assert_array_equal(a.encoder(X), b.encoder(X))


def test_cr_schedule_waits_for_its_step():
    model = InfoGANCRModel(torch.device("cpu"), cfg(cr_start_step=2))
    X = torch.from_numpy(tiny_sprites(8))
    weights = [model.training_step(X, i)["cr_weight"] for i in range(3)]
    assert weights == [0.0, 0.0, 2.0] and model.g_steps_done() == 3


def test_plain_infogan_has_no_cr_network():
    c = plain_infogan_config(epochs=1, batch_size=8)
    model = InfoGANCRModel(torch.device("cpu"), c)
    assert "CR" not in model.nets and "cr" not in model.optims
    losses = model.training_step(torch.from_numpy(tiny_sprites(8)), 0)
    assert "cr" not in losses and losses["cr_weight"] == 0.0


def test_refuses_other_image_sizes():
    assert InfoGANCRMethod.incompatibility(sample_shape=(1, 64, 64), sparse=False, n_clusters=3) is None
    assert "64 x 64" in InfoGANCRMethod.incompatibility(sample_shape=(1, 28, 28), sparse=False, n_clusters=3)
    assert "image" in InfoGANCRMethod.incompatibility(sample_shape=(784,), sparse=False, n_clusters=3)
    with pytest.raises(DataError, match="64 x 64"):
        InfoGANCRMethod(cfg()).fit(np.zeros((4, 1, 28, 28), np.float32), seed=0)
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        InfoGANCRMethod(cfg()).fit(np.full((4, 1, 64, 64), 2.0, np.float32), seed=0)


def test_models_form_a_model_centrality_pool():
    from clusterbench.metrics.model_centrality import model_centrality

    pool = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        pool.append(InfoGANCRModel(torch.device("cpu"), cfg()).pool_model(f"seed{seed}", {"seed": seed}))
    x = pool[0].generate(np.zeros((3, 5)))
    assert x.shape == (3, 1, 64, 64) and pool[0].encode(x).shape == (3, 5)
    res = model_centrality(pool, grid=10, num_train=20, num_eval=10, num_variance_estimate=200, batch_size=16)
    assert res["similarity"].shape == (2, 2) and res["pool"] == ["seed0", "seed1"]
    assert 0.0 <= res["similarity"].min() and res["similarity"].max() <= 1.0
