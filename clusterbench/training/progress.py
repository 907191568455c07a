"""Progress output of the loop: a Rich bar when stderr is a terminal, plain log lines otherwise
(:class:`_LogLines`), nothing with ``CLUSTERBENCH_QUIET=1`` (``clusterbench run --quiet``)."""

from __future__ import annotations

import math
import os
import sys
import time
from typing import Any


def _progress(enabled: bool | None):
    """A Rich bar when stderr is a terminal (``enabled=None``), else None (see :class:`_LogLines`)."""
    if enabled is None:
        enabled = sys.stderr.isatty() and not _quiet()
    if not enabled:
        return None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"), transient=True,
    )


def _quiet() -> bool:
    """``clusterbench run --quiet`` (it sets ``CLUSTERBENCH_QUIET=1``, inherited by workers)."""
    return os.environ.get("CLUSTERBENCH_QUIET", "") not in ("", "0")


class _LogLines:
    """Plain progress lines on stderr when it is not a terminal (logs of CI, Slurm, nohup): one
    line per epoch, at most one every ``every`` seconds (and always the last), with the losses,
    the elapsed time and the ETA. Silent with ``CLUSTERBENCH_QUIET=1`` or ``progress=False``."""

    def __init__(self, label: str, total: int, done: int, every: float = 10.0) -> None:
        self.label, self.total, self.start_done, self.every = label, total, done, every
        self.t0 = time.perf_counter()
        self.last = -math.inf

    @staticmethod
    def _hms(s: float) -> str:
        s = int(round(s))
        return f"{s // 3600:d}:{s // 60 % 60:02d}:{s % 60:02d}"

    def epoch(self, done: int, phase: str, epoch: int, n_epochs: int, row: dict[str, Any]) -> None:
        now = time.perf_counter()
        if now - self.last < self.every and done < self.total:
            return
        self.last = now
        elapsed = now - self.t0
        rate = elapsed / max(done - self.start_done, 1)
        losses = " ".join(f"{k}={v:.4g}" for k, v in row.items()
                          if k not in ("epoch", "phase", "seconds", "monitor_seconds") and isinstance(v, float))
        print(f"[{self.label}] {phase} epoch {epoch}/{n_epochs} ({done}/{self.total}) {losses} "
              f"elapsed {self._hms(elapsed)} eta {self._hms(rate * (self.total - done))}",
              file=sys.stderr, flush=True)

