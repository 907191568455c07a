"""Process-wide run-time settings, one owner each: the device a run uses and the seeding of
every global random generator. torch is imported lazily (the classical path does not need it)."""

from __future__ import annotations

import random
from typing import Any

import numpy as np

from clusterbench.errors import ConfigError


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:  # torch is a dependency, but the classical path does not need it
        return False
    return bool(torch.cuda.is_available())


def resolve_device(device: str) -> str:
    """``"auto"`` -> ``"cuda"`` when a GPU is visible, else ``"cpu"``; ``"cpu"``, ``"cuda"`` and
    ``"cuda:N"`` pass through. A CUDA device without a GPU, or any other value, is a
    :class:`ConfigError` (raised before anything runs)."""
    d = str(device).strip().lower()
    if d == "cpu":
        return "cpu"
    if d == "auto":
        return "cuda" if _cuda_available() else "cpu"
    if d == "cuda" or (d.startswith("cuda:") and d[5:].isdigit()):
        if not _cuda_available():
            raise ConfigError(
                f"--device {device} was asked for, but no CUDA GPU is available here "
                "(torch.cuda.is_available() is False).",
                hint="Use --device cpu (or auto), or run on a machine with a GPU (e.g. --executor slurm --gpus 1).",
            )
        return d
    raise ConfigError(f"Unknown device {device!r}.", hint="Use auto, cpu, cuda or cuda:N.")


def torch_device(device: Any) -> Any:
    """:func:`resolve_device` as a ``torch.device`` (a ``torch.device`` passes through unchanged):
    what the training loop and model loaders take."""
    import torch

    if isinstance(device, torch.device):
        return device
    return torch.device(resolve_device(device))


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, numpy's legacy global generator and torch (CPU and every CUDA
    device) from one run seed. Methods still receive ``seed`` explicitly and use their own
    generators; this only makes hidden global state deterministic too."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    try:
        import torch
    except ImportError:
        return
    torch.manual_seed(seed)  # seeds every CUDA device too
