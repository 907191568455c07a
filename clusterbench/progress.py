"""Progress of long steps inside one run that has no epochs (k-means' ``n_init`` restarts, ...).

A method calls :func:`note` (``note(3, 20, "k-means restarts")``); the runner names the run
(:func:`run_label`, set around ``fit``). By default a note is one plain line on stderr, at most one
every :data:`EVERY_S` seconds (and always the last), so a log shows the run is alive without
flooding; ``clusterbench run`` on a terminal installs a sink (:func:`sink`) that moves its bar
instead. Silent with ``CLUSTERBENCH_QUIET=1`` (``run --quiet``). Pool workers and Slurm jobs use
the default (their stderr is the log). Deep methods report per epoch through the training loop.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator

#: Smallest gap between two plain progress lines of one run (seconds).
EVERY_S = 10.0

Sink = Callable[[str, int, int, str], None]  # (run label, done, total, what)

_label = ""
_sink: Sink | None = None
_last: dict[str, float] = {}
_t0: dict[str, float] = {}


def quiet() -> bool:
    """``clusterbench run --quiet`` (it sets ``CLUSTERBENCH_QUIET=1``, inherited by workers)."""
    return os.environ.get("CLUSTERBENCH_QUIET", "") not in ("", "0")


def hms(seconds: float) -> str:
    """``3725.2 -> "1:02:05"``."""
    s = int(round(seconds))
    return f"{s // 3600:d}:{s // 60 % 60:02d}:{s % 60:02d}"


@contextlib.contextmanager
def run_label(label: str) -> Iterator[None]:
    """Name the run whose notes follow (the runner wraps ``fit`` in it)."""
    global _label
    prev, _label = _label, label
    _t0[label] = time.perf_counter()
    try:
        yield
    finally:
        _label = prev
        _last.pop(label, None)
        _t0.pop(label, None)


@contextlib.contextmanager
def sink(fn: Sink) -> Iterator[None]:
    """Send notes to ``fn`` instead of stderr while the block runs (a terminal's bar)."""
    global _sink
    prev, _sink = _sink, fn
    try:
        yield
    finally:
        _sink = prev


def note(done: int, total: int, what: str) -> None:
    """``done`` of ``total`` steps of ``what`` finished in the current run."""
    if quiet():
        return
    label = _label or "run"
    if _sink is not None:
        _sink(label, done, total, what)
        return
    now = time.perf_counter()
    if now - _last.get(label, -float("inf")) < EVERY_S and done < total:
        return
    _last[label] = now
    elapsed = now - _t0.get(label, now)
    eta = f" eta {hms(elapsed / done * (total - done))}" if 0 < done < total else ""
    print(f"[{label}] {what} {done}/{total} elapsed {hms(elapsed)}{eta}", file=sys.stderr, flush=True)
