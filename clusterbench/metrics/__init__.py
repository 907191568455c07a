"""Metrics: pure functions, numpy in, numbers out."""

from clusterbench.metrics.clustering import acc, ari, evaluate, nmi, nmi_geometric, purity
from clusterbench.metrics.modes import ModesResult, modes_and_kl
from clusterbench.metrics.record import REJECT_THRESHOLDS, record_metrics
from clusterbench.metrics.reject import RejectResult, reject_curve, reject_option

__all__ = [
    "acc",
    "ari",
    "evaluate",
    "nmi",
    "nmi_geometric",
    "purity",
    "ModesResult",
    "modes_and_kl",
    "RejectResult",
    "reject_curve",
    "reject_option",
    "record_metrics",
    "REJECT_THRESHOLDS",
]
