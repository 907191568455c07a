"""Modes covered and KL(q(y) || p(y)) from a histogram of predicted labels.

Follows the unrolled-GAN / PacGAN stacked-MNIST protocol (../shared/metrics-reference.md §3):
a classifier labels generated samples; the number of *modes* is the number of distinct labels
predicted at least ``min_count`` times (reference behaviour: ``min_count=1``); q(y) is the
normalised histogram of all predictions and p(y) the uniform prior 1/K, so

    KL(q || p) = sum_{k: q_k > 0} q_k * ln(q_k * K)       (natural log; 0 <= KL <= ln K)

KL is 0 for perfectly balanced predictions and ln K when every sample gets the same label.
``min_count`` only affects the mode count; KL always uses the full histogram.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from clusterbench.metrics.clustering import as_labels


@dataclass(frozen=True)
class ModesResult:
    """modes: distinct labels with >= min_count samples; kl: KL(q||uniform) in nats; histogram: (K,) counts."""

    modes: int
    kl: float
    histogram: tuple[int, ...]
    n_samples: int
    min_count: int

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def modes_and_kl(pred_labels: np.ndarray, n_classes: int, *, min_count: int = 1) -> ModesResult:
    """Modes covered and KL(q(y) || uniform) of predicted labels.

    pred_labels: (N,) integers in 0..n_classes-1 (N >= 1). n_classes: K >= 1, the number of
    possible modes (10 for MNIST, 1000 for stacked MNIST). min_count >= 1.
    """
    if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)) or n_classes < 1:
        raise ValueError(f"n_classes must be a positive integer, got {n_classes!r}")
    if isinstance(min_count, bool) or not isinstance(min_count, (int, np.integer)) or min_count < 1:
        raise ValueError(f"min_count must be an integer >= 1, got {min_count!r}")
    y = as_labels(pred_labels, name="pred_labels")
    if y.size == 0:
        raise ValueError("pred_labels is empty: count modes over at least one sample")
    if y.max() >= n_classes:
        raise ValueError(f"pred_labels must be < n_classes={n_classes}, got label {int(y.max())}")
    hist = np.bincount(y, minlength=int(n_classes))
    q = hist / y.size
    nz = q > 0
    kl = float(np.sum(q[nz] * np.log(q[nz] * n_classes)))
    return ModesResult(
        modes=int((hist >= min_count).sum()),
        kl=max(kl, 0.0),
        histogram=tuple(int(h) for h in hist),
        n_samples=int(y.size),
        min_count=int(min_count),
    )
