"""Run records: one JSON file per run, written atomically, and their tidy DataFrame.

Layout under a results home: ``<method>/<dataset>/<key>.json`` plus, beside each record,
``<key>.h5`` with the stored outputs (``proba``, ``embedding``) so metrics can be recomputed
without retraining, and ``<key>/`` for artifacts (PNGs, checkpoints).
"""

from __future__ import annotations

import json
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Literal

import pandas as pd

from clusterbench.fsutil import write_json_atomic

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
    error: str | None = None      # the reason, for status == "failed"
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
