"""The evaluators layer and its first evaluator, Table II mode counting: the classifier on tiny
random data, the registry, the generator of generative methods, the runner hunk."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from clusterbench.errors import DataError
from clusterbench.evaluate import mnist_classifier as mc

torch.set_num_threads(1)


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


def _two_class_classifier(directory):
    """A classifier of two separable 28x28 "digits" (bright top vs bright bottom half), cached in
    ``directory``; returns the images (clipped to [0, 1]) and labels it was trained on."""
    rng = np.random.default_rng(0)
    X = rng.random((40, 1, 28, 28), dtype=np.float32)
    y = np.arange(40) % 2
    X[y == 0, :, :14] += 1.0
    mc.train_classifier(X[:30], y[:30], X[30:], y[30:], epochs=2, batch_size=10, min_accuracy=0.0,
                        directory=directory)
    return np.clip(X, 0, 1), y


def test_penultimate_features_shape(tmp_path):
    X, _ = _two_class_classifier(tmp_path)
    model, _ = mc.load_classifier(tmp_path)
    f = mc.penultimate_features(model, X[:5])
    assert f.shape == (5, 128) and (f >= 0).all()  # post-ReLU


def test_registry_requested_and_skip_reasons():
    from clusterbench.errors import UnknownNameError
    from clusterbench.evaluate import EVALUATORS, requested

    assert requested({}) == [] and requested({"evaluate": ()}) == []
    assert requested({"count_modes": True}) == ["modes"]
    assert requested({"evaluate": ["fid", "modes"], "count_modes": True}) == ["fid", "modes"]
    assert requested({"evaluate": "ssim, fid"}) == ["ssim", "fid"]
    with pytest.raises(UnknownNameError, match="evaluator"):
        requested({"evaluate": ["fdi"]})
    modes = EVALUATORS["modes"]
    assert modes.skip_reason(generative=True, sample_shape=(1, 28, 28)) is None
    assert "generative" in modes.skip_reason(generative=False, sample_shape=(1, 28, 28))
    assert "1x28x28" in modes.skip_reason(generative=True, sample_shape=(3, 32, 32))
    assert "image" in EVALUATORS["fid"].skip_reason(generative=True, sample_shape=(64,))
    assert "11x11" in EVALUATORS["ssim"].skip_reason(generative=True, sample_shape=(1, 8, 8))
    assert "clusters = False" in EVALUATORS["ssim"].skip_reason(generative=True, sample_shape=(1, 28, 28), clusters=False)
    assert EVALUATORS["fid"].skip_reason(generative=True, sample_shape=(1, 28, 28), clusters=False) is None


def test_unknown_evaluator_is_a_user_error():
    from clusterbench.errors import ConfigError, UnknownNameError
    from clusterbench.methods import METHODS, make_config

    with pytest.raises(UnknownNameError, match="evaluator 'fdi'. Did you mean 'fid'"):
        make_config(METHODS["dual-aae"].Config, {"evaluate": "modes,fdi"})
    with pytest.raises(ConfigError, match="fid_network"):
        make_config(METHODS["infogan"].Config, {"fid_network": "lenet"})
    assert make_config(METHODS["infogan"].Config, {"evaluate": "modes,ssim"}).evaluate == ("modes", "ssim")


def test_generator_of_generative_methods(cb_home):
    """fit fills MethodOutput.generator for generative methods (data shape, [0, 1], seeded, one
    cluster's code on request); non-generative methods have none."""
    from clusterbench.methods import METHODS, make_config

    X, _ = _two_class_classifier(cb_home)
    for name in ("dual-aae", "dual-aae-nocr", "aae", "infogan"):
        cfg = make_config(METHODS[name].Config, {"epochs": 1, "pretrain_epochs": 0, "batch_size": 20,
                                                 "save_samples": False})
        out = METHODS[name](cfg).fit(X, 3, seed=0)
        g = out.generator
        a = g(7, seed=1)
        assert a.shape == (7, 1, 28, 28) and a.dtype == np.float32 and a.min() >= 0 and a.max() <= 1
        np.testing.assert_array_equal(a, g(7, seed=1))
        assert not np.array_equal(a, g(7, seed=2))
        assert g(3, cluster=2).shape == (3, 1, 28, 28)
        with pytest.raises(ValueError, match="cluster"):
            g(3, cluster=3)
    cfg = make_config(METHODS["catgan"].Config, {"epochs": 1, "batch_size": 20, "save_samples": False})
    assert METHODS["catgan"](cfg).fit(X, 3, seed=0).generator is None


def test_sample_of_one_cluster_uses_its_code():
    """DeepModel.sample(n, cluster) feeds the cluster's one-hot code to generate()."""
    from clusterbench.training.contract import DeepModel

    class Toy(DeepModel):
        def prior(self, n):
            lab = torch.zeros(n, dtype=torch.long)
            return lab, torch.nn.functional.one_hot(lab, 4).float(), torch.zeros(n, 1), torch.zeros(n, 1)

        def generate(self, y, h, z):
            return y

    m = Toy(torch.device("cpu"))
    assert m.sample(2).argmax(1).tolist() == [0, 0]
    assert m.sample(2, cluster=3).argmax(1).tolist() == [3, 3]


def register_array(name, X, y, n_clusters):
    """A tiny data set in the user registry of the current CLUSTERBENCH_HOME."""
    from clusterbench import paths
    from clusterbench.data.hdf5 import Prepared, write_dataset

    write_dataset(paths.dataset_file(name), Prepared(np.asarray(X, np.float32), np.asarray(y), {"preprocessor": "test"}),
                  name=name, n_clusters=n_clusters)
    with open(paths.user_registry_file(), "a") as fh:
        fh.write(f'\n[{name}]\nn_clusters = {n_clusters}\npreprocessor = "test"\nsource = "local"\n')


def test_modes_evaluator_through_the_runner(cb_home):
    """count_modes=true (first version) and evaluate=modes both record the metrics ``modes``/``kl``
    and the first version's extras; a non-generative method gets the skip reason, not a failure."""
    from clusterbench import paths
    from clusterbench.results.records import read_record, record_path
    from clusterbench.runner import execute_run, expand_grid

    X, y = _two_class_classifier(paths.models_dir())
    register_array("toy28", X, y, 2)
    home = cb_home / "runs"
    base = ["epochs=1", "pretrain_epochs=0", "batch_size=20", "save_samples=false", "mode_samples=50"]
    for method, extra in (("dual-aae", "count_modes=true"), ("infogan", "evaluate=modes,fid,ssim"),
                          ("catgan", "evaluate=modes")):
        (spec,) = expand_grid([method], ["toy28"], seeds=1, overrides=[*base, extra, "fid_samples=30", "ssim_pairs=5"],
                              device="cpu")
        rec = execute_run(spec, home)
        assert rec.status == "ok", rec.error
        stored = read_record(record_path(home, method, "toy28", spec.key))
        if method == "catgan":
            assert "modes" not in stored.metrics
            assert "generative" in stored.extras["evaluation"]["modes"]["skipped"]
            continue
        assert 1 <= stored.metrics["modes"] <= 2 and 0 <= stored.metrics["kl"] <= math.log(2) + 1e-9
        assert stored.extras["modes_generated"] == stored.metrics["modes"]
        assert stored.extras["modes_samples"] == 50
        assert stored.extras["evaluation"]["modes"]["samples"] == 50
        assert stored.timings["evaluate_s"] > 0
        if method == "infogan":  # FID against the run's data, SSIM per matched class
            assert stored.metrics["fid"] >= 0 and stored.extras["evaluation"]["fid"]["fid_network"] == "mnist-cnn"
            assert stored.extras["evaluation"]["fid"]["n_real"] == 30
            assert {k for k in stored.metrics if k.startswith("ssim@")} <= {"ssim@0", "ssim@1"}
            assert stored.extras["evaluation"]["ssim"]["pairs"] == 5
