"""Metrics: pure functions, numpy in, numbers out.

The names below are imported on first use (PEP 562): ``clusterbench.metrics.catalog`` is read by
commands that must start without scikit-learn and scipy (``report``, ``summary``; issue 14 item 4),
and importing it runs this file.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "acc": "clustering", "ari": "clustering", "evaluate": "clustering", "nmi": "clustering",
    "nmi_geometric": "clustering", "purity": "clustering",
    "ModesResult": "modes", "modes_and_kl": "modes",
    "REJECT_THRESHOLDS": "record", "record_metrics": "record",
    "RejectResult": "reject", "reject_curve": "reject", "reject_option": "reject",
}

__all__ = list(_WHERE)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f"clusterbench.metrics.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])
