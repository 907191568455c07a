"""ModelCentrality on synthetic linear 'GANs' whose answer is known: models that recover the
same factors (up to permutation and scale) agree with each other; an untrained one does not and
is never selected."""

from __future__ import annotations

import numpy as np
import pytest

from clusterbench.metrics.model_centrality import PoolModel, model_centrality

C, D = 3, 6
BASE = np.random.default_rng(0).standard_normal((C, D))


def _model(name, perm, scale, *, untrained=False):
    A = BASE[list(perm)] * np.asarray(scale)[:, None]   # this model's generator: codes -> data
    pinv = np.linalg.pinv(A)
    rng = np.random.default_rng(sum(map(ord, name)))
    if untrained:  # an encoder that has not learnt the generator's codes: random and noisy
        pinv = np.random.default_rng(7).standard_normal((D, C))

    def generate(codes):
        return codes @ A + 0.01 * rng.standard_normal((len(codes), D))

    def encode(x):
        z = x @ pinv
        return z + (3.0 * rng.standard_normal(z.shape) if untrained else 0.0)

    return PoolModel(name, generate, encode, n_codes=C)


KW = dict(grid=10, num_train=150, num_eval=100, num_variance_estimate=500)


def test_agreeing_models_are_central_and_the_entangled_one_is_not_selected():
    pool = [_model("a", (0, 1, 2), (1, 1, 1)), _model("b", (2, 0, 1), (2, 1, 0.5)),
            _model("c", (1, 2, 0), (1, 3, 1)), _model("bad", (0, 1, 2), (1, 1, 1), untrained=True)]
    out = model_centrality(pool, **KW)
    sim = out["similarity"]
    assert np.allclose(sim, sim.T)
    assert sim[0, 1] > 0.9 and sim[0, 2] > 0.9           # same factors, permuted and rescaled
    assert out["centrality"][3] < min(out["centrality"][:3]) - 0.1
    assert out["selected"] in (0, 1, 2) and out["pool"] == ["a", "b", "c", "bad"]


def test_a_pool_of_one_is_refused():
    with pytest.raises(ValueError, match="at least 2"):
        model_centrality([_model("a", (0, 1, 2), (1, 1, 1))], **KW)
