"""The seven scores of a model's encoder on a stored dSprites-like HDF5 file (full factorial
design, factor labels as extras), reading only the rows the scores ask for, batch by batch."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from clusterbench.data.hdf5 import Prepared, StoredArray, write_dataset
from clusterbench.errors import DataError
from clusterbench.metrics.disentanglement_data import ArrayRows, dataset_scores, read_factors, scores

SIZES = (1, 3, 4, 2, 4, 4)  # colour (constant), shape, scale, orientation, posX, posY


@pytest.fixture(scope="module")
def sprites_file(tmp_path_factory):
    """384 64x64 images of every factor combination; row 0 of each image writes its factors
    (pixel j = factor j / size j), so an encoder that reads them is perfectly disentangled."""
    classes = np.array(list(itertools.product(*[range(s) for s in SIZES])), dtype=np.int64)
    rng = np.random.default_rng(0)
    classes = classes[rng.permutation(len(classes))]  # stored order must not matter
    X = np.zeros((len(classes), 1, 64, 64), dtype=np.float32)
    X[:, 0, 0, : len(SIZES)] = classes / np.maximum(np.array(SIZES) - 1, 1)
    X[:, 0, 10:20, 10:20] = 1.0
    path = tmp_path_factory.mktemp("data") / "tiny-sprites.h5"
    write_dataset(path, Prepared(X=X, y=classes[:, 1], recipe={"test": 1},
                                 extras={"latents_classes": classes, "latents_values": classes.astype(float)}),
                  name="tiny-sprites", n_clusters=3)
    return path, X


def test_rows_come_back_in_the_order_asked(sprites_file):
    path, X = sprites_file
    for source in (StoredArray(path), X):
        rows = ArrayRows(source, lambda x: x[:, 0, 0, :6], batch_size=4)
        idx = np.array([7, 3, 7, 100, 0])
        np.testing.assert_array_equal(rows.read(idx), X[idx])
        np.testing.assert_allclose(rows(idx), X[idx, 0, 0, :6])
        assert rows.rows_read == 4 + 3 + 1  # unique rows of read(), then of the two batches of __call__


def test_perfect_encoder_scores_high_random_one_low(sprites_file):
    path, _ = sprites_file
    calls = []

    def perfect(x):
        calls.append(len(x))
        return x[:, 0, 0, 1:6].astype(np.float64)

    good = dataset_scores(path, perfect, seed=0, scale=0.02, batch_size=32)
    assert good["factor_sizes"] == [3, 4, 2, 4, 4]
    assert max(calls) <= 32  # batch by batch
    assert good["betavae"] > 0.9 and good["factorvae"] > 0.9 and good["dci"] > 0.9
    assert good["mig"] > 0.5 and good["modularity"] > 0.9 and good["explicitness"] > 0.9

    def noise(x):
        return np.random.default_rng(int(x[:, 0, 0].sum() * 1000) % 2**32).standard_normal((len(x), 5))

    bad = dataset_scores(path, noise, seed=0, scale=0.02, batch_size=32)
    assert bad["betavae"] < 0.5 and bad["factorvae"] < 0.5 and bad["dci"] < 0.3 and bad["mig"] < 0.1


def test_an_infogan_cr_encoder_plugs_in(sprites_file):
    """The model's encode through the same rows reader and ground truth as dataset_scores (one
    cheap score here: the seven on a real encoder cost ~40 s of CPU)."""
    from clusterbench.methods.gan.infogan_cr import InfoGANCRConfig, InfoGANCRModel
    from clusterbench.metrics.disentanglement import IndexedGroundTruth, mig_score

    torch.manual_seed(0)
    model = InfoGANCRModel(torch.device("cpu"), InfoGANCRConfig())
    path, _ = sprites_file
    rows = ArrayRows(StoredArray(path), model.numpy_encoder(), batch_size=64)
    gt = IndexedGroundTruth(read_factors(path), rows)
    assert gt.represent(gt.sample_factors(7, np.random.default_rng(0))).shape == (7, 5)
    s = mig_score(gt, num_train=100)
    assert np.isfinite(s["mig"]) and 0 < rows.rows_read <= 107


def test_a_file_without_factor_labels_is_refused(tmp_path):
    path = tmp_path / "plain.h5"
    write_dataset(path, Prepared(X=np.zeros((4, 1, 8, 8), np.float32), y=np.zeros(4, np.int64), recipe={}),
                  name="plain", n_clusters=2)
    with pytest.raises(DataError, match="factor labels"):
        dataset_scores(path, lambda x: x.reshape(len(x), -1))


def test_a_subset_is_not_a_full_factorial_design(sprites_file):
    path, X = sprites_file
    factors = read_factors(path)
    with pytest.raises(ValueError, match="full factorial"):
        scores(X[:300], factors[:300], lambda x: x[:, 0, 0, 1:6])
