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
  epochs and at the end (networks, optimizers, history, RNG states); a rerun with the same workdir
  resumes from it (and a finished one only predicts). A checkpoint whose fingerprint (method,
  config, data shape, seed) differs is refused with a :class:`ConfigError`.
"""

from __future__ import annotations

import contextlib
import math
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
from clusterbench.fsutil import atomic_path
from clusterbench.runtime import resolve_device as _resolve_device
from clusterbench.runtime import seed_everything

Monitor = Callable[[np.ndarray], dict[str, float]]
CHECKPOINT_NAME = "checkpoint.pt"


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
            "nets": {k: _plain_state(m) for k, m in self.nets.items()},
            "optims": {k: o.state_dict() for k, o in self.optims.items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for k, m in self.nets.items():
            _orig(m).load_state_dict(state["nets"][k])
        for k, o in self.optims.items():
            o.load_state_dict(state["optims"][k])


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
    progress: None = a Rich bar when stderr is a terminal.
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


@dataclass
class TrainResult:
    """What :func:`train` returns: the trained model, its predictions on X and the history."""

    model: DeepModel
    proba: np.ndarray
    embedding: np.ndarray | None
    history: list[dict[str, Any]] = field(default_factory=list)
    resumed_from_epoch: int | None = None
    checkpoint: Path | None = None


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

        from clusterbench.data.hdf5 import StoredArray

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
    st = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        st["cuda"] = torch.cuda.get_rng_state_all()
    return st


def _set_rng_state(st: dict[str, Any]) -> None:
    torch.set_rng_state(st["torch"])
    np.random.set_state(st["numpy"])
    random.setstate(st["python"])
    if "cuda" in st and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(st["cuda"])


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
        torch.save(state, tmp)


def _load_checkpoint(path: Path, fingerprint: dict) -> dict[str, Any]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # a corrupt file is a user-fixable state
        raise DataError(
            f"The checkpoint {path} cannot be read ({type(exc).__name__}: {exc}).",
            hint="Delete it to start this run from scratch.",
        ) from None
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
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        return None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"), transient=True,
    )


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
        phases = [("pretrain", options.pretrain_epochs), ("train", options.epochs)]
        total = sum(n for _, n in phases)
        ckpt = Path(workdir) / CHECKPOINT_NAME if workdir is not None else None
        history: list[dict[str, Any]] = []
        done = 0
        resumed = None
        if ckpt is not None and ckpt.exists():
            state = _load_checkpoint(ckpt, fingerprint)
            model.load_state_dict(state["model"])
            _set_rng_state(state["rng"])
            history = list(state["history"])
            done = resumed = int(state["epoch_done"])

        # 3. epochs
        model.train_mode(True)
        bar = _progress(options.progress)
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
                            if monitor is not None and options.monitor_every:
                                _monitor_into(row, model, data, options, monitor)
                            history.append(row)
                    row = _run_epoch(model, step_fn, data, options, seed=seed, phase=phase,
                                     epoch=epoch, global_epoch=global_epoch, cuda=cuda)
                    # monitor (labels live in the runner; the model never sees them)
                    last = global_epoch == total
                    if monitor is not None and options.monitor_every and (epoch % options.monitor_every == 0 or last):
                        _monitor_into(row, model, data, options, monitor)
                    history.append(row)
                    done = global_epoch
                    if ckpt is not None and (last or (options.checkpoint_every and global_epoch % options.checkpoint_every == 0)):
                        save_checkpoint(ckpt, model=model, epoch_done=done, history=history, fingerprint=fingerprint)
                    if bar is not None:
                        info = " ".join(f"{k}={v:.3g}" for k, v in row.items() if k not in ("epoch", "phase"))
                        bar.update(task, advance=1, description=f"{phase} {epoch}/{n_epochs}", info=info[:80])
        if ckpt is not None and not ckpt.exists():
            save_checkpoint(ckpt, model=model, epoch_done=done, history=history, fingerprint=fingerprint)

        # 4. predict on all of X
        proba, emb = predict_all(model, data, options.batch_size)
    return TrainResult(model=model, proba=proba, embedding=emb, history=history,
                       resumed_from_epoch=resumed, checkpoint=ckpt)


def _monitor_into(row: dict[str, Any], model: DeepModel, data: _Data, options: LoopOptions,
                  monitor: Monitor) -> None:
    """Add the monitor's metrics on the current posterior of all of X (and their cost) to ``row``."""
    t0 = time.perf_counter()
    proba, _ = predict_all(model, data, options.batch_size)
    row.update({k: float(v) for k, v in monitor(proba).items()})
    row["monitor_seconds"] = time.perf_counter() - t0


def _run_epoch(model, step_fn, data: _Data, options: LoopOptions, *, seed: int, phase: str,
               epoch: int, global_epoch: int, cuda: bool) -> dict[str, Any]:
    """One pass over the data; returns ``{phase, epoch, <loss means>, seconds}``; raises on NaN."""
    t0 = time.perf_counter()
    sums: dict[str, torch.Tensor | float] = {}
    counts: dict[str, int] = {}
    batches = batch_indices(data.n, options.batch_size, seed=seed, epoch=global_epoch, drop_last=options.drop_last)
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
    count_modes: Table II — label ``mode_samples`` (10,000) samples generated from the priors with the cached MNIST
    classifier (``mnist_classifier.get_classifier``) and record ``modes_generated`` and ``modes_kl``
    in the extras (1 x 28 x 28 data and generative methods only).
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
    count_modes: bool = False
    mode_samples: int = 10000


def _unit_range(X: Any) -> bool:
    import scipy.sparse as sp

    from clusterbench.data.hdf5 import StoredArray

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

    Subclasses define ``make_model(device, spec) -> DeepModel``.
    """

    name: str = ""
    config: DeepConfig
    generative: bool = False

    def make_model(self, device: torch.device, spec: Any) -> DeepModel:
        raise NotImplementedError

    def fit(self, X: Any, n_clusters: int, *, seed: int, device: str = "cpu",
            workdir: Path | None = None, monitor: Monitor | None = None):
        from clusterbench.methods.base import MethodOutput, config_dict
        from clusterbench.methods.nets import generation_artifacts, resolve_arch

        cfg = self.config
        if getattr(X, "ndim", 0) < 2 or X.shape[0] < 2:
            raise DataError(f"{self.name} needs an N x features (or N x C x H x W) array with N >= 2; "
                            f"got shape {getattr(X, 'shape', None)}.", hint="Check the data set.")
        if int(n_clusters) < 2:
            raise ConfigError(f"n_clusters must be >= 2, got {n_clusters}.")
        spec = resolve_arch(tuple(X.shape[1:]), int(n_clusters), arch=cfg.arch, style_dim=cfg.style_dim,
                            noise_dim=cfg.noise_dim, unit_range=_unit_range(X))
        if cfg.save_samples and workdir is not None and spec.is_image:
            import importlib.util

            if importlib.util.find_spec("matplotlib") is None:  # fail before training, not after
                raise ConfigError("save_samples=true needs matplotlib to write the PNG sample grids.",
                                  hint="pip install 'clusterbench[report]', or --set save_samples=false.")
        if cfg.count_modes and (spec.sample_shape != (1, 28, 28) or not self.generative):
            raise ConfigError(f"count_modes=true needs a generative method on 1x28x28 (MNIST-like) data; "
                              f"got {self.name} on samples of shape {spec.sample_shape}.",
                              hint="Set count_modes=false.")
        options = LoopOptions(
            epochs=cfg.epochs, batch_size=cfg.batch_size, pretrain_epochs=cfg.pretrain_epochs,
            checkpoint_every=cfg.checkpoint_every, monitor_every=cfg.monitor_every, amp=cfg.amp,
            channels_last=cfg.channels_last, compile=cfg.compile,
        )
        # what determines the result (bookkeeping options may change between a run and its resume)
        result_config = {k: v for k, v in config_dict(cfg).items()
                         if k not in ("checkpoint_every", "monitor_every", "save_samples")}
        fingerprint = {"method": self.name, "config": result_config, "shape": list(X.shape),
                       "n_clusters": int(n_clusters)}
        if workdir is not None:
            workdir = Path(workdir)
            workdir.mkdir(parents=True, exist_ok=True)
        res = train(lambda dev: self.make_model(dev, spec), X, options=options, seed=seed, device=device,
                    workdir=workdir, monitor=monitor, fingerprint=fingerprint)
        labels = res.proba.argmax(1)
        hist = np.bincount(labels, minlength=int(n_clusters))
        out = MethodOutput(proba=res.proba, embedding=res.embedding, history=res.history)
        out.extras = {
            "cluster_histogram": hist.tolist(),
            "clusters_used": int((hist > 0).sum()),
            "architecture": spec.describe(),
            "resumed_from_epoch": res.resumed_from_epoch,
            "device": str(res.model.device),
        }
        if res.checkpoint is not None:
            out.artifacts["checkpoint"] = res.checkpoint
        if cfg.count_modes:
            out.extras.update(_count_generated_modes(res.model, seed=seed, n=cfg.mode_samples))
        gen = getattr(res.model, "generate", None)
        if cfg.save_samples and workdir is not None and spec.is_image and gen is not None:
            res.model.train_mode(False)
            out.artifacts.update(generation_artifacts(gen, spec, workdir, device=res.model.device, seed=seed))
            res.model.train_mode(True)
        return out


def _count_generated_modes(model: DeepModel, *, seed: int, n: int = 10000, batch: int = 500) -> dict[str, Any]:
    """Table II: modes and KL of the MNIST classifier's labels on n samples from the priors."""
    from clusterbench.methods.mnist_classifier import count_modes, get_classifier

    clf, facts = get_classifier(device=str(model.device))
    model.train_mode(False)
    torch.manual_seed(seed)
    samples = []
    with torch.no_grad():
        for i in range(0, n, batch):
            _, y, h, z = model.prior(min(batch, n - i))
            samples.append(model.generate(y, h, z).float().cpu().numpy())
    model.train_mode(True)
    modes, kl = count_modes(np.concatenate(samples), clf, n_classes=int(facts.get("n_classes", 10)),
                            device=str(model.device))
    return {"modes_generated": modes, "modes_kl": kl, "modes_samples": n,
            "mode_classifier_test_accuracy": facts.get("test_accuracy")}
