"""Classical baselines of the four papers' tables, behind the common Method contract.

``kmeans``, ``gmm``, ``nmf``, ``spectral`` and ``agglomerative`` wrap scikit-learn; ``ncuts``
(normalised cuts on a sparse k-NN graph, scales to 70k images and 685k Reuters documents) lives
in :mod:`clusterbench.methods.baselines.ncuts`. All are CPU methods (``device`` is ignored) and seeded by
``seed`` only, so the same seed gives the same labels.

Input handling (:func:`prepare_input`): images N x C x H x W are flattened to N x (C*H*W);
``scipy.sparse`` input (Reuters tf-idf) is kept sparse where the algorithm takes it (kmeans,
nmf, spectral, ncuts), densified where it is small enough (gmm, agglomerative: at most
``MAX_DENSE_BYTES``), and refused otherwise with a message naming the methods that do take it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp

from clusterbench.errors import ConfigError, DataError
from clusterbench.methods.base import Method, MethodOutput, Monitor, one_hot

#: Largest dense float32 copy a baseline makes of sparse input (2 GiB: reuters10k, 10k x 2000,
#: is 80 MB; the full 685k x 2000 Reuters would be 5.5 GB).
MAX_DENSE_BYTES = 2 * 1024**3

SparseMode = Literal["keep", "densify", "refuse"]


def check_n_clusters(n_clusters: int, n_samples: int, *, method: str) -> int:
    """Validate K: an integer with 1 <= K <= N (ConfigError otherwise)."""
    if isinstance(n_clusters, bool) or not isinstance(n_clusters, (int, np.integer)) or n_clusters < 1:
        raise ConfigError(f"{method}: n_clusters must be a positive integer, got {n_clusters!r}.")
    if n_clusters > n_samples:
        raise ConfigError(
            f"{method}: asked for {n_clusters} clusters but the data has only {n_samples} samples.",
            hint="Use fewer clusters or a larger --subset.",
        )
    return int(n_clusters)


def prepare_input(
    X: Any, n_clusters: int, *, method: str, sparse: SparseMode = "keep", instead: str = ""
) -> np.ndarray | sp.csr_matrix:
    """Common input checks: (N, ...) array or sparse (N, D) -> float32 (N, D) or CSR float32.

    Images (N, C, H, W) are flattened. ``sparse`` says what the method does with sparse input:
    keep it, densify it (when the dense copy is at most ``MAX_DENSE_BYTES``), or refuse it with a
    ConfigError that suggests ``instead``. Non-finite values raise DataError.
    """
    if sp.issparse(X):
        Xs = sp.csr_matrix(X, dtype=np.float32)
        n, d = Xs.shape
        check_n_clusters(n_clusters, n, method=method)
        if Xs.nnz and not np.isfinite(Xs.data).all():
            raise DataError(f"{method}: the sparse input contains NaN or infinite values.", hint="Re-fetch the data set.")
        if sparse == "keep":
            return Xs
        dense_bytes = n * d * 4
        if sparse == "densify" and dense_bytes <= MAX_DENSE_BYTES:
            return Xs.toarray()
        why = (
            f"a dense copy of this {n} x {d} sparse matrix would need {dense_bytes / 1024**3:.1f} GiB "
            f"(limit {MAX_DENSE_BYTES / 1024**3:.0f} GiB)"
            if sparse == "densify"
            else "it needs dense input"
        )
        raise ConfigError(
            f"{method} cannot run on sparse input here: {why}.",
            hint=f"Use {instead or 'kmeans, nmf or ncuts'} (they accept sparse input), or a smaller --subset.",
        )
    A = np.asarray(X)
    if A.ndim < 2:
        raise ConfigError(f"{method}: X must be N x D (or N x C x H x W images), got shape {A.shape}.")
    A = A.reshape(A.shape[0], -1).astype(np.float32, copy=False)
    check_n_clusters(n_clusters, A.shape[0], method=method)
    if not np.isfinite(A).all():
        raise DataError(f"{method}: the input contains NaN or infinite values.", hint="Re-fetch the data set.")
    return A


# --- k-means --------------------------------------------------------------------------------


@dataclass
class KMeansConfig:
    """scikit-learn KMeans on the (flattened) input.

    n_init=20: DEC's k-means (``piiswrong/dec`` ``TMM.fit``, KMeans n_init=20), which the
    Dual-AAE/VaDE tables' K-means rows follow. The DLS/DC3 tables' K-means rows (from
    ClusterGAN/DualAE, "sklearn.cluster.KMeans package") used the sklearn default of the time,
    n_init=10 (sklearn >= 1.4 defaults to n_init="auto" = 1 run for k-means++): set
    ``--set n_init=10`` to mimic it. Other values are sklearn's defaults (k-means++ init, Lloyd,
    max_iter 300, tol 1e-4); the papers are silent on them. Check on the 70k Fashion-MNIST
    images (pixels / 255), seeds 0-2: Hungarian ACC 0.476, NMI 0.512 (purity 0.555), against the
    DLS/DC3 tables' K-means row ACC 0.474, NMI 0.512.
    """

    n_init: int = 20
    max_iter: int = 300
    tol: float = 1e-4
    init: Literal["k-means++", "random"] = "k-means++"

    def __post_init__(self) -> None:
        if self.n_init < 1 or self.max_iter < 1 or self.tol < 0:
            raise ValueError("n_init and max_iter must be >= 1 and tol >= 0")


class KMeansMethod(Method):
    """k-means (hard clusterer): one-hot proba; accepts sparse input."""

    name = "kmeans"
    Config = KMeansConfig

    def fit(self, X: Any, n_clusters: int, *, seed: int, device: str = "cpu", workdir: Path | None = None,
            monitor: Monitor | None = None) -> MethodOutput:
        from sklearn.cluster import KMeans

        c = self.config
        A = prepare_input(X, n_clusters, method=self.name, sparse="keep")
        km = KMeans(n_clusters=n_clusters, n_init=c.n_init, max_iter=c.max_iter, tol=c.tol, init=c.init,
                    random_state=seed).fit(A)
        return MethodOutput(
            proba=one_hot(km.labels_, n_clusters),
            extras={"inertia": float(km.inertia_), "n_iter": int(km.n_iter_)},
        )


# --- Gaussian mixture -----------------------------------------------------------------------


@dataclass
class GMMConfig:
    """scikit-learn GaussianMixture (EM); proba = predict_proba (soft posteriors).

    covariance_type="diag": the Dual-AAE table's GMM row comes from VaDE, whose code fits a
    *diagonal* GMM on MNIST (``slim1017/VaDE``); "full" on 784-d pixels is 10 x 784 x 784
    parameters and nearly singular on constant border pixels. Other values are sklearn defaults
    (k-means init, reg_covar 1e-6, max_iter 100, 1 init); the papers are silent on them.
    """

    covariance_type: Literal["diag", "full", "tied", "spherical"] = "diag"
    n_init: int = 1
    max_iter: int = 100
    tol: float = 1e-3
    reg_covar: float = 1e-6

    def __post_init__(self) -> None:
        if self.n_init < 1 or self.max_iter < 1 or self.reg_covar < 0:
            raise ValueError("n_init and max_iter must be >= 1 and reg_covar >= 0")


class GMMMethod(Method):
    """Gaussian mixture: soft posteriors; sparse input is densified up to MAX_DENSE_BYTES."""

    name = "gmm"
    Config = GMMConfig

    def fit(self, X: Any, n_clusters: int, *, seed: int, device: str = "cpu", workdir: Path | None = None,
            monitor: Monitor | None = None) -> MethodOutput:
        from sklearn.mixture import GaussianMixture

        c = self.config
        A = prepare_input(X, n_clusters, method=self.name, sparse="densify", instead="kmeans, nmf or ncuts")
        gm = GaussianMixture(n_components=n_clusters, covariance_type=c.covariance_type, n_init=c.n_init,
                             max_iter=c.max_iter, tol=c.tol, reg_covar=c.reg_covar, random_state=seed).fit(A)
        proba = gm.predict_proba(A)
        proba = proba / proba.sum(axis=1, keepdims=True)
        return MethodOutput(
            proba=proba,
            extras={"converged": bool(gm.converged_), "n_iter": int(gm.n_iter_), "lower_bound": float(gm.lower_bound_)},
        )


# --- NMF ------------------------------------------------------------------------------------


@dataclass
class NMFConfig:
    """scikit-learn NMF with K components; cluster = argmax of the coefficient row W[i].

    The DLS/DC3 tables' NMF rows (from ClusterGAN, Mukherjee et al.) give no settings; these are
    sklearn's defaults (init None -> "nndsvda", coordinate descent, Frobenius loss, max_iter 200,
    tol 1e-4), with the seed as random_state. Needs non-negative input.
    """

    init: Literal["nndsvda", "nndsvd", "nndsvdar", "random"] | None = None
    solver: Literal["cd", "mu"] = "cd"
    max_iter: int = 200
    tol: float = 1e-4

    def __post_init__(self) -> None:
        if self.max_iter < 1 or self.tol < 0:
            raise ValueError("max_iter must be >= 1 and tol >= 0")


class NMFMethod(Method):
    """NMF: one-hot proba of argmax W; W (N x K) is the embedding. Accepts sparse input."""

    name = "nmf"
    Config = NMFConfig

    def fit(self, X: Any, n_clusters: int, *, seed: int, device: str = "cpu", workdir: Path | None = None,
            monitor: Monitor | None = None) -> MethodOutput:
        from sklearn.decomposition import NMF

        c = self.config
        A = prepare_input(X, n_clusters, method=self.name, sparse="keep")
        values = A.data if sp.issparse(A) else A
        lo = float(values.min()) if values.size else 0.0
        if lo < 0:
            raise ConfigError(
                f"nmf needs non-negative input, but this data set has values down to {lo:g} "
                "(e.g. pixels scaled to [-1, 1]).",
                hint="Use kmeans, gmm or ncuts, or a data set scaled to [0, 1].",
            )
        model = NMF(n_components=n_clusters, init=c.init, solver=c.solver, max_iter=c.max_iter, tol=c.tol,
                    random_state=seed)
        W = model.fit_transform(A)
        return MethodOutput(
            proba=one_hot(W.argmax(axis=1), n_clusters),
            embedding=W.astype(np.float32),
            extras={"reconstruction_err": float(model.reconstruction_err_), "n_iter": int(model.n_iter_)},
        )


# --- spectral clustering (sklearn) ----------------------------------------------------------


@dataclass
class SpectralConfig:
    """scikit-learn SpectralClustering, affinity="nearest_neighbors" (0/1 k-NN graph, k=10).

    The DLS table's SC row (from ClusterGAN/DualAE) gives no settings; these are sklearn's
    (n_neighbors 10, arpack, k-means label assignment with n_init 10). sklearn's arpack uses
    shift-invert (a sparse LU of the Laplacian), which grows steeply with N. Measured on
    Fashion-MNIST images (benchmarks/ncuts_bench.py --cases spectral, 2 shared cores): 10k 4.6 s,
    20k 19 s / 1.1 GB, 40k 171 s / 2.2 GB, 70k not finished after 12 min. So N above
    ``max_samples`` (default 20,000) is refused: use ``ncuts`` (same graph idea, scales to 70k+),
    or raise the limit with ``--set max_samples=...``.
    """

    n_neighbors: int = 10
    n_init: int = 10
    assign_labels: Literal["kmeans", "discretize", "cluster_qr"] = "kmeans"
    max_samples: int = 20_000

    def __post_init__(self) -> None:
        if self.n_neighbors < 1 or self.n_init < 1 or self.max_samples < 1:
            raise ValueError("n_neighbors, n_init and max_samples must be >= 1")


class SpectralMethod(Method):
    """sklearn spectral clustering for small N (see ``ncuts`` for large N); one-hot proba."""

    name = "spectral"
    Config = SpectralConfig

    def fit(self, X: Any, n_clusters: int, *, seed: int, device: str = "cpu", workdir: Path | None = None,
            monitor: Monitor | None = None) -> MethodOutput:
        from sklearn.cluster import SpectralClustering

        c = self.config
        A = prepare_input(X, n_clusters, method=self.name, sparse="keep")
        n = A.shape[0]
        if n > c.max_samples:
            raise ConfigError(
                f"spectral (sklearn SpectralClustering) is limited to {c.max_samples} samples, got {n}: its "
                "shift-invert eigensolver does not finish in reasonable time at this size.",
                hint="Use ncuts (normalised cuts on a sparse k-NN graph, built for 70k+ samples), a --subset, "
                "or --set max_samples=N to try anyway.",
            )
        if c.n_neighbors >= n:
            raise ConfigError(f"spectral: n_neighbors={c.n_neighbors} must be smaller than N={n}.",
                              hint="Use --set n_neighbors=... or more samples.")
        sc = SpectralClustering(n_clusters=n_clusters, affinity="nearest_neighbors", n_neighbors=c.n_neighbors,
                                n_init=c.n_init, assign_labels=c.assign_labels, random_state=seed).fit(A)
        return MethodOutput(proba=one_hot(sc.labels_, n_clusters))


# --- agglomerative (Ward) -------------------------------------------------------------------


@dataclass
class AgglomerativeConfig:
    """scikit-learn AgglomerativeClustering with Ward linkage (the DLS table's AGGLO row gives
    no settings). Unstructured Ward keeps the N(N-1)/2 float64 distance matrix: 1.6 GB at the
    default ``max_samples`` = 20,000 (MNIST's 70k would need 19.6 GB), so larger N is refused.
    ``connectivity_neighbors`` = k > 0 restricts merges to a k-NN graph (sparse, O(N k) memory)
    and lifts the limit.
    """

    max_samples: int = 20_000
    connectivity_neighbors: int = 0

    def __post_init__(self) -> None:
        if self.max_samples < 1 or self.connectivity_neighbors < 0:
            raise ValueError("max_samples must be >= 1 and connectivity_neighbors >= 0")


class AgglomerativeMethod(Method):
    """Ward agglomerative clustering; one-hot proba; sparse input densified up to MAX_DENSE_BYTES."""

    name = "agglomerative"
    Config = AgglomerativeConfig

    def fit(self, X: Any, n_clusters: int, *, seed: int, device: str = "cpu", workdir: Path | None = None,
            monitor: Monitor | None = None) -> MethodOutput:
        from sklearn.cluster import AgglomerativeClustering
        from sklearn.neighbors import kneighbors_graph

        c = self.config
        n = X.shape[0] if hasattr(X, "shape") else len(X)
        if c.connectivity_neighbors == 0 and n > c.max_samples:
            need = n * (n - 1) / 2 * 8 / 1024**3
            raise ConfigError(
                f"agglomerative (Ward) needs the full pairwise distance matrix: {need:.1f} GiB for {n} samples "
                f"(limit: {c.max_samples} samples).",
                hint="Use a --subset, --set connectivity_neighbors=10 (k-NN-restricted Ward), or kmeans/ncuts.",
            )
        A = prepare_input(X, n_clusters, method=self.name, sparse="densify", instead="kmeans, nmf or ncuts")
        conn = None
        if c.connectivity_neighbors:
            conn = kneighbors_graph(A, n_neighbors=min(c.connectivity_neighbors, n - 1), include_self=False)
        ag = AgglomerativeClustering(n_clusters=n_clusters, linkage="ward", connectivity=conn).fit(A)
        return MethodOutput(proba=one_hot(ag.labels_, n_clusters))
