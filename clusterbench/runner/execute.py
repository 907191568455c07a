"""Execute one run in the current process and write its record.

Phases of :func:`execute_run` (each one a small helper below):
  1. seed numpy / random / torch from the run's seed,
  2. load the data set (and its stratified subset), check it is the data the key was made for,
  3. fit the method with a monitor built from the labels (the method never sees the labels),
  4. validate the output (NaN posteriors = a diverged run), compute the metrics,
  5. write the outputs sidecar (``<key>.h5``) then the record (``<key>.json``), both atomically.
A crash or divergence in phases 3-4 is recorded as a failed run with its reason and traceback;
Ctrl-C (KeyboardInterrupt) is not caught: the run leaves nothing behind and the grid stops.
"""

from __future__ import annotations

import functools
import importlib
import os
import platform
import resource
import shutil
import socket
import sys
import time
import traceback as tb
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from clusterbench.errors import DataError
from clusterbench.results.records import RunRecord, artifacts_dir, record_path, write_outputs, write_record
from clusterbench.runner.spec import RunSpec, git_info, stratified_subset
from clusterbench.runtime import resolve_device, seed_everything

#: Called after each monitor call (i.e. once per epoch of a deep method) with the run's label and
#: the monitor's metrics; the sequential executor uses it to tick the per-run progress line.
EpochCallback = Callable[[dict[str, float]], None]


def resolve_method(spec: RunSpec) -> type:
    """The Method class of a spec: from METHODS, else imported from ``spec.method_ref``
    (``module:QualName``), which is how worker processes find methods registered at run time."""
    from clusterbench.methods import METHODS

    cls = METHODS.get(spec.method)
    if cls is not None and (not spec.method_ref or f"{cls.__module__}:{cls.__qualname__}" == spec.method_ref):
        return cls
    if not spec.method_ref:
        from clusterbench.methods import get_method

        return get_method(spec.method)
    module, _, qual = spec.method_ref.partition(":")
    obj: Any = importlib.import_module(module)
    for part in qual.split("."):
        obj = getattr(obj, part)
    return obj


def environment(device: str) -> dict[str, Any]:
    """Versions, device and host of this run (JSON-able)."""
    env = dict(_static_environment())
    env.update({
        "device": device,
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
    })
    if device == "cuda":
        import torch

        env["device_name"] = torch.cuda.get_device_name()
        env["cuda"] = torch.version.cuda
    return env


@functools.lru_cache(maxsize=1)
def _static_environment() -> dict[str, Any]:
    """The parts of the environment fixed for the life of a process, computed once
    (``platform.processor()`` runs ``uname -p`` and ``platform.platform()`` reads the
    interpreter binary: ~0.1 s that a grid of short runs should pay once)."""
    import scipy
    import sklearn

    from clusterbench import __version__

    env: dict[str, Any] = {
        "clusterbench": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "sklearn": sklearn.__version__,
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "device_name": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "git_commit": git_info()["commit"],
        "git_dirty": git_info()["dirty"],
    }
    try:
        import torch

        env["torch"] = torch.__version__
    except ImportError:
        env["torch"] = None
    return env


def config_from_dict(cls: type, config: dict[str, Any], *, method: str = "") -> Any:
    """Rebuild a method's Config from its resolved dict (JSON turned tuples into lists)."""
    import typing

    from clusterbench.methods.base import make_config

    hints = typing.get_type_hints(cls.Config)
    fixed = {}
    for k, v in config.items():
        if isinstance(v, list) and typing.get_origin(hints.get(k)) is tuple:
            v = tuple(v)
        fixed[k] = v
    return make_config(cls.Config, fixed, method=method)


def make_monitor(y: np.ndarray, on_epoch: EpochCallback | None = None) -> Callable[[np.ndarray], dict[str, float]]:
    """``monitor(proba) -> {acc, nmi, ari, ...}`` over the labels ``y`` (methods.base contract)."""
    from clusterbench.metrics import evaluate

    def monitor(proba: np.ndarray) -> dict[str, float]:
        m = evaluate(y, proba)
        if on_epoch is not None:
            on_epoch(m)
        return m

    return monitor


def load_run_data(spec: RunSpec):
    """``(X, y, indices)`` of a spec: the data set (its subset rows), checked against the key's checksum.

    A data set too large for memory comes as a StoredArray (``load``'s automatic choice); its
    subset stays a lazy view, so only the subset's rows are ever read.
    """
    from clusterbench.data import StoredArray, load

    X, y, info = load(spec.dataset)
    if spec.dataset_checksum and info.checksum != spec.dataset_checksum:
        raise DataError(
            f"Data set {spec.dataset!r} changed since the run was planned (checksum {info.checksum[:12]} "
            f"instead of {spec.dataset_checksum[:12]}).",
            hint="Start the run again so its key matches the data.",
        )
    idx = None
    if spec.subset is not None:
        idx = stratified_subset(y, spec.subset, seed=spec.subset_seed)
        X, y = (X.take(idx) if isinstance(X, StoredArray) else X[idx]), y[idx]
    return X, y, idx


def _peak_rss_mb() -> float:
    """Peak resident set size of this process so far, MB (Linux reports KB, macOS bytes)."""
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / (1024 * 1024) if sys.platform == "darwin" else r / 1024


def _epoch_seconds(history: list[dict[str, Any]]) -> list[float]:
    """Seconds of each training epoch (pre-training epochs excluded: Table III times training)."""
    for key in ("seconds", "epoch_s", "time_s"):
        vals = [h[key] for h in history
                if isinstance(h, dict) and key in h and h.get("phase", "train") == "train"]
        if vals:
            return [float(v) for v in vals]
    return []


def execute_run(spec: RunSpec, results_home: Path, *, on_epoch: EpochCallback | None = None) -> RunRecord:
    """Run ``spec`` in this process and write its record (and outputs) under ``results_home``.

    Returns the record (status ok or failed). Never raises for a crashed or diverged method: the
    failure is the record. KeyboardInterrupt propagates and writes nothing.
    Peak memory is the peak RSS of the process that ran the run (a sequential grid reports the
    largest so far, so a fresh process per run — ``--jobs 2`` or Slurm — measures one run alone).
    """
    results_home = Path(results_home)
    key = spec.key
    rec_file = record_path(results_home, spec.method, spec.dataset, key)
    workdir = artifacts_dir(rec_file)
    record = RunRecord(
        key=key, method=spec.method, dataset=spec.dataset, seed=spec.seed, status="failed",
        config=spec.config, dataset_checksum=spec.dataset_checksum, subset=spec.subset,
        code_version=spec.code_version,
    )
    t_start = time.perf_counter()
    timings: dict[str, Any] = {}
    device = "cpu"
    try:
        # 1. device and seeds
        cls = resolve_method(spec)
        device = resolve_device(spec.device) if getattr(cls, "deep", False) else "cpu"
        record.device = device
        seed_everything(spec.seed)
        # 2. data
        t0 = time.perf_counter()
        X, y, idx = load_run_data(spec)
        timings["load_s"] = time.perf_counter() - t0
        # 3. fit
        method = cls(config=config_from_dict(cls, spec.config, method=spec.method))
        workdir.mkdir(parents=True, exist_ok=True)
        if device == "cuda":
            import torch

            torch.cuda.reset_peak_memory_stats()
        monitor = make_monitor(y, on_epoch)  # imports the metrics (sklearn) outside the fit timer
        t0 = time.perf_counter()
        out = method.fit(X, spec.n_clusters, seed=spec.seed, device=device, workdir=workdir, monitor=monitor)
        timings["fit_s"] = time.perf_counter() - t0
        # 4. validate and score (FloatingPointError = NaN posteriors = diverged)
        out.validate(y.shape[0])
        from clusterbench.metrics import record_metrics

        record.metrics = record_metrics(y, out.proba, extras=out.extras)
        record.history = [dict(h) for h in out.history]
        record.extras = dict(out.extras)
        record.artifacts = {k: os.path.relpath(Path(v), rec_file.parent) for k, v in out.artifacts.items()}
        epochs = _epoch_seconds(record.history)
        if epochs:
            timings["epoch_s"] = epochs
        # 5. outputs sidecar before the record: a record never points at missing outputs
        write_outputs(rec_file, proba=out.proba, y=y, embedding=out.embedding, indices=idx)
        record.status = "ok"
    except Exception as exc:  # the failure is the result: recorded, never raised
        record.status = "failed"
        record.error = f"{type(exc).__name__}: {exc}"
        record.traceback = tb.format_exc()
    finally:
        if workdir.is_dir() and not any(workdir.iterdir()):
            shutil.rmtree(workdir, ignore_errors=True)
    timings["total_s"] = time.perf_counter() - t_start
    record.timings = timings
    record.peak_memory_mb = _peak_rss_mb()
    if device == "cuda":
        import torch

        record.peak_gpu_memory_mb = torch.cuda.max_memory_allocated() / 2**20
    record.environment = environment(device)
    record.created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    if record.status == "failed":
        # a stale sidecar of an earlier ok run of the same key must not outlive it
        rec_file.with_suffix(".h5").unlink(missing_ok=True)
    write_record(results_home, record)
    return record


def run_job(spec_dict: dict[str, Any], results_home: str, env: dict[str, str], sys_path: list[str]) -> dict[str, Any]:
    """Entry point of a worker process or Slurm job: plain data in, a small summary out.

    ``env`` (CLUSTERBENCH_HOME, ...) and ``sys_path`` entries are applied first so the job sees
    the submitting process's data home and can import methods registered at run time.
    """
    for k, v in env.items():
        if v is not None:
            os.environ[k] = v
    for p in reversed(sys_path):
        if p and p not in sys.path:
            sys.path.insert(0, p)
    rec = execute_run(RunSpec.from_dict(spec_dict), Path(results_home))
    return summary(rec)


def summary(rec: RunRecord) -> dict[str, Any]:
    """A small picklable view of a record for the parent process."""
    return {
        "key": rec.key, "method": rec.method, "dataset": rec.dataset, "seed": rec.seed,
        "status": rec.status, "error": rec.error, "metrics": dict(rec.metrics),
        "total_s": rec.timings.get("total_s"),
    }
