"""Metrics: pure functions, numpy in, numbers out."""

from clusterbench.metrics.clustering import acc, ari, evaluate, nmi, purity

__all__ = ["acc", "ari", "evaluate", "nmi", "purity"]
