"""Regression (issue 17): Dual-AAE must learn beyond its own initialisation on real data.

scikit-learn ``digits`` (1,797 real 8x8 handwritten digits, embedded, offline), one seed, a short
schedule with the short-schedule learning rates the Dual-AAE docstring gives (``lr=1e-3``,
``lr_critic=5e-4``). The history's ``init`` row is k-means on the pre-trained encoder's features,
i.e. where Eq. (10) starts; the trained posterior must beat it by a margin. CPU runs are
deterministic per seed, so the margins below are about half of what this schedule gains (measured
with this test's settings: see the comments) — a method that stops learning (a dead term, a
learning rate that no longer reaches the optimizer, CR freezing the start) fails.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import clusterbench
from clusterbench.methods import METHODS, make_config
from clusterbench.metrics.clustering import evaluate
from clusterbench.runner.executors import capped_threads

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def digits():
    X, y, info = clusterbench.load("digits")
    return np.asarray(X, dtype=np.float32), np.asarray(y), info.n_clusters


def _history(name: str, digits, *, seed: int = 0, **overrides):
    X, y, k = digits
    cfg = make_config(METHODS[name].Config, {"save_samples": False, **overrides}, method=name)
    # one thread for torch, BLAS and OpenMP (k-means), whatever earlier tests left: CPU float
    # results depend on the thread count, and the margins below were measured with one thread
    with capped_threads(1):
        out = METHODS[name](cfg).fit(X, k, seed=seed, device="cpu",
                                     monitor=lambda p: {m: v for m, v in evaluate(y, p).items() if m in ("acc", "nmi")})
    init = next(r for r in out.history if r["phase"] == "init")
    last = out.history[-1]
    return init, last, evaluate(y, out.proba)


def test_dual_aae_learns_beyond_its_kmeans_start_on_digits(digits):
    # Mean over three seeds: one seed's gain depends on the CPU's float kernels. Measured with this
    # test's settings (one thread, 18 s a seed), init -> final ACC / NMI:
    #   an earlier CI machine, seed 0: 0.825/0.768 -> 0.900/0.842;
    #   a Xeon without AVX-512 (2026-12-06), seeds 0, 1, 2: 0.779/0.773 -> 0.773/0.779,
    #   0.812/0.764 -> 0.875/0.829, 0.744/0.735 -> 0.799/0.775 (mean +0.037 ACC, +0.037 NMI).
    # A method that stops learning (a dead term, CR freezing the start) gains ~0 on every seed.
    gains = []
    for seed in (0, 1, 2):
        init, last, final = _history("dual-aae", digits, seed=seed, pretrain_epochs=10, epochs=6,
                                     lr=1e-3, lr_critic=5e-4)
        assert last["phase"] == "train" and final["acc"] == pytest.approx(last["acc"])
        assert last["H_conditional"] < 0.5 * np.log(10)  # q(y|x) became confident (CR acts)
        gains.append((final["acc"] - init["acc"], final["nmi"] - init["nmi"]))
    acc_gain, nmi_gain = np.mean(gains, axis=0)
    assert acc_gain >= 0.02 and nmi_gain >= 0.02, gains
