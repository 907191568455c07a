"""Clustering metrics: pure functions, numpy in, numbers out.

Definitions follow ../shared/metrics-reference.md §1:
  * ``acc``: Hungarian accuracy on the square max(K, C) contingency matrix (DEC-keras definition,
    scipy's ``linear_sum_assignment``), correct when #clusters != #classes (surplus clusters
    count as errors).
  * ``purity``: sum over clusters of the majority class count / N (what ClusterGAN and DLS call
    "ACC").
  * ``nmi``: normalised mutual information, ``average_method`` pinned (arithmetic by default,
    sklearn >= 0.22; geometric = what sklearn <= 0.21, hence ClusterGAN/DLS/DEC, used).
  * ``ari``: adjusted Rand index.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score


NMI_AVERAGE_METHODS = ("arithmetic", "geometric", "min", "max")


def as_labels(labels: object, *, name: str = "labels") -> np.ndarray:
    """Validate and convert ``labels`` (N,) to a 1-D int64 array of non-negative integers.

    Raises ValueError for non-1-D input, non-integral values (e.g. 0.5) or negative labels.
    """
    a = np.asarray(labels)
    if a.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of N integer labels, got shape {a.shape}")
    if a.size and a.dtype.kind not in "iub":
        if a.dtype.kind != "f" or not np.all(np.isfinite(a)) or not np.all(a == np.round(a)):
            raise ValueError(f"{name} must hold integer labels, got dtype {a.dtype} with non-integral values")
    a = a.astype(np.int64)
    if a.size and a.min() < 0:
        raise ValueError(f"{name} must be non-negative integers, got minimum {int(a.min())}")
    return a


def _check(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y_true = as_labels(y_true, name="y_true")
    y_pred = as_labels(y_pred, name="y_pred")
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred differ in length: {y_true.size} vs {y_pred.size}")
    if y_true.size == 0:
        raise ValueError("metrics need at least one sample, got empty label arrays")
    return y_true, y_pred


def contingency(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """D x D counts ``w[pred, true]``, D = max(max label) + 1 (square, as DEC-keras).

    y_true, y_pred: (N,) non-negative integer labels. Returns int64 (D, D).
    """
    y_true, y_pred = _check(y_true, y_pred)
    d = int(max(y_true.max(), y_pred.max())) + 1
    w = np.zeros((d, d), dtype=np.int64)
    np.add.at(w, (y_pred, y_true), 1)
    return w


def cluster_to_class_map(y_true: np.ndarray, y_pred: np.ndarray) -> dict[int, int]:
    """The Hungarian one-to-one map cluster -> class maximising matched samples."""
    w = contingency(y_true, y_pred)
    r, c = linear_sum_assignment(w.max() - w)
    return {int(i): int(j) for i, j in zip(r, c)}


def acc(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Hungarian clustering accuracy in [0, 1]."""
    w = contingency(y_true, y_pred)
    r, c = linear_sum_assignment(w.max() - w)
    return float(w[r, c].sum() / w.sum())


def purity(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Majority-class purity in [0, 1] (many-to-one, so >= acc)."""
    w = contingency(y_true, y_pred)
    return float(w.max(axis=1).sum() / w.sum())


def nmi(y_true: np.ndarray, y_pred: np.ndarray, *, average_method: str = "arithmetic") -> float:
    """Normalised mutual information in [0, 1]: MI / mean(H(true), H(pred)).

    ``average_method`` pins the mean: 'arithmetic' (sklearn >= 0.22 default, the suite's default),
    'geometric' (sklearn <= 0.21, hence ClusterGAN/DLS/DEC-era code), 'min' or 'max'.
    """
    if average_method not in NMI_AVERAGE_METHODS:
        raise ValueError(f"average_method must be one of {', '.join(NMI_AVERAGE_METHODS)}, got {average_method!r}")
    y_true, y_pred = _check(y_true, y_pred)
    return float(normalized_mutual_info_score(y_true, y_pred, average_method=average_method))


def nmi_geometric(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """:func:`nmi` with the geometric normalisation (what sklearn <= 0.21, hence ClusterGAN/DLS, used)."""
    return nmi(y_true, y_pred, average_method="geometric")


def ari(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Adjusted Rand index (chance-corrected pair counting), in [-0.5, 1]; 0 for a random assignment."""
    y_true, y_pred = _check(y_true, y_pred)
    return float(adjusted_rand_score(y_true, y_pred))


def evaluate(y_true: np.ndarray, proba_or_labels: np.ndarray) -> dict[str, float]:
    """All clustering metrics of one assignment: acc, purity, nmi (arithmetic), nmi_geometric, ari.

    ``proba_or_labels``: (N,) labels or an (N, K) posterior (argmax taken).
    """
    p = np.asarray(proba_or_labels)
    if p.ndim not in (1, 2):
        raise ValueError(f"expected N labels or an N x K posterior, got shape {p.shape}")
    y_pred = p.argmax(axis=1) if p.ndim == 2 else p
    return {
        "acc": acc(y_true, y_pred),
        "purity": purity(y_true, y_pred),
        "nmi": nmi(y_true, y_pred, average_method="arithmetic"),
        "nmi_geometric": nmi_geometric(y_true, y_pred),
        "ari": ari(y_true, y_pred),
    }
