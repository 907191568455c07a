"""clustergan, wgan-gp and dls: shapes of the papers, training length in generator iterations,
resume, the generative interface, Algorithm 1's terms, and wgan-gp's record without ACC/NMI."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from clusterbench.errors import ConfigError
from clusterbench.methods import METHODS, make_config
from clusterbench.training.contract import DeepModel

torch.set_num_threads(1)
GANS = ["clustergan", "wgan-gp", "dls"]


def _fit(name, X, k=3, *, seed=0, workdir=None, monitor=None, **over):
    base = {"epochs": 1, "batch_size": 8, "save_samples": False, "checkpoint_every": 1}
    base.update(over)
    return METHODS[name](make_config(METHODS[name].Config, base)).fit(X, k, seed=seed, workdir=workdir, monitor=monitor)


@pytest.mark.parametrize("shape,family", [((3, 55, 55), "conv5"), ((16,), "mlp")], ids=["ytf55", "vec16"])
@pytest.mark.parametrize("name", GANS)
def test_trains_on_ytf_and_vector_shapes(name, shape, family, tmp_path):
    X = np.random.default_rng(0).random((24, *shape), dtype=np.float32)
    out = _fit(name, X, critic_iters=1, workdir=tmp_path, save_samples=len(shape) == 3)
    assert out.extras["architecture"]["arch"] == family
    assert out.history[-1]["g_iterations"] == 3 and out.history[-1]["critic_iterations"] == 3
    if METHODS[name].clusters:
        assert out.proba.shape == (24, 3) and out.embedding.shape == (24, out.extras["architecture"]["z_n"])
    if len(shape) == 3:
        assert out.artifacts["samples_per_cluster"].read_bytes()[:4] == b"\x89PNG"
        assert sum(k.startswith("traversal_z") for k in out.artifacts) == 5


def test_paper_defaults():
    dls, cg, wg = (METHODS[n].Config() for n in ("dls", "clustergan", "wgan-gp"))
    assert (dls.beta1, dls.beta2, dls.beta3, dls.beta4, dls.gp_weight) == (1, 1, 10, 10, 10)
    assert (dls.lr, dls.adam_beta1, dls.adam_beta2, dls.batch_size, dls.critic_iters) == (1e-4, 0.5, 0.9, 64, 5)
    assert dls.iterations == 150_000 and dls.epochs is None and dls.sigma == 0.1 and not dls.per_sample_eps
    assert (cg.beta_n, cg.beta_c, cg.iterations, cg.sigma, cg.weight_decay) == (10, 10, 500_000, 0.1, 2.5e-5)
    assert METHODS["wgan-gp"].clusters is False and METHODS["wgan-gp"].generative
    assert wg.prior == "gaussian"


def test_iterations_set_the_training_length_and_are_in_the_history():
    # 40 samples, batch 8 -> 5 batches per epoch; 3 generator iterations x M=5 = 15 critic steps = 3 epochs
    X = np.random.default_rng(0).random((40, 16), dtype=np.float32)
    out = _fit("dls", X, epochs=None, iterations=3)
    assert [r["g_iterations"] for r in out.history] == [1, 2, 3]
    assert [r["critic_iterations"] for r in out.history] == [5, 10, 15]
    # 4 iterations = 20 steps = 4 epochs; an epochs cap of 2 stops first
    assert len(_fit("dls", X, epochs=None, iterations=4).history) == 4
    capped = _fit("dls", X, epochs=2, iterations=4)
    assert [r["g_iterations"] for r in capped.history] == [1, 2]
    # a partial last epoch: 2 iterations x M=3 = 6 steps = one full epoch + 1 step
    part = _fit("dls", X, epochs=None, iterations=2, critic_iters=3)
    assert [r["critic_iterations"] for r in part.history] == [5, 6] and part.history[-1]["g_iterations"] == 2
    with pytest.raises(ConfigError, match="training length"):
        _fit("dls", X, epochs=None, iterations=None)
    with pytest.raises(ConfigError, match="latent_dim"):
        _fit("dls", X, noise_dim=4)


def test_resume_mid_training_equals_uninterrupted(tmp_path):
    X = np.random.default_rng(1).random((40, 16), dtype=np.float32)
    kw = {"epochs": None, "iterations": 4, "critic_iters": 3}  # 12 steps = 3 epochs (5, 5, 2)
    full = _fit("dls", X, workdir=tmp_path / "full", **kw)

    class Stop(Exception):
        pass

    calls = {"n": 0}

    def crash(proba):
        calls["n"] += 1
        if calls["n"] == 2:
            raise Stop
        return {}

    with pytest.raises(Stop):
        _fit("dls", X, workdir=tmp_path / "cut", monitor=crash, **kw)
    resumed = _fit("dls", X, workdir=tmp_path / "cut", **kw)
    assert resumed.extras["resumed_from_epoch"] == 1
    np.testing.assert_allclose(resumed.proba, full.proba, atol=1e-6)
    strip = lambda h: [{k: v for k, v in r.items() if k not in ("seconds", "monitor_seconds")} for r in h]
    assert strip(resumed.history) == strip(full.history)
    assert full.history[-1]["g_iterations"] == 4


@pytest.mark.parametrize("name", GANS)
def test_same_seed_same_result(name):
    X = np.random.default_rng(0).random((32, 1, 8, 8), dtype=np.float32)
    a, b, c = (_fit(name, X, seed=s, critic_iters=2) for s in (0, 0, 1))
    assert a.history[-1]["d"] == b.history[-1]["d"] != c.history[-1]["d"]
    if a.proba is not None:
        np.testing.assert_array_equal(a.proba, b.proba)


def _model(name, shape=(1, 8, 8), k=3, **over):
    cls = METHODS[name]
    m = cls(make_config(cls.Config, {"epochs": 1, **over}))
    X = np.random.default_rng(0).random((16, *shape), dtype=np.float32)
    return m.make_model(torch.device("cpu"), m.resolve_spec(X, k)), X


@pytest.mark.parametrize("name", GANS)
def test_sample_interface(name):
    torch.manual_seed(0)
    model, _ = _model(name)
    model.train_mode(True)
    x = model.sample(5)
    assert x.shape == (5, 1, 8, 8) and 0 <= x.min() and x.max() <= 1 and not x.requires_grad
    assert all(m.training for m in model.nets.values())  # training mode restored
    assert model.sample(0).shape == (0, 1, 8, 8)
    if name == "wgan-gp":
        with pytest.raises(ValueError, match="no clusters"):
            model.sample(2, cluster=1)
        dc, _ = _model(name, prior="discrete-continuous", sigma=0.1)
        assert dc.sample(3, cluster=1).shape == (3, 1, 8, 8)
    else:
        a = model.sample(4, cluster=2)
        assert a.shape == (4, 1, 8, 8)
        # the same z_n with another z_c gives other images: the cluster code reaches G
        torch.manual_seed(1)
        za = model.draw(4, cluster=0)
        torch.manual_seed(1)
        zb = model.draw(4, cluster=1)
        assert torch.equal(za.z_n, zb.z_n) and (za.labels == 0).all() and (zb.labels == 1).all()
        model.train_mode(False)
        assert not torch.allclose(model.G(za.z), model.G(zb.z))


def test_dls_terms_follow_algorithm_1():
    torch.manual_seed(0)
    model, X = _model("dls", latent_dim=4)
    x = torch.from_numpy(X[:8])
    z = model.draw(8)
    terms = model.loss_terms(x, z)
    assert set(terms) == {"adv", "ae", "mmd", "n", "ce", "c"}
    assert model.term_weights() == {"adv": 1.0, "ae": 1.0, "mmd": 1.0, "n": 1.0, "ce": 10.0, "c": 10.0}
    # L_AE is the reconstruction of x through E then G (softmax z_c), recomputed by hand
    model.train_mode(True)
    torch.manual_seed(5)
    zrn, zrc = model.E(x)
    x_rec = model.G(torch.cat([zrc.softmax(1), zrn], 1))
    assert terms["ae"].item() == pytest.approx(((x - x_rec) ** 2).mean().item(), rel=1e-5)
    l1, _ = _model("dls", latent_dim=4, ae_loss="l1")
    assert l1.loss_terms(x, z)["ae"].item() != pytest.approx(terms["ae"].item())
    # one generator step moves G and E, never D
    d0 = [p.clone() for p in model.D.parameters()]
    e0 = [p.clone() for p in model.E.parameters()]
    losses = model.generator_step(x)
    assert {"g", "L_adv", "L_ae", "L_mmd", "L_n", "L_ce", "L_c"} <= set(losses)
    assert all(torch.equal(a, b) for a, b in zip(d0, model.D.parameters()))
    assert not all(torch.equal(a, b) for a, b in zip(e0, model.E.parameters()))


def test_adversarial_term_has_no_encoder_gradient():
    """Lines 14-15 of Algorithm 1: grad_phi of -D(G(z)) is zero, so one backward of L_theta gives
    the phi update of line 15."""
    torch.manual_seed(0)
    model, X = _model("dls", latent_dim=4)
    z = model.draw(8)
    model.loss_terms(torch.from_numpy(X[:8]), z)["adv"].backward()
    assert all(p.grad is None or not p.grad.abs().any() for p in model.E.parameters())
    assert any(p.grad is not None and p.grad.abs().any() for p in model.G.parameters())


def test_generator_only_model_has_no_predict_in_the_loop():
    model, _ = _model("wgan-gp")
    assert isinstance(model, DeepModel) and model.clusters is False and "E" not in model.nets


def test_wgan_gp_record_has_no_clustering_metrics(tmp_path):
    from clusterbench.runner import execute_run, expand_grid

    spec, = expand_grid(["wgan-gp"], ["digits"], seeds=1, subset=64, device="cpu",
                        overrides=["epochs=1", "batch_size=16", "save_samples=false"])
    rec = execute_run(spec, tmp_path)
    assert rec.status == "ok", rec.traceback
    assert rec.method == "wgan-gp" and rec.metrics == {} and "cluster_histogram" not in rec.extras
    assert rec.history and "acc" not in rec.history[-1]


def test_method_output_proba_none_only_for_generator_only_methods():
    from clusterbench.methods.base import MethodOutput

    MethodOutput(proba=None).validate(3, clusters=False)
    with pytest.raises(ValueError, match="clusters=True"):
        MethodOutput(proba=None).validate(3)
    with pytest.raises(ValueError, match="clusters=False"):
        MethodOutput(proba=np.full((3, 2), 0.5)).validate(3, clusters=False)
    assert MethodOutput(proba=None).labels is None


def test_generator_only_record_is_listed_by_runs(tmp_path, capsys):
    """A wgan-gp record (no ACC/NMI) is a valid ok record: `runs` lists it, `check` finds it."""
    from cli_helper import run_cli

    rc, _, err = run_cli(capsys, "run", "wgan-gp", "--set", "epochs=1", "--set", "save_samples=false",
                         "--results", str(tmp_path))
    assert rc == 0, err
    rc, out, err = run_cli(capsys, "runs", "--json", "--results", str(tmp_path))
    import json

    [rec] = json.loads(out)
    assert rec["status"] == "ok" and rec["metrics"] == {} and rec["extras"]["clusters"] is False


def test_clustergan_assigns_by_kmeans_on_the_encoder_codes_as_the_reference():
    from sklearn.cluster import KMeans

    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(c, 0.05, (12, 16)) for c in (0.2, 0.5, 0.8)]).astype(np.float32)
    assert METHODS["clustergan"].Config().assign == "kmeans"  # the reference's rule is the default
    arg = _fit("clustergan", X, seed=1, critic_iters=1, assign="argmax")
    km = _fit("clustergan", X, seed=1, critic_iters=1)
    assert arg.extras["assignment"] == {"rule": "argmax", "on": "softmax z_c"}
    assert km.extras["assignment"]["rule"] == "kmeans" and km.extras["assignment"]["on"] == "[z_n, softmax z_c]"
    # the same training (the rule is applied after it), then k-means on [z_n, softmax z_c]
    np.testing.assert_array_equal(km.embedding, arg.embedding)
    want = KMeans(3, n_init=10, random_state=1).fit_predict(np.hstack([arg.embedding, arg.proba]))
    np.testing.assert_array_equal(km.labels, want)
    assert set(np.unique(km.proba)) <= {0.0, 1.0} and km.proba.sum(1).tolist() == [1.0] * 36
    assert sum(km.extras["cluster_histogram"]) == 36 and km.extras["clusters_used"] == len(set(want))
    # beta_n = 0 (its Fashion-MNIST setting): k-means on softmax z_c alone
    arg0 = _fit("clustergan", X, seed=1, critic_iters=1, assign="argmax", beta_n=0.0)
    km0 = _fit("clustergan", X, seed=1, critic_iters=1, beta_n=0.0)
    assert km0.extras["assignment"]["on"] == "softmax z_c (beta_n = 0)"
    np.testing.assert_array_equal(km0.labels, KMeans(3, n_init=10, random_state=1).fit_predict(arg0.proba))
    with pytest.raises(ConfigError):
        make_config(METHODS["clustergan"].Config, {"assign": "spectral"})


@pytest.mark.parametrize("method", ["dls", "clustergan", "wgan-gp", "dc3-gan"])
def test_gan_arch_option_takes_the_gan_families(method):
    """``--set arch=conv4`` is a GAN family: the shared config check knows the GAN list, and the
    auto-encoders' families are refused for GAN methods (they were checked against each other's)."""
    cls = METHODS[method]
    assert cls.Config(arch="conv4").arch == "conv4"
    with pytest.raises(ValueError, match="not a known architecture"):
        cls.Config(arch="mlp-hhar")
