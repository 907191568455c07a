"""Training schedules: which config fields are a run's length, and how ``--budget`` shortens them.

A method's schedule is every config field named ``epochs``, ``*_epochs`` (``pretrain_epochs``)
or ``iterations`` with a positive integer value (the same names ``clusterbench check`` caps,
``runner/check.toml``). Shortening to a fraction ``s`` sets each to ``max(1, round(v * s))``. A
config without such fields (k-means, spectral clustering) has nothing to shorten: its runs are
the paper's schedule whatever the budget.

A shortened run carries ``schedule = s`` in its spec (and so its key) and its record; the report
never lets such a run fill a paper cell (``report.render``), and renders it in a table of its own.
"""

from __future__ import annotations

import fnmatch
import re
from typing import Any

from clusterbench.errors import ConfigError

#: fnmatch patterns of the config fields that count a run's length.
SCHEDULE_PATTERNS: tuple[str, ...] = ("epochs", "*_epochs", "iterations")


def schedule_fields(config: dict[str, Any]) -> dict[str, int]:
    """The schedule fields of a resolved config (name -> positive int value)."""
    return {k: int(v) for k, v in config.items()
            if any(fnmatch.fnmatchcase(k, p) for p in SCHEDULE_PATTERNS)
            and isinstance(v, int) and not isinstance(v, bool) and v > 0}


def shortened(config: dict[str, Any], scale: float) -> dict[str, int]:
    """The schedule fields of ``config`` shortened to ``scale`` (only those that change)."""
    out = {}
    for k, v in schedule_fields(config).items():
        new = max(1, round(v * scale))
        if new != v:
            out[k] = new
    return out


def parse_budget(budget: str | None, scale: float | None) -> float | None:
    """``--budget 10%`` / ``--budget 0.1`` / ``--scale 0.1`` -> 0.1; None when neither is given
    (the paper's schedule). A fraction of 1 (100 %) is the paper's schedule too (None)."""
    if budget is not None and scale is not None:
        raise ConfigError("Give --budget or --scale, not both (they say the same thing: --budget 10% = --scale 0.1).")
    if budget is None and scale is None:
        return None
    if budget is not None:
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(%?)\s*", str(budget))
        if not m:
            raise ConfigError(f"--budget {budget!r} is not a fraction of the paper's schedule.",
                              hint="Give a percentage (--budget 10%) or a fraction (--budget 0.1).")
        value = float(m.group(1)) / (100 if m.group(2) else 1)
        what = f"--budget {budget}"
    else:
        value, what = float(scale), f"--scale {scale}"
    if not 0 < value <= 1:
        raise ConfigError(f"{what} must be more than 0 and at most 100 % of the paper's schedule.",
                          hint="E.g. --budget 10% (or --scale 0.1) for a tenth of every run's epochs/iterations.")
    return None if value == 1 else value


def schedule_text(scale: float) -> str:
    """``0.1`` -> ``"shortened to 10 % of the paper's schedule"``."""
    return f"shortened to {scale * 100:g} % of the paper's schedule"
