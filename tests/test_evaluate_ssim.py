"""SSIM diversity (evaluate/ssim.py, DC3 Table 2)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from clusterbench.evaluate import EvalContext, run_evaluators
from clusterbench.evaluate import mnist_classifier as mc
from clusterbench.evaluate import ssim as S

pytest.importorskip("skimage")
torch.set_num_threads(1)


def test_ssim_of_an_image_with_itself_is_one():
    rng = np.random.default_rng(0)
    for shape in ((1, 28, 28), (3, 32, 32)):
        a = rng.random(shape)
        assert S.ssim(a, a) == pytest.approx(1.0, abs=1e-12)
        b = np.clip(a + rng.normal(scale=0.3, size=shape), 0, 1)
        assert S.ssim(a, b) < 0.9
    with pytest.raises(ValueError):
        S.ssim(np.zeros((1, 28, 28)), np.zeros((1, 27, 28)))


def test_ssim_uses_the_wang_window():
    """The fixed settings are skimage's Wang et al. mode (Gaussian sigma 1.5, population
    covariance, data_range 1), not its defaults (metrics-reference §5: they differ)."""
    from skimage.metrics import structural_similarity

    rng = np.random.default_rng(1)
    a, b = rng.random((28, 28)), rng.random((28, 28))
    wang = structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0)
    assert S.ssim(a[None], b[None]) == pytest.approx(wang)
    assert S.ssim(a[None], b[None]) != pytest.approx(structural_similarity(a, b, data_range=1.0))


def test_ssim_evaluator_matches_clusters_to_classes(cb_home):
    """Cluster 0 generates class-1 images, cluster 1 class-0 images (the classifier tells them
    apart); cluster 0's samples are identical (SSIM 1), cluster 1's are noisy: ssim@1 = 1 and
    ssim@0 < 1 after matching."""
    from clusterbench import paths

    rng = np.random.default_rng(0)
    X = rng.random((40, 1, 28, 28), dtype=np.float32) * 0.2
    y = np.arange(40) % 2
    X[y == 0, :, :14] += 0.8
    X[y == 1, :, 14:] += 0.8
    mc.train_classifier(X[:30], y[:30], X[30:], y[30:], epochs=3, batch_size=10, min_accuracy=0.9,
                        directory=paths.models_dir())
    calls = []

    def generator(n, cluster=None, *, seed=0):
        calls.append((n, cluster))
        if cluster == 0:  # one class-1 image, repeated
            return np.repeat(X[1:2], n, axis=0)
        r = np.random.default_rng(seed)
        return np.clip(X[r.choice(np.flatnonzero(y == 0), n)] + r.normal(scale=0.1, size=(n, 1, 28, 28)), 0, 1).astype(np.float32)

    ctx = EvalContext(generator=generator, sample_shape=(1, 28, 28), n_clusters=2, seed=0,
                      options={"ssim_pairs": 20})
    res = run_evaluators(["ssim"], ctx, generative=True)
    assert sorted(calls) == [(40, 0), (40, 1)]
    assert res.metrics["ssim@1"] == pytest.approx(1.0) and res.metrics["ssim@0"] < 0.9
    facts = res.facts["ssim"]
    assert facts["matched"] and facts["cluster_to_class"] == {"0": 1, "1": 0} and facts["pairs"] == 20
    assert "11x11 Gaussian" in facts["window"]
    # other shapes: keyed by cluster, not matched
    rgb = lambda n, cluster=None, *, seed=0: np.random.default_rng(seed).random((n, 3, 16, 16), dtype=np.float32)  # noqa: E731
    res = run_evaluators(["ssim"], EvalContext(generator=rgb, sample_shape=(3, 16, 16), n_clusters=3, seed=0,
                                               options={"ssim_pairs": 5}), generative=True)
    assert sorted(res.metrics) == ["ssim@0", "ssim@1", "ssim@2"] and res.facts["ssim"]["matched"] is False
