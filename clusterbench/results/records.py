"""Run records: one JSON file per run, written atomically, and their tidy DataFrame.

Layout under a results home: ``<method>/<dataset>/<key>.json`` plus, beside each record,
``<key>.h5`` with the stored outputs (``proba``, ``embedding``) so metrics can be recomputed
without retraining, and ``<key>/`` for artifacts (PNGs, checkpoints).

The key (``clusterbench.runner.spec``) is the sha256 of the canonical JSON (sorted keys, no
whitespace) of: method, resolved config, data set name, its HDF5 content checksum, its number of
clusters, subset (``{"n": N, "seed": 0}`` or null), seed, code version (package version +
``+g<git commit>`` of the source checkout when there is one). The device is not in the key.

A record holds: status ``ok`` | ``failed``; for failed runs ``error`` ("ExceptionType: message")
and ``traceback``; ``metrics`` (``clusterbench.metrics.evaluate`` on the run's labels: the
subset's for a subset run); ``history`` (``MethodOutput.history``, one dict per epoch);
``timings`` (``load_s``, ``fit_s``, ``total_s``, ``epoch_s`` list when the history has per-epoch
``seconds``); ``peak_memory_mb`` (peak RSS of the process that ran it) and ``peak_gpu_memory_mb``
(``torch.cuda.max_memory_allocated``, CUDA runs); ``environment`` (python, numpy, scipy, sklearn,
torch versions, device and device name, hostname, git commit and dirty flag, Slurm job id);
``extras`` (``MethodOutput.extras``), ``artifacts`` (paths relative to the record), ``created``.

The sidecar ``<key>.h5`` (ok runs only, written before the record): ``proba`` (N x K float32),
``y`` (N int64, the labels the metrics used), optional ``embedding`` (N x d float32) and
``indices`` (N int64 rows of the full data set, subset runs).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Literal

import numpy as np
import pandas as pd

from clusterbench.errors import DataError
from clusterbench.fsutil import atomic_path, write_json_atomic

SCHEMA_VERSION = 1
Status = Literal["ok", "failed"]


@dataclass
class RunRecord:
    """The stored result of one run (method x data set x config x seed)."""

    key: str                      # hash of (method, resolved config, data set + checksum, subset, seed, code version)
    method: str
    dataset: str
    seed: int
    status: Status
    config: dict[str, Any]        # the resolved method config
    dataset_checksum: str = ""
    subset: int | None = None     # stratified subset size, None = all samples
    code_version: str = ""
    metrics: dict[str, float] = field(default_factory=dict)   # acc, purity, nmi, nmi_geometric, ari, ...
    history: list[dict[str, Any]] = field(default_factory=list)
    timings: dict[str, Any] = field(default_factory=dict)     # total_s, epoch_s: [...], fit_s
    peak_memory_mb: float | None = None
    environment: dict[str, Any] = field(default_factory=dict)  # versions, device, git commit, host
    error: str | None = None      # the reason, for status == "failed": "ExceptionType: message"
    traceback: str | None = None  # the traceback text of a failed run (for debugging)
    peak_gpu_memory_mb: float | None = None  # torch.cuda.max_memory_allocated on CUDA runs
    device: str = ""              # the device the run used ("cpu", "cuda")
    extras: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, str] = field(default_factory=dict)   # name -> path relative to the record
    created: str = ""
    schema_version: int = SCHEMA_VERSION

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunRecord":
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in d.items() if k in known})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def record_path(home: Path, method: str, dataset: str, key: str) -> Path:
    return Path(home) / method / dataset / f"{key}.json"


def outputs_path(record_file: Path) -> Path:
    """The HDF5 sidecar ``<key>.h5`` beside a record ``<key>.json``."""
    return Path(record_file).with_suffix(".h5")


def artifacts_dir(record_file: Path) -> Path:
    """The artifact folder ``<key>/`` beside a record ``<key>.json``."""
    return Path(record_file).with_suffix("")


def write_record(home: Path, record: RunRecord) -> Path:
    """Write ``record`` atomically under ``home``; returns its path."""
    path = record_path(home, record.method, record.dataset, record.key)
    write_json_atomic(path, record.to_dict())
    return path


def read_record(path: Path) -> RunRecord:
    with open(path, encoding="utf-8") as fh:
        return RunRecord.from_dict(json.load(fh))


def iter_records(homes: Path | Iterable[Path]) -> Iterable[tuple[Path, RunRecord]]:
    """Every readable record under the given results homes. A corrupt record is skipped with a
    warning that names the file (never silently)."""
    if isinstance(homes, (str, Path)):
        homes = [Path(homes)]
    for home in homes:
        home = Path(home)
        if not home.exists():
            continue
        for path in sorted(home.glob("*/*/*.json")):
            try:
                rec = read_record(path)
                if not rec.key or not rec.method or not rec.dataset:
                    raise ValueError("missing key/method/dataset")
            except (OSError, ValueError, TypeError) as exc:
                warnings.warn(f"skipping corrupt run record {path}: {exc}", stacklevel=2)
                continue
            yield path, rec


def records_frame(homes: Path | Iterable[Path]) -> pd.DataFrame:
    """Tidy long rows, one per (run, metric):

    columns: key, method, dataset, seed, subset, status, metric, value, config (JSON string),
    created, path. A failed run contributes one row with metric=None so it can be counted, never
    averaged in.
    """
    rows = []
    for path, r in iter_records(homes):
        base = {
            "key": r.key,
            "method": r.method,
            "dataset": r.dataset,
            "seed": r.seed,
            "subset": r.subset,
            "status": r.status,
            "config": json.dumps(r.config, sort_keys=True),
            "created": r.created,
            "path": str(path),
        }
        if r.status != "ok" or not r.metrics:
            rows.append({**base, "metric": None, "value": float("nan")})
            continue
        for m, v in r.metrics.items():
            if isinstance(v, (int, float)):
                rows.append({**base, "metric": m, "value": float(v)})
    cols = ["key", "method", "dataset", "seed", "subset", "status", "metric", "value", "config", "created", "path"]
    return pd.DataFrame(rows, columns=cols)


# --- stored outputs (the HDF5 sidecar) ------------------------------------------------------


def write_outputs(
    record_file: Path,
    *,
    proba: np.ndarray,
    y: np.ndarray,
    embedding: np.ndarray | None = None,
    indices: np.ndarray | None = None,
) -> Path:
    """Write the outputs of one run atomically to ``<key>.h5`` beside ``record_file``.

    proba: N x K float posteriors; y: N int64 labels the metrics were computed on (the subset's
    labels for a subset run); embedding: N x d (optional); indices: N row indices into the full
    data set for a subset run (optional). Stored compressed (gzip) because posteriors of large
    data sets are big and compress well (one-hot rows especially).
    """
    import h5py

    target = outputs_path(record_file)
    with atomic_path(target) as tmp:
        with h5py.File(tmp, "w") as f:
            f.create_dataset("proba", data=np.asarray(proba, dtype=np.float32), compression="gzip", compression_opts=4)
            f.create_dataset("y", data=np.asarray(y, dtype=np.int64), compression="gzip")
            if embedding is not None:
                f.create_dataset("embedding", data=np.asarray(embedding, dtype=np.float32), compression="gzip", compression_opts=4)
            if indices is not None:
                f.create_dataset("indices", data=np.asarray(indices, dtype=np.int64), compression="gzip")
    return target


def read_outputs(record_file: Path) -> dict[str, np.ndarray]:
    """The arrays of ``<key>.h5`` beside ``record_file`` (proba, y, and embedding/indices if stored)."""
    import h5py

    path = outputs_path(record_file)
    if not path.exists():
        raise DataError(
            f"The run record {record_file} has no stored outputs ({path.name} is missing).",
            hint="Only successful runs store outputs; rerun it with `clusterbench run ... --force`.",
        )
    try:
        with h5py.File(path, "r") as f:
            return {k: f[k][()] for k in f.keys()}
    except OSError as exc:
        raise DataError(f"The outputs file {path} is corrupt ({exc}).", hint="Rerun the run with --force.") from None


def recompute_metrics(record_file: Path, *, update: bool = False) -> dict[str, float]:
    """Recompute a run's metrics from its stored posteriors and labels, without retraining.

    Returns ``clusterbench.metrics.record_metrics(y, proba, extras=record.extras)``; with ``update=True`` the record's
    ``metrics`` are replaced by these (written atomically), e.g. after a metric definition changed.
    """
    from clusterbench.metrics import record_metrics  # lazy: scikit-learn, only to recompute

    record_file = Path(record_file)
    rec = read_record(record_file)
    out = read_outputs(record_file)
    metrics = record_metrics(out["y"], out["proba"], extras=rec.extras)
    if update:
        rec.metrics = {**rec.metrics, **metrics}
        write_json_atomic(record_file, rec.to_dict())
    return metrics


# --- merging results homes ------------------------------------------------------------------


@dataclass
class MergeReport:
    """Counts of one merge: records added, replaced (better/newer), kept (the existing one won)."""

    added: int = 0
    replaced: int = 0
    kept: int = 0
    sources: int = 0


def _better(new: RunRecord, old: RunRecord) -> bool:
    """Same key: an ok record beats a failed one; otherwise the newer (``created``) wins."""
    if (new.status == "ok") != (old.status == "ok"):
        return new.status == "ok"
    return (new.created or "") > (old.created or "")


def _copy_run(src_file: Path, dst_file: Path) -> None:
    """Copy a record with its sidecar and artifact folder; every file lands atomically."""
    for src, dst in ((outputs_path(src_file), outputs_path(dst_file)),):
        if src.exists():
            with atomic_path(dst) as tmp:
                shutil.copyfile(src, tmp)
        elif dst.exists():
            dst.unlink()
    src_art, dst_art = artifacts_dir(src_file), artifacts_dir(dst_file)
    if src_art.is_dir():
        tmp_dir = Path(tempfile.mkdtemp(prefix=f".{dst_art.name}.", dir=dst_art.parent))
        shutil.rmtree(tmp_dir)
        shutil.copytree(src_art, tmp_dir)
        if dst_art.exists():
            shutil.rmtree(dst_art)
        tmp_dir.rename(dst_art)
    # the record last: a record is never visible before its outputs
    with atomic_path(dst_file) as tmp:
        shutil.copyfile(src_file, tmp)


def merge_homes(sources: Iterable[Path], into: Path) -> MergeReport:
    """Merge the records (and their ``.h5`` sidecars and artifacts) of other results homes into
    ``into`` without duplicates: for one key, an ok record beats a failed one, else the newer
    (by ``created``) wins."""
    into = Path(into)
    into.mkdir(parents=True, exist_ok=True)
    report = MergeReport()
    for src_home in sources:
        src_home = Path(src_home)
        if not src_home.is_dir():
            raise DataError(f"{src_home} is not a directory of run records.", hint="Give results homes (folders with <method>/<dataset>/<key>.json).")
        if src_home.resolve() == into.resolve():
            continue
        report.sources += 1
        for path, rec in iter_records(src_home):
            dst = record_path(into, rec.method, rec.dataset, rec.key)
            if dst.exists():
                try:
                    old = read_record(dst)
                except (OSError, ValueError, TypeError):
                    old = None
                if old is not None and not _better(rec, old):
                    report.kept += 1
                    continue
                _copy_run(path, dst)
                report.replaced += 1
            else:
                dst.parent.mkdir(parents=True, exist_ok=True)
                _copy_run(path, dst)
                report.added += 1
    return report
