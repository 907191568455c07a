"""Regression bands: compare fresh run records with committed reference records.

The comparison half of ``clusterbench check`` (issue 5, item 5): the runner executes a fixed small
grid into a results home; :func:`compare` matches its ok runs with the reference records
(``results/`` in the repository, same ``METHOD/DATASET/KEY.json`` layout) and flags every metric
that moved beyond its tolerance band; :func:`update_references` rewrites the references.

Matching ignores the record key (it hashes the code version, which changes with every commit):
runs are grouped by (method, data set, subset, resolved config) and each metric is averaged over
the group's seeds (a seed present on one side only is left out, so both means cover the same seeds).

A metric *regresses* when it moves beyond its band in the bad direction (lower for accuracy-like
metrics, higher for FID/KL/time); moving beyond it in the good direction is reported as
*improved* (the reference is then stale: ``--update``). A reference group with no current run is
*missing* and counts as a regression (a method that stopped running must not pass silently).
"""

from __future__ import annotations

import json
import math
import shutil
import warnings
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from clusterbench.fsutil import atomic_path
from clusterbench.metrics.catalog import direction
from clusterbench.results.records import iter_records

#: Default absolute tolerance per metric (on the metric's own scale). Metrics not listed are
#: compared with DEFAULT_TOLERANCE; timing metrics are never compared (machine-dependent).
TOLERANCES: dict[str, float] = {
    "acc": 0.02, "purity": 0.02, "nmi": 0.02, "nmi_geometric": 0.02, "ari": 0.03,
}
DEFAULT_TOLERANCE = 0.05
NOT_COMPARED = frozenset({"epoch_seconds", "fit_s", "total_s"})
#: config keys that change how a run is executed, not what it computes (left out of the group key,
#: so references made before such a key existed still match): ``capture`` (whole-step capture:
#: the same operators replayed; tests/test_capture.py asserts equal losses).
EXECUTION_ONLY = frozenset({"capture"})

ChangeStatus = Literal["ok", "regressed", "improved", "missing", "new"]


@dataclass(frozen=True)
class Change:
    method: str
    dataset: str
    subset: int | None
    config: str                 # canonical JSON of the resolved config
    metric: str
    reference: float | None
    current: float | None
    n_seeds: int
    tolerance: float
    status: ChangeStatus

    @property
    def delta(self) -> float | None:
        if self.reference is None or self.current is None:
            return None
        return self.current - self.reference


GroupKey = tuple[str, str, "int | None", str]


def _groups(home: Path) -> tuple[dict[GroupKey, dict[int, dict[str, float]]], list[str]]:
    """(method, dataset, subset, config) -> seed -> metrics of the ok runs (latest per seed)."""
    out: dict[GroupKey, dict[int, tuple[str, dict[str, float]]]] = defaultdict(dict)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        records = list(iter_records(home))
    for _, r in records:
        if r.status != "ok":
            continue
        config = {k: v for k, v in r.config.items() if k not in EXECUTION_ONLY}
        key = (r.method, r.dataset, r.subset, json.dumps(config, sort_keys=True))
        prev = out[key].get(r.seed)
        if prev is None or r.created >= prev[0]:
            out[key][r.seed] = (r.created, {m: float(v) for m, v in r.metrics.items()
                                            if isinstance(v, (int, float)) and not isinstance(v, bool)})
    groups = {k: {s: m for s, (_, m) in seeds.items()} for k, seeds in out.items()}
    return groups, [str(w.message) for w in caught]


def _mean(values: list[float]) -> float | None:
    vals = [v for v in values if math.isfinite(v)]
    return sum(vals) / len(vals) if vals else None


def compare(current: Path, reference: Path, *, tolerances: dict[str, float] | None = None) -> tuple[list[Change], list[str]]:
    """Every (group, metric) of the reference and current records with its status; plus the
    warnings about skipped corrupt records. ``tolerances`` overrides :data:`TOLERANCES`."""
    tol = {**TOLERANCES, **(tolerances or {})}
    cur, w1 = _groups(current)
    ref, w2 = _groups(reference)
    changes: list[Change] = []
    for key in sorted(set(cur) | set(ref), key=lambda k: (k[0], k[1], k[2] or 0, k[3])):
        method, dataset, subset, config = key
        if key not in cur or key not in ref:
            side = ref.get(key) or cur.get(key) or {}
            metrics = sorted({m for ms in side.values() for m in ms} - NOT_COMPARED)
            for m in metrics:
                val = _mean([ms[m] for ms in side.values() if m in ms])
                changes.append(Change(method, dataset, subset, config, m,
                                      val if key in ref else None, val if key in cur else None,
                                      len(side), tol.get(m, DEFAULT_TOLERANCE),
                                      "missing" if key in ref else "new"))
            continue
        seeds = sorted(set(cur[key]) & set(ref[key]))
        metrics = sorted({m for s in seeds for m in ref[key][s]} - NOT_COMPARED)
        for m in metrics:
            r = _mean([ref[key][s][m] for s in seeds if m in ref[key][s]])
            c = _mean([cur[key][s][m] for s in seeds if m in cur[key][s]])
            t = tol.get(m, DEFAULT_TOLERANCE)
            if c is None:
                status: ChangeStatus = "missing"
            elif r is None:
                status = "new"
            else:
                d = (c - r) if direction(m) == "max" else (r - c)
                status = "regressed" if d < -t else "improved" if d > t else "ok"
            changes.append(Change(method, dataset, subset, config, m, r, c, len(seeds), t, status))
    return changes, list(dict.fromkeys(w1 + w2))


def has_regression(changes: list[Change]) -> bool:
    return any(c.status in ("regressed", "missing") for c in changes)


def render_changes(changes: list[Change], *, all_rows: bool = False) -> str:
    """A plain-text table of what moved (every row with ``all_rows``)."""
    rows = [c for c in changes if all_rows or c.status != "ok"]
    head = ("status", "method", "dataset", "subset", "metric", "reference", "current", "delta", "band", "seeds")
    body = []
    for c in rows:
        f = lambda x: "-" if x is None else f"{x:.4f}"  # noqa: E731
        body.append((c.status.upper() if c.status in ("regressed", "missing") else c.status, c.method,
                     c.dataset, "all" if c.subset is None else str(c.subset), c.metric, f(c.reference),
                     f(c.current), "-" if c.delta is None else f"{c.delta:+.4f}", f"±{c.tolerance:g}",
                     str(c.n_seeds)))
    n_ok = sum(1 for c in changes if c.status == "ok")
    summary = (f"{len(changes)} metric(s) compared: {n_ok} within their band, "
               f"{sum(c.status == 'regressed' for c in changes)} regressed, "
               f"{sum(c.status == 'missing' for c in changes)} missing, "
               f"{sum(c.status == 'improved' for c in changes)} improved, {sum(c.status == 'new' for c in changes)} new.")
    if not body:
        return summary + "\n"
    widths = [max(len(h), *(len(r[i]) for r in body)) for i, h in enumerate(head)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)) for r in body]
    return "\n".join(lines) + "\n" + summary + "\n"


def update_references(current: Path, reference: Path) -> list[Path]:
    """Replace the reference records by the current ok records (JSON only; outputs and artifacts
    are not committed). Each file is written atomically; stale reference records are removed.
    Returns the written paths."""
    current, reference = Path(current), Path(reference)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        keep = [(p, r) for p, r in iter_records(current) if r.status == "ok"]
    written = []
    for p, r in keep:
        dst = reference / r.method / r.dataset / p.name
        with atomic_path(dst, suffix=".json") as tmp:
            shutil.copyfile(p, tmp)
        written.append(dst)
    wanted = set(written)
    for old in reference.glob("*/*/*.json"):
        if old not in wanted:
            old.unlink()
    return written


__all__ = ["Change", "TOLERANCES", "compare", "has_regression", "render_changes", "update_references"]
