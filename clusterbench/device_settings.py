"""What the single loop changes on an accelerator (issue 23): one place, so that the loop applies it
on CUDA and ``benchmarks/step_proxies.py`` can apply the same settings to a CPU model to count the
operators a CUDA run launches (``emulate=True``).

On CUDA:

* the optimizers fused (``torch.optim.Adam``/``AdamW``/``SGD`` with ``fused=True``: one kernel
  per parameter group and step instead of a dozen ``foreach`` launches, and the step counter on
  the device, so reading it never syncs). Fused Adam computes the same update as the default
  implementation up to float rounding; CPU runs keep the default implementation (exact, as the
  regression references were made).
"""

from __future__ import annotations

from typing import Any

import torch

#: optimizer classes whose fused implementation is switched on (exact type: subclasses may
#: override ``step``).
FUSABLE = (torch.optim.Adam, torch.optim.AdamW, torch.optim.SGD)


def fuse_optimizer(opt: torch.optim.Optimizer) -> bool:
    """Switch ``opt`` to its fused implementation before its first step; returns whether it did
    (False for other classes, ``differentiable`` groups, or an optimizer that already stepped)."""
    if type(opt) not in FUSABLE or opt.state or any(g.get("differentiable") for g in opt.param_groups):
        return False
    for g in opt.param_groups:
        g["fused"], g["foreach"] = True, False
    opt.defaults["fused"], opt.defaults["foreach"] = True, False
    opt._step_supports_amp_scaling = True
    if isinstance(opt, torch.optim.SGD):
        opt._need_device_dtype_check_for_fused = True
    return True


def device_settings(model: Any, options: Any, device_type: str, *, emulate: bool = False) -> dict[str, Any]:
    """Apply the accelerator settings to ``model`` (a DeepModel) for ``device_type``; returns what
    was applied (for the record). ``emulate``: the model lives on the CPU but the settings of
    ``device_type`` are applied with CPU kernels (operator counting only; not a training mode).
    (Autocast stays with the loop's precision settings.)"""
    applied: dict[str, Any] = {}
    if device_type != "cuda":
        return applied
    fused = [name for name, o in model.optims.items() if fuse_optimizer(o)]
    if fused:
        applied["fused_optimizers"] = fused
    return applied


__all__ = ["FUSABLE", "device_settings", "fuse_optimizer"]
