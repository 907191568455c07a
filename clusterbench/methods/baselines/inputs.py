"""Input checks shared by the classical baselines (:mod:`.classical`, :mod:`.ncuts`).

Images N x C x H x W are flattened to N x (C*H*W); ``scipy.sparse`` input (Reuters tf-idf) is kept
sparse where the algorithm takes it, densified where it is small enough (at most
``MAX_DENSE_BYTES``), and refused otherwise with a message naming the methods that do take it.
Its own module so that ``classical`` (spectral ``eigsh``, Ward's connectivity) can use ncuts' graph
code while ncuts uses these checks, without an import circle.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import scipy.sparse as sp

from clusterbench.errors import ConfigError, DataError

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
