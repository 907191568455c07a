"""What one training step asks of an accelerator, measured on any device (issue 23).

The single loop (``clusterbench.training.loop.train``) runs each step -- the batch taken from the data on
the device, the method's ``training_step``/``pretrain_step``, the loss bookkeeping -- inside
:func:`step_scope`. When a :class:`StepProbe` is active (``with probing(probe): method.fit(...)``),
it watches those steps:

* **host syncs** (:class:`SyncWatch`): every operation that makes the host wait for the device or
  moves data between them -- ``.item()``/``float(t)``/``bool(t)`` (``aten._local_scalar_dense``),
  ``nonzero``/boolean-mask indexing/``masked_select``/``unique``/``bincount`` (their output size
  is read back), ``.cpu()``/``.numpy()``/``.tolist()``, and tensors built from host data
  (``torch.tensor``/``torch.from_numpy``: a blocking host->device copy). On CUDA these are the
  calls ``torch.cuda.set_sync_debug_mode("error")`` refuses; on the CPU the watch is their proxy.
  Exempt: an optimizer's work on its host-resident step counter (non-fused Adam keeps it on the
  host on CUDA too: no device sync). ``fail=True`` raises :class:`HostSyncError` at the
  first one (the CPU stand-in for the CUDA "error" mode).
* **kernels**: aten operators that launch work (views, aliases and allocations excluded) -- on
  CUDA in eager mode each is about one kernel launch, so a small network is bound by their count
  rather than by FLOPs.
* **FLOPs** (``torch.utils.flop_counter``'s table: matmul/conv, forward and backward).
* **time** per step (``timing=True``, without the counting modes; CUDA synchronised at the ends
  of the timed window only).

A probe stops the run with :class:`ProbeDone` after ``stop_after`` steps of the last phase it
watches; the harness (``benchmarks/step_proxies.py``, ``benchmarks/device_check.py``, the tests)
catches it. Without an active probe :func:`step_scope` is a null context (one ContextVar read).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Self

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

aten = torch.ops.aten
#: FLOPs of matmul/conv operators (forward and backward): torch.utils.flop_counter's table, used
#: directly (FlopCounterMode's module hooks do not support the double backward of a gradient penalty).
_FLOPS = flop_registry

#: aten operators that read a device value back to the host (the host waits for the device).
SYNC_OPS: dict[Any, str] = {
    aten._local_scalar_dense.default: ".item()/float()/bool() of a tensor",
    aten.nonzero.default: "nonzero (output size read back)",
    aten.masked_select.default: "masked_select (output size read back)",
    aten.bincount.default: "bincount (max read back for the output size)",
    aten._unique2.default: "unique", aten.unique_dim.default: "unique", aten.unique_consecutive.default: "unique",
    aten._unique.default: "unique",
    aten.lift_fresh.default: "torch.tensor/from_numpy (a host -> device copy)",
    aten.equal.default: "torch.equal (a bool read back)",
    aten.is_nonzero.default: "bool(tensor)",
}
#: Tensor methods that copy a tensor to the host.
HOST_METHODS = {"numpy": ".numpy()", "cpu": ".cpu()", "tolist": ".tolist()", "__array__": "numpy.asarray(tensor)"}
#: aten operators that launch no kernel (allocation, aliasing, metadata).
NO_KERNEL = {aten.detach.default, aten.alias.default, aten.empty.memory_format, aten.empty_strided.default,
             aten.empty_like.default, aten.lift_fresh.default, aten._unsafe_view.default, aten.set_.source_Storage,
             aten.resize_.default, aten.new_empty.default, aten.new_empty_strided.default}


class HostSyncError(RuntimeError):
    """A training step synchronised the host with the device (see :class:`SyncWatch`)."""


class ProbeDone(Exception):
    """Raised out of the loop when a probe has seen the steps it was asked for."""


def _is_bool_index(args: tuple) -> bool:
    idx = args[1] if len(args) > 1 else None
    return isinstance(idx, (list, tuple)) and any(isinstance(t, torch.Tensor) and t.dtype == torch.bool for t in idx)


class _Dispatch(TorchDispatchMode):
    def __init__(self, watch: SyncWatch) -> None:
        super().__init__()
        self.watch = watch

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        w = self.watch
        if w.in_graph:  # a graph replay's operators: one launch in all (counted by graph_launch)
            out = func(*args, **(kwargs or {}))
            flop = _FLOPS.get(func._overloadpacket)
            if flop is not None:
                w.flops += int(flop(*args, **(kwargs or {}), out_val=out))
            return out
        why = SYNC_OPS.get(func)
        if why is None and func in (aten.index.Tensor, aten.index_put.default, aten.index_put_.default) \
                and _is_bool_index(args):
            why = "boolean-mask indexing (nonzero: output size read back)"
        if why is not None and not w.exempt:
            w.sync(why)
        if func not in NO_KERNEL and not func.is_view and why is None:
            w.kernels += 1
        out = func(*args, **(kwargs or {}))
        flop = _FLOPS.get(func._overloadpacket)
        if flop is not None:
            w.flops += int(flop(*args, **(kwargs or {}), out_val=out))
        if w.trace and why is not None and not w.exempt:
            import traceback

            w.where.append("".join(traceback.format_stack(limit=12)[:-1]))
        return out


class _Function(TorchFunctionMode):
    def __init__(self, watch: SyncWatch) -> None:
        super().__init__()
        self.watch = watch

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        why = HOST_METHODS.get(name)
        if why is not None and args and isinstance(args[0], torch.Tensor) and not self.watch.exempt:
            self.watch.sync(why)
        if name == "one_hot" and (args[1:2] or [kwargs.get("num_classes", -1)])[0] >= 0:
            # the CPU kernel checks the labels' range with .item(); the CUDA one does not (device asserts)
            prev, self.watch.exempt = self.watch.exempt, True
            try:
                return func(*args, **kwargs)
            finally:
                self.watch.exempt = prev
        return func(*args, **kwargs)


@dataclass
class SyncWatch:
    """Counts kernels and host syncs of the code run inside it (``with watch:``); ``fail=True``
    raises :class:`HostSyncError` at the first sync. Exempt: what an optimizer that keeps its step
    counter on the host (not fused, not capturable: torch's default on CUDA too) does with that
    counter inside its ``step()`` -- host scalars, no device sync."""

    fail: bool = False
    kernels: int = 0
    flops: int = 0
    syncs: list[str] = field(default_factory=list)
    trace: bool = False
    where: list[str] = field(default_factory=list)

    def sync(self, why: str) -> None:
        self.syncs.append(why)
        if self.fail:
            raise HostSyncError(f"host sync inside a training step: {why}")

    exempt: bool = False
    in_graph: bool = False

    def _pre(self, opt, args, kwargs) -> None:
        d = opt.defaults
        self.exempt = not (d.get("fused") or d.get("capturable"))

    def _post(self, opt, args, kwargs) -> None:
        self.exempt = False

    def __enter__(self) -> Self:
        from torch.optim.optimizer import (
            register_optimizer_step_post_hook,
            register_optimizer_step_pre_hook,
        )

        self._hooks = [register_optimizer_step_pre_hook(self._pre), register_optimizer_step_post_hook(self._post)]
        self._modes = [_Function(self), _Dispatch(self)]
        for m in self._modes:
            m.__enter__()
        self._token = _WATCH.set(self)
        return self

    def __exit__(self, *exc) -> None:
        _WATCH.reset(self._token)
        for m in reversed(self._modes):
            m.__exit__(*exc)
        for h in self._hooks:
            h.remove()
        self.exempt = False


@dataclass
class StepRecord:
    """One watched step: its phase and index in the run, kernels, FLOPs, host syncs (reasons)."""

    phase: str
    index: int
    kernels: int = 0
    flops: int = 0
    syncs: list[str] = field(default_factory=list)
    where: list[str] = field(default_factory=list)


@dataclass
class StepProbe:
    """Watch the loop's steps (module docstring).

    phases: the phases watched ("pretrain", "train"); skip: steps of each phase left unwatched
    first (optimizer state is created on the first step); stop_after: watched steps of the last
    phase in ``phases`` after which :class:`ProbeDone` is raised (None: never).
    count: kernels/syncs/FLOPs per step (dispatch modes: slow; off for timing).
    fail_on_sync: raise :class:`HostSyncError` at a sync (needs ``count``).
    timing: time the watched steps of each phase as one window (CUDA synchronised at its ends).
    on_model: called with (model, loop options, device) once the loop has built the model.
    """

    phases: tuple[str, ...] = ("train",)
    skip: int = 1
    stop_after: int | None = 2
    count: bool = True
    fail_on_sync: bool = False
    timing: bool = False
    on_model: Callable[..., None] | None = None
    trace: bool = False
    records: list[StepRecord] = field(default_factory=list)
    seen: dict[str, int] = field(default_factory=dict)
    windows: dict[str, list[float]] = field(default_factory=dict)  # phase -> [t0, t1, steps]
    model: Any = None

    def model_built(self, model: Any, options: Any, device: torch.device) -> None:
        self.model, self.device = model, device
        if self.on_model is not None:
            self.on_model(model, options, device)

    def _sync_device(self) -> None:
        if getattr(self, "device", None) is not None and self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    @contextlib.contextmanager
    def step(self, phase: str) -> Iterator[None]:
        i = self.seen.get(phase, 0)
        self.seen[phase] = i + 1
        for other in self.windows:  # a new phase ends the timing window of the one before
            if other != phase:
                self.close_window(other)
        if phase not in self.phases or i < self.skip:
            yield
            return
        if self.timing:
            win = self.windows.setdefault(phase, [0.0, 0.0, 0])
            if win[2] == 0:
                self._sync_device()
                win[0] = time.perf_counter()
        rec = StepRecord(phase, i)
        if self.count:
            watch = SyncWatch(fail=self.fail_on_sync, trace=self.trace)
            with watch:
                yield
            rec.kernels, rec.flops, rec.syncs, rec.where = watch.kernels, watch.flops, watch.syncs, watch.where
        else:
            yield
        self.records.append(rec)
        if self.timing:
            win[2] += 1
        last = self.phases[-1]
        if self.stop_after is not None and phase == last and self.seen[phase] - self.skip >= self.stop_after:
            if self.timing:
                self._sync_device()
                self.windows[phase][1] = time.perf_counter()
            raise ProbeDone(phase)

    def close_window(self, phase: str) -> None:
        """End a phase's timing window (the loop calls it when the phase's epochs are over)."""
        win = self.windows.get(phase)
        if self.timing and win is not None and win[1] == 0.0:
            self._sync_device()
            win[1] = time.perf_counter()

    def steps_per_second(self, phase: str) -> float | None:
        win = self.windows.get(phase)
        if not win or win[2] == 0 or win[1] <= win[0]:
            return None
        return win[2] / (win[1] - win[0])

    def of(self, phase: str) -> list[StepRecord]:
        return [r for r in self.records if r.phase == phase]


_CURRENT: ContextVar[StepProbe | None] = ContextVar("clusterbench_step_probe", default=None)
_WATCH: ContextVar[SyncWatch | None] = ContextVar("clusterbench_sync_watch", default=None)


@contextlib.contextmanager
def probing(probe: StepProbe) -> Iterator[StepProbe]:
    """Activate ``probe`` for the loops run inside the block."""
    token = _CURRENT.set(probe)
    try:
        yield probe
    finally:
        _CURRENT.reset(token)


@contextlib.contextmanager
def host_side() -> Iterator[None]:
    """Mark work a step does on host tensors by design (e.g. a permutation drawn by the host's
    generator, a CPU tensor on CUDA too): a watch does not count it as a sync. On the CPU the watch
    cannot tell host tensors from device ones, hence this mark; keep what it wraps tiny."""
    watch = _WATCH.get()
    if watch is None:
        yield
        return
    prev, watch.exempt = watch.exempt, True
    try:
        yield
    finally:
        watch.exempt = prev


@contextlib.contextmanager
def graph_launch() -> Iterator[None]:
    """Mark a captured graph's replay (``clusterbench.training.capture``): a watch counts it as one
    kernel launch, and its FLOPs, not the operators the CPU's replay tape re-runs one by one."""
    watch = _WATCH.get()
    if watch is None:
        yield
        return
    watch.kernels += 1
    prev, watch.in_graph = watch.in_graph, True
    try:
        yield
    finally:
        watch.in_graph = prev


def current() -> StepProbe | None:
    return _CURRENT.get()


def step_scope(phase: str) -> contextlib.AbstractContextManager:
    """What the loop wraps each step in: the active probe's watch, or a null context."""
    probe = _CURRENT.get()
    return probe.step(phase) if probe is not None else contextlib.nullcontext()


__all__ = ["HOST_METHODS", "SYNC_OPS", "HostSyncError", "ProbeDone", "StepProbe", "StepRecord", "SyncWatch",
           "current", "graph_launch", "host_side", "probing", "step_scope"]
