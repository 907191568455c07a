"""The seven disentanglement scores on synthetic codes whose answer is known: a perfectly
disentangled code (one code dimension per factor) scores near the top, a random code near
chance, and an entangled code (every dimension mixes every factor) in between."""

from __future__ import annotations

import numpy as np
import pytest

from clusterbench.metrics import disentanglement as D

SIZES = (3, 6, 8, 5)  # small dSprites-like factors (shape 3, scale 6, ...)


def _perfect(f):
    return f / np.asarray(SIZES, dtype=np.float64) + 0.001 * np.random.default_rng(int(f.sum())).standard_normal(f.shape)


def _random(f):
    return np.random.default_rng(int(f.sum()) + len(f)).standard_normal((len(f), len(SIZES)))


def _entangled(f):
    z = f / np.asarray(SIZES, dtype=np.float64)
    mix = np.array([[1, 1, 1, 1], [1, -1, 1, -1], [1, 1, -1, -1], [1, -1, -1, 1]], dtype=np.float64)
    return z @ mix


def gt(fn):
    return D.FunctionGroundTruth(SIZES, fn)


SMALL = dict(num_train=300, num_eval=200)


def test_beta_vae():
    assert D.beta_vae_score(gt(_perfect), **SMALL)["eval_accuracy"] > 0.95
    assert D.beta_vae_score(gt(_random), **SMALL)["eval_accuracy"] < 0.45  # chance = 1/4


def test_factor_vae():
    kw = dict(num_train=300, num_eval=200, num_variance_estimate=2000)
    assert D.factor_vae_score(gt(_perfect), **kw)["eval_accuracy"] > 0.95
    assert D.factor_vae_score(gt(_random), **kw)["eval_accuracy"] < 0.45
    dead = D.factor_vae_score(gt(lambda f: np.zeros((len(f), 4))), **kw)
    assert dead["eval_accuracy"] == 0.0 and dead["num_active_dims"] == 0


def test_dci_from_importance_hand_cases():
    assert D.dci_from_importance(np.eye(4))["disentanglement"] == pytest.approx(1.0, abs=1e-6)
    assert D.dci_from_importance(np.ones((4, 4)))["disentanglement"] == pytest.approx(0.0, abs=1e-6)
    # the only informative code carries two factors equally: D = 0
    r = np.array([[1.0, 1.0], [0.0, 0.0]])
    assert D.dci_from_importance(r)["disentanglement"] == pytest.approx(0.0, abs=1e-6)


def test_dci():
    kw = dict(num_train=400, num_test=200)
    perfect, rand = D.dci_score(gt(_perfect), **kw), D.dci_score(gt(_random), **kw)
    assert perfect["disentanglement"] > 0.9 and perfect["informativeness_test"] > 0.9
    assert rand["disentanglement"] < 0.3


def test_sap_gap_definition_and_scores():
    assert D.sap_from_matrix(np.array([[0.9, 0.2], [0.1, 0.8]])) == pytest.approx((0.8 + 0.6) / 2)
    # with discrete factors SAP is a gap of one-latent linear-SVM accuracies: for binary factors a
    # perfect code has top1 = 1 and top2 = chance (0.5), so SAP = 0.5; multi-valued factors are
    # not linearly separable on one axis and score lower (the library's definition, kept)
    binary = (2, 2, 2)
    perfect = D.FunctionGroundTruth(binary, lambda f: f + 0.01 * np.random.default_rng(len(f)).standard_normal(f.shape))
    rand = D.FunctionGroundTruth(binary, lambda f: np.random.default_rng(int(f.sum())).standard_normal(f.shape))
    kw = dict(num_train=400, num_test=200)
    assert D.sap_score(perfect, **kw)["sap"] == pytest.approx(0.5, abs=0.1)
    assert D.sap_score(rand, **kw)["sap"] < 0.1
    assert D.sap_score(gt(_perfect), **kw)["sap"] > D.sap_score(gt(_random), **kw)["sap"] + 0.1


def test_mig():
    mi = np.array([[1.0, 0.0], [0.2, 0.5]])
    assert D.mig_from_mi(mi, np.array([1.0, 1.0])) == pytest.approx((0.8 + 0.5) / 2)
    assert D.mig_score(gt(_perfect), num_train=2000)["mig"] > 0.8
    assert D.mig_score(gt(_random), num_train=2000)["mig"] < 0.1
    assert D.mig_score(gt(_entangled), num_train=2000)["mig"] < 0.5


def test_modularity_and_explicitness():
    assert D.modularity_from_mi(np.eye(3)) == pytest.approx(1.0)
    assert D.modularity_from_mi(np.ones((3, 3))) == pytest.approx(0.0)
    kw = dict(num_train=600, num_test=300)
    perfect = D.modularity_explicitness_score(gt(_perfect), **kw)
    rand = D.modularity_explicitness_score(gt(_random), **kw)
    tangled = D.modularity_explicitness_score(gt(_entangled), **kw)
    assert perfect["modularity"] > 0.9 and tangled["modularity"] < perfect["modularity"] - 0.2
    assert perfect["explicitness_test"] > 0.9 and abs(rand["explicitness_test"] - 0.5) < 0.1


def test_all_seven_under_the_record_keys():
    out = D.disentanglement_scores(gt(_perfect), scale=0.02)
    assert set(out) == {"betavae", "factorvae", "dci", "sap", "mig", "modularity", "explicitness"}
    assert all(0.0 <= v <= 1.0 for v in out.values())


def test_indexed_ground_truth_finds_the_sample_with_the_asked_factors():
    """dSprites-like latents (a constant colour column, shuffled rows): represent() codes the rows
    whose factors are exactly the sampled ones."""
    import itertools

    grid = np.array(list(itertools.product([0], [0, 1, 2], [0, 1], [5, 7, 9])))  # colour, shape, scale, pos
    rows = np.random.default_rng(0).permutation(len(grid))
    latents = grid[rows]
    g = D.IndexedGroundTruth(latents, lambda idx: latents[idx][:, 1:].astype(float))
    assert g.factor_sizes == (3, 2, 3)
    f = g.sample_factors(50, np.random.default_rng(1))
    got = g.represent(f)
    want = np.stack([f[:, 0], f[:, 1], np.array([5, 7, 9])[f[:, 2]]], axis=1)
    assert np.array_equal(got, want)
    assert D.mig_score(g, num_train=300)["mig"] > 0.8  # the code is the factors themselves
