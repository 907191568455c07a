"""Balanced self-paced learning: Theorem 1 vs brute force on Eq. (6), SPL as the gamma = 0 case,
the pace schedule (about 1% at the first iteration, all by 3/4 of training)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize

from clusterbench.methods.gan.bspl import (
    PaceSchedule,
    bspl_objective,
    bspl_weights,
    lambda_for_count,
    max_needed_lambda,
    selected_count,
    spl_weights,
)


def _brute_force(l, g, lam, gamma, rng):
    """min of Eq. (6) over [0, 1]^N by L-BFGS-B from several starts (the problem is convex)."""
    groups = np.unique(g)
    onehot = (g[:, None] == groups[None, :]).astype(float)

    def f(nu):
        s = onehot.T @ nu
        return nu @ l - lam * nu.sum() + gamma * (s**2).sum(), l - lam + 2 * gamma * (onehot @ s)

    best = None
    for start in [np.zeros_like(l), np.ones_like(l), *rng.random((4, l.size))]:
        r = minimize(f, start, jac=True, method="L-BFGS-B", bounds=[(0, 1)] * l.size,
                     options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 10000})
        if best is None or r.fun < best.fun:
            best = r
    return best.x, best.fun


@pytest.mark.parametrize("trial", range(25))
def test_theorem1_matches_brute_force_minimisation(trial):
    rng = np.random.default_rng(trial)
    n, c = int(rng.integers(2, 13)), int(rng.integers(1, 4))
    l = rng.random(n) * 2
    g = rng.integers(0, c, n)
    gamma = float(rng.choice([0.01, 0.05, 0.2, 1.0]))
    lam = float(rng.uniform(0.0, 3.0))
    nu = bspl_weights(l, g, lam, gamma)
    assert ((nu >= 0) & (nu <= 1)).all()
    x, fun = _brute_force(l, g, lam, gamma, rng)
    assert bspl_objective(nu, l, g, lam, gamma) <= fun + 1e-7
    np.testing.assert_allclose(nu, x, atol=1e-4)


def test_theorem1_fractional_case_by_hand():
    # one group, losses 0.1 < 0.2 < 0.5, lam 1, gamma 0.25: thresholds lam - 2*gamma*q = 0.5, 0, -0.5
    # q=1: 0.1 < 0.5 -> 1; q=2: 0 <= 0.2 < 0.5 -> (1 - 0.2)/0.5 - 1 = 0.6; q=3: 0.5 >= 0 -> 0
    nu = bspl_weights(np.array([0.5, 0.1, 0.2]), np.zeros(3, int), 1.0, 0.25)
    np.testing.assert_allclose(nu, [0.0, 1.0, 0.6])
    # the paper's printed middle case, (lam - l)/(2 gamma) - q, would give -0.4 here: outside [0, 1]
    assert (1 - 0.2) / 0.5 - 2 < 0


def test_groups_are_balanced_where_spl_is_not():
    # group 0 holds all the easy samples; BSPL admits samples of group 1 before more of group 0
    l = np.array([0.10, 0.11, 0.12, 0.13, 0.30, 0.31])
    g = np.array([0, 0, 0, 0, 1, 1])
    lam, gamma = 0.35, 0.05
    assert spl_weights(l, 0.2).tolist() == [1, 1, 1, 1, 0, 0]
    nu = bspl_weights(l, g, lam, gamma)
    assert nu[4] > 0 and nu[3] == 0


@pytest.mark.parametrize("trial", range(10))
def test_standard_spl_is_the_gamma_zero_case(trial):
    rng = np.random.default_rng(100 + trial)
    l = rng.random(20)
    g = rng.integers(0, 3, 20)
    lam = float(rng.random())
    np.testing.assert_array_equal(bspl_weights(l, g, lam, 0.0), (l < lam).astype(float))
    np.testing.assert_array_equal(spl_weights(l, lam), (l < lam).astype(float))
    # and the gamma -> 0 limit of Theorem 1 tends to it (away from ties with lam)
    if np.abs(l - lam).min() > 1e-3:
        np.testing.assert_allclose(bspl_weights(l, g, lam, 1e-9), (l < lam).astype(float), atol=1e-6)


def test_lambda_for_count_is_the_smallest_lambda():
    rng = np.random.default_rng(3)
    l, g = rng.random(50), rng.integers(0, 5, 50)
    lam = lambda_for_count(l, g, 0.01, 7)
    assert selected_count(l, g, lam, 0.01) >= 7
    assert selected_count(l, g, lam - 1e-6, 0.01) < 7
    assert selected_count(l, g, max_needed_lambda(l, g, 0.01) + 1e-9, 0.01) == 50


@pytest.mark.parametrize("gamma_scale", [1.0, 0.0])
def test_pace_schedule_starts_at_one_percent_and_ends_with_all(gamma_scale):
    rng = np.random.default_rng(5)
    l, g = rng.random(300) + 0.5, rng.integers(0, 10, 300)
    s = PaceSchedule(gamma_scale=gamma_scale, calibrate_on="first")
    s.calibrate(l, g, 10)
    assert (s.gamma == 0) == (gamma_scale == 0)
    assert 3 <= (s.weights(l, g, 0.0) > 0).sum() <= 4          # ceil(1% of 300) = 3 (ties aside)
    counts = [(s.weights(l, g, t) > 0).sum() for t in np.linspace(0, 0.74, 20)]
    assert counts == sorted(counts)                             # non-decreasing in t
    assert (s.weights(l, g, 0.7499) > 0).sum() > 250
    assert (s.weights(l, g, 0.75) == 1).all() and (s.weights(l + 100, g, 0.9) == 1).all()
    s2 = PaceSchedule(gamma_scale=gamma_scale, calibrate_on="first")   # a saved first-batch schedule
    s2.load(s.state())
    np.testing.assert_array_equal(s2.weights(l, g, 0.3), s.weights(l, g, 0.3))


def test_pace_calibrated_on_each_batch_follows_the_loss_scale():
    # first batch: nearly parallel outputs (tiny losses); later batches: losses ten times larger
    rng = np.random.default_rng(7)
    g = rng.integers(0, 10, 200)
    first, later = 0.02 + 0.01 * rng.random(200), 0.3 + 0.2 * rng.random(200)
    fixed = PaceSchedule(calibrate_on="first")
    fixed.calibrate(first, g, 10)
    assert (fixed.weights(later, g, 0.3) > 0).sum() == 0      # the first-batch schedule selects nothing
    per_batch = PaceSchedule()                                # default: calibrate_on="batch"
    per_batch.calibrate(first, g, 10)
    n0 = (per_batch.weights(later, g, 0.0, 10) > 0).sum()
    n_mid = (per_batch.weights(later, g, 0.3, 10) > 0).sum()
    n_end = (per_batch.weights(later, g, 0.7499, 10) > 0).sum()
    assert 2 <= n0 <= 3 and n0 < n_mid < n_end and n_end > 150
    with pytest.raises(ValueError):
        PaceSchedule(calibrate_on="sometimes").weights(later, g, 0.1)
