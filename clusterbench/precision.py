"""Numerical precision of the deep methods' training: one owner for the choice and its islands.

* ``amp = "fp32"`` (the default; a Config field, so it is in every run's config, key and record):
  float32 everywhere, as the papers ran. On CUDA the loop allows TF32 for matrix products and
  convolutions (``torch.backends.cuda.matmul.allow_tf32`` / ``cudnn.allow_tf32``: float32
  storage and accumulation, a 10-bit mantissa in the products).
* ``amp = "bf16"`` (an opt-in, recorded): the loop runs the steps' forward passes under CUDA bf16
  autocast (no loss scaler needed). CPU runs stay float32 whatever is asked (a warning says so).

Under bf16 autocast some losses are wrong, not just less precise: ``1 - 1e-6`` rounds to 1.0, so
ClusterGAN-BSPL's binary entropies (``log(1 - a)``) turn NaN; the WGAN-GP penalty's gradient norms
and the MMD's kernel of squared distances lose the differences they measure. Such losses are
written as :func:`float32` functions: their tensor arguments are cast to float32 and autocast is
off inside (CUDA and CPU), so they are computed in float32 under any setting of ``amp``.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import torch

#: Values of the ``amp`` config field.
PRECISIONS: tuple[str, ...] = ("fp32", "bf16")
DEFAULT_PRECISION = "fp32"

F = TypeVar("F", bound=Callable[..., Any])


def precision_of(amp: str | bool) -> str:
    """``amp`` as one of :data:`PRECISIONS`. Records and checkpoints written before issue 28 hold a
    bool (True: bf16 autocast on CUDA, the old default; False: float32); they keep that value, so
    their keys and fingerprints do not change, and mean the same here."""
    if isinstance(amp, bool):
        return "bf16" if amp else "fp32"
    return amp


def check_precision(amp: str | bool) -> None:
    """ValueError unless ``amp`` is one of :data:`PRECISIONS` (or an old record's bool)."""
    if isinstance(amp, bool):
        return
    if amp not in PRECISIONS:
        raise ValueError(f"amp must be one of {', '.join(PRECISIONS)} (float32, the default, or the bf16 autocast "
                         f"opt-in), got {amp!r}")


def autocast_for(device: torch.device, amp: str) -> Callable[[], contextlib.AbstractContextManager]:
    """The context manager factory a model's steps run their forward passes under: bf16 autocast
    on CUDA when ``amp == "bf16"``, a no-op otherwise (float32)."""
    check_precision(amp)
    if device.type == "cuda" and precision_of(amp) == "bf16":
        return lambda: torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext


def describe(device: torch.device, amp: str) -> str:
    """What a run on ``device`` with ``amp`` computes in, for its record (``extras.precision``)."""
    if device.type != "cuda":
        return "float32"
    if precision_of(amp) == "bf16":
        return "bf16 autocast (float32 islands: clusterbench.precision.float32)"
    return "float32 (TF32 matrix products and convolutions allowed)"


@contextlib.contextmanager
def float32_region() -> Iterator[None]:
    """Autocast off (CUDA and CPU) inside the block; a no-op when none is on."""
    with contextlib.ExitStack() as stack:
        for dev in ("cuda", "cpu"):
            if torch.is_autocast_enabled(dev):
                stack.enter_context(torch.autocast(dev, enabled=False))
        yield


def _to32(v: Any) -> Any:
    return v.float() if isinstance(v, torch.Tensor) and v.is_floating_point() and v.dtype != torch.float64 else v


def float32(fn: F) -> F:
    """Decorator: ``fn`` computed in float32 under any autocast (floating tensor arguments cast
    to float32, autocast off inside). On float32 inputs without autocast it changes nothing."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with float32_region():
            return fn(*(_to32(a) for a in args), **{k: _to32(v) for k, v in kwargs.items()})

    return wrapper  # type: ignore[return-value]


__all__ = ["DEFAULT_PRECISION", "PRECISIONS", "autocast_for", "check_precision", "describe", "float32", "float32_region",
           "precision_of"]
