"""THE training loop of every deep method (:func:`train`; the parts it calls live beside it in
``clusterbench.training``: ``contract``, ``data``, ``checkpoints``, ``progress``; see the package
docstring).

A deep method supplies a :class:`DeepModel` (its ``nn.Module``s, one optimizer per loss group, a
``training_step`` that does its own backward/step calls — manual optimisation, as GANs need —
an optional ``pretrain_step`` and ``predict``). :func:`train` owns everything else:

* seeding (``random``, ``numpy``, ``torch`` from the run's seed) *before* the networks are built,
  ``torch.use_deterministic_algorithms`` on CPU (restored afterwards),
* the device (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"auto"``),
* precision (``clusterbench.precision``): float32 by default (TF32 matrix products and
  convolutions allowed on CUDA), bf16 autocast on CUDA only as the recorded opt-in ``amp=bf16``;
  CUDA-only speed-ups: channels-last, ``torch.compile``; CPU runs are exact float32,
* batching from a float32 numpy array (or a CSR matrix, densified per batch, or a
  :class:`~clusterbench.data.hdf5.StoredArray` -- X left in its HDF5 file, out of core: its stored
  rows resident on the device and decoded per batch, or read by a prefetch thread,
  ``clusterbench.training.resident``) with a seeded shuffle per epoch
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
import math
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from clusterbench import progress, step_probe
from clusterbench.device_settings import device_settings
from clusterbench.errors import ConfigError, DataError
from clusterbench.precision import DEFAULT_PRECISION, autocast_for, precision_of
from clusterbench.runtime import seed_everything, torch_device
from clusterbench.training import capture
from clusterbench.training.checkpoints import (
    CHECKPOINT_NAME,
    MODEL_NAME,
    _load_checkpoint,
    _set_rng_state,
    save_checkpoint,
    save_final_weights,
)
from clusterbench.training.contract import DeepModel, Monitor
from clusterbench.training.data import _Data, batch_indices
from clusterbench.training.progress import _LogLines, _progress, _quiet

# --- options -------------------------------------------------------------------------------------


#: Wall-time cadence of checkpoints (LoopOptions.checkpoint_seconds): at the end of the first
#: epoch that ends this long after the last save. Not a Config field: it changes no result.
CHECKPOINT_SECONDS = 300.0


@dataclass
class LoopOptions:
    """How the loop runs (the method's Config carries these values).

    epochs: training epochs; pretrain_epochs: epochs of ``pretrain_step`` before them.
    batch_size: samples per step. drop_last: drop the last partial batch when N > batch_size
    (GAN/CR losses use batch statistics; a 1-sample batch breaks batch norm).
    checkpoint_every: epochs between checkpoints (0: only at the end); needs a workdir.
    checkpoint_seconds: also checkpoint at the end of an epoch when the last save is this old
    (wall time; 0: by epochs only), so that a long run interrupted loses minutes, not hours.
    monitor_every: epochs between monitor calls (0: never).
    amp: "fp32" (default; TF32 allowed on CUDA) or "bf16" (CUDA bf16 autocast; CPU stays float32).
    channels_last / compile: CUDA only (ignored on CPU, which stays exact).
    capture: "off" (eager steps), "graph" (each step's control path captured once and replayed as
    a CUDA graph; on the CPU a checking emulation) or "compile" (the whole step under
    torch.compile): ``clusterbench.training.capture``.
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
    amp: str = DEFAULT_PRECISION
    channels_last: bool = True
    compile: bool = False
    capture: str = "off"
    progress: bool | None = None
    deterministic: bool = True
    keep_checkpoint: bool = False
    max_steps: int | None = None
    checkpoint_seconds: float = CHECKPOINT_SECONDS


@dataclass
class TrainResult:
    """What :func:`train` returns: the trained model, its predictions on X and the history."""

    model: DeepModel
    proba: np.ndarray | None
    embedding: np.ndarray | None
    history: list[dict[str, Any]] = field(default_factory=list)
    resumed_from_epoch: int | None = None
    fit_s_before: float = 0.0        # training seconds of earlier sessions of a resumed run
    checkpoint: Path | None = None   # the full checkpoint, when kept
    weights: Path | None = None      # the final weights (model.pt), when there is a workdir


# --- small pure helpers --------------------------------------------------------------------------


def predict_all(model: DeepModel, data: _Data, batch_size: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Posterior (N x K, float64, rows renormalised) and embedding of all samples, in eval mode."""
    model.train_mode(False)
    probas, embs = [], []
    with torch.no_grad():  # accumulated on the device, copied to the host once
        for x in data.in_order(max(batch_size, 256)):
            with model.autocast():
                p, e = model.predict(x)
            probas.append(p.float())
            if e is not None:
                embs.append(e.float())
    model.train_mode(True)
    proba = torch.cat(probas).cpu().double().numpy()
    proba = proba / proba.sum(axis=1, keepdims=True)
    emb = torch.cat(embs).cpu().numpy() if embs else None
    return proba, emb



@contextlib.contextmanager
def _determinism(on: bool) -> Iterator[None]:
    prev = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(on)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(prev)



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
    dev = torch_device(device)
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
        model.autocast = autocast_for(dev, options.amp)  # float32 unless amp=bf16 on CUDA
        if precision_of(options.amp) != DEFAULT_PRECISION and not cuda:
            warnings.warn(f"amp={options.amp} applies to CUDA runs only: this {dev.type} run computes in float32.",
                          stacklevel=2)
        if cuda and options.compile:
            for m in model.nets.values():
                m.compile()
        device_settings(model, options, dev.type)  # fused optimizers on CUDA (clusterbench.device_settings)
        wrap = capture.prepare(model, options.capture, dev)  # None for capture=off
        watch = step_probe.current()
        if watch is not None:  # benchmarks and tests watch the steps (clusterbench.step_probe)
            watch.model_built(model, options, dev)
        data = _Data(X, dev, channels_last)
        if data.mode is not None and options.progress is not False:
            progress.say(data.describe())  # out of core: which way its rows reach the device

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
        fit_before = 0.0  # training seconds of earlier sessions (from the checkpoint)
        if ckpt is not None and ckpt.exists():
            state = _load_checkpoint(ckpt, fingerprint)
            model.load_state_dict(state["model"])
            _set_rng_state(state["rng"])
            history = list(state["history"])
            done = resumed = int(state["epoch_done"])
            fit_before = float(state.get("fit_seconds", 0.0))
            if options.progress is not False:
                progress.say(f"resumed from epoch {resumed} of {total} (the checkpoint {ckpt})")
        elif final is not None and final.exists():  # a finished run: only predict
            state = _load_checkpoint(final, fingerprint)
            if int(state.get("epoch_done", -1)) != total:
                raise DataError(f"{final} holds {state.get('epoch_done')} of {total} epochs.",
                                hint="Delete it to start this run from scratch.")
            model.load_weights(state["nets"])
            history = list(state["history"])
            done = resumed = total
            fit_before = float(state.get("fit_seconds", 0.0))
            if options.progress is not False:
                progress.say(f"trained in an earlier session ({total} epochs, {final}): predicting only")

        # 3. epochs
        t_session = last_save = time.perf_counter()

        def fit_seconds() -> float:
            return fit_before + time.perf_counter() - t_session

        # the schedule, and (below) an estimate from each phase's first steps of this session
        steps_of = [min(n * per_epoch, options.max_steps) if name == "train" and options.max_steps is not None
                    else n * per_epoch for name, n in phases]
        if done < total and options.progress is not False:
            progress.say(progress.schedule_text(phases, per_epoch, options.batch_size, sum(steps_of), dev.type))
        timed: set[str] = set()  # phases whose first steps of this session were timed (one estimate each)
        model.train_mode(True)
        bar = _progress(options.progress)
        log = (_LogLines(progress.current_label() or f"{fingerprint.get('method', 'train')} seed {seed}", total, done,
                         phases=phases)
               if bar is None and options.progress is not False and not _quiet() else None)
        with bar if bar is not None else contextlib.nullcontext():
            task = bar.add_task("train", total=total, completed=done, info="") if bar else None
            global_epoch = 0
            captured: dict[str, Any] = {}
            for phase, n_epochs in phases:
                step_fn = model.pretrain_step if phase == "pretrain" else model.training_step
                if wrap is not None:  # one wrapper per phase: its graphs live for the whole run
                    step_fn = captured[phase] = wrap(step_fn, phase)
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
                    probe = None
                    if phase not in timed and options.progress is not False:
                        timed.add(phase)  # steps left: this phase's and the later ones'
                        later = sum(steps_of[[n for n, _ in phases].index(phase):])
                        here = steps_of[[n for n, _ in phases].index(phase)]
                        probe = progress.StepProbe(later - min((epoch - 1) * per_epoch, here), dev.type, phase=phase,
                                                   sync=torch.cuda.synchronize if cuda else None)
                    row = _run_epoch(model, step_fn, data, options, seed=seed, phase=phase,
                                     epoch=epoch, global_epoch=global_epoch, cuda=cuda, limit=limit, probe=probe)
                    row.update({k: float(v) for k, v in model.history_extras().items()})
                    if phase in captured:  # steps run eagerly / captured / replayed so far in this phase
                        row.update({f"{k}_steps": float(v) for k, v in captured[phase].stats.items()})
                    # monitor (labels live in the runner; the model never sees them)
                    last = global_epoch == total
                    if monitor is not None and model.clusters and options.monitor_every and \
                            (epoch % options.monitor_every == 0 or last):
                        _monitor_into(row, model, data, options, monitor)
                    history.append(row)
                    done = global_epoch
                    periodic = (bool(options.checkpoint_every) and global_epoch % options.checkpoint_every == 0) or (
                        bool(options.checkpoint_seconds) and time.perf_counter() - last_save >= options.checkpoint_seconds)
                    if ckpt is not None and ((periodic and not last) or (last and options.keep_checkpoint)):
                        save_checkpoint(ckpt, model=model, epoch_done=done, history=history, fingerprint=fingerprint,
                                        fit_seconds=fit_seconds())
                        last_save = time.perf_counter()
                    if log is not None:
                        log.epoch(done, phase, epoch, n_epochs, row)
                    if bar is not None:
                        info = " ".join(f"{k}={v:.3g}" for k, v in row.items() if k not in ("epoch", "phase"))
                        bar.update(task, advance=1, description=f"{phase} {epoch}/{n_epochs}", info=info[:80])
        if final is not None:  # training ended: keep the final weights; the full state only if asked
            if not final.exists() or resumed != total:
                save_final_weights(final, model=model, epoch_done=done, history=history, fingerprint=fingerprint,
                                   fit_seconds=fit_seconds())
            if options.keep_checkpoint and not ckpt.exists():
                save_checkpoint(ckpt, model=model, epoch_done=done, history=history, fingerprint=fingerprint,
                                fit_seconds=fit_seconds())
            elif not options.keep_checkpoint:
                ckpt.unlink(missing_ok=True)

        # 4. predict on all of X (generator-only models have no posterior)
        proba, emb = predict_all(model, data, options.batch_size) if model.clusters else (None, None)
    return TrainResult(model=model, proba=proba, embedding=emb, history=history, resumed_from_epoch=resumed,
                       fit_s_before=fit_before,
                       checkpoint=ckpt if ckpt is not None and ckpt.exists() else None, weights=final)


def _monitor_into(row: dict[str, Any], model: DeepModel, data: _Data, options: LoopOptions,
                  monitor: Monitor) -> None:
    """Add the monitor's metrics on the current posterior of all of X (and their cost) to ``row``."""
    t0 = time.perf_counter()
    proba, _ = predict_all(model, data, options.batch_size)
    row.update({k: float(v) for k, v in monitor(proba).items()})
    row["monitor_seconds"] = time.perf_counter() - t0


def _run_epoch(model, step_fn, data: _Data, options: LoopOptions, *, seed: int, phase: str,
               epoch: int, global_epoch: int, cuda: bool, limit: int | None = None,
               probe: Callable[[], bool] | None = None) -> dict[str, Any]:
    """One pass over the data (its first ``limit`` batches when given); returns
    ``{phase, epoch, <loss means>, seconds}``; raises on NaN."""
    t0 = time.perf_counter()
    sums: dict[str, torch.Tensor | float] = {}
    counts: dict[str, int] = {}
    batches = batch_indices(data.n, options.batch_size, seed=seed, epoch=global_epoch, drop_last=options.drop_last)
    if limit is not None:
        batches = batches[: max(int(limit), 0)]
    # indices: one host -> device copy per epoch, none per step (or a prefetch thread: out of core)
    with data.epoch(batches) as feed:
        for step, idx in enumerate(feed):
            with step_probe.step_scope(phase):
                losses = step_fn(data.batch(idx), step)
                for k, v in losses.items():
                    v = v.detach().float() if isinstance(v, torch.Tensor) else float(v)
                    sums[k] = sums[k] + v if k in sums else v
                    counts[k] = counts.get(k, 0) + 1
            if probe is not None and probe():  # the session's first steps, timed for the estimate
                probe = None
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
