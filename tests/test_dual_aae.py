"""Dual-AAE's terms on hand-made tensors, and the architecture chosen from the sample shape."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from clusterbench.errors import ConfigError
from clusterbench.methods import METHODS, make_config
from clusterbench.nn.dual_aae import build_critic, build_decoder, build_encoder, resolve_arch
from clusterbench.nn.losses import clustering_regularizer, dual_ae_loss

torch.set_num_threads(1)
K = 4


def _onehot(labels, k=K, conf=1.0):
    p = torch.full((len(labels), k), (1 - conf) / (k - 1))
    p[torch.arange(len(labels)), torch.tensor(labels)] = conf
    return p


def test_cr_is_minimal_for_confident_balanced_assignments():
    balanced = _onehot([0, 1, 2, 3] * 4)
    collapsed = _onehot([0] * 16)
    uniform = torch.full((16, K), 1.0 / K)
    soft_balanced = _onehot([0, 1, 2, 3] * 4, conf=0.7)
    cr = lambda p: float(clustering_regularizer(p, lam2=0.5))  # noqa: E731
    assert cr(balanced) == pytest.approx(-math.log(K), abs=1e-5)  # -H[q(y)] = -log K, H[q(y|x)] = 0
    assert cr(collapsed) == pytest.approx(0.0, abs=1e-5)
    assert cr(uniform) == pytest.approx(-math.log(K) + 0.5 * math.log(K), abs=1e-5)
    assert cr(balanced) < cr(soft_balanced) < cr(uniform) < cr(collapsed)
    # random posteriors never beat the confident balanced one
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        p = torch.randn(16, K, generator=g).mul(3).softmax(1)
        assert cr(p) >= cr(balanced) - 1e-6


def test_dae_loss_is_zero_for_perfect_recovery_and_larger_otherwise():
    labels = torch.tensor([0, 1, 2, 3, 1])
    h = torch.randn(5, 3, generator=torch.Generator().manual_seed(1))
    perfect_logits = 50.0 * torch.nn.functional.one_hot(labels, K).float()
    total, ce, mse = dual_ae_loss(perfect_logits, h.clone(), labels, h)
    assert float(total) < 1e-6 and float(ce) < 1e-6 and float(mse) == 0.0
    wrong_y = dual_ae_loss(50.0 * torch.nn.functional.one_hot((labels + 1) % K, K).float(), h, labels, h)[0]
    wrong_h = dual_ae_loss(perfect_logits, h + 1.0, labels, h)
    assert float(wrong_y) > 10
    assert float(wrong_h[2]) == pytest.approx(1.0) and float(wrong_h[0]) > float(total)
    uninformed = dual_ae_loss(torch.zeros(5, K), torch.zeros(5, 3), labels, h)[1]
    assert float(uninformed) == pytest.approx(math.log(K), abs=1e-6)


@pytest.mark.parametrize(
    "shape,arch,latent",
    [((1, 28, 28), "conv", (10, 3, 1)), ((1, 8, 8), "conv", (10, 3, 1)), ((561,), "mlp-hhar", (10, 4, 2)),
     ((2048,), "mlp-stl", (10, 4, 4)), ((2000,), "mlp", (10, 4, 2)), ((3, 96, 96), "mlp", (10, 4, 2)),
     ((1, 10, 10), "mlp", (10, 4, 2))],
)
def test_architecture_follows_the_sample_shape(shape, arch, latent):
    spec = resolve_arch(shape, 10)
    assert spec.name == arch
    assert (spec.n_clusters, spec.style_dim, spec.noise_dim) == latent
    if int(np.prod(shape)) <= 5000:
        enc, dec = build_encoder(spec, spec.latent_dim).eval(), build_decoder(spec, spec.latent_dim).eval()
        x = torch.rand(3, *shape)
        code = enc(x)
        assert code.shape == (3, spec.latent_dim)
        assert dec(code).shape == (3, *shape)


def test_appendix_a_layer_sizes():
    hhar = resolve_arch((561,), 6)
    enc = build_encoder(hhar, hhar.latent_dim)
    assert [m.out_features for m in enc.modules() if isinstance(m, torch.nn.Linear)] == [1000, 1000, 500, 500, 12]
    dec = build_decoder(hhar, hhar.latent_dim)
    assert [m.out_features for m in dec.modules() if isinstance(m, torch.nn.Linear)] == [500, 500, 1000, 1000, 561]
    w = enc[1][0].weight.detach()
    assert abs(float(w.std()) - 0.02) < 0.002  # N(0, 0.02) init
    stl = resolve_arch((2048,), 10)
    dec = build_decoder(stl, stl.latent_dim)
    assert [m.in_features for m in dec.modules() if isinstance(m, torch.nn.Linear)][0] == 18
    assert [m.out_features for m in dec.modules() if isinstance(m, torch.nn.Linear)] == [2000, 500, 1000, 2048]
    mnist = resolve_arch((1, 28, 28), 10)
    convs = [(m.out_channels, m.kernel_size) for m in build_encoder(mnist, 14).modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs == [(64, (4, 4)), (128, (4, 4)), (1024, (7, 7)), (128, (1, 1))]
    critic = build_critic(4)
    assert [m.out_features for m in critic.modules() if isinstance(m, torch.nn.Linear)] == [100, 100, 1]
    assert sum(isinstance(m, torch.nn.Dropout) and m.p == 0.2 for m in critic.modules()) == 2


def test_arch_override_and_bad_values():
    assert resolve_arch((1, 28, 28), 10, arch="mlp").name == "mlp"
    assert resolve_arch((561,), 6, style_dim=1, noise_dim=0).latent_dim == 7
    with pytest.raises(ConfigError, match="conv"):
        resolve_arch((561,), 6, arch="conv")
    with pytest.raises(ConfigError, match="arch"):
        resolve_arch((561,), 6, arch="resnet")
    cfg = make_config(METHODS["dual-aae"].Config, {"arch": "mlp", "critic_clip": "none", "optim": "code"})
    assert cfg.critic_clip is None and cfg.optim == "code"
    with pytest.raises(ConfigError):
        make_config(METHODS["dual-aae"].Config, {"optim": "adamw"})
    for name in ("dual-aae", "aae"):
        with pytest.raises(ConfigError, match="cluster_init"):
            make_config(METHODS[name].Config, {"cluster_init": "gmm"}, method=name)
        with pytest.raises(ConfigError, match="pretrain_corruption"):
            make_config(METHODS[name].Config, {"pretrain_corruption": "1.5"}, method=name)
    with pytest.raises(ConfigError, match="recon_reduction"):
        make_config(METHODS["dual-aae"].Config, {"recon_reduction": "max"})


def test_paper_defaults():
    cfg = METHODS["dual-aae"].Config()
    assert (cfg.lam1, cfg.lam2, cfg.batch_size, cfg.critic_dropout) == (0.1, 0.5, 100, 0.2)


@pytest.mark.parametrize("name,optim", [("dual-aae", "paper"), ("dual-aae", "code"), ("dual-aae-nocr", "paper"),
                                        ("dual-aae-nocr", "code")])
def test_variants_train_and_log_their_losses(name, optim):
    X = np.random.default_rng(0).random((40, 20), dtype=np.float32)
    cfg = make_config(METHODS[name].Config, {"epochs": 1, "pretrain_epochs": 0, "batch_size": 20, "optim": optim})
    out = METHODS[name](cfg).fit(X, 3, seed=0)
    row = out.history[-1]
    assert {"critic"} <= set(row)
    if optim == "paper":
        assert {"recon", "dae", "adv"} <= set(row)
        assert ("cr" in row) == (name == "dual-aae")
    else:
        assert {"recon", "dae", "adv"} <= set(row) and ("cr" in row) == (name == "dual-aae")
    # the no-CR critic sees y as well
    model = METHODS[name](cfg).make_model(torch.device("cpu"), resolve_arch((20,), 3))
    assert model.D[0].in_features == (6 if name == "dual-aae" else 9)


@pytest.mark.parametrize("shape", [(1, 28, 28), (1, 8, 8), (3, 32, 32)])
def test_full_convolutions_compute_what_the_ordinary_layers_compute(shape):
    """The matmul forms of C(1024, k), C(128, 1), DC(1024, 1), DC(128, k) equal nn.Conv2d /
    nn.ConvTranspose2d with the same weights, forwards and backwards (and fall back elsewhere)."""
    from torch import nn

    from clusterbench.nn.dual_aae import FullConv2d, FullConvTranspose2d

    torch.manual_seed(0)
    c, h, w = shape
    k = (h // 4, w // 4)
    pairs = [(FullConv2d(128, 64, k), nn.Conv2d(128, 64, k), torch.randn(5, 128, *k)),
             (FullConv2d(64, 32, 1), nn.Conv2d(64, 32, 1), torch.randn(5, 64, 1, 1)),
             (FullConvTranspose2d(14, 64, 1), nn.ConvTranspose2d(14, 64, 1), torch.randn(5, 14, 1, 1)),
             (FullConvTranspose2d(64, 32, k), nn.ConvTranspose2d(64, 32, k), torch.randn(5, 64, 1, 1)),
             (FullConv2d(8, 4, 2), nn.Conv2d(8, 4, 2), torch.randn(5, 8, 5, 5)),              # fallback
             (FullConvTranspose2d(8, 4, 2), nn.ConvTranspose2d(8, 4, 2), torch.randn(5, 8, 3, 3))]
    for fast, ref, x in pairs:
        ref.load_state_dict(fast.state_dict())
        xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
        ya, yb = fast(xa), ref(xb)
        assert ya.shape == yb.shape
        torch.testing.assert_close(ya, yb, rtol=1e-5, atol=1e-5)
        g = torch.randn_like(ya)
        ya.backward(g)
        yb.backward(g)
        torch.testing.assert_close(xa.grad, xb.grad, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(fast.weight.grad, ref.weight.grad, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(fast.bias.grad, ref.bias.grad, rtol=1e-4, atol=1e-4)


def test_kmeans_initialisation_makes_y_the_nearest_centroid_rule():
    """cluster_init=kmeans: after pre-training, argmax q(y|x) is k-means' assignment of the
    encoder's penultimate features, and softmax(y) decreases with the distance to each centroid."""
    from sklearn.cluster import KMeans

    torch.manual_seed(0)
    X = torch.rand(120, 1, 8, 8)
    cfg = make_config(METHODS["dual-aae"].Config, {"pretrain_epochs": 1})
    model = METHODS["dual-aae"](cfg).make_model(torch.device("cpu"), resolve_arch((1, 8, 8), K))
    for i in range(3):
        model.pretrain_step(X[:60], i)
    model.train_mode(False)
    info = model.start_training(lambda: iter([X[:50], X[50:]]), seed=7)
    assert info["init_beta"] > 0 and info["init_inertia"] > 0
    feats = []
    last = model.Q[-1]
    hook = last.register_forward_hook(lambda m, i, o: feats.append(i[0]))
    with torch.no_grad():
        logits, _, _ = model.encode(X)
    hook.remove()
    f = feats[0].double().numpy()
    km = KMeans(K, n_init=10, random_state=7).fit(f)
    np.testing.assert_array_equal(logits.argmax(1).numpy(), km.predict(f))
    d2 = ((f[:, None, :] - km.cluster_centers_[None]) ** 2).sum(-1)
    order_logits = np.argsort(-logits.numpy(), 1)
    np.testing.assert_array_equal(order_logits, np.argsort(d2, 1))
    # no pre-training, or cluster_init=none: y is left as it is
    cfg0 = make_config(METHODS["dual-aae"].Config, {"pretrain_epochs": 1, "cluster_init": "none"})
    model0 = METHODS["dual-aae"](cfg0).make_model(torch.device("cpu"), resolve_arch((1, 8, 8), K))
    before = model0.Q[-1].weight.clone()
    assert model0.start_training(lambda: iter([X]), seed=7) == {}
    torch.testing.assert_close(model0.Q[-1].weight, before)


def test_recon_reduction_sum_is_the_per_sample_sum():
    torch.manual_seed(0)
    X = torch.rand(8, 1, 8, 8)
    losses = {}
    for red in ("mean", "sum"):
        cfg = make_config(METHODS["dual-aae"].Config, {"recon_reduction": red})
        torch.manual_seed(1)
        model = METHODS["dual-aae"](cfg).make_model(torch.device("cpu"), resolve_arch((1, 8, 8), K))
        model.train_mode(False)
        with torch.no_grad():
            losses[red] = float(model.recon_loss(X)[0])
    assert losses["sum"] == pytest.approx(64 * losses["mean"], rel=1e-5)


@pytest.mark.parametrize("standardise", [True, False])
def test_kmeans_code_initialisation_is_the_nearest_centroid_rule_on_the_standardised_code(standardise):
    """cluster_init=kmeans-code: argmax q(y|x) is k-means' assignment of Q's pre-trained output,
    each dimension z-scored (an affine map of the penultimate features, so the rule is exact)."""
    from sklearn.cluster import KMeans

    torch.manual_seed(0)
    X = torch.rand(120, 1, 8, 8)
    cfg = make_config(METHODS["dual-aae"].Config, {"pretrain_epochs": 1, "cluster_init": "kmeans-code",
                                                   "code_standardise": standardise})
    model = METHODS["dual-aae"](cfg).make_model(torch.device("cpu"), resolve_arch((1, 8, 8), K))
    for i in range(3):
        model.pretrain_step(X[:60], i)
    model.train_mode(False)
    with torch.no_grad():
        code = model.Q(X).double().numpy()
    model.start_training(lambda: iter([X[:50], X[50:]]), seed=3)
    with torch.no_grad():
        logits, _, _ = model.encode(X)
    u = (code - code.mean(0)) / code.std(0, ddof=1) if standardise else code
    km = KMeans(K, n_init=10, random_state=3).fit(u)
    np.testing.assert_array_equal(logits.argmax(1).numpy(), km.predict(u))


def test_recon_y_expect_is_the_posterior_weighted_error_of_each_one_hot_decoding():
    torch.manual_seed(0)
    X = torch.rand(6, 1, 8, 8)
    cfg = make_config(METHODS["dual-aae"].Config, {"recon_y": "expect"})
    model = METHODS["dual-aae"](cfg).make_model(torch.device("cpu"), resolve_arch((1, 8, 8), K))
    model.train_mode(False)  # batch norm on running statistics: decoding is per-sample
    with torch.no_grad():
        loss, y, h, z = model.recon_loss(X)
        want = sum(y[:, k] * ((model.decode(torch.eye(K)[k].expand(6, K), h, z) - X) ** 2).flatten(1).mean(1)
                   for k in range(K)).mean()
        soft, _, _, _ = model.recon_loss(X, recon_y="soft")
    torch.testing.assert_close(loss, want)
    assert not torch.isclose(loss, soft)


def test_critic_accuracy_is_half_for_identical_scores_and_one_for_separated_ones():
    from clusterbench.nn.losses import critic_accuracy

    a = torch.randn(50)
    assert float(critic_accuracy(a + 10, a)) == 1.0
    assert float(critic_accuracy(a, a)) == pytest.approx(0.5, abs=0.05)


def test_critic_gradient_penalty_option_replaces_clipping_and_keeps_the_critic_1_lipschitz():
    with pytest.raises((ConfigError, ValueError)):
        make_config(METHODS["dual-aae"].Config, {"critic_gp": 10.0})  # clipping is still on
    with pytest.raises((ConfigError, ValueError)):
        make_config(METHODS["dual-aae"].Config, {"critic_gp": -1.0, "critic_clip": None})
    torch.manual_seed(0)
    cfg = make_config(METHODS["dual-aae"].Config, {"critic_gp": 10.0, "critic_clip": None, "lr_critic": 1e-3})
    model = METHODS["dual-aae"](cfg).make_model(torch.device("cpu"), resolve_arch((20,), 3))
    x = torch.rand(64, 20)
    for _ in range(60):
        loss, acc = model.critic_step(x)
    assert math.isfinite(float(loss)) and 0.0 <= float(acc) <= 1.0
    assert max(float(p.detach().abs().max()) for p in model.D.parameters()) > 0.01  # not clipped
    model.D.eval()
    pts = torch.randn(256, model.D[0].in_features, requires_grad=True)
    (g,) = torch.autograd.grad(model.D(pts).sum(), pts)
    assert float(g.norm(dim=1).mean()) == pytest.approx(1.0, abs=0.35)  # the penalty's target norm
