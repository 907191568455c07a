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

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp

from clusterbench import progress
from clusterbench.errors import ConfigError
from clusterbench.methods.base import Method, MethodOutput, Monitor, one_hot
from clusterbench.methods.baselines.inputs import MAX_DENSE_BYTES, SparseMode, check_n_clusters, prepare_input  # noqa: F401  (re-exported)
from clusterbench.methods.baselines.ncuts import cached_knn_search, spectral_embedding

# --- k-means --------------------------------------------------------------------------------


@dataclass
class KMeansConfig:
    """scikit-learn KMeans on the (flattened) input.

    n_init=20: DEC's k-means (``piiswrong/dec`` ``TMM.fit``, KMeans n_init=20), which the
    Dual-AAE/VaDE tables' K-means rows follow. Every table's K-means fill command, the DLS/DC3
    ones included, runs this default n_init=20, and the check below used it. The DLS/DC3
    tables' K-means rows (from ClusterGAN/DualAE, "sklearn.cluster.KMeans package") probably
    used the sklearn default of the time, n_init=10 (sklearn >= 1.4 defaults to n_init="auto" =
    1 run for k-means++): ``--set n_init=10`` mimics it (such runs fill the same cells; each
    record's config says which). Other values are sklearn's defaults (k-means++ init, Lloyd,
    max_iter 300, tol 1e-4); the papers are silent on them. Check on the 70k Fashion-MNIST
    images (pixels / 255), n_init=20, seeds 0-2: Hungarian ACC 0.476, NMI 0.512 (purity 0.555),
    against the DLS/DC3 tables' K-means row ACC 0.474, NMI 0.512.
    """

    n_init: int = field(
        default=20, metadata={"help": "k-means restarts, the best inertia kept (20, DEC's, in every fill command; 10 mimics old sklearn)"})
    max_iter: int = field(default=300, metadata={"help": "Lloyd iterations per restart at most (sklearn default)"})
    tol: float = field(
        default=1e-4, metadata={"help": "stop a restart when the centres move less than this (relative; sklearn default)"})
    init: Literal["k-means++", "random"] = field(
        default="k-means++", metadata={"help": "initial centres: k-means++ seeding or random samples"})

    def __post_init__(self) -> None:
        if self.n_init < 1 or self.max_iter < 1 or self.tol < 0:
            raise ValueError("n_init and max_iter must be >= 1 and tol >= 0")


class KMeansMethod(Method):
    """k-means (hard clusterer): one-hot proba; accepts sparse input."""

    name = "kmeans"
    time_complexity = 1.0  # Lloyd iterations: linear in N
    Config = KMeansConfig

    def fit(self, X: Any, n_clusters: int, *, seed: int, device: str = "cpu", workdir: Path | None = None,
            monitor: Monitor | None = None) -> MethodOutput:
        c = self.config
        A = prepare_input(X, n_clusters, method=self.name, sparse="keep")
        km = _kmeans_with_progress()(n_clusters=n_clusters, n_init=c.n_init, max_iter=c.max_iter, tol=c.tol,
                                     init=c.init, random_state=seed).fit(A)
        progress.note(c.n_init, c.n_init, "k-means restarts done")
        return MethodOutput(
            proba=one_hot(km.labels_, n_clusters),
            extras={"inertia": float(km.inertia_), "n_iter": int(km.n_iter_)},
        )


def _kmeans_with_progress() -> type:
    """sklearn's KMeans that reports each of its ``n_init`` restarts (``progress.note``) as it
    starts it: the restarts run inside one ``fit`` and share its random state, so counting the
    calls of its per-restart initialisation is the only exact way to show them (the labels are
    sklearn's own). Without that hook (another sklearn) it is plain KMeans, without progress."""
    from sklearn.cluster import KMeans

    if not hasattr(KMeans, "_init_centroids"):  # pragma: no cover - depends on the sklearn version
        return KMeans

    class ProgressKMeans(KMeans):
        def _init_centroids(self, *args: Any, **kwargs: Any) -> Any:
            self._restarts = getattr(self, "_restarts", 0) + 1
            if self._restarts <= self._n_init:  # predict/transform do not call it; fit does once per restart
                progress.note(self._restarts - 1, self._n_init, "k-means restarts done")
            return super()._init_centroids(*args, **kwargs)

    return ProgressKMeans


# --- Gaussian mixture -----------------------------------------------------------------------


@dataclass
class GMMConfig:
    """scikit-learn GaussianMixture (EM); proba = predict_proba (soft posteriors).

    covariance_type="diag": the Dual-AAE table's GMM row comes from VaDE, whose code fits a
    *diagonal* GMM on MNIST (``slim1017/VaDE``); "full" on 784-d pixels is 10 x 784 x 784
    parameters and nearly singular on constant border pixels. Other values are sklearn defaults
    (k-means init, reg_covar 1e-6, max_iter 100, 1 init); the papers are silent on them.
    """

    covariance_type: Literal["diag", "full", "tied", "spherical"] = field(
        default="diag", metadata={"help": "per-component covariance: diag (VaDE's GMM row), full, tied or spherical"})
    n_init: int = field(default=1, metadata={"help": "EM restarts, the best likelihood kept"})
    max_iter: int = field(default=100, metadata={"help": "EM iterations per restart at most"})
    tol: float = field(default=1e-3, metadata={"help": "stop EM when the likelihood gain falls below this"})
    reg_covar: float = field(
        default=1e-6, metadata={"help": "added to the covariance diagonals (keeps them invertible)"})

    def __post_init__(self) -> None:
        if self.n_init < 1 or self.max_iter < 1 or self.reg_covar < 0:
            raise ValueError("n_init and max_iter must be >= 1 and reg_covar >= 0")


class GMMMethod(Method):
    """Gaussian mixture: soft posteriors; sparse input is densified up to MAX_DENSE_BYTES."""

    name = "gmm"
    time_complexity = 1.0  # EM iterations: linear in N
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

    init: Literal["nndsvda", "nndsvd", "nndsvdar", "random"] | None = field(
        default=None, metadata={"help": "initial factors (None: sklearn's choice, nndsvda)"})
    solver: Literal["cd", "mu"] = field(
        default="cd", metadata={"help": "cd (coordinate descent) or mu (multiplicative updates)"})
    max_iter: int = field(default=200, metadata={"help": "solver iterations at most"})
    tol: float = field(default=1e-4, metadata={"help": "stopping tolerance of the solver"})

    def __post_init__(self) -> None:
        if self.max_iter < 1 or self.tol < 0:
            raise ValueError("max_iter must be >= 1 and tol >= 0")


class NMFMethod(Method):
    """NMF: one-hot proba of argmax W; W (N x K) is the embedding. Accepts sparse input."""

    name = "nmf"
    time_complexity = 1.0  # multiplicative updates: linear in N
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
    ``max_samples`` (default 20,000) is refused: use ``eigen_solver="eigsh"`` (below), ``ncuts``
    (self-tuning graph, scales to 70k+), or raise the limit with ``--set max_samples=...``.

    ``eigen_solver="eigsh"`` (issue 24: the DLS/DC3 SC cells at 70,000 images) computes the same
    spectral clustering at any N: the same 0/1 k-NN graph (exact, torch in chunks, shared by the
    seeds of one process: :func:`clusterbench.methods.baselines.ncuts.cached_knn_search`), symmetrised
    0.5 (A + A^T) with the diagonal ignored, the same embedding (the K smallest eigenvectors of
    the normalised Laplacian, divided by sqrt(degree), sklearn's sign convention) and k-means
    with ``n_init``; the eigenvectors come from ``scipy.sparse.linalg.eigsh(which="LA")`` of
    D^-1/2 W D^-1/2 instead of sklearn's shift-invert ARPACK (same eigenvectors, no sparse LU).
    ``assign_labels`` must be "kmeans" there. Default "arpack": sklearn's SpectralClustering.
    """

    n_neighbors: int = field(default=10, metadata={"help": "neighbours of the 0/1 k-NN affinity graph"})
    n_init: int = field(default=10, metadata={"help": "restarts of the final k-means on the spectral embedding"})
    assign_labels: Literal["kmeans", "discretize", "cluster_qr"] = field(
        default="kmeans", metadata={"help": "how the embedding becomes labels: kmeans, discretize or cluster_qr"})
    max_samples: int = field(
        default=20_000, metadata={"help": "refuse larger data (arpack's shift-invert grows steeply; use ncuts)"})
    eigen_solver: Literal["arpack", "eigsh"] = field(
        default="arpack", metadata={"help": "arpack: sklearn's shift-invert (N <= max_samples); eigsh: the same clustering at any N"})

    def __post_init__(self) -> None:
        if self.n_neighbors < 1 or self.n_init < 1 or self.max_samples < 1:
            raise ValueError("n_neighbors, n_init and max_samples must be >= 1")
        if self.eigen_solver not in ("arpack", "eigsh"):
            raise ValueError(f"eigen_solver must be 'arpack' or 'eigsh', got {self.eigen_solver!r}")
        if self.eigen_solver == "eigsh" and self.assign_labels != "kmeans":
            raise ValueError("eigen_solver='eigsh' assigns labels by k-means: set assign_labels='kmeans'")


class SpectralMethod(Method):
    """sklearn spectral clustering for small N (see ``ncuts`` for large N); one-hot proba."""

    name = "spectral"
    time_complexity = 2.0  # the exact k-NN graph: all pairwise distances
    Config = SpectralConfig

    def fit(self, X: Any, n_clusters: int, *, seed: int, device: str = "cpu", workdir: Path | None = None,
            monitor: Monitor | None = None) -> MethodOutput:
        from sklearn.cluster import SpectralClustering

        c = self.config
        A = prepare_input(X, n_clusters, method=self.name, sparse="keep")
        n = A.shape[0]
        if n > c.max_samples and c.eigen_solver == "arpack":
            raise ConfigError(
                f"spectral (sklearn SpectralClustering) is limited to {c.max_samples} samples, got {n}: its "
                "shift-invert eigensolver does not finish in reasonable time at this size.",
                hint="Use --set eigen_solver=eigsh (the same graph and embedding without shift-invert), ncuts "
                "(normalised cuts on a sparse k-NN graph, built for 70k+ samples), a --subset, "
                "or --set max_samples=N to try anyway.",
            )
        if c.n_neighbors >= n:
            raise ConfigError(f"spectral: n_neighbors={c.n_neighbors} must be smaller than N={n}.",
                              hint="Use --set n_neighbors=... or more samples.")
        if c.eigen_solver == "eigsh":
            return self._fit_eigsh(A, n_clusters, seed=seed, device=device)
        sc = SpectralClustering(n_clusters=n_clusters, affinity="nearest_neighbors", n_neighbors=c.n_neighbors,
                                n_init=c.n_init, assign_labels=c.assign_labels, random_state=seed).fit(A)
        return MethodOutput(proba=one_hot(sc.labels_, n_clusters))

    def _fit_eigsh(self, A: np.ndarray | sp.csr_matrix, n_clusters: int, *, seed: int, device: str) -> MethodOutput:
        """SpectralClustering(affinity="nearest_neighbors") at any N (``eigen_solver="eigsh"``, see the config)."""
        import time

        from sklearn.cluster import KMeans


        c = self.config
        t0 = time.perf_counter()
        idx, _ = cached_knn_search(A, c.n_neighbors, device=device if device.startswith("cuda") else "cpu")
        knn_s = time.perf_counter() - t0
        conn = knn_connectivity(idx)
        W = (0.5 * (conn + conn.T)).tocsr()  # sklearn: 0.5 (A + A^T); its self loops are ignored by the Laplacian
        t0 = time.perf_counter()
        vals, U = spectral_embedding(W, n_clusters, seed=seed)
        deg = np.asarray(W.sum(axis=1)).ravel()
        maps = U / np.sqrt(np.maximum(deg, np.finfo(np.float64).tiny))[:, None]
        # sklearn's _deterministic_vector_sign_flip: each vector's largest-magnitude entry positive
        signs = np.sign(maps[np.abs(maps).argmax(axis=0), np.arange(maps.shape[1])])
        maps = maps * np.where(signs == 0, 1.0, signs)
        eigen_s = time.perf_counter() - t0
        km = KMeans(n_clusters=n_clusters, n_init=c.n_init, random_state=seed).fit(maps)
        return MethodOutput(
            proba=one_hot(km.labels_, n_clusters),
            embedding=maps.astype(np.float32),
            extras={"eigen_solver": "eigsh", "eigenvalues": [float(v) for v in vals], "knn_s": round(knn_s, 3),
                    "eigen_s": round(eigen_s, 3)},
        )


def knn_connectivity(idx: np.ndarray) -> sp.csr_matrix:
    """(N, k) neighbour lists (self excluded) -> the N x N 0/1 k-NN connectivity matrix (CSR, not
    symmetric), as sklearn's ``kneighbors_graph(mode="connectivity", include_self=False)``."""
    n, k = idx.shape
    rows = np.repeat(np.arange(n), k)
    return sp.csr_matrix((np.ones(n * k), (rows, np.asarray(idx).ravel())), shape=(n, n))


# --- agglomerative (Ward) -------------------------------------------------------------------


@dataclass
class AgglomerativeConfig:
    """scikit-learn AgglomerativeClustering with Ward linkage (the DLS table's AGGLO row gives
    no settings). Unstructured Ward keeps the N(N-1)/2 float64 distance matrix: 1.6 GB at the
    default ``max_samples`` = 20,000 (MNIST's 70k would need 19.6 GB), so larger N is refused.
    ``connectivity_neighbors`` = k > 0 restricts merges to a k-NN graph (sparse, O(N k) memory)
    and lifts the limit (sklearn's structured Ward; the exact k-NN search,
    :func:`clusterbench.methods.baselines.ncuts.cached_knn_search`, is shared by the seeds of one process:
    Ward itself does not depend on the seed). The DLS/DC3 AGGLO cells at 70,000 images use k = 10.
    """

    max_samples: int = field(
        default=20_000, metadata={"help": "refuse larger data (Ward keeps N^2/2 distances: 1.6 GB at 20,000)"})
    connectivity_neighbors: int = field(
        default=0, metadata={"help": "k > 0: merge only along a k-NN graph (O(N k) memory, lifts max_samples)"})

    def __post_init__(self) -> None:
        if self.max_samples < 1 or self.connectivity_neighbors < 0:
            raise ValueError("max_samples must be >= 1 and connectivity_neighbors >= 0")


class AgglomerativeMethod(Method):
    """Ward agglomerative clustering; one-hot proba; sparse input densified up to MAX_DENSE_BYTES."""

    name = "agglomerative"
    time_complexity = 2.0  # Ward linkage: quadratic in N
    Config = AgglomerativeConfig

    def fit(self, X: Any, n_clusters: int, *, seed: int, device: str = "cpu", workdir: Path | None = None,
            monitor: Monitor | None = None) -> MethodOutput:
        from sklearn.cluster import AgglomerativeClustering

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
            k = min(c.connectivity_neighbors, n - 1)  # A is dense here (prepare_input densified it)
            conn = knn_connectivity(cached_knn_search(A, k, device=device if device.startswith("cuda") else "cpu")[0])
        ag = AgglomerativeClustering(n_clusters=n_clusters, linkage="ward", connectivity=conn).fit(A)
        return MethodOutput(proba=one_hot(ag.labels_, n_clusters))
