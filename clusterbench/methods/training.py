"""THE training loop of every deep method.

A deep method supplies a :class:`DeepModel` (its ``nn.Module``s, one optimizer per loss group, a
``training_step`` that does its own backward/step calls — manual optimisation, as GANs need —
an optional ``pretrain_step`` and ``predict``). :func:`train` owns everything else:

* seeding (``random``, ``numpy``, ``torch`` from the run's seed) *before* the networks are built,
  ``torch.use_deterministic_algorithms`` on CPU (restored afterwards),
* the device (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"auto"``),
* CUDA-only speed-ups: bf16 autocast (no loss scaler needed), channels-last, ``torch.compile``;
  CPU runs are exact float32,
* batching from a float32 numpy array (or a CSR matrix, densified per batch, or a
  :class:`~clusterbench.data.hdf5.StoredArray` -- X left in its HDF5 file, rows read and decoded
  to float32 per batch, out-of-core) with a seeded shuffle per epoch
  (``numpy.random.default_rng([seed, epoch])``, so a resumed run sees the same batches),
* epochs over two phases (``pretrain`` then ``train``), a Rich progress bar on terminals; between
  them the model's ``start_training`` hook runs once (e.g. k-means initialisation of a cluster
  head), logged as an ``init`` row of the history,
* per-epoch history: the mean of every loss over the epoch, seconds per epoch (training only,
  CUDA synchronised), the monitor's metrics (ACC/NMI from labels the method never sees),
* NaN/inf detection: :class:`FloatingPointError` naming the epoch, phase and loss,
* checkpoint/resume: ``workdir/checkpoint.pt`` written atomically every ``checkpoint_every``
  epochs (networks, optimizers, history, RNG states); a rerun with the same workdir resumes from
  it. A checkpoint whose fingerprint (method, config, data shape, seed) differs is refused with a
  :class:`ConfigError`.
* the final weights: when training ends, ``workdir/model.pt`` (:data:`MODEL_NAME`) is written and
  the full checkpoint is deleted (optimizer state and RNG states are only needed to resume; they
  are kept with ``LoopOptions.keep_checkpoint`` / ``clusterbench run --keep-checkpoints``). A rerun
  with a ``model.pt`` of the same fingerprint only predicts. ``model.pt`` is what later evaluation
  loads (:func:`load_final_weights`)::

      {"format": "clusterbench-model/1",
       "nets": {net name: state_dict},          # the DeepModel's ``nets`` (e.g. "encoder", "decoder")
       "fingerprint": {...}, "epoch_done": int, "history": [per-epoch dicts]}

Every file here holds tensors and plain Python values only (RNG states are stored as tensors,
ints and floats, not numpy objects) and is read with ``torch.load(..., weights_only=True)``: a
checkpoint merged in from elsewhere can never run code when loaded (a file that needs the full
unpickler is refused with a :class:`DataError`).
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import pickle
import random
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from clusterbench.errors import ConfigError, DataError
from clusterbench.evaluate import EVAL_OPTION_KEYS, FID_NETWORK_OPTIONS, requested
from clusterbench.fsutil import atomic_path
from clusterbench.methods.artifacts import generation_artifacts
from clusterbench.runtime import resolve_device as _resolve_device
from clusterbench.runtime import seed_everything

Monitor = Callable[[np.ndarray], dict[str, float]]
CHECKPOINT_NAME = "checkpoint.pt"
MODEL_NAME = "model.pt"
MODEL_FORMAT = "clusterbench-model/1"


# --- what a method supplies ----------------------------------------------------------------------


class DeepModel:
    """The per-method part: networks, optimizers, one step, prediction.

    Subclasses fill ``self.nets`` (name -> ``nn.Module``) and ``self.optims`` (name -> optimizer,
    one per loss group) in ``__init__`` and implement :meth:`training_step` and :meth:`predict`.
    ``self.device`` is the torch device the loop chose; ``self.autocast`` is the context manager
    the step may use around forward passes (a no-op on CPU).
    """

    #: number of pre-training epochs run with :meth:`pretrain_step` before training.
    pretrain_epochs: int = 0
    #: False for generator-only models (WGAN-GP): the loop calls neither :meth:`predict` nor the
    #: monitor, and the result has no posterior (``TrainResult.proba`` is None).
    clusters: bool = True

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.nets: dict[str, nn.Module] = {}
        self.optims: dict[str, torch.optim.Optimizer] = {}
        self.autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext

    def training_step(self, x: torch.Tensor, step: int) -> dict[str, torch.Tensor | float]:
        """One batch ``x`` (B x sample shape): zero_grad/backward/step for each phase; return the
        losses (detached tensors or floats) by name."""
        raise NotImplementedError

    def pretrain_step(self, x: torch.Tensor, step: int) -> dict[str, torch.Tensor | float]:
        raise NotImplementedError(f"{type(self).__name__} has no pre-training phase")

    def history_extras(self) -> dict[str, float]:
        """Figures added to each epoch's history row after the epoch (e.g. a GAN's generator
        iterations so far); counters, not means."""
        return {}

    def start_training(self, batches: Callable[[], Iterator[torch.Tensor]], seed: int) -> dict[str, float]:
        """Called once, right before the first training epoch (after pre-training), with a
        function that yields all of X in order in batches; may initialise parameters from the
        data (e.g. a cluster head from k-means on the pre-trained features). Must be a
        deterministic function of the weights, the data and ``seed`` (a resumed run may call it
        again from the post-pre-training checkpoint). Returns figures for the history."""
        return {}

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """One batch -> (B x K cluster posterior, B x d embedding or None); called in eval mode."""
        raise NotImplementedError

    # generation (models of methods with ``generative = True``) ---------------------------------
    def prior(self, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """n draws of the latent prior: (labels (n,), one-hot y n x K, h n x dh, z n x dz)."""
        raise NotImplementedError(f"{type(self).__name__} has no latent prior")

    def generate(self, y: torch.Tensor, h: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Codes (y n x K, h n x dh, z n x dz) -> n x sample shape, in the data's value range."""
        raise NotImplementedError(f"{type(self).__name__} does not generate")

    @torch.no_grad()
    def sample(self, n: int, cluster: int | None = None) -> torch.Tensor:
        """n samples from the prior (of cluster ``cluster``'s one-hot code when given), n x sample
        shape in the data's value range; called in eval mode. The default draws
        :meth:`prior` and replaces y by the cluster's one-hot code, then :meth:`generate`; a model
        whose prior has another form overrides it."""
        _, y, h, z = self.prior(n)
        if cluster is not None:
            k = y.shape[1]
            if not 0 <= int(cluster) < k:
                raise ValueError(f"cluster must be in 0..{k - 1}, got {cluster}")
            y = torch.zeros_like(y)
            y[:, int(cluster)] = 1
        return self.generate(y, h, z)

    # the manual optimisation step -----------------------------------------------------------------
    @contextlib.contextmanager
    def optimizing(self, *names: str, autocast: bool = True) -> Iterator["OptimStep"]:
        """One manual optimisation step of the optimizers ``names`` (GANs: one per player)::

            with self.optimizing("disc") as opt:
                loss = d_real + d_fake          # forward passes, under the loop's autocast
                opt.backward(loss)
            # here: loss.backward() ran outside autocast, then each optimizer stepped

        On entry: ``zero_grad(set_to_none=True)`` on those optimizers and the loop's autocast
        (bf16 on CUDA, a no-op on CPU; ``autocast=False`` for steps that must stay float32). On a
        normal exit: ``backward`` of the loss given to ``opt.backward`` (exactly once), then
        ``step()`` of each optimizer, then the callables in ``opt.after_step`` (e.g. weight
        clipping). An exception inside the block steps nothing.
        """
        optims = [self.optims[n] for n in names]
        for o in optims:
            o.zero_grad(set_to_none=True)
        step = OptimStep()
        with (self.autocast() if autocast else contextlib.nullcontext()):
            yield step
        if step.loss is None:
            raise RuntimeError(f"optimizing({', '.join(names)}): the block did not call opt.backward(loss)")
        step.loss.backward()
        for o in optims:
            o.step()
        for fn in step.after_step:
            fn()

    # helpers ------------------------------------------------------------------------------------
    def train_mode(self, on: bool = True) -> None:
        for m in self.nets.values():
            m.train(on)

    def state_dict(self) -> dict[str, Any]:
        return {
            "nets": self.weights(),
            "optims": {k: o.state_dict() for k, o in self.optims.items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.load_weights(state["nets"])
        for k, o in self.optims.items():
            o.load_state_dict(state["optims"][k])

    def weights(self) -> dict[str, dict[str, torch.Tensor]]:
        """The networks' weights only (net name -> state_dict), without optimizer state."""
        return {k: _plain_state(m) for k, m in self.nets.items()}

    def load_weights(self, nets: dict[str, dict[str, torch.Tensor]]) -> None:
        for k, m in self.nets.items():
            _orig(m).load_state_dict(nets[k])


class OptimStep:
    """What :meth:`DeepModel.optimizing` yields: ``backward(loss)`` names the loss to minimise;
    ``after_step`` holds callables run after the optimizers stepped."""

    def __init__(self) -> None:
        self.loss: torch.Tensor | None = None
        self.after_step: list[Callable[[], None]] = []

    def backward(self, loss: torch.Tensor) -> torch.Tensor:
        if self.loss is not None:
            raise RuntimeError("opt.backward() was called twice in one optimizing() block")
        self.loss = loss
        return loss


def _orig(m: nn.Module) -> nn.Module:
    return getattr(m, "_orig_mod", m)


def _plain_state(m: nn.Module) -> dict[str, torch.Tensor]:
    return {k.replace("_orig_mod.", ""): v for k, v in _orig(m).state_dict().items()}


# --- options -------------------------------------------------------------------------------------


@dataclass
class LoopOptions:
    """How the loop runs (the method's Config carries these values).

    epochs: training epochs; pretrain_epochs: epochs of ``pretrain_step`` before them.
    batch_size: samples per step. drop_last: drop the last partial batch when N > batch_size
    (GAN/CR losses use batch statistics; a 1-sample batch breaks batch norm).
    checkpoint_every: epochs between checkpoints (0: only at the end); needs a workdir.
    monitor_every: epochs between monitor calls (0: never).
    amp / channels_last / compile: CUDA only (ignored on CPU, which stays exact).
    progress: None = a Rich bar when stderr is a terminal, plain lines otherwise; False = silent.
    keep_checkpoint: keep the full ``checkpoint.pt`` (optimizers, RNG states) after training ends;
    by default only the final weights ``model.pt`` stay.
    max_steps: cap on the steps (batches) of the train phase in all: it runs
    min(epochs, ceil(max_steps / batches per epoch)) epochs and its last epoch stops after
    max_steps steps in all (None: no cap). For methods whose training length is counted in
    iterations (GANs: generator iterations), not epochs.
    """

    epochs: int
    batch_size: int
    pretrain_epochs: int = 0
    drop_last: bool = True
    checkpoint_every: int = 10
    monitor_every: int = 1
    amp: bool = True
    channels_last: bool = True
    compile: bool = False
    progress: bool | None = None
    deterministic: bool = True
    keep_checkpoint: bool = False
    max_steps: int | None = None


@dataclass
class TrainResult:
    """What :func:`train` returns: the trained model, its predictions on X and the history."""

    model: DeepModel
    proba: np.ndarray | None
    embedding: np.ndarray | None
    history: list[dict[str, Any]] = field(default_factory=list)
    resumed_from_epoch: int | None = None
    checkpoint: Path | None = None   # the full checkpoint, when kept
    weights: Path | None = None      # the final weights (model.pt), when there is a workdir


# --- small pure helpers --------------------------------------------------------------------------


def resolve_device(device: str | torch.device) -> torch.device:
    """:func:`clusterbench.runtime.resolve_device` as a ``torch.device``."""
    if isinstance(device, torch.device):
        return device
    return torch.device(_resolve_device(device))


def batch_indices(n: int, batch_size: int, *, seed: int, epoch: int, drop_last: bool) -> list[np.ndarray]:
    """The seeded shuffle of one epoch: a list of index arrays (a function of seed and epoch only)."""
    perm = np.random.default_rng([int(seed) % (2**32), int(epoch)]).permutation(n)
    if n <= batch_size:
        return [perm]
    stop = (n // batch_size) * batch_size if drop_last else n
    return [perm[i : i + batch_size] for i in range(0, stop, batch_size)]


class _Data:
    """X on the right device, batched. Dense arrays are moved once; CSR rows densified per batch;
    a StoredArray is read from its file per batch (the same rows in the same order as in memory:
    the batches depend only on the indices from :func:`batch_indices`)."""

    def __init__(self, X: Any, device: torch.device, channels_last: bool) -> None:
        import scipy.sparse as sp

        from clusterbench.data.hdf5 import StoredArray  # lazily: h5py, only to stream a StoredArray

        self.sparse = sp.issparse(X)
        self.stored = X if isinstance(X, StoredArray) else None
        if self.sparse:
            self.X = sp.csr_matrix(X, dtype=np.float32)
            self.dense = None
        elif self.stored is not None:  # values were checked finite when the file was written
            self.X = X
            self.dense = None
        else:
            arr = np.asarray(X)
            if arr.dtype != np.float32:
                arr = arr.astype(np.float32)
            if not np.isfinite(arr).all():
                raise DataError(
                    "The data contain NaN or infinite values.",
                    hint="Clean or impute the data set before clustering it.",
                )
            self.dense = torch.from_numpy(np.ascontiguousarray(arr)).to(device)
            self.X = arr
        self.n = X.shape[0]
        self.device = device
        self.channels_last = channels_last

    def batch(self, idx: np.ndarray) -> torch.Tensor:
        if self.sparse:
            x = torch.from_numpy(self.X[idx].toarray()).to(self.device, non_blocking=True)
        elif self.stored is not None:
            x = torch.from_numpy(self.stored[idx]).to(self.device, non_blocking=True)
        else:
            x = self.dense[torch.from_numpy(idx).to(self.device)]
        if self.channels_last and x.ndim == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def in_order(self, batch_size: int) -> Iterator[torch.Tensor]:
        for i in range(0, self.n, batch_size):
            yield self.batch(np.arange(i, min(i + batch_size, self.n)))


def predict_all(model: DeepModel, data: _Data, batch_size: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Posterior (N x K, float64, rows renormalised) and embedding of all samples, in eval mode."""
    model.train_mode(False)
    probas, embs = [], []
    with torch.no_grad():
        for x in data.in_order(max(batch_size, 256)):
            with model.autocast():
                p, e = model.predict(x)
            probas.append(p.float().cpu())
            if e is not None:
                embs.append(e.float().cpu())
    model.train_mode(True)
    proba = torch.cat(probas).double().numpy()
    proba = proba / proba.sum(axis=1, keepdims=True)
    emb = torch.cat(embs).numpy() if embs else None
    return proba, emb


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


def save_checkpoint(path: Path, *, model: DeepModel, epoch_done: int, history: list, fingerprint: dict) -> None:
    """Atomically write the full training state (``epoch_done`` counts pretrain + train epochs)."""
    state = {
        "fingerprint": fingerprint,
        "epoch_done": epoch_done,
        "history": history,
        "model": model.state_dict(),
        "rng": _rng_state(),
    }
    with atomic_path(path) as tmp:
        tmp.write_bytes(_serialized(state))


def save_final_weights(path: Path, *, model: DeepModel, epoch_done: int, history: list, fingerprint: dict) -> None:
    """Atomically write ``model.pt``: the networks' final weights, no optimizer or RNG state."""
    state = {"format": MODEL_FORMAT, "nets": model.weights(), "fingerprint": fingerprint,
             "epoch_done": epoch_done, "history": history}
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


@contextlib.contextmanager
def _determinism(on: bool) -> Iterator[None]:
    prev = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(on)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(prev)


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


# --- the loop --------------------------------------------------------------------------------------


def train(
    build: Callable[[torch.device], DeepModel],
    X: Any,
    *,
    options: LoopOptions,
    seed: int,
    device: str | torch.device = "cpu",
    workdir: Path | None = None,
    monitor: Monitor | None = None,
    fingerprint: dict[str, Any] | None = None,
) -> TrainResult:
    """Train the model ``build(device)`` on ``X`` (N x sample shape float32, or CSR N x d).

    Returns the model, its posterior (N x K) and embedding on X, and the per-epoch history
    (``phase``, ``epoch``, mean of each loss, ``seconds``, monitor metrics).
    """
    if options.epochs < 0 or options.pretrain_epochs < 0:
        raise ConfigError(f"epochs must be >= 0, got epochs={options.epochs}, pretrain_epochs={options.pretrain_epochs}.")
    if options.batch_size < 2:
        raise ConfigError(f"batch_size must be >= 2 (batch norm), got {options.batch_size}.")
    dev = resolve_device(device)
    cuda = dev.type == "cuda"
    fingerprint = dict(fingerprint or {})
    fingerprint["seed"] = int(seed)
    fingerprint["n_samples"] = int(X.shape[0])

    with _determinism(options.deterministic and not cuda):
        # 1. seed, then build the networks (their initialisation uses the seeded RNG)
        seed_everything(seed)
        if cuda:
            torch.backends.cudnn.benchmark = True
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        model = build(dev)
        if options.pretrain_epochs and type(model).pretrain_step is DeepModel.pretrain_step:
            raise ConfigError(
                f"pretrain_epochs={options.pretrain_epochs}, but {type(model).__name__} has no pre-training phase.",
                hint="Set pretrain_epochs=0 for this method.",
            )
        channels_last = bool(options.channels_last and cuda)
        if channels_last:
            for m in model.nets.values():
                m.to(memory_format=torch.channels_last)
        if cuda and options.amp:
            model.autocast = lambda: torch.autocast("cuda", dtype=torch.bfloat16)
        if cuda and options.compile:
            for m in model.nets.values():
                m.compile()
        data = _Data(X, dev, channels_last)

        # 2. resume from the workdir's checkpoint when there is one
        per_epoch = len(batch_indices(data.n, options.batch_size, seed=seed, epoch=1, drop_last=options.drop_last))
        train_epochs = options.epochs
        if options.max_steps is not None:
            if options.max_steps < 1:
                raise ConfigError(f"max_steps must be >= 1, got {options.max_steps}.")
            train_epochs = min(train_epochs, math.ceil(options.max_steps / per_epoch))
        phases = [("pretrain", options.pretrain_epochs), ("train", train_epochs)]
        total = sum(n for _, n in phases)
        ckpt = Path(workdir) / CHECKPOINT_NAME if workdir is not None else None
        final = Path(workdir) / MODEL_NAME if workdir is not None else None
        history: list[dict[str, Any]] = []
        done = 0
        resumed = None
        if ckpt is not None and ckpt.exists():
            state = _load_checkpoint(ckpt, fingerprint)
            model.load_state_dict(state["model"])
            _set_rng_state(state["rng"])
            history = list(state["history"])
            done = resumed = int(state["epoch_done"])
        elif final is not None and final.exists():  # a finished run: only predict
            state = _load_checkpoint(final, fingerprint)
            if int(state.get("epoch_done", -1)) != total:
                raise DataError(f"{final} holds {state.get('epoch_done')} of {total} epochs.",
                                hint="Delete it to start this run from scratch.")
            model.load_weights(state["nets"])
            history = list(state["history"])
            done = resumed = total

        # 3. epochs
        model.train_mode(True)
        bar = _progress(options.progress)
        log = (_LogLines(f"{fingerprint.get('method', 'train')} seed {seed}", total, done)
               if bar is None and options.progress is not False and not _quiet() else None)
        with bar if bar is not None else contextlib.nullcontext():
            task = bar.add_task("train", total=total, completed=done, info="") if bar else None
            global_epoch = 0
            for phase, n_epochs in phases:
                step_fn = model.pretrain_step if phase == "pretrain" else model.training_step
                for epoch in range(1, n_epochs + 1):
                    global_epoch += 1
                    if global_epoch <= done:
                        continue
                    if phase == "train" and epoch == 1:
                        t_init = time.perf_counter()
                        model.train_mode(False)
                        init = model.start_training(lambda: data.in_order(max(options.batch_size, 256)), seed)
                        model.train_mode(True)
                        if init:
                            row = {"phase": "init", "epoch": 0, **{k: float(v) for k, v in init.items()},
                                   "seconds": time.perf_counter() - t_init}
                            if monitor is not None and model.clusters and options.monitor_every:
                                _monitor_into(row, model, data, options, monitor)
                            history.append(row)
                    limit = None
                    if phase == "train" and options.max_steps is not None:
                        limit = options.max_steps - (epoch - 1) * per_epoch
                    row = _run_epoch(model, step_fn, data, options, seed=seed, phase=phase,
                                     epoch=epoch, global_epoch=global_epoch, cuda=cuda, limit=limit)
                    row.update({k: float(v) for k, v in model.history_extras().items()})
                    # monitor (labels live in the runner; the model never sees them)
                    last = global_epoch == total
                    if monitor is not None and model.clusters and options.monitor_every and \
                            (epoch % options.monitor_every == 0 or last):
                        _monitor_into(row, model, data, options, monitor)
                    history.append(row)
                    done = global_epoch
                    periodic = bool(options.checkpoint_every) and global_epoch % options.checkpoint_every == 0
                    if ckpt is not None and ((periodic and not last) or (last and options.keep_checkpoint)):
                        save_checkpoint(ckpt, model=model, epoch_done=done, history=history, fingerprint=fingerprint)
                    if log is not None:
                        log.epoch(done, phase, epoch, n_epochs, row)
                    if bar is not None:
                        info = " ".join(f"{k}={v:.3g}" for k, v in row.items() if k not in ("epoch", "phase"))
                        bar.update(task, advance=1, description=f"{phase} {epoch}/{n_epochs}", info=info[:80])
        if final is not None:  # training ended: keep the final weights; the full state only if asked
            if not final.exists() or resumed != total:
                save_final_weights(final, model=model, epoch_done=done, history=history, fingerprint=fingerprint)
            if options.keep_checkpoint and not ckpt.exists():
                save_checkpoint(ckpt, model=model, epoch_done=done, history=history, fingerprint=fingerprint)
            elif not options.keep_checkpoint:
                ckpt.unlink(missing_ok=True)

        # 4. predict on all of X (generator-only models have no posterior)
        proba, emb = predict_all(model, data, options.batch_size) if model.clusters else (None, None)
    return TrainResult(model=model, proba=proba, embedding=emb, history=history, resumed_from_epoch=resumed,
                       checkpoint=ckpt if ckpt is not None and ckpt.exists() else None, weights=final)


def _monitor_into(row: dict[str, Any], model: DeepModel, data: _Data, options: LoopOptions,
                  monitor: Monitor) -> None:
    """Add the monitor's metrics on the current posterior of all of X (and their cost) to ``row``."""
    t0 = time.perf_counter()
    proba, _ = predict_all(model, data, options.batch_size)
    row.update({k: float(v) for k, v in monitor(proba).items()})
    row["monitor_seconds"] = time.perf_counter() - t0


def _run_epoch(model, step_fn, data: _Data, options: LoopOptions, *, seed: int, phase: str,
               epoch: int, global_epoch: int, cuda: bool, limit: int | None = None) -> dict[str, Any]:
    """One pass over the data (its first ``limit`` batches when given); returns
    ``{phase, epoch, <loss means>, seconds}``; raises on NaN."""
    t0 = time.perf_counter()
    sums: dict[str, torch.Tensor | float] = {}
    counts: dict[str, int] = {}
    batches = batch_indices(data.n, options.batch_size, seed=seed, epoch=global_epoch, drop_last=options.drop_last)
    if limit is not None:
        batches = batches[: max(int(limit), 0)]
    for step, idx in enumerate(batches):
        losses = step_fn(data.batch(idx), step)
        for k, v in losses.items():
            v = v.detach().float() if isinstance(v, torch.Tensor) else float(v)
            sums[k] = sums[k] + v if k in sums else v
            counts[k] = counts.get(k, 0) + 1
    if cuda:
        torch.cuda.synchronize()
    row: dict[str, Any] = {"phase": phase, "epoch": epoch}
    for k, s in sums.items():
        mean = float(s) / counts[k]
        if not math.isfinite(mean):
            raise FloatingPointError(
                f"Loss {k!r} became {mean} in {phase} epoch {epoch}: the training diverged "
                "(try a lower learning rate or another seed)."
            )
        row[k] = mean
    row["seconds"] = time.perf_counter() - t0
    return row


# --- the glue between the Method contract and the loop ----------------------------------------------


@dataclass
class DeepConfig:
    """Options every deep method shares (subclass Configs override the defaults they cite).

    arch: "auto" (from the sample shape), "conv", "mlp-hhar", "mlp-stl", "mlp" (see nets.py).
    style_dim / noise_dim: sizes of h and z (None: the architecture's Appendix-A values).
    epochs, batch_size, pretrain_epochs: see each method. checkpoint_every: epochs between
    checkpoints in the workdir. monitor_every: epochs between ACC/NMI evaluations (0: never).
    amp, channels_last, compile: CUDA-only speed-ups (CPU runs are exact float32).
    save_samples: write the Fig. 7/8 PNGs (image data only).

    Evaluator options (read by the runner's evaluators after ``fit``, ``clusterbench.evaluate``;
    never by the method, and not part of a checkpoint's fingerprint):
    evaluate: evaluator names (``--set evaluate=modes,fid,ssim``; empty: none, nothing to pay).
    count_modes: the first version's Table II switch, the same as ``modes`` in ``evaluate``.
    mode_samples: generated samples labelled for mode counting (Table II: 10,000).
    fid_samples: real and generated samples of FID, each (10,000, the usual count; fewer real
    ones when the data set is smaller: the record says how many). fid_network: "auto"
    (mnist-cnn for 1 x 28 x 28 samples, inception otherwise), "mnist-cnn" or "inception".
    fid_real: the data set whose images FID compares with ("": the run's data; DC3 Table 7:
    "cifar10-train" for runs on the test images).
    ssim_pairs: random pairs per cluster of the SSIM diversity (DC3 Table 2: 200).
    eval_classifier: the 28 x 28 data set whose training split trains the classifier of mode
    counting, FID (mnist-cnn) and SSIM's cluster-to-class matching ("mnist").
    """

    arch: str = "auto"
    style_dim: int | None = None
    noise_dim: int | None = None
    epochs: int = 300
    batch_size: int = 100
    pretrain_epochs: int = 0
    checkpoint_every: int = 10
    monitor_every: int = 1
    amp: bool = True
    channels_last: bool = True
    compile: bool = False
    save_samples: bool = True
    evaluate: tuple[str, ...] = ()
    count_modes: bool = False
    mode_samples: int = 10000
    fid_samples: int = 10000
    fid_network: str = "auto"
    fid_real: str = ""
    ssim_pairs: int = 200
    eval_classifier: str = "mnist"

    @classmethod
    def known_archs(cls) -> tuple[str, ...] | None:
        """The ``arch`` values this config's method resolves (None: ``nets.ARCHS``, the families of
        ``nets.resolve_arch``); a method family with its own networks (the GANs) names its own."""
        return None

    def __post_init__(self) -> None:
        """What the loop, ``nets.resolve_arch`` and the evaluators would reject, refused when the
        config is made (plan time); subclasses with their own ``__post_init__`` call this one."""
        from clusterbench.methods.nets import ARCHS  # nets imports torch; this module already has

        requested({"evaluate": self.evaluate, "count_modes": self.count_modes})
        if self.fid_network not in FID_NETWORK_OPTIONS:
            raise ValueError(f"fid_network must be one of {', '.join(FID_NETWORK_OPTIONS)}, got {self.fid_network!r}")
        for k in ("mode_samples", "fid_samples", "ssim_pairs"):
            if getattr(self, k) < 2:
                raise ValueError(f"{k} must be >= 2, got {getattr(self, k)}")

        archs = self.known_archs() or ARCHS
        if self.arch not in archs:
            raise ValueError(f"arch={self.arch!r} is not a known architecture (one of {', '.join(archs)})")
        if (self.epochs is not None and self.epochs < 0) or self.pretrain_epochs < 0:  # None: length in steps
            raise ValueError(f"epochs and pretrain_epochs must be >= 0, got {self.epochs}, {self.pretrain_epochs}")
        if self.batch_size < 2:
            raise ValueError(f"batch_size must be >= 2 (batch norm), got {self.batch_size}")
        for name in ("style_dim", "noise_dim"):
            v = getattr(self, name)
            if v is not None and v < 1:
                raise ValueError(f"{name} must be >= 1 (or unset), got {v}")
        if self.checkpoint_every < 0 or self.monitor_every < 0:
            raise ValueError("checkpoint_every and monitor_every must be >= 0")


def _unit_range(X: Any) -> bool:
    import scipy.sparse as sp

    from clusterbench.data.hdf5 import StoredArray  # lazily: h5py, only to stream a StoredArray

    if isinstance(X, StoredArray):  # scanned block by block, never all in memory
        lo, hi = X.value_range()
        return bool(lo >= 0.0 and hi <= 1.0)
    vals = X.data if sp.issparse(X) else np.asarray(X)
    if vals.size == 0:
        return True
    return bool(vals.min() >= 0.0 and vals.max() <= 1.0)


class DeepMethod:
    """Mixin for the Method classes of deep models: ``fit`` = validate, resolve the architecture,
    run :func:`train`, package a MethodOutput (cluster histogram in extras, PNGs in artifacts).

    Subclasses define ``make_model(device, spec) -> DeepModel``; they may override
    ``resolve_spec`` (another architecture family), ``loop_length`` (training length counted in
    steps) and ``generation_options`` (keyword arguments of ``nets.generation_artifacts``).
    """

    name: str = ""
    config: DeepConfig
    generative: bool = False
    #: keep the full checkpoint (optimizers, RNG states) of a finished run, not only ``model.pt``;
    #: a run option, not part of the config or the run key (``clusterbench run --keep-checkpoints``).
    keep_checkpoints: bool = False

    def make_model(self, device: torch.device, spec: Any) -> DeepModel:
        raise NotImplementedError

    def resolve_spec(self, X: Any, n_clusters: int) -> Any:
        """The architecture for data ``X`` (default: ``nets.resolve_arch`` from the config)."""
        from clusterbench.methods.nets import resolve_arch  # as ARCHS above: nets is imported on first use

        cfg = self.config
        return resolve_arch(tuple(X.shape[1:]), int(n_clusters), arch=cfg.arch, style_dim=cfg.style_dim,
                            noise_dim=cfg.noise_dim, unit_range=_unit_range(X))

    def loop_length(self, n_samples: int) -> tuple[int, int | None]:
        """(epochs, max_steps) of the train phase (``LoopOptions``); default: the config's epochs."""
        return self.config.epochs, None

    def generation_options(self) -> dict[str, Any]:
        """Extra keyword arguments of ``nets.generation_artifacts`` (priors' scale, traversal span)."""
        return {}

    def fit(self, X: Any, n_clusters: int, *, seed: int, device: str = "cpu",
            workdir: Path | None = None, monitor: Monitor | None = None):
        from clusterbench.methods.base import MethodOutput, config_dict

        cfg = self.config
        if getattr(X, "ndim", 0) < 2 or X.shape[0] < 2:
            raise DataError(f"{self.name} needs an N x features (or N x C x H x W) array with N >= 2; "
                            f"got shape {getattr(X, 'shape', None)}.", hint="Check the data set.")
        if int(n_clusters) < 2:
            raise ConfigError(f"n_clusters must be >= 2, got {n_clusters}.")
        spec = self.resolve_spec(X, int(n_clusters))
        if cfg.save_samples and workdir is not None and spec.is_image:
            import importlib.util

            if importlib.util.find_spec("matplotlib") is None:  # fail before training, not after
                raise ConfigError("save_samples=true needs matplotlib to write the PNG sample grids.",
                                  hint="pip install 'clusterbench[report]', or --set save_samples=false.")
        epochs, max_steps = self.loop_length(int(X.shape[0]))
        options = LoopOptions(
            epochs=epochs, batch_size=cfg.batch_size, pretrain_epochs=cfg.pretrain_epochs,
            checkpoint_every=cfg.checkpoint_every, monitor_every=cfg.monitor_every, amp=cfg.amp,
            channels_last=cfg.channels_last, compile=cfg.compile, keep_checkpoint=bool(self.keep_checkpoints),
            max_steps=max_steps,
        )
        # what determines the result (bookkeeping options may change between a run and its resume)
        result_config = {k: v for k, v in config_dict(cfg).items()
                         if k not in ("checkpoint_every", "monitor_every", "save_samples", *EVAL_OPTION_KEYS)}
        fingerprint = {"method": self.name, "config": result_config, "shape": list(X.shape),
                       "n_clusters": int(n_clusters)}
        if workdir is not None:
            workdir = Path(workdir)
            workdir.mkdir(parents=True, exist_ok=True)
        res = train(lambda dev: self.make_model(dev, spec), X, options=options, seed=seed, device=device,
                    workdir=workdir, monitor=monitor, fingerprint=fingerprint)
        out = MethodOutput(proba=res.proba, embedding=res.embedding, history=res.history)
        out.extras = {
            "architecture": spec.describe(),
            "resumed_from_epoch": res.resumed_from_epoch,
            "device": str(res.model.device),
        }
        if res.weights is not None:
            out.artifacts["model"] = res.weights
        if res.proba is not None:
            hist = np.bincount(res.proba.argmax(1), minlength=int(n_clusters))
            out.extras.update(cluster_histogram=hist.tolist(), clusters_used=int((hist > 0).sum()))
        if res.checkpoint is not None:
            out.artifacts["checkpoint"] = res.checkpoint
        if self.generative:
            out.generator = make_generator(res.model)
            # the Fig. 7/8 grids need the (y, h, z) ``generate`` hook; models without it write their own
            if (cfg.save_samples and workdir is not None and spec.is_image
                    and type(res.model).generate is not DeepModel.generate):
                res.model.train_mode(False)
                out.artifacts.update(generation_artifacts(res.model.generate, spec, workdir, device=res.model.device,
                                                          seed=seed, **self.generation_options()))
                res.model.train_mode(True)
        return out


def make_generator(model: DeepModel, *, batch_size: int = 500) -> Callable[..., np.ndarray]:
    """``MethodOutput.generator`` of a fitted generative model: ``(n, cluster=None, *, seed=0) ->
    n x sample shape float32`` from :meth:`DeepModel.sample` in batches, eval mode, no grad. The
    draws use a torch RNG seeded with ``seed`` and leave the global RNG state as it was."""

    def generator(n: int, cluster: int | None = None, *, seed: int = 0) -> np.ndarray:
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        devices = [model.device] if model.device.type == "cuda" else []
        parts = []
        model.train_mode(False)
        try:
            with torch.random.fork_rng(devices=devices), torch.no_grad():
                torch.manual_seed(int(seed))
                for i in range(0, n, batch_size):
                    with model.autocast():
                        x = model.sample(min(batch_size, n - i), cluster)
                    parts.append(x.float().cpu().numpy())
        finally:
            model.train_mode(True)
        return np.concatenate(parts)

    return generator

