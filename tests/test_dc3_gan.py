"""dc3-gan (DC3 Algorithm 1, Eq. 7) and its Table 8 ablations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from clusterbench.methods import METHODS, make_config
from clusterbench.methods.gan.dc3.dc3_gan import ABLATIONS

torch.set_num_threads(1)


def _model(shape=(1, 8, 8), k=3, seed=0, **over):
    cls = METHODS["dc3-gan"]
    m = cls(make_config(cls.Config, {"epochs": 1, **over}))
    X = np.random.default_rng(0).random((16, *shape), dtype=np.float32)
    torch.manual_seed(seed)
    return m.make_model(torch.device("cpu"), m.resolve_spec(X, k)), X


def test_paper_defaults_and_latent_table():
    cfg = METHODS["dc3-gan"].Config()
    assert (cfg.beta1, cfg.beta2, cfg.beta3, cfg.gp_weight, cfg.sigma) == (0.1, 0.1, 10.0, 10.0, 0.1)
    assert (cfg.loss_ce, cfg.loss_n, cfg.loss_mmd, cfg.loss_ae) == (True,) * 4 and METHODS["dc3-gan"].generative and METHODS["dc3-gan"].clusters
    m = METHODS["dc3-gan"](cfg)
    for shape, d_n in (((1, 28, 28), 25), ((3, 32, 32), 128), ((16,), 5), ((3, 55, 55), 60)):
        X = np.zeros((4, *shape), np.float32)
        assert m.resolve_spec(X, 10).latent_dim == d_n
    with pytest.raises(Exception, match="beta1"):
        make_config(METHODS["dc3-gan"].Config, {"beta1": "-1"})


def test_terms_follow_algorithm_1():
    """L_AE is the mean ABSOLUTE error of x through E then G; L_n compares z_n with E_n(G(z)) on
    generated samples; L_CE is the cross-entropy of E_c(G(z)) with the drawn clusters; no L_c."""
    model, X = _model(latent_dim=4)
    model.train_mode(True)
    x = torch.from_numpy(X[:8])
    torch.manual_seed(1)
    z = model.draw(8)
    torch.manual_seed(2)
    terms = model.loss_terms(x, z)
    assert set(terms) == {"adv", "ae", "mmd", "n", "ce"}
    assert model.term_weights() == {"adv": 1.0, "ae": 1.0, "mmd": 0.1, "n": 0.1, "ce": 10.0}
    with torch.no_grad():
        zn_hat, zc_hat = model.E(model.G(z.z))
        zrn, zrc = model.E(x)
        x_rec = model.G(torch.cat([zrc.softmax(1), zrn], 1))
    assert terms["ae"].item() == pytest.approx((x - x_rec).abs().mean().item(), rel=1e-5)
    assert terms["n"].item() == pytest.approx(((z.z_n - zn_hat) ** 2).mean().item(), rel=1e-5)
    assert terms["ce"].item() == pytest.approx(torch.nn.functional.cross_entropy(zc_hat, z.labels).item(), rel=1e-5)


@pytest.mark.parametrize("switch", list(ABLATIONS))
def test_each_ablation_removes_exactly_its_term(switch):
    """On a fixed batch, with the same weights and prior draw, the ablated generator loss is the
    full loss minus (its weight x its term); the other terms are unchanged."""
    full, X = _model(latent_dim=4, seed=0)
    abl, _ = _model(latent_dim=4, seed=0, **{switch: False})
    x = torch.from_numpy(X[:8])
    torch.manual_seed(3)
    lf = full.generator_step(x)
    torch.manual_seed(3)
    la = abl.generator_step(x)
    term = ABLATIONS[switch]
    w = full.term_weights()[term]
    assert abl.term_weights()[term] == 0.0
    assert la["g"].item() == pytest.approx(lf["g"].item() - w * lf[f"L_{term}"].item(), rel=1e-5, abs=1e-6)
    for k in ("adv", "ae", "mmd", "n", "ce"):
        assert la[f"L_{k}"].item() == pytest.approx(lf[f"L_{k}"].item(), rel=1e-6)


def test_fits_and_generates(tmp_path):
    X = np.random.default_rng(0).random((24, 1, 8, 8), dtype=np.float32)
    cls = METHODS["dc3-gan"]
    cfg = make_config(cls.Config, {"epochs": 1, "batch_size": 8, "critic_iters": 1, "save_samples": False,
                                   "loss_mmd": "false"})
    out = cls(cfg).fit(X, 3, seed=0, workdir=tmp_path)
    assert out.proba.shape == (24, 3) and np.allclose(out.proba.sum(1), 1)
    assert out.history[-1]["g_iterations"] == 3 and "L_mmd" in out.history[-1]
    g = out.generator(5, cluster=1, seed=0)
    assert g.shape == (5, 1, 8, 8) and 0 <= g.min() and g.max() <= 1


def test_table_8_switches_are_the_config_keys_of_the_spec():
    """The report's Table 8 rows name these switches (report/tables/dc3.toml)."""
    import tomllib
    from pathlib import Path

    import clusterbench

    spec = tomllib.loads((Path(clusterbench.__file__).parent / "report" / "tables" / "dc3.toml").read_text())
    assert set(spec["paper"]["method_defaults"]["dc3-gan"]) == set(ABLATIONS)
    cfg = METHODS["dc3-gan"].Config()
    assert all(getattr(cfg, k) is v for k, v in spec["paper"]["method_defaults"]["dc3-gan"].items())
    (t8,) = [t for t in spec["table"] if t["number"] == "8"]
    for row in t8["rows"]:
        make_config(METHODS["dc3-gan"].Config, dict(row.get("set", {})))  # every row's switches are valid
