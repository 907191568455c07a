"""Whole-step capture (``--set capture=graph``, issue 23): each training step of a deep method --
forwards, backwards (a gradient penalty's double backward included), optimizer steps -- recorded
once and replayed, so that a launch-bound network costs one graph launch per step instead of
several hundred kernel launches.

How (:class:`CapturedSteps`, which the loop wraps around ``training_step``/``pretrain_step``):

* host values that change between steps of one path (a scheduled learning rate, a noise range)
  are :meth:`DeepModel.step_values`: written into device tensors before every step, which the
  step reads through :meth:`DeepModel.value` (a replay reads their memory);
* a step's **control path** is :meth:`DeepModel.capture_key` (e.g. a GAN's "critic only" and
  "critic + generator" batches) plus the batch's shape; each path is captured once, after
  :data:`WARMUP` eager steps of that path (optimizer state created, cuDNN's algorithm chosen);
* on replay, the batch is copied into the captured step's static input, the graph replays, then
  :meth:`DeepModel.after_replay` advances what the step keeps on the host (a GAN's iteration
  counts): Python does not run on a replay;
* optimizers are made **capturable** before their first step (Adam's step counter and bias
  correction on the device: a host counter would be frozen into the graph);
* losses come back as copies of the graph's static outputs (what the loop averages).

Backends: on CUDA a ``torch.cuda.CUDAGraph`` per path, each with its own memory pool, captured on a
side stream (warm-up included). On the CPU (:class:`Tape`) the same rules are emulated: every aten
operator of the captured step is recorded with its tensors, and a replay re-runs the recorded
operators on those same tensors, writing into the recorded outputs -- Python not re-run, host
values frozen at capture, random numbers drawn again, as a CUDA graph does. It is slower than
eager and exists to check, on any machine, that a method's step *can* be captured: the tests run
every deep method eagerly and through the tape and require the same losses.

What a step must not do to be captured (each is refused with an error naming it, never silently
replayed wrong): read a device value on the host (``.item()``, ``nonzero``, a boolean mask, ...:
the syncs of :mod:`clusterbench.step_probe`), depend on a host value that changes between steps
of one path without declaring it in ``step_values`` (such a model sets :attr:`DeepModel.capturable`
to the reason, and ``capture=graph`` stops before training with it: SimCLR's cosine learning rate).

``capture=off`` is the default: the estimate (issue 23's proxies) puts graph replay ahead of eager
on every MNIST-size method, but no GPU has measured it yet; ``benchmarks/device_check.py`` measures
both on a lent GPU.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Hashable, Iterator
from typing import Any

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from clusterbench import step_probe
from clusterbench.errors import ConfigError
from clusterbench.step_probe import NO_KERNEL, SYNC_OPS, _is_bool_index

#: what ``capture`` accepts: "off" (eager steps), "graph" (whole-step capture as CUDA graphs) or
#: "compile" (the whole step under torch.compile, :class:`CompiledSteps`).
CAPTURE_MODES = ("off", "graph", "compile")
#: eager steps of a control path before it is captured (optimizer state exists, cuDNN autotuned;
#: PyTorch's CUDA-graph notes warm up 3 iterations).
WARMUP = 3

_StepFn = Callable[[torch.Tensor, int], dict[str, Any]]


def check_capture(value: str) -> str:
    """``value`` if it is a known capture mode, else a ValueError naming them."""
    if value not in CAPTURE_MODES:
        raise ValueError(f"capture must be one of {', '.join(CAPTURE_MODES)}, got {value!r}")
    return value


class CaptureError(RuntimeError):
    """A step did something a captured step cannot (see the module docstring)."""


# --- making optimizers capturable ---------------------------------------------------------------


@contextlib.contextmanager
def _cpu_capturable() -> Iterator[None]:
    """Let torch's capturable Adam run on CPU tensors (the tape's emulation): torch lists the
    devices it allows for ``capturable=True``; the algorithm itself is plain tensor code."""
    import torch.optim.adam as adam_mod

    orig = adam_mod._get_capturable_supported_devices
    adam_mod._get_capturable_supported_devices = lambda *a, **k: [*orig(*a, **k), "cpu"]
    try:
        yield
    finally:
        adam_mod._get_capturable_supported_devices = orig


def make_capturable(optims: dict[str, torch.optim.Optimizer]) -> list[str]:
    """Set ``capturable=True`` on the Adam/AdamW optimizers (before their first step); returns
    their names. Other optimizers (SGD) keep no host counter and need nothing."""
    done = []
    for name, o in optims.items():
        if isinstance(o, (torch.optim.Adam, torch.optim.AdamW)):
            if o.state:
                raise CaptureError(f"optimizer {name!r} already stepped: capturable must be set before its first step")
            for g in o.param_groups:
                g["capturable"] = True
            o.defaults["capturable"] = True
            done.append(name)
    return done


# --- the CPU emulation ----------------------------------------------------------------------------


class _Record(TorchDispatchMode):
    def __init__(self, tape: Tape) -> None:
        super().__init__()
        self.tape = tape

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self.tape.paused:
            return func(*args, **kwargs)
        why = SYNC_OPS.get(func)
        if why is None and func in (torch.ops.aten.index.Tensor, torch.ops.aten.index_put.default,
                                    torch.ops.aten.index_put_.default) and _is_bool_index(args):
            why = "boolean-mask indexing (nonzero)"
        if why is not None:
            raise CaptureError(f"the step reads a device value on the host: {why}")
        out = func(*args, **kwargs)
        if func not in NO_KERNEL and not func.is_view:
            self.tape.ops.append((func, args, kwargs, out))
        return out


class _RecordCalls(TorchFunctionMode):
    """``one_hot`` recorded as one call: its CPU kernel checks the labels' range with ``.item()``,
    the CUDA one does not (device-side asserts), so on the CPU its inner operators are not taped."""

    def __init__(self, tape: Tape) -> None:
        super().__init__()
        self.tape = tape

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is torch.nn.functional.one_hot and not self.tape.paused:
            self.tape.paused = True
            try:
                out = func(*args, **kwargs)
            finally:
                self.tape.paused = False
            self.tape.ops.append((func, args, kwargs, out))
            return out
        return func(*args, **kwargs)


class Tape:
    """The CPU stand-in for one CUDA graph (module docstring): :meth:`record` runs ``fn`` eagerly
    while recording its operators; :meth:`replay` re-runs them on the recorded tensors."""

    runs_on_capture = True  # recording executes the step (a CUDA capture does not)

    def __init__(self) -> None:
        self.ops: list[tuple[Any, tuple, dict, Any]] = []
        self.paused = False

    def record(self, fn: Callable[[], Any]) -> Any:
        with _RecordCalls(self), _Record(self):
            return fn()

    @torch.no_grad()
    def replay(self) -> None:
        for func, args, kwargs, out in self.ops:
            res = func(*args, **kwargs)
            outs, _ = tree_flatten(out)
            ress, _ = tree_flatten(res)
            for o, r in zip(outs, ress):
                if isinstance(o, torch.Tensor) and isinstance(r, torch.Tensor) and r is not o:
                    o.copy_(r)


class _CudaGraph:
    """One ``torch.cuda.CUDAGraph`` on the side stream of its :class:`CapturedSteps`, with its own
    memory pool: a GAN replays its two paths in any interleaving (critic-only steps M-1 times, then
    the generator path), which a pool shared between graphs allows only when replays follow the
    capture order. The cost is one step's activations per path, small for these networks."""

    runs_on_capture = False

    def __init__(self, stream: torch.cuda.Stream) -> None:
        self.graph = torch.cuda.CUDAGraph()
        self.stream = stream

    def record(self, fn: Callable[[], Any]) -> Any:
        # thread_local: a prefetch thread pinning host memory for the next batch
        # (clusterbench.training.resident) must not invalidate this thread's capture
        with torch.cuda.graph(self.graph, stream=self.stream, capture_error_mode="thread_local"):
            return fn()

    def replay(self) -> None:
        self.graph.replay()


# --- the wrappers the loop uses --------------------------------------------------------------------


def _load_values(model: Any, phase: str, step: int) -> None:
    """The model's host values of this step (``step_values``) into their device tensors, outside
    any graph: a fill per value, no sync."""
    store = model._step_values
    for k, v in model.step_values(phase, step).items():
        t = store.get(k)
        if t is None:
            t = store[k] = torch.zeros((), dtype=torch.float32, device=model.device)
        t.fill_(float(v))



class CapturedSteps:
    """``step_fn`` (a DeepModel's ``training_step`` or ``pretrain_step``) with each control path
    captured after :data:`WARMUP` eager steps and replayed afterwards (module docstring).

    ``backend``: "cuda" or "tape" (the CPU emulation). ``stats`` counts eager, captured and
    replayed steps (the run's extras report them)."""

    def __init__(self, model: Any, step_fn: _StepFn, *, phase: str, backend: str) -> None:
        self.model, self.step_fn, self.phase, self.backend = model, step_fn, phase, backend
        self.graphs: dict[Hashable, tuple[Any, torch.Tensor, dict[str, Any]]] = {}
        self.seen: dict[Hashable, int] = {}
        self.stats = {"eager": 0, "captured": 0, "replayed": 0}
        if backend == "cuda":
            self.stream = torch.cuda.Stream()

    def _key(self, x: torch.Tensor, step: int) -> Hashable:
        return (self.model.capture_key(self.phase, step), tuple(x.shape), x.dtype)

    @contextlib.contextmanager
    def _on_side_stream(self) -> Iterator[None]:
        if self.backend != "cuda":
            with _cpu_capturable():
                yield
            return
        self.stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(self.stream):
            yield
        torch.cuda.current_stream().wait_stream(self.stream)

    def __call__(self, x: torch.Tensor, step: int) -> dict[str, Any]:
        key = self._key(x, step)
        _load_values(self.model, self.phase, step)
        hit = self.graphs.get(key)
        if hit is not None:
            graph, static_x, out = hit
            static_x.copy_(x)
            with step_probe.graph_launch():  # a watch (benchmarks) counts one launch
                graph.replay()
            self.model.after_replay(self.phase, step)
            self.stats["replayed"] += 1
            return {k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in out.items()}
        n = self.seen.get(key, 0)
        self.seen[key] = n + 1
        if n < WARMUP:
            with self._on_side_stream():
                out = self.step_fn(x, step)
            self.stats["eager"] += 1
            return out
        graph = Tape() if self.backend == "tape" else _CudaGraph(self.stream)
        static_x = x.clone()
        try:
            with _cpu_capturable() if self.backend == "tape" else contextlib.nullcontext():
                out = graph.record(lambda: self.step_fn(static_x, step))
        except Exception as exc:
            raise ConfigError(
                f"capture=graph: step {step} of the {self.phase} phase of {type(self.model).__name__} could not be "
                f"captured: {exc}",
                hint="Run it with --set capture=off (eager steps), and report the step that failed.") from exc
        out = {k: v.detach() if isinstance(v, torch.Tensor) else v for k, v in out.items()}
        self.graphs[key] = (graph, static_x, out)
        self.stats["captured"] += 1
        if not graph.runs_on_capture:  # a CUDA capture records the step without running it
            graph.replay()
        return {k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in out.items()}


class CompiledSteps:
    """``capture=compile``: the whole step function under ``torch.compile`` (inductor on CUDA;
    ``aot_eager`` on the CPU, which runs the same operators: a check, not a speed-up). Unlike a
    CUDA graph, Python still runs (dynamo replays its side effects; a new control path recompiles),
    so no ``capture_key``/``after_replay`` is needed; the model's :meth:`DeepModel.step_values`
    are still read from device tensors, so that a scheduled learning rate does not recompile every
    step. A step breaks into several graphs where dynamo cannot trace: the optimizers' steps, and
    the gradient penalty (``methods/gan/wgan.py``: aot_autograd has no double backward), which
    runs eagerly."""

    def __init__(self, model: Any, step_fn: _StepFn, *, phase: str, backend: str) -> None:
        self.model, self.phase, self.backend = model, phase, backend
        self.fn = torch.compile(step_fn, backend=backend)
        self.stats = {"compiled": 0}

    def __call__(self, x: torch.Tensor, step: int) -> dict[str, Any]:
        _load_values(self.model, self.phase, step)
        with _cpu_capturable() if self.backend != "inductor" else contextlib.nullcontext():
            out = self.fn(x, step)
        self.stats["compiled"] += 1
        return out


def capture_backend(device: torch.device) -> str:
    """"cuda" on a CUDA device, else "tape" (the CPU emulation; slower than eager, for checking)."""
    return "cuda" if device.type == "cuda" else "tape"


def prepare(model: Any, capture: str, device: torch.device) -> Callable[[_StepFn, str], Any] | None:
    """Before the first step: refuse a model whose steps cannot be captured as a graph (its
    reason), make its optimizers capturable, give it device tensors for its step values; returns
    the wrapper of a phase's step function (``wrap(step_fn, phase)``), or None for ``capture=off``."""
    check_capture(capture)
    if capture == "off":
        return None
    if capture == "graph":
        reason = getattr(model, "capturable", True)
        if reason is not True:
            raise ConfigError(f"capture=graph: {type(model).__name__}'s steps cannot be captured: {reason}.",
                              hint="Run it with --set capture=compile or capture=off.")
        backend = capture_backend(device)
        if backend == "tape":
            warnings.warn("capture=graph on the CPU runs the CUDA-graph emulation (a replay tape): slower than "
                          "eager, for checking that the steps can be captured.", stacklevel=3)
    else:
        backend = "inductor" if device.type == "cuda" else "aot_eager"
        if backend == "aot_eager":
            warnings.warn("capture=compile on the CPU compiles with aot_eager (the same operators, no fusion): "
                          "for checking the compiled step, not faster than eager.", stacklevel=3)
    make_capturable(model.optims)
    model._step_values = {}  # the step reads its scheduled host values from device tensors
    cls = CompiledSteps if capture == "compile" else CapturedSteps
    return lambda step_fn, phase: cls(model, step_fn, phase=phase, backend=backend)


__all__ = ["CAPTURE_MODES", "WARMUP", "CaptureError", "CapturedSteps", "CompiledSteps", "Tape", "capture_backend",
           "check_capture", "make_capturable", "prepare"]
