"""The reject option (Chow's rule) used by the Dual-AAE paper (Sec. III-B, Table IV).

A sample is *accepted* when its largest posterior is strictly greater than the threshold ``t``
and rejected when it is ``<= t`` (the paper rejects "a largest posterior less than or equal to
gamma"). We report the Hungarian ACC on the accepted samples and the rejection rate 1 - |A|/N.

The official Dual-AAE code has no reject-option code, so how the cluster -> class mapping is
chosen is unverified (../shared/metrics-reference.md §2). Two variants:

* ``mapping="full"`` (default): the Hungarian mapping is fitted on *all* N samples and then
  applied to the accepted ones (rejecting samples cannot improve the mapping itself; surplus
  clusters with no class stay errors);
* ``mapping="refit"``: the Hungarian mapping is refitted on the accepted samples only (plain
  :func:`clusterbench.metrics.clustering.acc` on A).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np

from clusterbench.metrics.clustering import acc, as_labels, cluster_to_class_map

Mapping = Literal["full", "refit"]


@dataclass(frozen=True)
class RejectResult:
    """One point of the reject curve.

    acc: Hungarian ACC on the accepted samples (NaN when every sample is rejected).
    rejection_rate: fraction of the N samples rejected, in [0, 1].
    """

    threshold: float
    acc: float
    rejection_rate: float
    n_accepted: int
    n_samples: int
    mapping: str

    def as_dict(self) -> dict[str, float | int | str]:
        return asdict(self)


def check_proba(proba: object, n_samples: int | None = None, *, atol: float = 1e-4) -> np.ndarray:
    """Validate an (N, K) posterior matrix: finite, non-negative, rows summing to 1 (within ``atol``).

    Raises ValueError naming the problem. Returns it as float64.
    """
    p = np.asarray(proba, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] < 1:
        raise ValueError(f"proba must be an N x K matrix of posteriors, got shape {p.shape}")
    if n_samples is not None and p.shape[0] != n_samples:
        raise ValueError(f"proba has {p.shape[0]} rows but there are {n_samples} labels")
    if p.shape[0] == 0:
        raise ValueError("proba is empty: the reject option needs at least one sample")
    if not np.isfinite(p).all():
        raise ValueError("proba contains NaN or infinite values")
    if (p < 0).any():
        raise ValueError(f"proba must be non-negative, got minimum {p.min():g}")
    sums = p.sum(axis=1)
    bad = np.flatnonzero(np.abs(sums - 1.0) > atol)
    if bad.size:
        raise ValueError(
            f"proba rows must sum to 1 (posteriors); {bad.size} rows do not, e.g. row {bad[0]} sums to {sums[bad[0]]:g}"
        )
    return p


def _check_threshold(threshold: float) -> float:
    t = float(threshold)
    if not np.isfinite(t) or not 0.0 <= t <= 1.0:
        raise ValueError(f"threshold must be a probability in [0, 1], got {threshold!r}")
    return t


def _accuracy_on_accepted(
    y: np.ndarray, pred: np.ndarray, accepted: np.ndarray, mapping: Mapping, full_map: dict[int, int]
) -> float:
    if not accepted.any():
        return float("nan")
    if mapping == "refit":
        return acc(y[accepted], pred[accepted])
    mapped = np.array([full_map[int(k)] for k in pred[accepted]], dtype=np.int64)
    return float(np.mean(mapped == y[accepted]))


def reject_option(
    y_true: np.ndarray, proba: np.ndarray, threshold: float, *, mapping: Mapping = "full"
) -> RejectResult:
    """ACC on the samples whose largest posterior exceeds ``threshold``, and the rejection rate.

    y_true: (N,) integer classes. proba: (N, K) posteriors, rows sum to 1 (argmax = cluster).
    threshold: in [0, 1]; sample i is accepted iff max_k proba[i, k] > threshold.
    mapping: "full" (Hungarian map fitted on all N, applied to the accepted) or "refit" (fitted
    on the accepted only).
    """
    return reject_curve(y_true, proba, [threshold], mapping=mapping)[0]


def reject_acc(y_true: np.ndarray, proba: np.ndarray, threshold: float) -> float:
    """ACC on the accepted samples (max posterior > ``threshold``), Hungarian map fitted on all N.

    y_true: (N,), proba: (N, K). NaN when every sample is rejected (the metric is then undefined).
    """
    return reject_option(y_true, proba, threshold).acc


def reject_rate(y_true: np.ndarray, proba: np.ndarray, threshold: float) -> float:
    """Fraction of the N samples whose max posterior is <= ``threshold``. y_true: (N,), proba: (N, K)."""
    return reject_option(y_true, proba, threshold).rejection_rate


def reject_curve(
    y_true: np.ndarray, proba: np.ndarray, thresholds: Iterable[float], *, mapping: Mapping = "full"
) -> list[RejectResult]:
    """:func:`reject_option` at each threshold (one :class:`RejectResult` per threshold, same order).

    y_true: (N,), proba: (N, K). The full-set mapping is computed once.
    """
    if mapping not in ("full", "refit"):
        raise ValueError(f"mapping must be 'full' or 'refit', got {mapping!r}")
    y = as_labels(y_true, name="y_true")
    if y.size == 0:
        raise ValueError("y_true is empty: the reject option needs at least one sample")
    p = check_proba(proba, y.size)
    ts = [_check_threshold(t) for t in thresholds]
    if not ts:
        raise ValueError("thresholds is empty: give at least one threshold in [0, 1]")
    pred = p.argmax(axis=1)
    conf = p.max(axis=1)
    full_map = cluster_to_class_map(y, pred)
    out = []
    for t in ts:
        accepted = conf > t
        n_acc = int(accepted.sum())
        out.append(
            RejectResult(
                threshold=t,
                acc=_accuracy_on_accepted(y, pred, accepted, mapping, full_map),
                rejection_rate=1.0 - n_acc / y.size,
                n_accepted=n_acc,
                n_samples=int(y.size),
                mapping=mapping,
            )
        )
    return out
