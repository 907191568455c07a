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
import os
import platform
import resource
import shutil
import socket
import sys
import time
import traceback as tb
import warnings
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from clusterbench import __version__, progress
from clusterbench.data import StoredArray, load
from clusterbench.errors import DataError
from clusterbench.evaluate import evaluate_run
from clusterbench.fsutil import disk_full_error, is_disk_full
from clusterbench.plugins import load_ref
from clusterbench.results.records import (
    RunRecord,
    artifacts_dir,
    has_ok_record,
    record_path,
    rerun_dir,
    write_outputs,
    write_record,
)
from clusterbench.runner.spec import RunSpec, git_info, stratified_subset
from clusterbench.runtime import resolve_device, seed_everything

#: Called after each monitor call (i.e. once per epoch of a deep method) with the run's label and
#: the monitor's metrics; the sequential executor uses it to tick the per-run progress line.
EpochCallback = Callable[[dict[str, float]], None]


def resolve_method(spec: RunSpec) -> type:
    """The Method class of a spec: from METHODS, else imported from ``spec.method_ref``
    (``module:QualName``), which is how worker processes find methods registered at run time."""
    from clusterbench.methods import METHODS  # lazy: every method module (torch), only to run

    cls = METHODS.get(spec.method)
    if cls is not None and (not spec.method_ref or f"{cls.__module__}:{cls.__qualname__}" == spec.method_ref):
        return cls
    if not spec.method_ref:
        from clusterbench.methods import get_method  # lazy: as above

        return get_method(spec.method)
    return load_ref(spec.method_ref)  # a ref from before methods moved into family folders still loads


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

    from clusterbench.methods.base import make_config  # lazy: clusterbench.methods loads every method

    hints = typing.get_type_hints(cls.Config)
    fixed = {}
    for k, v in config.items():
        if isinstance(v, list) and typing.get_origin(hints.get(k)) is tuple:
            v = tuple(v)
        fixed[k] = v
    return make_config(cls.Config, fixed, method=method)


def make_monitor(y: np.ndarray, on_epoch: EpochCallback | None = None) -> Callable[[np.ndarray], dict[str, float]]:
    """``monitor(proba) -> {acc, nmi, ari, ...}`` over the labels ``y`` (methods.base contract)."""
    from clusterbench.metrics import evaluate  # lazy: scikit-learn, loaded outside the fit timer

    def monitor(proba: np.ndarray) -> dict[str, float]:
        m = evaluate(y, proba)
        if on_epoch is not None:
            on_epoch(m)
        return m

    return monitor


def load_run_data(spec: RunSpec, *, mmap: bool | None = None):
    """``(X, y, indices)`` of a spec: the data set (its subset rows), checked against the key's checksum.

    A data set too large for memory comes as a StoredArray (``load``'s automatic choice; always
    with ``mmap=True``, for methods that declare ``out_of_core``); its subset stays a lazy view,
    so only the subset's rows are ever read.
    """
    X, y, info = load(spec.dataset, mmap=mmap)
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
    workdir = final_dir = artifacts_dir(rec_file)
    # a rerun of a run with an ok record (--force) starts from scratch in a staging folder, and
    # the previous ok record, sidecar and artifacts stay until the new result is complete
    prev_ok = has_ok_record(rec_file)
    if prev_ok:
        workdir = rerun_dir(rec_file)
        shutil.rmtree(workdir, ignore_errors=True)
    record = RunRecord(
        key=key, method=spec.method, dataset=spec.dataset, seed=spec.seed, status="failed",
        config=spec.config, dataset_checksum=spec.dataset_checksum, subset=spec.subset,
        code_version=spec.code_version, schedule=spec.schedule,
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
        X, y, idx = load_run_data(spec, mmap=True if cls.out_of_core else None)
        timings["load_s"] = time.perf_counter() - t0
        # 3. fit
        method = cls(config=config_from_dict(cls, spec.config, method=spec.method))
        if spec.extras.get("keep_checkpoints"):  # run option, not in the key (DeepMethod.keep_checkpoints)
            method.keep_checkpoints = True
        workdir.mkdir(parents=True, exist_ok=True)
        if device == "cuda":
            import torch

            torch.cuda.reset_peak_memory_stats()
        monitor = make_monitor(y, on_epoch)  # imports the metrics (sklearn) outside the fit timer
        t0 = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught, progress.run_label(spec.label):  # warnings: into the record
            warnings.simplefilter("default")
            out = method.fit(X, spec.n_clusters, seed=spec.seed, device=device, workdir=workdir, monitor=monitor)
        timings["fit_s"] = time.perf_counter() - t0
        if out.extras.get("fit_s_before_resume"):  # a resumed run: its fit time is every session's
            timings["fit_s_this_session"] = timings["fit_s"]
            timings["fit_s"] += float(out.extras["fit_s_before_resume"])
        record.warnings = summarize_warnings(caught)
        # 4. validate and score (FloatingPointError = NaN posteriors = diverged)
        out.validate(y.shape[0], clusters=cls.clusters)
        from clusterbench.metrics import record_metrics  # lazy: scikit-learn (imported by the monitor already)

        # generator-only methods (clusters=False) have no posterior: no ACC/NMI, no outputs sidecar
        record.metrics = record_metrics(y, out.proba, extras=out.extras) if cls.clusters else {}
        record.history = [dict(h) for h in out.history]
        record.extras = dict(out.extras)
        if not cls.clusters:
            record.extras["clusters"] = False  # the record says why it has no ACC/NMI (records.validate)
        # 4b. evaluators (mode counting, FID, SSIM) on what a generative method exposes
        t0 = time.perf_counter()
        ev = evaluate_run(spec.config, generator=out.generator, generative=cls.generative, clusters=cls.clusters,
                          sample_shape=tuple(X.shape[1:]), n_clusters=spec.n_clusters, seed=spec.seed,
                          device=device, real=X, encoder=out.encoder, dataset=spec.dataset, indices=idx)
        if ev is not None:
            record.metrics.update(ev.metrics)
            record.extras.update({**ev.extras, "evaluation": ev.facts})
            timings["evaluate_s"] = time.perf_counter() - t0
        record.artifacts = {k: os.path.relpath(_moved(Path(v), workdir, final_dir), rec_file.parent)
                            for k, v in out.artifacts.items()}
        epochs = _epoch_seconds(record.history)
        if epochs:
            timings["epoch_s"] = epochs
        # 5. outputs sidecar before the record: a record never points at missing outputs
        if cls.clusters:
            write_outputs(rec_file, proba=out.proba, y=y, embedding=out.embedding, indices=idx)
        if prev_ok:
            _swap_in(workdir, final_dir)
        record.status = "ok"
    except Exception as exc:  # the failure is the result: recorded, never raised
        if is_disk_full(exc):  # not the run's fault, and the next runs would fail the same way: stop
            raise disk_full_error(Path(getattr(exc, "filename", None) or rec_file), what=_DISK_FULL) from None
        record.status = "failed"
        record.error = f"{type(exc).__name__}: {exc}"
        record.traceback = tb.format_exc()
    finally:
        if workdir.is_dir() and (not any(workdir.iterdir()) or (prev_ok and record.status != "ok")):
            shutil.rmtree(workdir, ignore_errors=True)
    timings["total_s"] = time.perf_counter() - t_start
    record.timings = timings
    record.peak_memory_mb = _peak_rss_mb()
    if device == "cuda":
        import torch

        record.peak_gpu_memory_mb = torch.cuda.max_memory_allocated() / 2**20
    record.environment = environment(device)
    record.created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    if record.status == "failed" and not prev_ok:
        # a stale sidecar of an earlier ok run of the same key must not outlive it
        rec_file.with_suffix(".h5").unlink(missing_ok=True)
    try:
        written = write_record(results_home, record)  # never replaces an ok record with a failure
    except OSError as exc:
        if is_disk_full(exc):
            raise disk_full_error(rec_file, what=_DISK_FULL) from None
        raise
    if written != rec_file:
        record.error = f"{record.error} (the previous ok record {rec_file.name} and its outputs were kept; this failure is in {written})"
    return record


def summarize_warnings(caught: list[warnings.WarningMessage], *, limit: int = 20) -> list[dict[str, Any]]:
    """Warnings raised during ``fit`` (e.g. scikit-learn's ConvergenceWarning), grouped by
    category and message: ``[{category, message, count}]``, the ``limit`` most frequent."""
    counts: dict[tuple[str, str], int] = {}
    for w in caught:
        k = (w.category.__name__, str(w.message).splitlines()[0][:300])
        counts[k] = counts.get(k, 0) + 1
    top = sorted(counts.items(), key=lambda kv: -kv[1])[:limit]
    return [{"category": c, "message": m, "count": n} for (c, m), n in top]
_DISK_FULL = ("the partial files of this run were removed and no record was written for it; earlier records "
              "are intact, and the grid stopped")


def _moved(path: Path, workdir: Path, final_dir: Path) -> Path:
    """Where an artifact written under ``workdir`` lies once the folder is ``final_dir``."""
    try:
        return final_dir / Path(path).relative_to(workdir)
    except ValueError:
        return Path(path)


def _swap_in(staging: Path, final_dir: Path) -> None:
    """Replace the artifact folder of the previous ok run by the rerun's (suite-made folders only)."""
    old = final_dir.with_name(f".{final_dir.name}.old-{os.getpid()}")
    if final_dir.is_dir() and not final_dir.is_symlink():
        os.rename(final_dir, old)
    if staging.is_dir():
        os.rename(staging, final_dir)
    shutil.rmtree(old, ignore_errors=True)


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
        "warnings": sum(int(w.get("count", 1)) for w in rec.warnings),
    }
