"""The metrics stored in a run record: one function, used by the runner and by
``recompute_metrics`` so that a record's metrics can always be recomputed from its outputs.

What it computes is read from the catalogue (:mod:`clusterbench.metrics.catalog`): every entry
whose inputs are the labels and predicted clusters, every posterior entry at each of its values
(the reject option at ``REJECT_THRESHOLDS``), and the extras a method reported. A new metric of
those kinds is recorded for every run by adding its catalogue entry; nothing changes here.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from clusterbench.metrics.catalog import REJECT_THRESHOLDS, recorded
from clusterbench.metrics.reject import check_proba

__all__ = ["REJECT_THRESHOLDS", "record_metrics"]


def record_metrics(y: np.ndarray, proba: np.ndarray, *, extras: dict[str, Any] | None = None) -> dict[str, float]:
    """Every catalogue metric computable from one run's outputs.

    Built-ins: acc, purity, nmi, nmi_geometric, ari; ``reject_acc@t`` / ``reject_rate@t`` at
    REJECT_THRESHOLDS (mapping fitted on all samples, applied to the accepted ones; no
    ``reject_acc@t`` when nothing is accepted: a value that is undefined (NaN) is left out);
    ``modes`` / ``kl`` when the method counted the modes of its generated samples
    (``extras['modes_generated']`` / ``extras['modes_kl']``, Table II).

    y: (N,) labels; proba: (N, K) posteriors whose rows sum to 1.
    """
    proba = check_proba(proba, np.asarray(y).shape[0])
    pred = proba.argmax(axis=1)
    extras = extras or {}
    m: dict[str, float] = {}
    for entry in recorded(("labels", "posterior", "extras")):
        if entry.inputs == "labels":
            values = {entry.key: entry.function()(y, pred)}
        elif entry.inputs == "posterior":
            fn = entry.function()
            values = {entry.concrete(v): fn(y, proba, v) for v in entry.values or ()}
        else:
            values = {entry.key: extras[entry.extra]} if entry.extra in extras else {}
        for key, v in values.items():
            v = float(v)
            if not math.isnan(v):
                m[key] = v
    return m
