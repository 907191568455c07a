"""Unsupervised hashing for the retrieval protocol of BSPL Table 3: shallow hash functions and the
adapter that turns a hashing-capable clustering method (``Method.hashes``) into one.

Hash functions are *not* clustering methods: they give codes, no cluster posterior, so they are not
in the METHODS registry (which promises ``fit -> MethodOutput`` with a posterior and ACC/NMI);
they live in :data:`HASHERS` and are run by :func:`evaluate_retrieval` /
``clusterbench retrieval``. Their ids are the method ids of the report's Table 3 rows
(report/tables/clustergan-bspl.toml).

Every hasher: ``fit(X: N x D float, n_bits, seed) -> self`` on the gallery only, then
``encode(X: M x D) -> M x n_bits uint8`` bits. Features: the data set's own vectors, images
flattened — **raw pixels** here (scaled as stored, [0, 1]); the paper's shallow CIFAR-10 numbers
used 320-d GIST descriptors, which this suite does not compute. Implementations are written from
the papers (numpy / scikit-learn), not ported.

* ``lsh``  (Gionis et al. 1999 / Charikar's sign random projections, as in the ITQ paper's
  comparison): bits = 1(Wᵀ(x − μ) > 0), W ~ N(0, I) D x b, μ the gallery mean.
* ``pcah`` (Wang et al. 2010): bits = 1(Vᵀ(x − μ) > 0), V the top-b principal directions.
* ``itq``  (Gong & Lazebnik 2011): PCA to b dims, then ``itq_iters`` (50, the paper's) rounds of
  B = sign(VR), R = the orthogonal Procrustes solution (SVD of Vᵀ B); R starts as a random
  orthogonal matrix (seeded).
* ``speh`` (Weiss et al. 2009, spectral hashing): PCA to b dims; candidate eigenfunctions
  (dimension i, mode k >= 1) with eigenvalue ∝ (k / range_i)² (uniform-box approximation); the b
  smallest; bit = 1(sin(π/2 + kπ (x_i − min_i) / range_i) > 0).
* ``sphh`` (Heo et al. 2012, spherical hashing): b hyperspheres; pivots start at random gallery
  points, each radius is the median distance (every bit balanced) and pivots are pushed apart or
  pulled together until pairwise overlaps are ≈ 1/4 (the paper's force update, ε_m = 0.1,
  ε_s = 0.15, on at most ``sphh_train`` gallery samples, at most 100 iterations); bit = 1(inside).
  Ranked by the plain Hamming distance like the others (the paper's spherical Hamming distance
  is not used), so all rows share one ranking rule.
* ``kmh``  (He, Wen & Sun 2013, K-means hashing): PCA to b dims, subspaces of 4 bits, 16 codewords
  each fitted to the affinity-preserving objective (quantisation + λ = 10 × affinity error), bits =
  the index of the nearest codeword (:class:`KMeansHashing`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from clusterbench.errors import ConfigError
from clusterbench.metrics.retrieval import query_split, retrieval_metrics


def _flat(X: Any) -> np.ndarray:
    import scipy.sparse as sp

    if sp.issparse(X):
        X = X.toarray()
    X = np.asarray(X, dtype=np.float64)
    return X.reshape(X.shape[0], -1)


def _pca(X: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(mean (D,), top-n principal directions D x n) of X (N x D), signs fixed (largest |entry| > 0)."""
    mu = X.mean(0)
    _, _, vt = np.linalg.svd(X - mu, full_matrices=False)
    V = vt[:n].T
    flip = np.sign(V[np.abs(V).argmax(0), np.arange(V.shape[1])])
    return mu, V * np.where(flip == 0, 1, flip)


class Hasher:
    """Base class: ``name``, ``fit`` on the gallery, ``encode`` to bits."""

    name: ClassVar[str] = ""

    def __init__(self, n_bits: int) -> None:
        self.n_bits = int(n_bits)

    def _check(self, X: np.ndarray) -> None:
        if self.n_bits < 1:
            raise ConfigError(f"n_bits must be >= 1, got {self.n_bits}.")
        if self.name in ("pcah", "itq", "speh", "kmh") and self.n_bits > min(X.shape):
            raise ConfigError(f"{self.name} with {self.n_bits} bits needs at least {self.n_bits} samples and "
                              f"features; the gallery is {X.shape[0]} x {X.shape[1]}.")

    def fit(self, X: Any, *, seed: int = 0) -> Hasher:
        raise NotImplementedError

    def encode(self, X: Any) -> np.ndarray:
        raise NotImplementedError


class LSH(Hasher):
    name = "lsh"

    def fit(self, X: Any, *, seed: int = 0) -> LSH:
        X = _flat(X)
        self._check(X)
        self.mu = X.mean(0)
        self.W = np.random.default_rng(seed).standard_normal((X.shape[1], self.n_bits))
        return self

    def encode(self, X: Any) -> np.ndarray:
        return ((_flat(X) - self.mu) @ self.W > 0).astype(np.uint8)


class PCAH(Hasher):
    name = "pcah"

    def fit(self, X: Any, *, seed: int = 0) -> PCAH:
        X = _flat(X)
        self._check(X)
        self.mu, self.V = _pca(X, self.n_bits)
        return self

    def encode(self, X: Any) -> np.ndarray:
        return ((_flat(X) - self.mu) @ self.V > 0).astype(np.uint8)


class ITQ(Hasher):
    name = "itq"
    iters: int = 50

    def fit(self, X: Any, *, seed: int = 0) -> ITQ:
        X = _flat(X)
        self._check(X)
        self.mu, self.V = _pca(X, self.n_bits)
        P = (X - self.mu) @ self.V
        q, r = np.linalg.qr(np.random.default_rng(seed).standard_normal((self.n_bits, self.n_bits)))
        R = q * np.sign(np.diag(r))
        self.quantization_loss = []
        for _ in range(self.iters):
            B = np.where(P @ R >= 0, 1.0, -1.0)
            self.quantization_loss.append(float(((B - P @ R) ** 2).sum()))
            u, _, wt = np.linalg.svd(P.T @ B)
            R = u @ wt  # argmin_R ||B - P R||_F over orthogonal R
        self.R = R
        return self

    def encode(self, X: Any) -> np.ndarray:
        return ((_flat(X) - self.mu) @ self.V @ self.R >= 0).astype(np.uint8)


class SpectralHashing(Hasher):
    name = "speh"

    def fit(self, X: Any, *, seed: int = 0) -> SpectralHashing:
        X = _flat(X)
        self._check(X)
        self.mu, self.V = _pca(X, self.n_bits)
        P = (X - self.mu) @ self.V
        eps = np.finfo(float).eps
        self.lo, hi = P.min(0) - eps, P.max(0) + eps
        self.range = hi - self.lo
        max_mode = np.ceil((self.n_bits + 1) * self.range / self.range.max()).astype(int)
        cands = [(float((k / self.range[i]) ** 2), i, k) for i in range(P.shape[1])
                 for k in range(1, max(int(max_mode[i]), 1) + 1)]
        cands.sort()
        chosen = cands[: self.n_bits]
        self.dims = np.array([i for _, i, _ in chosen])
        self.modes = np.array([k for _, _, k in chosen], dtype=np.float64)
        return self

    def encode(self, X: Any) -> np.ndarray:
        P = (_flat(X) - self.mu) @ self.V
        u = (P[:, self.dims] - self.lo[self.dims]) / self.range[self.dims]
        return (np.sin(np.pi / 2 + self.modes * np.pi * u) > 0).astype(np.uint8)


class SphericalHashing(Hasher):
    name = "sphh"
    max_train: int = 2000
    max_iter: int = 100
    eps_mean: float = 0.1
    eps_std: float = 0.15

    def fit(self, X: Any, *, seed: int = 0) -> SphericalHashing:
        X = _flat(X)
        self._check(X)
        rng = np.random.default_rng(seed)
        S = X[rng.permutation(X.shape[0])[: self.max_train]]
        m, b = S.shape[0], self.n_bits
        P = S[rng.choice(m, size=b, replace=m < b)].copy()
        target = m / 4.0
        for _ in range(self.max_iter):
            D = _dist(S, P)
            r = np.median(D, axis=0)
            inside = (D <= r).astype(np.float64)
            O = inside.T @ inside  # b x b overlaps (counts)
            off = O[~np.eye(b, dtype=bool)]
            if b < 2 or (np.abs(off - target).mean() < self.eps_mean * target and off.std() < self.eps_std * target):
                break
            F = 0.5 * (O - target) / target
            np.fill_diagonal(F, 0.0)
            # force on pivot i from j: F_ij (p_i - p_j); mean over j
            P = P + (F.sum(1)[:, None] * P - F @ P) / b
        self.P = P
        self.r = np.median(_dist(S, P), axis=0)
        return self

    def encode(self, X: Any) -> np.ndarray:
        return (_dist(_flat(X), self.P) <= self.r).astype(np.uint8)


def _dist(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    d2 = (A**2).sum(1)[:, None] + (B**2).sum(1)[None, :] - 2 * A @ B.T
    return np.sqrt(np.maximum(d2, 0.0))


class KMeansHashing(Hasher):
    """K-means hashing (He, Wen, Sun, CVPR 2013), written from the paper.

    PCA to ``n_bits`` dimensions; the dimensions are split into M = ceil(n_bits / b_s)
    subspaces of b_s = ``subspace_bits`` (4, the paper's choice) dimensions each (the last one
    smaller when b_s does not divide n_bits), allocated greedily by eigenvalue so that the
    subspaces' products of variances are balanced (the paper's "balance the variance" rule, as in
    OPQ). In each subspace, k = 2^b_s codewords c_i, codeword i carrying the b_s-bit binary code
    of its index i, minimise the affinity-preserving objective

        E = (1/N) Σ_x ||x − c_i(x)||²  +  λ Σ_{i,j} w_ij (||c_i − c_j|| − s·h(i, j)^½)²,

    w_ij = n_i n_j / N² (n_i the size of cluster i), h the Hamming distance between the indices,
    λ = ``lam`` (10, the paper's), s the scale. Initialisation: the vertices of a hypercube on the
    PCA axes (codeword i = ±mean|x_d| along each axis d by its bits, i.e. PCAH's codes); then
    ``iters`` (50) rounds of: assign every sample to its nearest codeword; s in closed form
    (least squares); each codeword in turn by L-BFGS on E with the others fixed (a codeword with
    no sample is left where it is). Code of x = the concatenated index bits of its nearest
    codeword in every subspace. Ranking: plain Hamming distance (the paper's d_h = s·h^½ summed
    over subspaces ranks as the Hamming distance), so every row of Table 3 shares one rule.
    """

    name = "kmh"
    subspace_bits: int = 4
    iters: int = 50
    lam: float = 10.0

    def fit(self, X: Any, *, seed: int = 0) -> KMeansHashing:
        X = _flat(X)
        self._check(X)
        self.mu, self.V = _pca(X, self.n_bits)
        P = (X - self.mu) @ self.V
        sizes = [self.subspace_bits] * (self.n_bits // self.subspace_bits)
        if self.n_bits % self.subspace_bits:
            sizes.append(self.n_bits % self.subspace_bits)
        self.dims = _allocate_dims(P.var(0), sizes)
        self.codewords = [self._fit_subspace(P[:, d]) for d in self.dims]
        return self

    def _fit_subspace(self, Y: np.ndarray) -> np.ndarray:
        """Y: N x b (one subspace) -> k x b codewords, k = 2^b, codeword i coded by the bits of i."""
        from scipy.optimize import minimize

        n, b = Y.shape
        k = 2**b
        bits = _index_bits(k, b).astype(np.float64)
        root_h = np.sqrt((bits[:, None, :] != bits[None, :, :]).sum(-1))
        C = (2 * bits - 1) * np.abs(Y).mean(0)
        s = 1.0
        for _ in range(self.iters):
            a = _dist(Y, C).argmin(1)
            counts = np.bincount(a, minlength=k).astype(np.float64)
            w = np.outer(counts, counts) / n**2
            dc = _dist(C, C)
            denom = float((w * root_h**2).sum())
            s = float((w * dc * root_h).sum() / denom) if denom > 0 else s
            for j in range(k):
                if counts[j] == 0:
                    continue
                mean_j = Y[a == j].mean(0)
                others = np.delete(np.arange(k), j)

                def f(c: np.ndarray, j=j, mean_j=mean_j, others=others) -> tuple[float, np.ndarray]:
                    diff = c[None, :] - C[others]
                    d = np.sqrt((diff**2).sum(1)) + 1e-12
                    r = d - s * root_h[j, others]
                    wj = w[j, others]
                    val = counts[j] / n * float(((c - mean_j) ** 2).sum()) + 2 * self.lam * float((wj * r**2).sum())
                    grad = 2 * counts[j] / n * (c - mean_j) + 4 * self.lam * ((wj * r / d)[:, None] * diff).sum(0)
                    return val, grad

                C[j] = minimize(f, C[j], jac=True, method="L-BFGS-B", options={"maxiter": 20}).x
        return C

    def encode(self, X: Any) -> np.ndarray:
        P = (_flat(X) - self.mu) @ self.V
        parts = []
        for d, C in zip(self.dims, self.codewords):
            idx = _dist(P[:, d], C).argmin(1)
            parts.append(_index_bits(C.shape[0], len(d))[idx])
        return np.concatenate(parts, axis=1).astype(np.uint8)


def _index_bits(k: int, b: int) -> np.ndarray:
    """k x b: row i = the b-bit binary code of i (most significant bit first)."""
    return ((np.arange(k)[:, None] >> np.arange(b - 1, -1, -1)[None, :]) & 1).astype(np.uint8)


def _allocate_dims(variances: np.ndarray, sizes: list[int]) -> list[np.ndarray]:
    """Greedy eigenvalue allocation: the dimensions in decreasing variance, each to the
    not-yet-full subspace whose product of variances is smallest so far."""
    groups: list[list[int]] = [[] for _ in sizes]
    logprod = np.zeros(len(sizes))
    for d in np.argsort(-variances, kind="stable"):
        open_ = [g for g in range(len(sizes)) if len(groups[g]) < sizes[g]]
        g = min(open_, key=lambda i: (logprod[i], i))
        groups[g].append(int(d))
        logprod[g] += np.log(max(float(variances[d]), 1e-300))
    return [np.array(sorted(g)) for g in groups]



#: hash function id -> class (ids as in the report's Table 3 rows).
HASHERS: dict[str, type[Hasher]] = {h.name: h for h in (LSH, PCAH, ITQ, SpectralHashing, SphericalHashing,
                                                         KMeansHashing)}


class MethodHasher(Hasher):
    """A clustering method that declares ``hashes = True``: fitted (as a clusterer) on the gallery
    with ``n_clusters`` clusters and its ``hash_bits`` option set to ``n_bits``, then its
    ``hash_codes(X)`` encodes gallery and queries with the trained model."""

    def __init__(self, method: str, n_bits: int, *, n_clusters: int, overrides: dict[str, str] | None = None,
                 device: str = "cpu") -> None:
        from clusterbench.methods import get_method, make_config  # lazy: torch, only for a method's codes

        super().__init__(n_bits)
        cls = get_method(method)
        if not cls.hashes:
            raise ConfigError(f"Method {method!r} does not produce hash codes.",
                              hint=f"Use a method with hash codes or a hash function: {', '.join(HASHERS)}.")
        self.name = method  # type: ignore[misc]
        self.cfg = make_config(cls.Config, {**(overrides or {}), "hash_bits": int(n_bits)}, method=method)
        self.method = cls(self.cfg)
        self.n_clusters, self.device = int(n_clusters), device
        self.output = None

    def fit(self, X: Any, *, seed: int = 0) -> MethodHasher:
        self.output = self.method.fit(X, self.n_clusters, seed=seed, device=self.device)
        return self

    def encode(self, X: Any) -> np.ndarray:
        return self.method.hash_codes(X)


@dataclass
class RetrievalResult:
    metrics: dict[str, float]
    n_query: int
    n_gallery: int
    n_bits: int
    extras: dict[str, Any]


def evaluate_retrieval(X: Any, y: np.ndarray, hasher: Hasher, *, seed: int = 0, split_seed: int = 0,
                       n_query: int = 1000, topk: int = 1000) -> RetrievalResult:
    """The standard protocol (metrics.retrieval): seeded query split (``split_seed``), ``hasher``
    fitted on the gallery only (``seed``), codes of both, precision@topk / mAP / mAP@topk."""

    y = np.asarray(y)
    try:
        q, g = query_split(y, n_query=n_query, seed=split_seed)
    except ValueError as exc:
        raise ConfigError(f"The retrieval split cannot be drawn: {exc}.",
                          hint="Use a larger data set or subset, or fewer queries (--queries).") from None
    hasher.fit(X[g], seed=seed)
    gc, qc = hasher.encode(X[g]), hasher.encode(X[q])
    m = retrieval_metrics(qc, y[q], gc, y[g], topk=topk)
    extras = {"bit_balance": float(gc.mean()), "distinct_codes": int(np.unique(gc, axis=0).shape[0])}
    out = getattr(hasher, "output", None)
    if out is not None:
        extras["gallery_history_last"] = out.history[-1] if out.history else {}
    return RetrievalResult(m, int(q.size), int(g.size), int(hasher.n_bits), extras)


__all__ = [
    "HASHERS",
    "ITQ",
    "LSH",
    "PCAH",
    "Hasher",
    "MethodHasher",
    "RetrievalResult",
    "SpectralHashing",
    "SphericalHashing",
    "evaluate_retrieval",
]
