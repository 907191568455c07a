"""Step-time calibration: what one run of a method costs on this device, measured, never typed in.

``reproduce`` plans with it (time per run and in total, the Slurm time limit). A calibration is
one entry per (method, resolved config less its schedule, sample shape, number of clusters,
device, code version), stored in ``<results home>/.calibration/calibration.json`` (written
atomically) and measured again when any of those changes (a new commit, another GPU).

Two models, each stated in the plan:

* **Deep methods** (``Method.deep``): one short fit on ``n_cal`` samples (a few batches: at least
  4 batches and 256 samples) with the schedule cut to 2 epochs (1 pre-training epoch; GANs: the
  generator iterations of 2 epochs), no evaluators, no checkpoints. The training loop's history
  times each epoch (``seconds``) and each monitor pass over the data (``monitor_seconds``), so the
  fit gives the time of one training step, one pre-training step and one prediction per sample.
  A full run is then ``fixed + train steps x step + pre-training steps x step + (monitor passes +
  1) x N x prediction``, the steps counted exactly as the loop will (``Method.loop_length``,
  batches per epoch of N samples). Label: "calibrated" (timed steps x counted steps).
  The evaluators (FID, SSIM, mode counting) are not in the estimate; the plan says so.
* **Classical methods**: two fits on stratified subsets (or synthetic blobs of the data's
  shape when the data set is not fetched yet) of ``n1`` and ``n2 = 2 n1`` samples; their times give
  the exponent ``a`` of ``t ~ N^a`` (clipped to [1, 3]) unless the method states its complexity
  (``Method.time_complexity``: k-means, GMM, NMF 1; spectral, agglomerative 2), which is used
  instead; the full data set's time is ``t2 (N / n2)^a``. Label: "extrapolated" with the
  exponent and where it comes from; when ``n2`` is the whole data set the time is measured
  ("calibrated"). Both models add the runner's metric time per sample and the data set's load time.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import time
import warnings
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from clusterbench.fsutil import write_json_atomic
from clusterbench.schedule import schedule_fields

#: Calibration file under the results home (a hidden folder: never mistaken for a method's records).
CALIBRATION_FILE = Path(".calibration") / "calibration.json"
#: Config keys that never change the cost of training (bookkeeping, evaluators, run options).
_NOT_COST = ("checkpoint_every", "save_samples", "progress", "evaluate", "count_modes", "mode_samples",
             "fid_samples", "fid_network", "fid_real", "ssim_pairs", "eval_classifier")
#: Classical calibration: the larger subset (the smaller one is half of it).
CLASSICAL_N = 600


@dataclass
class Calibration:
    """One measured calibration (see the module docstring for the two models)."""

    method: str
    device: str                    # "cpu" | "cuda"
    device_name: str
    code_version: str
    kind: str                      # "deep" | "classical"
    data: str                      # "real" (a subset of the fetched data set) | "synthetic"
    n_cal: int = 0
    step_s: float = 0.0            # deep: one training step (batch)
    pretrain_step_s: float = 0.0   # deep: one pre-training step
    predict_s: float = 0.0         # deep: prediction (monitor) per sample
    init_s: float = 0.0            # deep: start of training (e.g. k-means on features) per sample
    fixed_s: float = 0.0           # deep: model building and the rest of fit
    sizes: list[int] = field(default_factory=list)       # classical: subset sizes
    seconds: list[float] = field(default_factory=list)   # classical: fit times of those sizes
    exponent: float = 1.0          # classical: a of t ~ N^a
    declared: bool = False         # classical: a is the method's stated complexity (else measured)
    score_s: float = 0.0           # both: the runner's metrics and outputs per sample (after fit)
    load_s: float = 0.0            # both: loading the whole data set (0 when it was not fetched)
    measured: str = ""             # when (UTC)
    wall_s: float = 0.0            # what the calibration itself took


@dataclass
class Estimate:
    """Estimated seconds of one run and how the figure was obtained."""

    seconds: float | None
    how: str      # "calibrated" | "extrapolated" | "unknown"
    note: str     # the model, in words


def device_name(device: str) -> str:
    """What ``device`` is on this machine: the GPU's name, or the CPU model and core count."""
    if device == "cuda":
        import torch

        return torch.cuda.get_device_name()
    return f"{platform.processor() or platform.machine()} x{os.cpu_count()}"


def config_digest(config: dict[str, Any]) -> str:
    """Hash of a resolved config without its schedule and bookkeeping: the cost of one step."""
    sched = schedule_fields(config)
    kept = {k: v for k, v in config.items() if k not in sched and k not in _NOT_COST}
    return hashlib.sha256(json.dumps(kept, sort_keys=True, default=str).encode()).hexdigest()[:16]


def cache_key(method: str, config: dict[str, Any], sample_shape: tuple[int, ...], n_clusters: int,
              device: str, dev_name: str, code_version: str) -> str:
    return "|".join([method, config_digest(config), "x".join(map(str, sample_shape)), str(n_clusters),
                     device, dev_name, code_version])


def load_cache(results_home: Path) -> dict[str, Calibration]:
    path = Path(results_home) / CALIBRATION_FILE
    try:
        raw = json.loads(path.read_text())
        return {k: Calibration(**v) for k, v in raw.items()}
    except (OSError, ValueError, TypeError):
        return {}  # absent or unreadable: measured again (and rewritten atomically)


def save_cache(results_home: Path, cache: dict[str, Calibration]) -> None:
    write_json_atomic(Path(results_home) / CALIBRATION_FILE, {k: asdict(v) for k, v in sorted(cache.items())})


# --- measuring ---------------------------------------------------------------------------------


def _data(dataset: str, n: int, sample_shape: tuple[int, ...], n_clusters: int, seed: int = 0):
    """``(X, data kind)``: a stratified subset of ``n`` samples of the fetched data set, else
    synthetic blobs (one per cluster) of its sample shape in [0, 1]."""
    # lazy: loaded on use (torch, h5py, scikit-learn or the runner behind it), not on import
    from clusterbench import paths

    if paths.dataset_file(dataset).exists():
        # lazy: loaded on use (torch, h5py, scikit-learn or the runner behind it), not on import
        from clusterbench.data import load
        from clusterbench.runner.spec import stratified_subset

        X, y, _ = load(dataset)
        idx = stratified_subset(y, min(n, y.size), seed=seed)
        return X[idx], "real"
    rng = np.random.default_rng(seed)
    d = int(np.prod(sample_shape))
    centres = rng.uniform(0.2, 0.8, size=(n_clusters, d))
    labels = np.arange(n) % n_clusters
    X = np.clip(centres[labels] + rng.normal(0, 0.1, size=(n, d)), 0, 1).astype(np.float32)
    return X.reshape((n, *sample_shape)), "synthetic"


def _steps_per_epoch(n: int, batch_size: int) -> int:
    return 1 if n <= batch_size else n // batch_size  # the loop drops the last partial batch


def train_steps(cls: type, config: dict[str, Any], n: int) -> tuple[int, int, int]:
    """``(train steps, pre-training steps, epochs with a monitor pass)`` of a deep run on ``n``
    samples, counted as the training loop counts them (``Method.loop_length`` where the method
    has one, else its config's ``epochs``)."""
    # lazy: loaded on use (torch, h5py, scikit-learn or the runner behind it), not on import
    from clusterbench.runner.execute import config_from_dict

    method = cls(config=config_from_dict(cls, config, method=getattr(cls, "name", "")))
    per = _steps_per_epoch(n, int(config.get("batch_size") or 1))
    if hasattr(method, "loop_length"):
        epochs, max_steps = method.loop_length(n)
    else:
        epochs, max_steps = int(config.get("epochs") or 1), None
    steps = epochs * per if max_steps is None else min(epochs * per, int(max_steps))
    pre = int(config.get("pretrain_epochs") or 0)
    every = int(config.get("monitor_every", 1) or 0)
    monitors = 0 if not every else math.ceil(epochs / every) + math.ceil(pre / every)
    return steps, pre * per, monitors


def _short_config(cls: type, config: dict[str, Any], n_cal: int) -> dict[str, Any]:
    """The config of the calibration fit: 2 epochs (GANs: the iterations of 2 epochs), 1
    pre-training epoch, no evaluators, no sample grids."""
    cfg = dict(config)
    per = _steps_per_epoch(n_cal, int(cfg.get("batch_size") or 1))
    for k, v in schedule_fields(cfg).items():
        if k == "iterations":
            cfg[k] = max(1, math.ceil(2 * per / int(cfg.get("critic_iters", 1) or 1)))
        elif k == "epochs":
            cfg[k] = min(v, 2)
        else:
            cfg[k] = min(v, 1)
    for k, v in (("evaluate", []), ("count_modes", False), ("save_samples", False), ("monitor_every", 1)):
        if k in cfg:
            cfg[k] = v
    return cfg


def _score_seconds(out: Any, n: int, n_clusters: int) -> float:
    """Seconds per sample of what the runner does after fit: the record's metrics on the posterior."""
    # lazy: loaded on use (torch, h5py, scikit-learn or the runner behind it), not on import
    from clusterbench.metrics import record_metrics

    if getattr(out, "proba", None) is None:
        return 0.0
    y = np.arange(n) % n_clusters
    t0 = time.perf_counter()
    record_metrics(y, out.proba, extras=out.extras)
    return (time.perf_counter() - t0) / n


def _load_seconds(dataset: str) -> float:
    """Seconds to load the fetched data set as a run does (0 when it is not fetched)."""
    # lazy: loaded on use (torch, h5py, scikit-learn or the runner behind it), not on import
    from clusterbench import paths

    if not paths.dataset_file(dataset).exists():
        return 0.0
    # lazy: loaded on use (torch, h5py, scikit-learn or the runner behind it), not on import
    from clusterbench.data import load

    t0 = time.perf_counter()
    load(dataset)
    return time.perf_counter() - t0


def _fit_seconds(cls: type, config: dict[str, Any], X: Any, n_clusters: int, device: str):
    """Fit once (no workdir, no monitor labels needed: a monitor that only predicts) and return
    ``(wall seconds, MethodOutput)``."""
    # lazy: loaded on use (torch, h5py, scikit-learn or the runner behind it), not on import
    from clusterbench.runner.execute import config_from_dict
    from clusterbench.runtime import seed_everything

    seed_everything(0)
    method = cls(config=config_from_dict(cls, config, method=getattr(cls, "name", "")))
    y = np.arange(X.shape[0]) % n_clusters
    # lazy: loaded on use (torch, h5py, scikit-learn or the runner behind it), not on import
    from clusterbench.runner.execute import make_monitor

    monitor = make_monitor(y)
    quiet = os.environ.get("CLUSTERBENCH_QUIET")
    os.environ["CLUSTERBENCH_QUIET"] = "1"  # no per-epoch lines from a calibration fit
    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = method.fit(X, n_clusters, seed=0, device=device, workdir=None, monitor=monitor)
    finally:
        if quiet is None:
            os.environ.pop("CLUSTERBENCH_QUIET", None)
        else:
            os.environ["CLUSTERBENCH_QUIET"] = quiet
    return time.perf_counter() - t0, out


def measure(cls: type, method: str, config: dict[str, Any], dataset: str, n_samples: int,
            sample_shape: tuple[int, ...], n_clusters: int, device: str, code_version: str) -> Calibration:
    """Measure one calibration on this machine (see the module docstring)."""
    t_start = time.perf_counter()
    dev = device if getattr(cls, "deep", False) else "cpu"
    cal = Calibration(method=method, device=dev, device_name=device_name(dev), code_version=code_version,
                      kind="deep" if getattr(cls, "deep", False) else "classical", data="",
                      measured=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    if cal.kind == "deep":
        batch = int(config.get("batch_size") or 1)
        n_cal = min(n_samples, max(4 * batch, 256))
        X, cal.data = _data(dataset, n_cal, sample_shape, n_clusters)
        short = _short_config(cls, config, n_cal)
        wall, out = _fit_seconds(cls, short, X, n_clusters, dev)
        steps, pre_steps, _ = train_steps(cls, short, n_cal)
        per = _steps_per_epoch(n_cal, batch)
        rows = [h for h in out.history if isinstance(h, dict)]
        train = [float(h["seconds"]) for h in rows if h.get("phase", "train") == "train" and "seconds" in h]
        pre = [float(h["seconds"]) for h in rows if h.get("phase") == "pretrain" and "seconds" in h]
        init = [float(h["seconds"]) for h in rows if h.get("phase") == "init" and "seconds" in h]
        mon = [float(h["monitor_seconds"]) for h in rows if "monitor_seconds" in h]
        cal.n_cal = n_cal
        cal.score_s = _score_seconds(out, n_cal, n_clusters)
        if train:
            # the first epoch carries warm-up (allocations, kernel selection): the later epochs
            # time the steps (the last one may be partial: the steps are counted, not the epochs)
            later = steps - per
            cal.step_s = sum(train[1:]) / later if len(train) > 1 and later > 0 else sum(train) / max(steps, 1)
            cal.pretrain_step_s = (sum(pre) / max(pre_steps, 1)) if pre else 0.0
            cal.predict_s = (sum(mon) / len(mon) / n_cal) if mon else 0.0
            cal.init_s = sum(init) / n_cal
            cal.fixed_s = max(0.0, wall - sum(train) - sum(pre) - sum(init) - sum(mon) - n_cal * cal.predict_s)
        else:  # no per-epoch timing in the history: the whole fit, scaled (stated as such)
            cal.fixed_s, cal.step_s = 0.0, wall / max(steps + pre_steps, 1)
    else:
        n2 = min(n_samples, CLASSICAL_N)
        n1 = max(n_clusters * 2, n2 // 2)
        times, kinds = [], set()
        for n in (n1, n2):
            X, kind = _data(dataset, n, sample_shape, n_clusters)
            kinds.add(kind)
            t, out = _fit_seconds(cls, config, X, n_clusters, "cpu")
            times.append(t)
        cal.score_s = _score_seconds(out, n2, n_clusters)
        cal.sizes, cal.seconds, cal.data = [n1, n2], times, "/".join(sorted(kinds))
        declared = getattr(cls, "time_complexity", None)
        if declared is not None:  # the method states its complexity
            cal.exponent, cal.declared = float(declared), True
        else:
            a = math.log(max(times[1], 1e-6) / max(times[0], 1e-6)) / math.log(n2 / n1) if n2 > n1 else 1.0
            cal.exponent = float(min(3.0, max(1.0, a)))
    cal.load_s = _load_seconds(dataset)
    cal.wall_s = time.perf_counter() - t_start
    return cal


def estimate(cal: Calibration | None, cls: type, config: dict[str, Any], n_samples: int) -> Estimate:
    """Seconds of one run of ``config`` on ``n_samples`` samples from ``cal`` (module docstring)."""
    if cal is None:
        return Estimate(None, "unknown", "no calibration on this device")
    if cal.kind == "deep":
        steps, pre_steps, monitors = train_steps(cls, config, n_samples)
        t = (cal.fixed_s + steps * cal.step_s + pre_steps * cal.pretrain_step_s
             + (monitors + 1) * n_samples * cal.predict_s + n_samples * (cal.init_s + cal.score_s) + cal.load_s)
        step = f"{cal.step_s * 1e3:.3g} ms" if cal.step_s < 1 else f"{cal.step_s:.3g} s"
        return Estimate(t, "calibrated", f"{steps:,} steps x {step} timed on {cal.n_cal} "
                                         f"{cal.data} samples; evaluators not included")
    n1, n2 = cal.sizes
    rest = cal.load_s + n_samples * cal.score_s
    if n_samples <= n2:
        return Estimate(cal.seconds[1] * (n_samples / n2) ** cal.exponent + rest, "calibrated",
                        f"fit timed on {n2:,} {cal.data} samples")
    t = cal.seconds[1] * (n_samples / n2) ** cal.exponent + rest
    how = "stated complexity" if cal.declared else "exponent measured"
    return Estimate(t, "extrapolated", f"t ~ N^{cal.exponent:.2f} ({how}) from a fit on {n2:,} {cal.data} samples")
