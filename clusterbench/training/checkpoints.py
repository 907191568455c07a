"""Checkpoints, final weights and RNG state of the loop (see :mod:`clusterbench.training.loop`'s
docstring for when each is written): ``checkpoint.pt`` (networks, optimizers, history, RNG states)
to resume, ``model.pt`` (:data:`MODEL_FORMAT`: the networks' final weights) for later evaluation.
Everything is read with ``torch.load(..., weights_only=True)`` (:func:`safe_load`)."""

from __future__ import annotations

import io
import pickle
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from clusterbench.errors import ConfigError, DataError
from clusterbench.fsutil import atomic_path
from clusterbench.training.contract import DeepModel

CHECKPOINT_NAME = "checkpoint.pt"


MODEL_NAME = "model.pt"


MODEL_FORMAT = "clusterbench-model/1"


def _rng_state() -> dict[str, Any]:
    """The torch/numpy/python RNG states as tensors and plain values (``weights_only``-loadable)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    st: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {"kind": str(kind), "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
                  "pos": int(pos), "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "python": {"version": int(version), "internal": torch.tensor(internal, dtype=torch.int64),
                   "gauss_next": gauss_next},
    }
    if torch.cuda.is_available():
        st["cuda"] = torch.cuda.get_rng_state_all()
    return st


def _set_rng_state(st: dict[str, Any]) -> None:
    torch.set_rng_state(st["torch"])
    n = st["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"]))
    p = st["python"]
    random.setstate((p["version"], tuple(int(v) for v in p["internal"].tolist()), p["gauss_next"]))
    if "cuda" in st and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(st["cuda"])


def _serialized(state: dict[str, Any]) -> bytes:
    """``torch.save`` into memory: the file is then written with one plain write, so a full disk
    is an OSError naming the file (torch's own writer says "unexpected pos" and names none)."""
    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getvalue()


def save_checkpoint(path: Path, *, model: DeepModel, epoch_done: int, history: list, fingerprint: dict,
                    fit_seconds: float = 0.0) -> None:
    """Atomically write the full training state (``epoch_done`` counts pretrain + train epochs;
    ``fit_seconds``: training time of every session so far, so a resumed run counts them all)."""
    state = {
        "fingerprint": fingerprint,
        "epoch_done": epoch_done,
        "fit_seconds": float(fit_seconds),
        "history": history,
        "model": model.state_dict(),
        "rng": _rng_state(),
    }
    with atomic_path(path) as tmp:
        tmp.write_bytes(_serialized(state))


def save_final_weights(path: Path, *, model: DeepModel, epoch_done: int, history: list, fingerprint: dict,
                       fit_seconds: float = 0.0) -> None:
    """Atomically write ``model.pt``: the networks' final weights, no optimizer or RNG state."""
    state = {"format": MODEL_FORMAT, "nets": model.weights(), "fingerprint": fingerprint,
             "epoch_done": epoch_done, "history": history, "fit_seconds": float(fit_seconds)}
    with atomic_path(path) as tmp:
        tmp.write_bytes(_serialized(state))


def safe_load(path: Path) -> dict[str, Any]:
    """``torch.load(path, weights_only=True)`` on CPU: tensors and plain values only.

    A file whose unpickling would need arbitrary globals (and could run code) is refused with a
    :class:`DataError` before anything of it is executed; so is an unreadable file.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt file, or a pickle that needs more than tensors/plain values
        unsafe = isinstance(exc, pickle.UnpicklingError)
        why = ("it is not a plain-weights file: loading it would need the full unpickler, which can run "
               "arbitrary code, so it was refused and nothing in it was executed" if unsafe
               else f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
        raise DataError(
            f"The checkpoint {path} cannot be read ({why}).",
            hint="Delete it to start this run from scratch (checkpoints of clusterbench before this check are not readable either).",
        ) from None
    if not isinstance(state, dict):
        raise DataError(f"The checkpoint {path} is not a clusterbench checkpoint (a {type(state).__name__}).",
                        hint="Delete it to start this run from scratch.")
    return state


def load_final_weights(path: str | Path) -> dict[str, dict[str, torch.Tensor]]:
    """The ``nets`` (net name -> state_dict) of a run's ``model.pt``, loaded safely (CPU tensors)."""
    state = safe_load(Path(path))
    if state.get("format") != MODEL_FORMAT or not isinstance(state.get("nets"), dict):
        raise DataError(f"{path} is not a clusterbench final-weights file ({MODEL_FORMAT}).",
                        hint="It is written by the training loop at the end of a deep run.")
    return state["nets"]


def _load_checkpoint(path: Path, fingerprint: dict) -> dict[str, Any]:
    state = safe_load(path)
    if state.get("fingerprint") != fingerprint:
        raise ConfigError(
            f"The checkpoint {path} belongs to a different run (method, config, data or seed differ).",
            hint="Use a fresh workdir, or delete the checkpoint to start over.",
        )
    return state

