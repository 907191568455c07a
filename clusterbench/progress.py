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


def note(done: int, total: int, what: str, *, eta: bool = True) -> None:
    """``done`` of ``total`` steps of ``what`` finished in the current run (``eta=False`` for
    steps of unequal cost: no ETA is printed)."""
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
    left = f" eta {hms(elapsed / done * (total - done))}" if eta and 0 < done < total else ""
    print(f"[{label}] {what} {done}/{total} elapsed {hms(elapsed)}{left}", file=sys.stderr, flush=True)


def current_label() -> str:
    """The label of the run in progress ("" outside a run)."""
    return _label


def say(message: str) -> None:
    """One line on stderr for the run in progress (resume, schedule, estimate), unless quiet."""
    if not quiet():
        print(f"[{_label or 'run'}] {message}", file=sys.stderr, flush=True)


#: A deep run on the CPU whose estimate exceeds this many seconds gets a warning with the GPU way.
CPU_WARN_S = 3600.0


def schedule_text(phases: list[tuple[str, int]], steps_per_epoch: int, batch_size: int, total_steps: int,
                  device: str) -> str:
    """``"schedule on cpu: 50 pretrain + 20 train epochs of 17 steps (batch 100), 1,190 steps"``."""
    parts = " + ".join(f"{n:,} {name}" for name, n in phases if n)
    return (f"schedule on {device}: {parts or '0'} epochs of {steps_per_epoch:,} steps (batch {batch_size}), "
            f"{total_steps:,} steps in all")


def estimate_text(seconds_per_step: float, steps_measured: int, steps_left: int, device: str,
                  phase: str = "train") -> str:
    """The rough remaining time from the first measured steps of ``phase``; a warning on a CPU
    beyond :data:`CPU_WARN_S` naming the GPU way."""
    left = seconds_per_step * steps_left
    text = (f"estimate on {device}: about {hms(left)} for the remaining {steps_left:,} steps "
            f"(rough: {seconds_per_step:.3g} s per step over the first {steps_measured} {phase} steps, evaluations "
            "not counted" + ("; the train phase's steps may be slower, it gets its own estimate" if phase != "train"
                             else "") + ")")
    if device == "cpu" and left > CPU_WARN_S:
        text += (f". Warning: more than {CPU_WARN_S / 3600:g} hour on this CPU. On a GPU machine rerun the same "
                 "`clusterbench run` command with `--device cuda`, or submit it with `--executor slurm --gpus 1`; "
                 "Ctrl-C keeps the last checkpoint (rerunning resumes from it).")
    return text


def phase_eta(phases: list[tuple[str, int]], done: dict[str, int], seconds: dict[str, float],
              phase: str, epoch: int) -> tuple[float, bool]:
    """(seconds left, exact) after ``epoch`` of ``phase``: each phase's remaining epochs at that
    phase's own measured mean (a two-phase method's training epochs are slower than its
    pre-training ones). A phase not measured yet borrows the mean of the ones that were, and the
    estimate is then a lower bound (``exact`` False)."""
    means = {p: seconds[p] / done[p] for p in done if done[p]}
    fallback = max(means.values()) if means else 0.0
    left, exact, seen = 0.0, True, False
    for name, n in phases:
        if name == phase:
            seen, remaining = True, n - epoch
        elif seen:
            remaining = n
        else:
            continue
        if remaining > 0:
            if name not in means:
                exact = False
            left += remaining * means.get(name, fallback)
    return left, exact


class StepProbe:
    """Times a session's first training steps and prints :func:`estimate_text` once.

    Called after every step (``probe()``; True once it has reported, so the loop drops it). The
    first step is not timed (warm-up: allocation, cuDNN autotuning, compilation); the estimate
    comes after ``min_steps`` more steps and ``min_seconds``. ``sync`` (CUDA: synchronize) runs
    once, at that moment, so queued GPU work is counted."""

    def __init__(self, steps_left: int, device: str, *, phase: str = "train", sync: Callable[[], None] | None = None,
                 min_steps: int = 5, min_seconds: float = 2.0) -> None:
        self.steps_left, self.device, self.sync, self.phase = steps_left, device, sync, phase
        self.min_steps, self.min_seconds = min_steps, min_seconds
        self.steps = 0
        self.t0: float | None = None

    def __call__(self) -> bool:
        self.steps += 1
        now = time.perf_counter()
        if self.t0 is None:
            self.t0 = now
            return False
        n = self.steps - 1
        if n < self.min_steps or now - self.t0 < self.min_seconds:
            return False
        if self.sync is not None:
            self.sync()
            now = time.perf_counter()
        say(estimate_text((now - self.t0) / n, n, max(self.steps_left - self.steps, 0), self.device, self.phase))
        return True
