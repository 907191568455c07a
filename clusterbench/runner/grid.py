"""The grid: skip finished runs, execute the rest, summarise per method x data set."""

from __future__ import annotations

import shutil
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clusterbench.results.records import RunRecord, failure_beside_ok_path, read_record, record_path, rerun_dir
from clusterbench.runner.spec import RunSpec


@dataclass
class Plan:
    """Specs to execute and the ones skipped because an ok record exists (``--force`` runs all)."""

    to_run: list[RunSpec]
    skipped: list[RunSpec]
    retried: int = 0  # specs whose previous record failed
    forced: list[RunSpec] = field(default_factory=list)  # ok records rerun because of --force


def clear_forced(p: Plan, results_home: Path) -> None:
    """Remove stale staging folders (``.<key>.rerun``) of runs rerun by ``--force``: a forced run
    starts from scratch in a fresh one, and the previous ok record with its outputs and artifact
    folder stays until the rerun succeeds (``execute.execute_run``). A retried failed run keeps
    its artifact folder, so a deep method can resume its checkpoint."""
    for s in p.forced:
        d = rerun_dir(record_path(results_home, s.method, s.dataset, s.key))
        if d.is_dir():
            shutil.rmtree(d)


def plan(specs: list[RunSpec], results_home: Path, *, force: bool = False) -> Plan:
    """Split ``specs`` into runs to execute and finished ok runs to skip. Failed runs are retried."""
    to_run, skipped, forced, retried = [], [], [], 0
    for s in specs:
        path = record_path(results_home, s.method, s.dataset, s.key)
        rec = None
        if path.exists():
            try:
                rec = read_record(path)
            except (OSError, ValueError, TypeError):
                rec = None  # unreadable: run again (it is overwritten atomically)
        if rec is not None and rec.status == "ok":
            if not force:
                skipped.append(s)
                continue
            forced.append(s)
        if rec is not None and rec.status != "ok":
            retried += 1
        to_run.append(s)
    return Plan(to_run=to_run, skipped=skipped, retried=retried, forced=forced)


@dataclass
class CellSummary:
    """One method x data set cell of the summary table."""

    method: str
    dataset: str
    ok: int = 0        # ran now, status ok
    skipped: int = 0   # an ok record existed
    failed: int = 0
    acc: list[float] = field(default_factory=list)
    nmi: list[float] = field(default_factory=list)
    failed_records: list[str] = field(default_factory=list)

    @staticmethod
    def _ms(v: list[float]) -> tuple[float | None, float | None]:
        if not v:
            return None, None
        return statistics.fmean(v), (statistics.stdev(v) if len(v) > 1 else 0.0)

    def as_dict(self) -> dict[str, Any]:
        am, asd = self._ms(self.acc)
        nm, nsd = self._ms(self.nmi)
        return {
            "method": self.method, "dataset": self.dataset, "ok": self.ok, "skipped": self.skipped,
            "failed": self.failed, "acc_mean": am, "acc_std": asd, "nmi_mean": nm, "nmi_std": nsd,
            "n_seeds": len(self.acc),
        }


def summarize(specs: list[RunSpec], skipped: list[RunSpec], results_home: Path) -> list[CellSummary]:
    """Read the records of the grid back and aggregate per method x data set.

    Means and (sample) standard deviations over the ok runs only: a failed run is counted, never
    averaged in. A spec without a record (Ctrl-C, ``--no-wait``) is not counted at all.
    """
    skipped_keys = {s.key for s in skipped}
    cells: dict[tuple[str, str], CellSummary] = {}
    for s in specs:
        cell = cells.setdefault((s.method, s.dataset), CellSummary(s.method, s.dataset))
        path = record_path(results_home, s.method, s.dataset, s.key)
        try:
            rec: RunRecord = read_record(path)
        except (OSError, ValueError):  # no record (Ctrl-C, --no-wait) or an invalid one: not counted
            continue
        failed_rerun = failure_beside_ok_path(path)  # a --force rerun that failed beside a kept ok record
        if (rec.status == "ok" and s.key not in skipped_keys and failed_rerun.exists()
                and failed_rerun.stat().st_mtime >= path.stat().st_mtime):
            cell.failed += 1
            cell.failed_records.append(str(failed_rerun))
        elif rec.status == "ok":
            if s.key in skipped_keys:
                cell.skipped += 1
            else:
                cell.ok += 1
            if "acc" in rec.metrics:
                cell.acc.append(float(rec.metrics["acc"]))
            if "nmi" in rec.metrics:
                cell.nmi.append(float(rec.metrics["nmi"]))
        else:
            cell.failed += 1
            cell.failed_records.append(str(path))
    return list(cells.values())
