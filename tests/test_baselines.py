"""Baselines and the Method contract, parametrised over METHODS (new methods are tested for free)."""

from __future__ import annotations

import dataclasses
import importlib.util
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from method_data import accepts, tiny_sprites
from sklearn.datasets import make_blobs

import clusterbench
from clusterbench.errors import ConfigError, DataError
from clusterbench.methods import METHODS, make_config
from clusterbench.methods.baselines import classical as baselines
from clusterbench.methods.baselines.ncuts import _drop_self, approx_knn_search, knn_search, self_tuning_graph
from clusterbench.metrics import acc

N_TINY = 150


@pytest.fixture(scope="module")
def digits_tiny():
    """The first 150 scikit-learn digits as N x 1 x 8 x 8 float32 images (10 classes)."""
    import os
    import tempfile

    old = os.environ.get("CLUSTERBENCH_HOME")
    with tempfile.TemporaryDirectory() as home:
        os.environ["CLUSTERBENCH_HOME"] = home
        try:
            X, y, _ = clusterbench.load("digits")
        finally:
            if old is None:
                os.environ.pop("CLUSTERBENCH_HOME", None)
            else:
                os.environ["CLUSTERBENCH_HOME"] = old
    return X[:N_TINY], y[:N_TINY]


def tiny_config(name: str):
    """The default config via make_config; deep methods get epoch-like options set to 1."""
    cls = METHODS[name]
    overrides = {}
    if cls.deep and dataclasses.is_dataclass(cls.Config):
        for f in dataclasses.fields(cls.Config):
            if f.name.endswith("epochs") or f.name in ("iterations", "num_batches", "n_iterations", "steps"):
                # a cap: 0 (no such phase) stays 0; None (no limit of this kind) becomes 1
                overrides[f.name] = str(1 if f.default is None else min(int(f.default), 1))
    return make_config(cls.Config, overrides, method=name)


def fit(name, X, k, seed, **kw):
    return METHODS[name](tiny_config(name)).fit(X, k, seed=seed, device="cpu", **kw)


def contract_data(name, digits_tiny):
    """(X, y, K): the 8 x 8 digits for every method that takes them; tiny 64 x 64 sprites (3
    clusters) for the methods of DC3 Table 3's networks, which take nothing else."""
    X, y = digits_tiny
    if accepts(METHODS[name], X.shape[1:], 10):
        return X, y, 10
    S = tiny_sprites(24)
    assert accepts(METHODS[name], S.shape[1:], 3), f"{name} accepts neither 1x8x8 nor 1x64x64 images"
    return S, np.arange(24) % 3, 3


# --- the common contract ------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(METHODS))
def test_method_contract(name, digits_tiny, tmp_path):
    X, y, k = contract_data(name, digits_tiny)
    cls = METHODS[name]
    assert cls.name == name
    assert dataclasses.is_dataclass(cls.Config) and cls.Config.__doc__, "Config must document its defaults"
    out = METHODS[name](tiny_config(name)).fit(X, k, seed=0, device="cpu", workdir=tmp_path)
    out.validate(len(X), clusters=cls.clusters)
    if not cls.clusters:  # generator only (wgan-gp, infogan-cr): no posterior, nothing to score
        assert out.proba is None and out.labels is None and cls.generative
        assert out.generator(3, seed=0).shape == (3, *X.shape[1:])
        return
    p = np.asarray(out.proba)
    assert p.shape == (len(X), k)
    assert (p >= 0).all() and np.allclose(p.sum(axis=1), 1.0)
    assert out.labels.shape == (len(X),) and out.labels.max() < k
    if out.embedding is not None:
        assert out.embedding.shape[0] == len(X)
    if not cls.deep:  # deep methods train one epoch here: only the contract is checked
        assert acc(y, out.labels) > 0.2  # far above chance (0.1) on these digits: it clusters something


@pytest.mark.parametrize("name", sorted(METHODS))
def test_same_seed_same_labels(name, digits_tiny):
    X, _, k = contract_data(name, digits_tiny)
    a, b = fit(name, X, k, seed=3), fit(name, X, k, seed=3)
    if METHODS[name].clusters:
        assert np.array_equal(a.labels, b.labels)
    else:  # generator only: the same samples
        assert np.array_equal(a.generator(4, seed=0), b.generator(4, seed=0))
    fit(name, X, k, seed=4)  # another seed runs too (its labels may differ)


BASELINES = sorted(n for n, c in METHODS.items() if not c.deep)


@pytest.mark.parametrize("name", BASELINES)
def test_more_clusters_than_samples_is_a_config_error(name):
    X = np.random.default_rng(0).random((5, 3)).astype(np.float32)
    with pytest.raises(ConfigError, match="only 5 samples"):
        fit(name, X, 6, seed=0)


@pytest.mark.parametrize("name", BASELINES)
def test_nan_input_is_a_data_error(name):
    X = np.random.default_rng(0).random((30, 3)).astype(np.float32)
    X[3, 1] = np.nan
    with pytest.raises(DataError, match="NaN"):
        fit(name, X, 2, seed=0)


# --- sparse input -------------------------------------------------------------------------


def sparse_docs(n=120, d=60, k=3, seed=0):
    """A tf-idf-like CSR matrix: k topics, each with its own block of words, rows l2-normalised."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(k), n // k)
    dense = np.zeros((n, d), dtype=np.float32)
    block = d // k
    for i, c in enumerate(y):
        words = np.concatenate([rng.choice(np.arange(c * block, (c + 1) * block), 6), rng.choice(d, 2)])
        dense[i, words] += rng.random(words.size).astype(np.float32) + 0.5
    dense /= np.linalg.norm(dense, axis=1, keepdims=True)
    return sp.csr_matrix(dense), y


@pytest.mark.parametrize("name", BASELINES)
def test_sparse_input_runs_or_is_refused_clearly(name, monkeypatch):
    S, y = sparse_docs()
    out = fit(name, S, 3, seed=0)
    assert out.proba.shape == (S.shape[0], 3)
    assert acc(y, out.labels) > 0.6
    # Above the densify limit, the methods that need dense data refuse with the alternatives.
    monkeypatch.setattr(baselines, "MAX_DENSE_BYTES", 100)
    if name in ("gmm", "agglomerative"):
        with pytest.raises(ConfigError, match="kmeans, nmf or ncuts"):
            fit(name, S, 3, seed=0)
    else:
        fit(name, S, 3, seed=0)


def test_ncuts_on_sparse_with_and_without_svd():
    S, y = sparse_docs(n=150, d=90)
    for dims in (None, 20):
        cfg = make_config(METHODS["ncuts"].Config, {"svd_dims": str(dims)}, method="ncuts")
        out = METHODS["ncuts"](cfg).fit(S, 3, seed=0)
        assert acc(y, out.labels) > 0.9
        assert out.extras["reduced_dims"] == (90 if dims is None else 20)


# --- per-method behaviour -----------------------------------------------------------------


def test_kmeans_is_sklearn_kmeans_with_the_documented_settings(digits_tiny):
    from sklearn.cluster import KMeans

    X, _ = digits_tiny
    ref = KMeans(n_clusters=10, n_init=20, random_state=7).fit(X.reshape(len(X), -1)).labels_
    assert np.array_equal(fit("kmeans", X, 10, seed=7).labels, ref)


def test_gmm_posteriors_are_sklearn_predict_proba_with_diag_covariance():
    from sklearn.mixture import GaussianMixture

    X, _ = make_blobs(200, n_features=3, centers=3, cluster_std=2.0, random_state=1)
    ref = GaussianMixture(3, covariance_type="diag", random_state=5).fit(X.astype(np.float32))
    p = fit("gmm", X, 3, seed=5).proba
    assert np.allclose(p, ref.predict_proba(X.astype(np.float32)), atol=1e-6)
    assert ((p > 0.01) & (p < 0.99)).any()  # soft, not one-hot


def test_nmf_refuses_negative_input():
    X = np.random.default_rng(0).normal(size=(40, 5)).astype(np.float32)
    with pytest.raises(ConfigError, match="non-negative"):
        fit("nmf", X, 2, seed=0)


def test_spectral_refuses_large_n_and_points_to_ncuts():
    X, _ = make_blobs(60, centers=3, random_state=0)
    cfg = make_config(METHODS["spectral"].Config, {"max_samples": "50"}, method="spectral")
    with pytest.raises(ConfigError, match="ncuts"):
        METHODS["spectral"](cfg).fit(X, 3, seed=0)


def test_agglomerative_refuses_large_n_unless_knn_restricted():
    X, y = make_blobs(60, centers=3, random_state=0)
    cfg = make_config(METHODS["agglomerative"].Config, {"max_samples": "50"}, method="agglomerative")
    with pytest.raises(ConfigError, match="pairwise distance matrix"):
        METHODS["agglomerative"](cfg).fit(X, 3, seed=0)
    cfg = make_config(METHODS["agglomerative"].Config, {"max_samples": "50", "connectivity_neighbors": "10"})
    out = METHODS["agglomerative"](cfg).fit(X, 3, seed=0)
    assert acc(y, out.labels) > 0.8


def test_bad_config_values_are_refused():
    with pytest.raises(ConfigError, match="Valid keys"):
        make_config(METHODS["ncuts"].Config, {"k": "3"}, method="ncuts")
    with pytest.raises(ConfigError):
        make_config(METHODS["kmeans"].Config, {"n_init": "0"}, method="kmeans")
    with pytest.raises(ConfigError):
        make_config(METHODS["gmm"].Config, {"covariance_type": "banana"}, method="gmm")


# --- ncuts internals ----------------------------------------------------------------------


@pytest.mark.parametrize("sparse", [False, True])
def test_knn_search_matches_brute_force(sparse):
    rng = np.random.default_rng(1)
    Z = rng.random((97, 6)).astype(np.float32)
    D = np.sqrt(((Z[:, None, :] - Z[None, :, :]) ** 2).sum(-1))
    np.fill_diagonal(D, np.inf)
    ref = np.sort(D, axis=1)[:, :4]
    # a tiny chunk size forces many chunks (1 row each)
    idx, dist = knn_search(sp.csr_matrix(Z) if sparse else Z, 4, chunk_mb=0.0001)
    assert np.allclose(dist, ref, atol=1e-4)
    assert np.allclose(D[np.arange(97)[:, None], idx], ref, atol=1e-4)
    assert not (idx == np.arange(97)[:, None]).any()


def test_approx_knn_search_finds_the_exact_neighbours_on_easy_data_and_is_repeatable():
    pytest.importorskip("faiss")  # the optional HNSW backend (clusterbench[faiss])
    rng = np.random.default_rng(3)
    Z = rng.random((2000, 8)).astype(np.float32)
    Z[7] = Z[8]  # a duplicate: its twin may come before itself in its own results
    ie, de = knn_search(Z, 10)
    ia, da = approx_knn_search(Z, 10)
    recall = np.mean([np.intersect1d(a, b).size for a, b in zip(ie, ia)]) / 10
    assert recall > 0.99 and ia.shape == (2000, 10) and ia.dtype == np.int64
    assert not (ia == np.arange(2000)[:, None]).any()
    assert np.all(np.diff(da, axis=1) >= 0) and np.all(da >= de - 1e-5)  # true, ascending distances
    assert np.allclose(da, np.linalg.norm(Z[ia] - Z[:, None], axis=2), atol=1e-4)
    ia2, da2 = approx_knn_search(Z, 10)  # single-threaded index build: the same graph every time
    assert np.array_equal(ia, ia2) and np.array_equal(da, da2)
    # a bad search (a point missing from its own results) still drops exactly one entry per row
    I = np.array([[0, 1, 2], [0, 2, 3]])
    D = np.array([[0.0, 1.0, 2.0], [0.5, 1.0, 2.0]])
    i, d = _drop_self(I, D, 2)
    assert i.tolist() == [[1, 2], [0, 2]] and d.tolist() == [[1.0, 2.0], [0.5, 1.0]]


def test_ncuts_knn_option_auto_threshold_and_recorded_graph():
    X, y = make_blobs(300, n_features=2, centers=[[0, 0], [0, 6], [6, 0], [6, 6]], cluster_std=1.0, random_state=0)
    cfg = lambda **kw: make_config(METHODS["ncuts"].Config, kw, method="ncuts")  # noqa: E731
    assert fit("ncuts", X, 4, seed=0).extras["knn_graph"] == "exact"  # auto, 300 < knn_auto_min
    out = METHODS["ncuts"](cfg(knn_auto_min="300")).fit(X, 4, seed=0)
    assert out.extras["knn_graph"] == "approx (pynndescent)" and out.extras["nndescent"]["n_search"] == 30
    assert acc(y, out.labels) == 1.0
    assert METHODS["ncuts"](cfg(knn="approx")).fit(X, 4, seed=0).extras["knn_graph"] == "approx (pynndescent)"
    if importlib.util.find_spec("faiss") is not None:
        out = METHODS["ncuts"](cfg(knn="approx", knn_backend="faiss")).fit(X, 4, seed=0)
        assert out.extras["knn_graph"] == "approx (faiss)" and out.extras["hnsw"]["m"] == 32
    with pytest.raises(ConfigError, match="knn_backend"):
        cfg(knn_backend="annoy")
    assert METHODS["ncuts"](cfg(knn="exact", knn_auto_min="10")).fit(X, 4, seed=0).extras["knn_graph"] == "exact"
    with pytest.raises(ConfigError, match="knn must be one of"):
        cfg(knn="fast")
    S = sp.csr_matrix(np.abs(X))
    with pytest.raises(ConfigError, match="svd_dims"):
        METHODS["ncuts"](cfg(knn="approx", knn_backend="faiss", svd_dims="None")).fit(S, 4, seed=0)
    # auto keeps unreduced sparse input exact with faiss instead of refusing; NN-descent takes it
    out = METHODS["ncuts"](cfg(knn_auto_min="10", knn_backend="faiss", svd_dims="None")).fit(S, 4, seed=0)
    assert out.extras["knn_graph"] == "exact"
    out = METHODS["ncuts"](cfg(knn_auto_min="10", svd_dims="None")).fit(S, 4, seed=0)
    assert out.extras["knn_graph"] == "approx (pynndescent)"


def test_ncuts_pynndescent_backend():
    """The default approximate backend (its first call in a process compiles numba code)."""
    X, y = make_blobs(300, n_features=2, centers=[[0, 0], [0, 6], [6, 0], [6, 6]], cluster_std=1.0, random_state=0)
    ie, _ = knn_search(X.astype(np.float32), 10)
    from clusterbench.methods.baselines.ncuts import nndescent_knn_search

    ia, da = nndescent_knn_search(X.astype(np.float32), 10)
    ia2, da2 = nndescent_knn_search(X.astype(np.float32), 10)  # single job, fixed random_state
    assert np.array_equal(ia, ia2) and np.array_equal(da, da2)
    assert ia.shape == (300, 10) and not (ia == np.arange(300)[:, None]).any() and np.all(np.diff(da, axis=1) >= 0)
    assert np.mean([np.intersect1d(a, b).size for a, b in zip(ie, ia)]) / 10 > 0.95
    cfg = make_config(METHODS["ncuts"].Config, {"knn": "approx", "knn_backend": "pynndescent"}, method="ncuts")
    out = METHODS["ncuts"](cfg).fit(X, 4, seed=0)
    assert out.extras["knn_graph"] == "approx (pynndescent)" and acc(y, out.labels) == 1.0


def test_self_tuning_graph_is_symmetric_sparse_and_uses_local_scales():
    # 1-D points 0, 1, 3 with k=1: NN of 0 is 1 (d=1), of 1 is 0 (d=1), of 3 is 1 (d=2)
    # sigma = (1, 1, 2); w01 = exp(-1/(1*1)), w21 = exp(-4/(2*1)); W = max(W, W^T)
    idx, dist = knn_search(np.array([[0.0], [1.0], [3.0]], dtype=np.float32), 1)
    W = self_tuning_graph(idx, dist).toarray()
    expected = np.array([[0, np.exp(-1), 0], [np.exp(-1), 0, np.exp(-2)], [0, np.exp(-2), 0]])
    assert np.allclose(W, expected)


def test_ncuts_pca_option_reduces_dense_input():
    X, y = make_blobs(200, n_features=30, centers=3, cluster_std=3.0, random_state=2)
    cfg = make_config(METHODS["ncuts"].Config, {"pca_dims": "5"}, method="ncuts")
    out = METHODS["ncuts"](cfg).fit(X, 3, seed=0)
    assert out.extras["reduced_dims"] == 5 and acc(y, out.labels) > 0.95
    assert fit("ncuts", X, 3, seed=0).extras["reduced_dims"] == 30  # default: raw features


def test_ncuts_separates_blobs_and_returns_the_spectral_embedding():
    # blobs close enough for the 10-NN graph to be connected
    X, y = make_blobs(300, n_features=2, centers=[[0, 0], [0, 6], [6, 0], [6, 6]], cluster_std=1.0, random_state=0)
    out = fit("ncuts", X, 4, seed=0)
    assert acc(y, out.labels) == 1.0
    assert out.embedding.shape == (300, 4)
    assert np.allclose(np.linalg.norm(out.embedding, axis=1), 1.0, atol=1e-5)
    assert out.extras["n_components"] == 1
    assert {"knn_s", "eigen_s", "kmeans_s"} <= set(out.extras)


def test_ncuts_warns_on_a_disconnected_graph():
    X, _ = make_blobs(120, n_features=5, centers=[[0] * 5, [100] * 5], cluster_std=0.5, random_state=0)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        out = fit("ncuts", X, 2, seed=0)
    assert out.extras["n_components"] == 2
    assert any("connected components" in str(m.message) for m in w)
