"""clustergan-bspl: networks of every image family, prior, losses, ablations, outputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from clusterbench.errors import ConfigError
from clusterbench.methods import METHODS, make_config
from clusterbench.methods.gan.clustergan_bspl import code_blocks, entropy_losses, kmeans_posterior
from clusterbench.nn.triple_gan import build_clusterer, build_discriminator, build_generator, resolve_family

torch.set_num_threads(1)
CLS = METHODS["clustergan-bspl"]


@pytest.mark.parametrize("shape, family", [((1, 28, 28), "tg-mnist"), ((1, 16, 16), "tg-mnist"),
                                           ((1, 8, 8), "tg-mnist"), ((3, 32, 32), "tg-cifar"),
                                           ((3, 96, 96), "tg-cifar"), ((561,), "mlp"), ((3, 20, 20), "mlp")])
def test_networks_of_every_family_have_the_right_shapes(shape, family):
    assert resolve_family(shape, "auto") == family
    torch.manual_seed(0)
    m, b = 32, 3
    C, G, D = build_clusterer(family, shape, m), build_generator(family, shape, m, torch.nn.Sigmoid()), \
        build_discriminator(family, shape, m)
    x = torch.rand(b, *shape)
    z = torch.rand(b, m)
    assert C(x).shape == (b, m)
    gx = G(z)
    assert gx.shape == (b, *shape) and 0 <= gx.min() and gx.max() <= 1
    assert D(z, x).shape == (b, 1)


def test_bad_family_is_a_config_error():
    with pytest.raises(ConfigError):
        resolve_family((3, 32, 32), "tg-mnist")
    with pytest.raises(ConfigError):
        resolve_family((1, 28, 28), "resnet")


def test_code_blocks_cover_the_units():
    assert code_blocks(32, 10) == [(0, 4), (4, 8), (8, 11), (11, 14), (14, 17), (17, 20), (20, 23), (23, 26),
                                   (26, 29), (29, 32)]
    assert code_blocks(50, 10)[-1] == (45, 50)


def test_entropy_loss_is_zero_for_block_diagonal_codes_and_high_otherwise():
    z = torch.tensor([[1.0, 0, 0], [1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]])
    assert entropy_losses(z).max() < 1e-3
    half = torch.tensor([[1.0, 0.0], [0.5, 3**0.5 / 2]])  # cosine 0.5: binary entropy ln 2
    assert torch.allclose(entropy_losses(half), torch.full((2,), float(np.log(2))), atol=1e-5)


def test_kmeans_posterior_argmax_is_the_kmeans_label():
    rng = np.random.default_rng(0)
    emb = np.concatenate([rng.normal(c, 0.1, (20, 4)) for c in (0, 1, 2)])
    labels, p = kmeans_posterior(emb, 3, seed=0)
    assert np.array_equal(p.argmax(1), labels) and np.allclose(p.sum(1), 1)
    assert len(np.unique(labels)) == 3


def _fit(X, k, tmp_path=None, **over):
    cfg = make_config(CLS.Config, {"epochs": 4, "batch_size": 20, "hash_bits": 12, **over})
    method = CLS(cfg)
    return method, method.fit(X, k, seed=0, workdir=tmp_path)


def test_fit_outputs_prior_samples_hash_codes_and_pace(tmp_path):
    X = np.random.default_rng(0).random((100, 1, 8, 8), dtype=np.float32)
    method, out = _fit(X, 3, tmp_path)
    out.validate(100)
    assert out.embedding.shape == (100, 12)
    codes = method.hash_codes(X)
    assert codes.shape == (100, 12) and np.array_equal(codes, (out.embedding > 0.5).astype(np.uint8))
    s = method.model.sample(7, cluster=1)
    assert s.shape == (7, 1, 8, 8) and 0 <= float(s.min()) and float(s.max()) <= 1
    labels, z = method.model.prior(50, noise=0.1, cluster=2)
    assert (labels == 2).all() and torch.equal((z > 0.5).float(), ((z > 0.5).float()[:1]).expand(50, -1))
    assert ((z > 0.5).sum(1) == 4).all() and z[:, 8:12].min() >= 0.9 and z.max() <= 1 and z.min() >= 0
    assert z[:, :8].max() <= 0.1
    rows = [r for r in out.history if r["phase"] == "train"]
    # 1% of each 20-sample batch (one sample) in epoch 1, all samples from 3/4 of training on
    assert rows[0]["selected"] <= 0.2 and rows[-1]["selected"] == 1.0
    assert rows[0]["lr"] == pytest.approx(1e-4, rel=0.3) and rows[-1]["lr"] < rows[0]["lr"]
    assert out.extras["bspl"]["gamma"] > 0 and out.extras["hash_bits"] == 12
    assert {"samples_per_cluster", "noise_sweep"} <= set(out.artifacts)


@pytest.mark.parametrize("over, players, losses", [
    ({"gan": False}, ["C"], {"ent", "cons"}),
    ({"self_paced": "off"}, ["C", "D", "G"], {"d", "g", "c_adv", "cons"}),
    ({"consistency": False}, ["C", "D", "G"], {"d", "g", "c_adv", "ent"}),
    ({"self_paced": "spl"}, ["C", "D", "G"], {"d", "g", "c_adv", "ent", "cons"}),
])
def test_fig2_ablations_train(over, players, losses):
    X = np.random.default_rng(1).random((60, 1, 8, 8), dtype=np.float32)
    _, out = _fit(X, 3, epochs=2, save_samples=False, **over)
    out.validate(60)
    assert out.extras["architecture"]["players"] == players
    keys = set(out.history[-1]) - {"phase", "epoch", "seconds", "lr", "c", "selected", "ent_all"}
    assert keys == losses
    if over.get("self_paced") == "spl":
        assert out.extras["bspl"]["gamma"] == 0.0


def test_block_information_is_zero_for_a_constant_and_minus_log_c_for_balanced_one_block_codes():
    from clusterbench.methods.gan.clustergan_bspl import block_information

    member = torch.zeros(6, 3)
    for k in range(3):
        member[2 * k:2 * k + 2, k] = 0.5
    assert abs(float(block_information(torch.full((5, 6), 0.7), member))) < 1e-6
    sharp = torch.full((3, 6), -30.0)
    for k in range(3):
        sharp[k, 2 * k:2 * k + 2] = 30.0
    assert abs(float(block_information(sharp, member)) + np.log(3)) < 1e-5
    one_block = sharp[[0, 0, 0]]  # sharp but all in one block: no information
    assert abs(float(block_information(one_block, member))) < 1e-5


def _blobs(n_per: int = 60, k: int = 3, d: int = 20) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(k), n_per)
    X = rng.normal(0, 1, (k, d))[y] + 0.3 * rng.normal(0, 1, (k * n_per, d))
    return ((X - X.min()) / (X.max() - X.min())).astype(np.float32), y


def test_mi_option_keeps_the_full_method_from_collapsing():
    """The full method (GAN + BSPL + Lcons) on 3 well-separated blobs: with the paper's losses only
    the clusterer's outputs barely depend on x (across-sample spread < 0.05, K-means ARI < 0.5; the
    collapse of the module docstring); with ``mi = 4`` they spread (> 0.2), the blocks are used
    evenly and K-means recovers the blobs."""
    from sklearn.metrics import adjusted_rand_score

    X, y = _blobs()
    spread, ari, blocks = {}, {}, {}
    for mi in (0.0, 4.0):
        method, out = _fit(X, 3, epochs=15, batch_size=60, save_samples=False, mi=mi)
        spread[mi] = float(out.embedding.std(0).mean())
        ari[mi] = adjusted_rand_score(y, out.proba.argmax(1))
        blk = method.model.cluster_of(torch.from_numpy(out.embedding)).argmax(1).numpy()
        blocks[mi] = np.bincount(blk, minlength=3)
    assert spread[0.0] < 0.05 and ari[0.0] < 0.5
    assert spread[4.0] > 0.2 and ari[4.0] > 0.9
    assert blocks[4.0].min() >= 40 and "mi" in out.history[-1]
    assert 0.25 < out.extras["bit_balance"] < 0.45  # about 1/c of the bits set, as in the prior's codes


def test_same_seed_same_result():
    X = np.random.default_rng(2).random((40, 1, 8, 8), dtype=np.float32)
    _, o1 = _fit(X, 2, epochs=2, save_samples=False)
    _, o2 = _fit(X, 2, epochs=2, save_samples=False)
    np.testing.assert_array_equal(o1.proba, o2.proba)
    np.testing.assert_array_equal(o1.embedding, o2.embedding)


def test_colour_tanh_model_samples_in_unit_range_and_augments_by_shift_and_flip():
    from clusterbench.methods.gan.clustergan_bspl import ClusterGANBSPLModel

    torch.manual_seed(0)
    cfg = make_config(CLS.Config, {"hash_bits": 8, "scale": "tanh"})
    model = ClusterGANBSPLModel(torch.device("cpu"), (3, 16, 16), 2, cfg, tanh=True, family="tg-cifar")
    s = model.sample(3, cluster=0)
    assert s.shape == (3, 3, 16, 16) and 0 <= float(s.min()) and float(s.max()) <= 1
    x = torch.rand(6, 3, 16, 16)
    xt = model.augment(x)
    assert xt.shape == x.shape and not torch.allclose(xt, x)
    model.cfg.aug_noise = 0.0
    xt = model.augment(x)  # shift/flip only: every output pixel is an input pixel or zero padding
    assert set(np.round(xt.numpy().ravel(), 6)) <= set(np.round(x.numpy().ravel(), 6)) | {0.0}


def test_bad_options_are_config_errors():
    with pytest.raises(ConfigError):
        make_config(CLS.Config, {"self_paced": "fancy"})
    with pytest.raises(ConfigError):
        make_config(CLS.Config, {"gan": "false", "self_paced": "off", "consistency": "false"})
    with pytest.raises(ConfigError):
        make_config(CLS.Config, {"mi": "-1"})
    X = np.random.default_rng(0).random((40, 1, 8, 8), dtype=np.float32)
    with pytest.raises(ConfigError):
        _fit(X, 3, arch="conv")
    with pytest.raises(ConfigError):
        _fit(X, 3, hash_bits=2)
