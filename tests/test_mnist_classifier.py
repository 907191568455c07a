"""Table II helper: mode counting by hand, the classifier path on tiny random data."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from clusterbench.errors import DataError
from clusterbench.methods import mnist_classifier as mc

torch.set_num_threads(1)


def test_modes_and_kl_by_hand():
    assert mc.modes_and_kl(np.arange(10).repeat(5)) == (10, pytest.approx(0.0))
    assert mc.modes_and_kl(np.zeros(7, int)) == (1, pytest.approx(math.log(10)))
    m, kl = mc.modes_and_kl(np.array([0, 0, 1, 1]))
    assert m == 2 and kl == pytest.approx(0.5 * math.log(5) * 2)


def test_classifier_trains_caches_and_counts(tmp_path):
    rng = np.random.default_rng(0)
    # two separable "digits": bright top half vs bright bottom half
    X = rng.random((80, 1, 28, 28), dtype=np.float32) * 0.2
    y = np.arange(80) % 2
    X[y == 0, :, :14] += 0.8
    X[y == 1, :, 14:] += 0.8
    with pytest.raises(DataError, match="No cached"):
        mc.load_classifier(tmp_path)
    model, acc = mc.train_classifier(X[:60], y[:60], X[60:], y[60:], epochs=3, batch_size=16,
                                     min_accuracy=0.9, directory=tmp_path)
    assert acc >= 0.9
    loaded, facts = mc.load_classifier(tmp_path)
    assert facts["test_accuracy"] == acc and facts["n_classes"] == 2
    modes, kl = mc.count_modes(X[y == 0], loaded, n_classes=2)
    assert modes == 1 and kl == pytest.approx(math.log(2))
    with pytest.raises(DataError, match="accuracy"):
        mc.train_classifier(X[:60], 1 - y[:60], X[60:], y[60:], epochs=1, min_accuracy=0.99, directory=tmp_path / "b")
    assert not (tmp_path / "b" / "mnist_cnn.pt").exists()


def test_split_rule():
    X = np.zeros((10, 1)); y = np.arange(10)
    test = np.arange(10) >= 7
    Xtr, ytr, Xte, yte = mc.mnist_split(X, y, {"test": test})
    assert len(Xtr) == 7 and yte.tolist() == [7, 8, 9]
    with pytest.raises(DataError):
        mc.mnist_split(X, y, {})


def test_count_modes_option_records_modes_in_extras(cb_home):
    from clusterbench import paths
    from clusterbench.errors import ConfigError
    from clusterbench.methods import METHODS, make_config

    rng = np.random.default_rng(0)
    X = rng.random((40, 1, 28, 28), dtype=np.float32)
    y = np.arange(40) % 2
    X[y == 0, :, :14] += 1.0
    mc.train_classifier(X[:30], y[:30], X[30:], y[30:], epochs=2, batch_size=10, min_accuracy=0.0,
                        directory=paths.models_dir())
    Xc = np.clip(X, 0, 1)
    for name in ("dual-aae", "infogan"):
        cfg = make_config(METHODS[name].Config, {"epochs": 1, "pretrain_epochs": 0, "batch_size": 20,
                                                 "count_modes": True, "save_samples": False,
                                                 "mode_samples": 50})
        out = METHODS[name](cfg).fit(Xc, 3, seed=0)
        assert 1 <= out.extras["modes_generated"] <= 2 and out.extras["modes_samples"] == 50
        assert 0 <= out.extras["modes_kl"] <= math.log(2) + 1e-9
    with pytest.raises(ConfigError, match="count_modes"):
        cfg = make_config(METHODS["catgan"].Config, {"epochs": 1, "count_modes": True})
        METHODS["catgan"](cfg).fit(Xc, 3, seed=0)
