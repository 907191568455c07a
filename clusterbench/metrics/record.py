"""The metrics stored in a run record: one function, used by the runner and by
``recompute_metrics`` so that a record's metrics can always be recomputed from its outputs."""

from __future__ import annotations

from typing import Any

import numpy as np

from clusterbench.metrics.clustering import evaluate
from clusterbench.metrics.reject import reject_curve

#: Dual-AAE Table IV's thresholds (Sec. IV-E): ACC and rejection rate of the reject option.
REJECT_THRESHOLDS: tuple[float, ...] = (0.5, 0.6, 0.9)


def record_metrics(y: np.ndarray, proba: np.ndarray, *, extras: dict[str, Any] | None = None) -> dict[str, float]:
    """acc, purity, nmi, nmi_geometric, ari; ``reject_acc@t`` / ``reject_rate@t`` at
    REJECT_THRESHOLDS (mapping fitted on all samples, applied to the accepted ones; no
    ``reject_acc@t`` when nothing is accepted); ``modes`` / ``kl`` when the method counted the
    modes of its generated samples (``extras['modes_generated']``, Table II).

    y: (N,) labels; proba: (N, K) posteriors whose rows sum to 1.
    """
    m = evaluate(y, proba)
    for r in reject_curve(y, proba, REJECT_THRESHOLDS):
        m[f"reject_rate@{r.threshold:g}"] = float(r.rejection_rate)
        if r.n_accepted > 0:
            m[f"reject_acc@{r.threshold:g}"] = float(r.acc)
    extras = extras or {}
    if "modes_generated" in extras:
        m["modes"] = float(extras["modes_generated"])
        m["kl"] = float(extras["modes_kl"])
    return m
