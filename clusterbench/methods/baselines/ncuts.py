"""Normalised cuts (N-Cuts) on a sparse k-nearest-neighbour graph, built to scale.

Recipe (../shared/metrics-reference.md §11; Shi & Malik 2000 relaxation in the Ng-Jordan-Weiss
form, self-tuning affinities of Zelnik-Manor & Perona 2004):

1. *reduce* (optional): PCA of dense input to ``pca_dims`` (default: none, raw pixels) or
   TruncatedSVD of sparse input to ``svd_dims`` (default 50) dimensions, used only for the
   neighbour search;
2. *k-NN search*: Euclidean k nearest neighbours (k = ``n_neighbors`` = 10), either exact, in row
   chunks of at most ``knn_chunk_mb`` MB with torch matmul + top-k (never an N x N matrix; cost
   O(N^2 d)), or approximate (``knn="approx"``): NN-descent (pynndescent, the default backend;
   measured ~N^1.06) or a faiss HNSW index (optional; measured ~N^1.74 on reuters-like data).
   ``knn="auto"`` (the default) is exact below ``knn_auto_min`` samples and approximate from there;
   which graph a run used is recorded in ``extras["knn_graph"]``;
3. *graph*: w_ij = exp(-d_ij^2 / (sigma_i sigma_j)), sigma_i = distance to the i-th point's k-th
   neighbour; symmetrised as W = max(W, W^T) (an edge if either point is among the other's k
   nearest); connected components are counted and recorded;
4. *eigensolver*: the top-K eigenvectors of D^-1/2 W D^-1/2 (``scipy.sparse.linalg.eigsh``,
   which="LA", seeded start vector) -- equivalently the K smallest of the normalised Laplacian;
5. rows of the N x K eigenvector matrix are normalised to unit length (NJW; this also makes it
   identical to using Shi-Malik's D^-1/2-scaled generalised eigenvectors), then k-means.

Memory is O(N k + N d): 70,000 images take well under 1 GB; Reuters' 685,071 documents need the
graph (~165 MB) plus the reduced data (and the approximate search's index, O(N (d + k))).
Timings of each phase are returned in ``extras``.

Length: one algorithm in five phases, each with its scale-out path (chunked exact and two
approximate k-NN searches); a quarter of the file is this recipe.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from clusterbench.errors import ConfigError
from clusterbench.methods.base import Method, MethodOutput, Monitor, one_hot
from clusterbench.methods.baselines.classical import prepare_input


def _check_k(k: int, n: int) -> int:
    """``n`` when a k-NN graph of ``k`` neighbours can be built on ``n`` points; else a ConfigError."""
    if not 1 <= k < n:
        raise ConfigError(f"ncuts: n_neighbors={k} must be between 1 and N-1={n - 1}.",
                          hint="Use --set n_neighbors=... or more samples.")
    return n


def knn_search(
    Z: np.ndarray | sp.csr_matrix, k: int, *, chunk_mb: float = 128, device: str = "cpu"
) -> tuple[np.ndarray, np.ndarray]:
    """Exact Euclidean k nearest neighbours of every row of Z among the other rows.

    Z: (N, d) float32 array or CSR matrix. Returns ``(idx, dist)``, both (N, k): neighbour
    indices (int64, self excluded) and distances (float32, ascending). Works in row chunks so
    that one chunk's (rows x N) distance block is at most ``chunk_mb`` MB.
    """
    import torch

    n = _check_k(k, Z.shape[0])
    rows = max(1, int(chunk_mb * 1024**2 // (4 * n)))
    dev = torch.device(device)
    if sp.issparse(Z):
        sq = np.asarray(Z.multiply(Z).sum(axis=1)).ravel().astype(np.float32)
        ZT = Z.T.tocsr()
        Zt = None
    else:
        Zt = torch.from_numpy(np.ascontiguousarray(Z, dtype=np.float32)).to(dev)
        sq = (Zt * Zt).sum(dim=1).cpu().numpy()
    sq_t = torch.from_numpy(sq).to(dev)
    idx = np.empty((n, k), dtype=np.int64)
    dist = np.empty((n, k), dtype=np.float32)
    for i0 in range(0, n, rows):
        i1 = min(n, i0 + rows)
        if Zt is None:
            G = torch.from_numpy((Z[i0:i1] @ ZT).toarray().astype(np.float32, copy=False)).to(dev)
        else:
            G = Zt[i0:i1] @ Zt.T
        # squared distances ||a||^2 - 2 a.b + ||b||^2, in place in the (rows x N) block
        D2 = G.mul_(-2.0).add_(sq_t[None, :]).add_(sq_t[i0:i1, None])
        D2[torch.arange(i1 - i0, device=dev), torch.arange(i0, i1, device=dev)] = float("inf")
        d2, j = torch.topk(D2, k, dim=1, largest=False, sorted=True)
        idx[i0:i1] = j.cpu().numpy()
        dist[i0:i1] = d2.clamp_min_(0).sqrt_().cpu().numpy()
    return idx, dist


def approx_knn_search(
    Z: np.ndarray, k: int, *, m: int = 32, ef_search: int = 64, ef_construction: int = 128,
    threads: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Approximate Euclidean k nearest neighbours of every row of Z (faiss ``IndexHNSWFlat``; optional
    dependency: ``pip install faiss-cpu``).

    Z: (N, d) dense float32. Returns ``(idx, dist)`` as :func:`knn_search`: both (N, k), neighbour
    indices (int64, self excluded) and distances (float32, ascending).

    The index is built single-threaded, so the graph is the same on every run (faiss inserts in
    parallel otherwise, in an order that depends on thread timing); the queries (independent of
    each other) use ``threads`` (default: torch's thread count). Each point queries k+1 neighbours
    and drops itself; a row where HNSW returned fewer than k other points (rare) is recomputed
    exactly with a flat index.
    """
    try:
        import faiss
    except ImportError:
        raise ConfigError("ncuts: knn_backend=faiss needs the faiss-cpu package.",
                          hint="pip install 'clusterbench[faiss]', or --set knn_backend=pynndescent.") from None
    import torch

    n = _check_k(k, Z.shape[0])
    Z = np.ascontiguousarray(Z, dtype=np.float32)
    kq = min(k + 1, n)
    before = faiss.omp_get_max_threads()
    try:
        index = faiss.IndexHNSWFlat(Z.shape[1], int(m))
        index.hnsw.efConstruction = int(ef_construction)
        faiss.omp_set_num_threads(1)
        index.add(Z)
        faiss.omp_set_num_threads(int(threads or torch.get_num_threads()))
        index.hnsw.efSearch = max(int(ef_search), kq)
        D, I = index.search(Z, kq)
        idx, d2 = _drop_self(I, D, k)
        bad = np.flatnonzero((idx < 0).any(axis=1))
        if bad.size:  # HNSW found too few points for these rows: exact for them
            flat = faiss.IndexFlatL2(Z.shape[1])
            flat.add(Z)
            Db, Ib = flat.search(Z[bad], kq)
            idx[bad], d2[bad] = _drop_self(Ib, Db, k, rows=bad)
    finally:
        faiss.omp_set_num_threads(before)
    return idx.astype(np.int64), np.sqrt(np.maximum(d2, 0)).astype(np.float32)


def nndescent_knn_search(Z: np.ndarray | sp.csr_matrix, k: int, *, n_search: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """Approximate k nearest neighbours by NN-descent (pynndescent).

    Z: (N, d) float32 or CSR. Returns ``(idx, dist)`` as :func:`knn_search`. Searches
    ``n_search`` >= k+1 neighbours (NN-descent's recall grows with it: 0.92 at 30 vs 0.47 at 11
    on 100k reuters-like documents) and keeps the k nearest other points. Single job, fixed
    random_state: the same graph on every run. The first call in a process compiles numba code
    (100-220 s measured on a loaded 2-core machine).
    """
    try:
        import pynndescent
    except ImportError:
        raise ConfigError("ncuts: knn_backend=pynndescent needs the pynndescent package (a dependency of clusterbench).",
                          hint="pip install pynndescent.") from None
    n = _check_k(k, Z.shape[0])
    kq = min(max(n_search, k + 1), n)
    I, D = pynndescent.NNDescent(Z, n_neighbors=kq, random_state=0, n_jobs=1).neighbor_graph
    I, D = _drop_self(np.asarray(I)[:, : k + 1], np.asarray(D)[:, : k + 1], k)
    return I.astype(np.int64), D.astype(np.float32)


def _drop_self(I: np.ndarray, D: np.ndarray, k: int, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(n, k+1) results of querying points with themselves -> (n, k) without the point itself.

    Where the point is not among its own results (duplicates ahead of it), the last is dropped.
    """
    rows = np.arange(I.shape[0]) if rows is None else rows
    is_self = I == rows[:, None]
    drop = np.where(is_self.any(axis=1), is_self.argmax(axis=1), I.shape[1] - 1)
    keep = np.ones(I.shape, dtype=bool)
    keep[np.arange(I.shape[0]), drop] = False
    return I[keep].reshape(-1, I.shape[1] - 1)[:, :k], D[keep].reshape(-1, I.shape[1] - 1)[:, :k]


def self_tuning_graph(idx: np.ndarray, dist: np.ndarray) -> sp.csr_matrix:
    """Symmetric sparse affinity from k-NN lists: w_ij = exp(-d_ij^2 / (sigma_i sigma_j)).

    idx, dist: (N, k) from :func:`knn_search`; sigma_i = dist[i, -1] (the k-th neighbour),
    floored at a tiny positive value for duplicate points. Returns W = max(W, W^T), (N, N) CSR
    float64 with at most 2 N k non-zeros and an empty diagonal.
    """
    n, k = idx.shape
    sigma = dist[:, -1].astype(np.float64)
    pos = sigma[sigma > 0]
    sigma = np.maximum(sigma, (pos.min() if pos.size else 1.0) * 1e-3)
    rows = np.repeat(np.arange(n), k)
    cols = idx.ravel()
    w = np.exp(-(dist.ravel().astype(np.float64) ** 2) / (sigma[rows] * sigma[cols]))
    W = sp.csr_matrix((w, (rows, cols)), shape=(n, n))
    return W.maximum(W.T).tocsr()


def spectral_embedding(W: sp.csr_matrix, k: int, *, seed: int, tol: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Top-k eigenpairs of D^-1/2 W D^-1/2 (eigsh, which="LA", seeded start vector).

    W: (N, N) symmetric non-negative CSR. Returns (eigenvalues (k,) descending, vectors (N, k)).
    """
    from scipy.sparse.linalg import eigsh

    deg = np.asarray(W.sum(axis=1)).ravel()
    dinv = 1.0 / np.sqrt(np.maximum(deg, np.finfo(np.float64).tiny))
    M = sp.diags(dinv) @ W @ sp.diags(dinv)
    v0 = np.random.default_rng(seed).uniform(0.1, 1.0, size=W.shape[0])
    ncv = min(W.shape[0], max(2 * k + 1, 20))
    vals, vecs = eigsh(M, k=k, which="LA", v0=v0, tol=tol, ncv=ncv)
    order = np.argsort(vals)[::-1]
    return vals[order], vecs[:, order]


KNN_MODES = ("exact", "approx", "auto")


@dataclass
class NCutsConfig:
    """Normalised cuts on a sparse self-tuning k-NN graph (the N-Cuts rows of Dual-AAE Table I and
    ClusterGAN-BSPL Table 2, both citing Shi & Malik; neither gives settings).

    n_neighbors=10: sklearn's SpectralClustering default and metrics-reference §11.
    pca_dims=None: dense input (images) is searched on the raw pixels, as the papers' N-Cuts did.
    Measured by benchmarks/ncuts_bench.py on the 70k Fashion-MNIST images (2 shared cores):
    raw 200-398 s (load 5-11), 1.1 GB, ACC 0.567 / NMI 0.639; PCA-50 185 s, 1.2 GB, ACC 0.529 /
    NMI 0.615. Raw is within the 10 min / 4 GB target and clusters better; ``--set pca_dims=50``
    is the faster approximation.
    svd_dims=50: sparse input (Reuters tf-idf) is reduced by TruncatedSVD before the search
    (metrics-reference §11: exact search on 685k sparse 2000-d rows is impractical); ``None``
    searches with sparse products directly (fine for reuters10k).
    kmeans_n_init=10: sklearn's SpectralClustering default for the final k-means.
    eigen_tol=0: ARPACK to machine precision (sklearn's arpack default).
    knn_chunk_mb: memory bound of one exact k-NN distance block.
    knn: "exact", "approx" or "auto" = approximate from ``knn_auto_min`` samples on.
    The papers are silent (their N-Cuts cells on Reuters are N/A). Measured by
    ``benchmarks/ncuts_bench.py --cases recall`` on 100k reuters-like tf-idf documents (SVD-50,
    1 thread, a shared 2-core machine at load ~11): exact 525 s; faiss HNSW M=16 466 s, recall@10
    0.90; M=32 450 s, recall@10 0.96; pynndescent n_neighbors=30 68 s, recall@10 0.92, plus 221 s
    of numba compilation in every new process (11 neighbours: 21 s, recall 0.47). Scaling
    (load ~10-12): HNSW 46 s / 131 s / 510 s at 25k / 50k / 100k (N^1.74: ~3.8 h extrapolated to
    685k), pynndescent 37 s / 160 s at 50k / 200k (N^1.06). The full 685,071-document run
    (``--reuters-sizes 685071 --knn approx --knn-backend pynndescent``, 1 thread, load 4.5): fit
    287 s (SVD 71 s, k-NN 208 s, eigsh 5 s) + 148 s numba compilation, peak RSS 3.06 GB. Hence
    ``knn_backend="pynndescent"`` by default: the only one that brings Reuters' 685k documents
    within the hour on 2 cores; its costs are recall 0.92 instead of 0.96, the numba compilation
    once per process, and numba/llvmlite as dependencies. ``knn_backend="faiss"`` (optional
    package faiss-cpu; deterministic single-threaded build) is the higher-recall choice.
    ``knn_auto_min=150000``: at 100k the exact search took 80 s and HNSW M=32 118 s on an idle
    machine, 525 s and 450 s at load ~11. On this synthetic tf-idf (weak structure: a hard case
    for graph indexes) HNSW grew as N^1.74 (25k-100k, ``--cases reuters --knn approx``) against
    the exact search's N^2, so the crossover lies between ~100k (loaded) and ~450k (idle fits);
    150k changes nothing for the registered data sets: every one but Reuters (685k) and dSprites
    (737k) stays exact. On real Fashion-MNIST (all 70k, ``--cases fashion-knn``, 3 seeds) the
    pynndescent graph had recall@10 0.9991 and the exact graph's ACC 0.5673 / NMI 0.6389 to 4
    decimals (faiss at 20k: recall 0.9994).
    hnsw_m=32, hnsw_ef_construction=128, hnsw_ef_search=64: the HNSW parameters measured above.
    knn_backend: "pynndescent" (NN-descent searching ``nndescent_search``=30 neighbours, single
    job, fixed random_state: repeatable) or "faiss" (HNSW with the hnsw_* parameters).
    """

    n_neighbors: int = 10
    pca_dims: int | None = None
    svd_dims: int | None = 50
    kmeans_n_init: int = 10
    eigen_tol: float = 0.0
    knn_chunk_mb: int = 128
    knn: str = "auto"
    knn_auto_min: int = 150_000
    hnsw_m: int = 32
    hnsw_ef_construction: int = 128
    hnsw_ef_search: int = 64
    knn_backend: str = "pynndescent"
    nndescent_search: int = 30

    def __post_init__(self) -> None:
        if self.n_neighbors < 1 or self.kmeans_n_init < 1 or self.knn_chunk_mb < 1 or self.eigen_tol < 0:
            raise ValueError("n_neighbors, kmeans_n_init and knn_chunk_mb must be >= 1, eigen_tol >= 0")
        if self.knn not in KNN_MODES:
            raise ValueError(f"knn must be one of {', '.join(KNN_MODES)}, got {self.knn!r}")
        if min(self.knn_auto_min, self.hnsw_m, self.hnsw_ef_construction, self.hnsw_ef_search) < 1:
            raise ValueError("knn_auto_min and the hnsw_* parameters must be >= 1")
        if self.knn_backend not in ("faiss", "pynndescent") or self.nndescent_search < 2:
            raise ValueError(f"knn_backend must be faiss or pynndescent (got {self.knn_backend!r}), "
                             "nndescent_search >= 2")
        for key in ("pca_dims", "svd_dims"):
            if getattr(self, key) is not None and getattr(self, key) < 1:
                raise ValueError(f"{key} must be >= 1 or None (no reduction)")


def knn_mode(config: NCutsConfig, n: int, *, sparse: bool) -> str:
    """The k-NN graph a run builds: "exact" or "approx" (``config.knn``, "auto" resolved by N).

    The faiss index needs dense vectors: sparse input without ``svd_dims`` reduction is a
    ConfigError with ``knn="approx"`` and stays exact with "auto" (pynndescent takes it as is).
    """
    dense_only = sparse and config.knn_backend == "faiss"
    if config.knn == "exact" or (config.knn == "auto" and (n < config.knn_auto_min or dense_only)):
        return "exact"
    if dense_only:
        raise ConfigError("ncuts: knn=approx needs dense vectors, but svd_dims=None keeps the input sparse.",
                          hint="Use --set svd_dims=50 (the default) or --set knn=exact.")
    return "approx"


class NCutsMethod(Method):
    """Normalised cuts; one-hot proba; embedding = the row-normalised N x K spectral embedding.

    Runs on the CPU; with ``device="cuda"`` the k-NN search (the dominant cost) runs on the GPU.
    """

    name = "ncuts"
    Config = NCutsConfig

    def fit(self, X: Any, n_clusters: int, *, seed: int, device: str = "cpu", workdir: Path | None = None,
            monitor: Monitor | None = None) -> MethodOutput:
        A = prepare_input(X, n_clusters, method=self.name, sparse="keep")
        idx, dist, info = self.neighbours(A, seed=seed, device=device)
        return self.cut(idx, dist, n_clusters, seed=seed, info=info)

    def neighbours(self, A: np.ndarray | sp.csr_matrix, *, seed: int, device: str = "cpu"
                   ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        """Steps 1-2: (reduce and) search. A: (N, d) float32 or CSR, as ``prepare_input`` returns.

        Returns ``(idx, dist, info)``: the (N, k) neighbour lists of :func:`knn_search` and a dict
        for the extras (``reduced_dims``, ``knn_graph``, HNSW parameters, ``reduce_s``, ``knn_s``).
        """
        c = self.config
        n, d = A.shape
        info: dict[str, Any] = {}

        # 1. reduce (for the neighbour search only)
        t0 = time.perf_counter()
        Z = A
        dims = c.svd_dims if sp.issparse(A) else c.pca_dims
        if dims is not None and dims < min(n, d):
            if sp.issparse(A):
                from sklearn.decomposition import TruncatedSVD

                Z = TruncatedSVD(n_components=dims, random_state=seed).fit_transform(A)
            else:
                from sklearn.decomposition import PCA

                Z = PCA(n_components=dims, svd_solver="randomized", random_state=seed).fit_transform(A)
            Z = np.ascontiguousarray(Z, dtype=np.float32)
        info["reduce_s"] = time.perf_counter() - t0

        # 2. k-NN search: exact in chunks, or approximate (HNSW)
        t0 = time.perf_counter()
        graph = knn_mode(c, n, sparse=sp.issparse(Z))
        if graph == "exact":
            knn_device = device if device.startswith("cuda") else "cpu"
            idx, dist = knn_search(Z, c.n_neighbors, chunk_mb=c.knn_chunk_mb, device=knn_device)
        elif c.knn_backend == "pynndescent":
            idx, dist = nndescent_knn_search(Z, c.n_neighbors, n_search=c.nndescent_search)
            info["nndescent"] = {"n_search": c.nndescent_search}
        else:
            idx, dist = approx_knn_search(Z, c.n_neighbors, m=c.hnsw_m, ef_search=c.hnsw_ef_search,
                                          ef_construction=c.hnsw_ef_construction)
            info["hnsw"] = {"m": c.hnsw_m, "ef_construction": c.hnsw_ef_construction, "ef_search": c.hnsw_ef_search}
        info["knn_s"] = time.perf_counter() - t0
        info["reduced_dims"] = int(Z.shape[1])
        info["knn_graph"] = graph if graph == "exact" else f"approx ({c.knn_backend})"
        return idx, dist, info

    def cut(self, idx: np.ndarray, dist: np.ndarray, n_clusters: int, *, seed: int,
            info: dict[str, Any] | None = None) -> MethodOutput:
        """Steps 3-5 on the (N, k) neighbour lists; ``info`` (from :meth:`neighbours`) joins the extras."""
        from sklearn.cluster import KMeans

        c = self.config
        t: dict[str, float] = {}

        # 3. self-tuning affinity graph, connectivity check
        t0 = time.perf_counter()
        W = self_tuning_graph(idx, dist)
        from scipy.sparse.csgraph import connected_components

        n_comp, _ = connected_components(W, directed=False)
        if n_comp > 1:
            warnings.warn(
                f"ncuts: the {c.n_neighbors}-NN graph has {n_comp} connected components; each component "
                "contributes an eigenvalue 1 and may become its own cluster. Increase n_neighbors to connect it.",
                stacklevel=2,
            )
        t["graph_s"] = time.perf_counter() - t0

        # 4. top-K eigenvectors of the normalised affinity
        t0 = time.perf_counter()
        vals, U = spectral_embedding(W, n_clusters, seed=seed, tol=c.eigen_tol)
        t["eigen_s"] = time.perf_counter() - t0

        # 5. row-normalise and k-means
        t0 = time.perf_counter()
        norms = np.linalg.norm(U, axis=1, keepdims=True)
        U = U / np.maximum(norms, 1e-12)
        km = KMeans(n_clusters=n_clusters, n_init=c.kmeans_n_init, random_state=seed).fit(U)
        t["kmeans_s"] = time.perf_counter() - t0

        info = dict(info or {})
        t.update({k: info.pop(k) for k in ("reduce_s", "knn_s") if k in info})
        return MethodOutput(
            proba=one_hot(km.labels_, n_clusters),
            embedding=U.astype(np.float32),
            extras={
                "n_components": int(n_comp),
                "eigenvalues": [float(v) for v in vals],
                "graph_nnz": int(W.nnz),
                **info,
                **{k: round(v, 3) for k, v in t.items()},
            },
        )
