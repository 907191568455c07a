"""The grid: expand the request, skip finished runs, execute the rest, collect the records.

:func:`run_grid` is the one place of that sequence; ``clusterbench run`` (the CLI prints) and
``clusterbench check`` (:mod:`clusterbench.runner.check` compares) both call it.

Phases of :func:`run_grid`:
  1. expand each :class:`GridRequest` into run specs (validation and the plan-time compatibility
     check happen here: nothing has run yet),
  2. plan: skip finished ok runs (``force`` reruns them, from scratch), retry failed ones,
  3. execute the rest with the given executor (callbacks report progress),
  4. collect: read each spec's record back (:class:`Outcome`) and summarise per method x data set.
"""

from __future__ import annotations

import dataclasses
import shutil
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from clusterbench.results.records import RunRecord, failure_beside_ok_path, read_record, record_path, rerun_dir
from clusterbench.runner.executors import LocalExecutor, OnDone, OnEpoch, OnStart
from clusterbench.runner.spec import RunSpec, expand_grid


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


def summarize_outcomes(outcomes: list[Outcome]) -> list[CellSummary]:
    """Aggregate outcomes per method x data set.

    Means and (sample) standard deviations over the ok runs only: a failed run is counted, never
    averaged in. A spec without a record (Ctrl-C, ``--no-wait``) is not counted at all.
    """
    cells: dict[tuple[str, str], CellSummary] = {}
    for o in outcomes:
        s = o.spec
        cell = cells.setdefault((s.method, s.dataset), CellSummary(s.method, s.dataset))
        rec = o.record
        if rec is None:  # no record (Ctrl-C, --no-wait) or an invalid one: not counted
            continue
        failed_rerun = failure_beside_ok_path(o.path)  # a --force rerun that failed beside a kept ok record
        if (rec.status == "ok" and not o.skipped and failed_rerun.exists()
                and failed_rerun.stat().st_mtime >= o.path.stat().st_mtime):
            cell.failed += 1
            cell.failed_records.append(str(failed_rerun))
        elif rec.status == "ok":
            if o.skipped:
                cell.skipped += 1
            else:
                cell.ok += 1
            if "acc" in rec.metrics:
                cell.acc.append(float(rec.metrics["acc"]))
            if "nmi" in rec.metrics:
                cell.nmi.append(float(rec.metrics["nmi"]))
        else:
            cell.failed += 1
            cell.failed_records.append(str(o.path))
    return list(cells.values())


def summarize(specs: list[RunSpec], skipped: list[RunSpec], results_home: Path) -> list[CellSummary]:
    """Read the records of the grid back and aggregate per method x data set
    (:func:`collect` then :func:`summarize_outcomes`)."""
    return summarize_outcomes(collect(specs, skipped, results_home))


# --- the one grid runner --------------------------------------------------------------------


@dataclass(frozen=True)
class GridRequest:
    """One :func:`~clusterbench.runner.spec.expand_grid` call: methods x data sets x seeds with
    the same ``--set`` overrides and subset (``check`` makes one per method and data set)."""

    methods: tuple[str, ...]
    datasets: tuple[str, ...]
    seeds: int = 1
    seed_start: int = 0
    subset: int | None = None
    overrides: tuple[str, ...] = ()
    device: str = "auto"
    keep_checkpoints: bool = False  # deep runs keep their full checkpoint (a run option, not in the key)
    #: fraction of the paper's schedule when ``overrides`` shorten it (``reproduce --budget``; in the key)
    schedule: float | None = None


class Executor(Protocol):
    """What :func:`run_grid` needs of an executor (LocalExecutor, SlurmExecutor)."""

    #: False when ``run`` returns once the runs are submitted, before they finish (Slurm --no-wait)
    waits: bool

    def run(self, specs: list[RunSpec], results_home: Path, *, on_start: OnStart | None = None,
            on_done: OnDone | None = None, on_epoch: OnEpoch | None = None) -> None: ...


@dataclass
class Outcome:
    """One spec of the grid after execution: its record path and the record (None when no record
    was written: Ctrl-C, ``--no-wait``)."""

    spec: RunSpec
    path: Path
    record: RunRecord | None
    skipped: bool  # an ok record existed before this grid (not rerun)


@dataclass
class GridResult:
    """What :func:`run_grid` did. ``outcomes`` and ``cells`` are empty when the executor returned
    before the runs finished (``SlurmExecutor(wait=False)``: ``waited`` is False)."""

    specs: list[RunSpec]
    plan: Plan
    results_home: Path
    incompatible: list[tuple[str, str, str]] = field(default_factory=list)  # (method, dataset, reason) left out
    outcomes: list[Outcome] = field(default_factory=list)
    cells: list[CellSummary] = field(default_factory=list)
    waited: bool = True

    @property
    def n_failed(self) -> int:
        return sum(c.failed for c in self.cells)


def collect(specs: list[RunSpec], skipped: list[RunSpec], results_home: Path) -> list[Outcome]:
    """Each spec with its record read back from ``results_home`` (None when there is none)."""
    skipped_keys = {s.key for s in skipped}
    out = []
    for s in specs:
        path = record_path(results_home, s.method, s.dataset, s.key)
        try:
            rec: RunRecord | None = read_record(path)
        except (OSError, ValueError):  # no record (Ctrl-C, --no-wait) or an invalid one
            rec = None
        out.append(Outcome(s, path, rec, s.key in skipped_keys))
    return out


def run_grid(
    requests: GridRequest | Sequence[GridRequest],
    results_home: Path,
    *,
    executor: Executor | None = None,
    force: bool = False,
    skip_incompatible: bool = False,
    on_plan: Callable[[GridResult], None] | None = None,
    on_start: OnStart | None = None,
    on_done: OnDone | None = None,
    on_epoch: OnEpoch | None = None,
) -> GridResult:
    """Expand ``requests``, skip finished runs, execute the rest into ``results_home`` with
    ``executor`` (default: ``LocalExecutor()``, sequential in this process) and collect the records.

    Every user mistake raises (ClusterbenchError) in phase 1, before anything runs; a method x data
    set pair that cannot run is a ConfigError naming each reason, or, with ``skip_incompatible``,
    left out and listed in ``GridResult.incompatible``. ``on_plan`` is called once with the
    (not yet executed) result after planning; ``on_start``/``on_done``/``on_epoch`` are passed to
    the executor. Ctrl-C propagates (finished runs keep their records).
    """
    reqs = [requests] if isinstance(requests, GridRequest) else list(requests)
    results_home = Path(results_home)
    # 1. expand (validates; nothing runs before every request is valid)
    incompatible: list[tuple[str, str, str]] = []
    specs: list[RunSpec] = []
    seen: set[str] = set()
    for r in reqs:
        new = expand_grid(list(r.methods), list(r.datasets), seeds=r.seeds, seed_start=r.seed_start,
                          subset=r.subset, overrides=list(r.overrides), device=r.device,
                          incompatible=incompatible if skip_incompatible else None)
        if r.schedule is not None:
            new = [dataclasses.replace(s, schedule=r.schedule) for s in new]
        for s in new if r.keep_checkpoints else ():
            s.extras["keep_checkpoints"] = True
        for s in new:  # requests that overlap run each run once (reproduce: one run fills many cells)
            if s.key not in seen:
                seen.add(s.key)
                specs.append(s)
    # 2. plan
    results_home.mkdir(parents=True, exist_ok=True)
    p = plan(specs, results_home, force=force)
    clear_forced(p, results_home)
    result = GridResult(specs, p, results_home, incompatible)
    if on_plan is not None:
        on_plan(result)
    # 3. execute
    ex = executor if executor is not None else LocalExecutor()
    if p.to_run:
        ex.run(p.to_run, results_home, on_start=on_start, on_done=on_done, on_epoch=on_epoch)
    if not ex.waits and p.to_run:
        result.waited = False  # submitted only: the records appear later
        return result
    # 4. collect
    result.outcomes = collect(specs, p.skipped, results_home)
    result.cells = summarize_outcomes(result.outcomes)
    return result
