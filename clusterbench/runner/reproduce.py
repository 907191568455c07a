"""``clusterbench reproduce``: from "this paper's table" to the rendered table in one command.

Phases of :func:`reproduce` (the CLI prints between them):
  1. select: the measured cells of the chosen tables (``--table``, ``--dataset``, ``--method``
     narrow it) grouped by what their runs are: method, data set, settings (the cell's ``set``
     plus the paper's settings of the method on the data set) and seeds. One group = one
     :class:`~clusterbench.runner.grid.GridRequest`; a run that several cells (ACC and NMI
     columns, two tables) ask for runs once (``run_grid`` deduplicates by run key).
  2. plan (:func:`make_plan`): per method x data set the runs, what is done (ok records), the data
     still to fetch and its size, and the time per run and in total on the chosen device from the
     calibration (:mod:`clusterbench.runner.calibrate`; every figure says whether it is
     calibrated or extrapolated). ``--max-hours`` refuses a plan that is longer, here.
  3. fetch the missing data sets, once, before any run (and before any Slurm submission).
  4. run: ``run_grid`` with the local executor, or on Slurm one job array per method x data set
     (:class:`ArraySlurmExecutor`, time limit from the plan); finished runs are skipped, Ctrl-C
     keeps them, ``--no-wait`` returns after submission and a second ``reproduce`` collects.
  5. render the tables (``report.render``); with ``--budget`` the shortened table, labelled.

Every user mistake raises a ClusterbenchError in phases 1-3, before anything runs.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clusterbench import paths
from clusterbench.errors import ClusterbenchError, ConfigError, DataError, UnknownNameError
from clusterbench.fsutil import write_json_atomic
from clusterbench.results.records import SELECTION_KEY
from clusterbench.schedule import schedule_text, shortened

# --------------------------------------------------------------------------- 1. selection


@dataclass
class Group:
    """The runs one or more measured cells read: a method on a data set with settings and seeds."""

    method: str
    dataset: str
    settings: dict[str, Any]
    seeds: int
    cells: int = 0
    labels: list[str] = field(default_factory=list)   # "Table 3 K-means [30] / MNIST ACC"

    @property
    def overrides(self) -> tuple[str, ...]:
        from clusterbench.report.render import _settings_text  # the fill commands' text of a setting

        return tuple(f"{k}={_settings_text(v)}" for k, v in sorted(self.settings.items()))


@dataclass
class Selection:
    paper: str
    tables: list[Any]                              # TableSpec
    groups: list[Group]
    left_out: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.paper} " + ", ".join(t.label for t in self.tables)


def select(paper: str, tables: Sequence[str] = (), *, datasets: Sequence[str] = (),
           methods: Sequence[str] = ()) -> Selection:
    """The measured cells of ``paper``'s ``tables`` (all when empty) of ``methods`` on ``datasets``
    (all when empty), grouped into :class:`Group` s. Raises UnknownNameError for an unknown paper,
    table, method or data set of the selection, ConfigError when nothing in it is measurable."""
    from clusterbench.methods import METHODS  # the methods this process can run (plug-ins included)
    from clusterbench.report.spec import get_paper, get_table

    p = get_paper(paper)
    specs = [get_table(paper, t) for t in tables] if tables else list(p.tables.values())
    specs = list({s.number: s for s in specs}.values())
    cells = [(s, c) for s in specs for c in s.iter_cells() if c.method and c.dataset]
    for kind, asked, have in (("method", methods, {c.method for _, c in cells}),
                              ("data set", datasets, {c.dataset for _, c in cells})):
        for name in asked:
            if name not in have:
                exc = UnknownNameError(kind, name, have)
                exc.message = (f"{kind.capitalize()} {name!r} has no cell in {paper} "
                               f"{', '.join(s.label for s in specs)}." + exc.message.removeprefix(f"Unknown {kind} {name!r}."))
                exc.hint = f"The {kind}s of these tables: {', '.join(sorted(have))}."
                raise exc
    implemented = set(METHODS)
    groups: dict[tuple[str, str, str], Group] = {}
    left: dict[str, None] = {}
    for s, c in cells:
        if (methods and c.method not in methods) or (datasets and c.dataset not in datasets):
            continue
        row = str(s.rows[c.row]["label"])
        if c.reported:
            left[f"{row} ({s.label}): reported by the paper only, not run by this suite"] = None
            continue
        if c.paper_value is None:
            continue  # no printed value to compare with: not part of the reproduction
        if s.command != "run":
            left[f"{row} ({s.label}): filled by `clusterbench {s.command}`, not by reproduce"] = None
            continue
        if c.method not in implemented:
            left[f"{row} ({s.label}): method {c.method!r} is not implemented yet"] = None
            continue
        settings = {k: v for k, v in c.settings.items() if k != SELECTION_KEY}
        if c.settings.get(SELECTION_KEY) not in (None, "none"):
            left[f"{row} ({s.label}): the pool is trained here; the selection itself is "
                 f"`clusterbench {c.settings[SELECTION_KEY]} {c.method} --dataset {c.dataset}`"] = None
        key = (c.method, c.dataset, json.dumps(settings, sort_keys=True))
        g = groups.setdefault(key, Group(c.method, c.dataset, settings, s.seeds))
        g.seeds = max(g.seeds, s.seeds)
        g.cells += 1
        g.labels.append(f"{s.label} {row} / {s.columns[c.col]['label']}")
    if not groups:
        why = "; ".join(left) or "no cell names a method and a data set with a printed value"
        raise ConfigError(
            f"Nothing to reproduce in {paper} {', '.join(s.label for s in specs)}"
            + (f" for {', '.join(methods)}" if methods else "") + (f" on {', '.join(datasets)}" if datasets else "")
            + f": no cell of the selection is measured by this suite ({why}).",
            hint="Pick another table or method (`clusterbench report --list` shows what each table measures).")
    return Selection(paper, specs, list(groups.values()), list(left))


# --------------------------------------------------------------------------- 2. plan


@dataclass
class PlanRow:
    """One method x data set of the plan (all its groups together)."""

    method: str
    dataset: str
    runs: int = 0
    done: int = 0
    queued: int = 0                  # submitted to Slurm earlier and still in the queue
    per_run_s: float | None = None   # the longest group's estimate
    total_s: float | None = None     # over the runs still to run
    how: str = "unknown"
    note: str = ""
    shortened: dict[str, int] = field(default_factory=dict)
    deep: bool = False

    @property
    def to_run(self) -> int:
        return self.runs - self.done - self.queued


@dataclass
class DataNeed:
    name: str
    fetched: bool
    source: str
    size: int | None           # bytes to download, when the registry knows
    runs: int = 0


@dataclass
class Plan:
    selection: Selection
    device: str                         # what the runs use: cpu | cuda
    device_name: str
    scale: float | None
    rows: list[PlanRow]
    data: list[DataNeed]
    requests: list[Any]                 # GridRequest
    calibrations_measured: float = 0.0  # seconds spent measuring new calibrations

    @property
    def total_s(self) -> float:
        return sum(r.total_s or 0.0 for r in self.rows)

    @property
    def n_unknown(self) -> int:
        return sum(r.to_run for r in self.rows if r.total_s is None and r.to_run)

    @property
    def to_run(self) -> int:
        return sum(r.to_run for r in self.rows)


def _target_device(device: str, executor: str, gpus: int) -> str:
    """The device the runs will use: on Slurm with GPUs, cuda; else ``device`` resolved here."""
    # lazy: loaded on use (torch, h5py, scikit-learn or the runner behind it), not on import
    from clusterbench.runtime import resolve_device

    if executor == "slurm":
        return "cuda" if gpus > 0 or device == "cuda" else "cpu"
    return resolve_device(device)


def _data_need(name: str) -> DataNeed:
    # lazy: loaded on use (torch, h5py, scikit-learn or the runner behind it), not on import
    from clusterbench.data.registry import get_spec

    spec = get_spec(name)
    size = None
    if spec.source == "download" and spec.files:
        sizes = [f.size for f in spec.files if not f.optional]
        size = sum(sizes) if all(s is not None for s in sizes) else None
    return DataNeed(name, paths.dataset_file(name).exists(), spec.source, size)


def pending_jobs(results_home: Path) -> dict[str, str]:
    """Run key -> Slurm job id of runs a previous ``reproduce`` submitted that are still queued
    (``squeue``); empty when none or when Slurm cannot be asked."""
    # lazy: loaded on use (torch, h5py, scikit-learn or the runner behind it), not on import
    from clusterbench.runner.executors import _queued_ids

    path = Path(results_home) / PENDING_FILE
    try:
        jobs = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(jobs, dict) or not jobs:
        return {}
    queued = _queued_ids()
    if queued is None:
        return {}
    return {k: v for k, v in jobs.items() if isinstance(v, str) and v in queued}


PENDING_FILE = Path(".slurm") / "reproduce-jobs.json"


def make_plan(sel: Selection, results_home: Path, *, device: str = "auto", executor: str = "local",
              gpus: int = 0, scale: float | None = None, calibrate: bool = True,
              on_calibrate: Callable[[str], None] | None = None) -> Plan:
    """The plan of a selection (module docstring, phase 2). Measures the calibrations it lacks
    (``calibrate=False``: none; their estimates are unknown)."""
    # lazy: loaded on use (torch, h5py, scikit-learn or the runner behind it), not on import
    from clusterbench.runner import calibrate as C
    from clusterbench.runner.grid import GridRequest
    from clusterbench.runner.grid import plan as split_done
    from clusterbench.runner.spec import code_version, data_kind, expand_grid, resolve_configs

    target = _target_device(device, executor, gpus)
    here = target if target == "cpu" else ("cuda" if _cuda_here() else None)
    version = code_version()
    cache = C.load_cache(results_home)
    rows: dict[tuple[str, str], PlanRow] = {}
    needs: dict[str, DataNeed] = {}
    requests = []
    seen: set[str] = set()
    queued = pending_jobs(results_home) if executor == "slurm" else {}
    measured_s = 0.0
    names = {target: C.device_name(target) if here else ""}
    for g in sel.groups:
        (cls, cfg), = resolve_configs([g.method], list(g.overrides), g.dataset).values()
        overrides = list(g.overrides)
        short = shortened(cfg, scale) if scale is not None else {}
        if short:
            overrides += [f"{k}={v}" for k, v in sorted(short.items())]
            cfg = {**cfg, **short}
        req = GridRequest((g.method,), (g.dataset,), seeds=g.seeds, overrides=tuple(overrides), device=device,
                          schedule=scale if short else None)
        requests.append(req)
        need = needs.setdefault(g.dataset, _data_need(g.dataset))
        row = rows.setdefault((g.method, g.dataset), PlanRow(g.method, g.dataset, deep=bool(getattr(cls, "deep", False))))
        row.shortened.update(short)
        # runs and what is done (the keys need the data's checksum: unknown before it is fetched)
        available = need.fetched or need.source == "embedded"
        n_new, done_here, queued_here = g.seeds, 0, 0
        if available:
            specs = [s for s in expand_grid([g.method], [g.dataset], seeds=g.seeds, overrides=overrides, device=device)
                     if s.key not in seen]
            if short:
                import dataclasses

                specs = [dataclasses.replace(s, schedule=scale) for s in specs]
                specs = [s for s in specs if s.key not in seen]
            seen.update(s.key for s in specs)
            split = split_done(specs, results_home)
            n_new, done_here = len(specs), len(split.skipped)
            queued_here = sum(1 for s in split.to_run if s.key in queued)
        row.runs += n_new
        row.done += done_here
        row.queued += queued_here
        need.runs += n_new
        # time per run
        kind = data_kind(g.dataset)
        n_samples = _n_samples(g.dataset)
        run_dev = target if row.deep else "cpu"
        est = C.Estimate(None, "unknown", "")
        if kind is None or n_samples is None:
            est.note = "sample shape unknown until the data set is fetched"
        else:
            shape, _, k = kind
            cal = _find_calibration(cache, C, g.method, cfg, shape, k, run_dev, version,
                                    names.get(run_dev) or C.device_name("cpu"), local=run_dev == "cpu" or here == "cuda")
            if cal is None and calibrate and (run_dev == "cpu" or here == "cuda"):
                if on_calibrate:
                    on_calibrate(f"calibrating {g.method} on {g.dataset}-shaped data ({'x'.join(map(str, shape))}) on {run_dev} ...")
                cal = C.measure(cls, g.method, cfg, g.dataset, n_samples, shape, k, run_dev, version)
                measured_s += cal.wall_s
                cache[C.cache_key(g.method, cfg, shape, k, run_dev, cal.device_name, version)] = cal
                C.save_cache(results_home, cache)
            if cal is None:
                est.note = (f"no calibration on {run_dev} here: run the same command with --dry-run on a machine "
                            f"with that device and this results home (it measures and stores one)")
                if not calibrate:
                    est.note = "not calibrated (--no-calibrate)"
            else:
                est = C.estimate(cal, cls, cfg, n_samples)
                if cal.device_name != names.get(run_dev, cal.device_name):
                    est.note += f"; measured on {cal.device_name}"
        if est.seconds is not None:
            left = max(0, n_new - done_here - queued_here)
            row.total_s = (row.total_s or 0.0) + est.seconds * left
            row.per_run_s = max(row.per_run_s or 0.0, est.seconds)
            if row.how == "unknown" or est.how == "extrapolated":
                row.how, row.note = est.how, est.note
        elif row.per_run_s is None:
            row.how, row.note = "unknown", est.note
    dev_name = names.get(target) or ("not on this machine" if target == "cuda" else C.device_name("cpu"))
    return Plan(sel, target, dev_name, scale, list(rows.values()), list(needs.values()), requests, measured_s)


def _cuda_here() -> bool:
    # lazy: loaded on use (torch, h5py, scikit-learn or the runner behind it), not on import
    from clusterbench.runtime import _cuda_available

    return _cuda_available()


def _n_samples(name: str) -> int | None:
    # lazy: loaded on use (torch, h5py, scikit-learn or the runner behind it), not on import
    from clusterbench.data.hdf5 import read_info
    from clusterbench.data.registry import get_spec

    path = paths.dataset_file(name)
    if path.exists():
        return int(read_info(path).n_samples)
    return get_spec(name).n_samples


def _find_calibration(cache, C, method, cfg, shape, k, device, version, dev_name, *, local: bool):
    """This device's calibration; for a device not on this machine (cuda from a login node), one
    measured on any machine with that kind of device (the plan names it)."""
    cal = cache.get(C.cache_key(method, cfg, shape, k, device, dev_name, version)) if local else None
    if cal is not None or local:
        return cal
    prefix = C.cache_key(method, cfg, shape, k, device, "", version).split("|")
    for key, c in cache.items():
        parts = key.split("|")
        if parts[:5] == prefix[:5] and parts[6:] == prefix[6:]:
            return c
    return None


# --------------------------------------------------------------------------- printing the plan


def human_time(s: float | None) -> str:
    if s is None:
        return "?"
    if s < 90:
        return f"{s:.0f} s"
    if s < 90 * 60:
        return f"{s / 60:.1f} min"
    if s < 48 * 3600:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} d"


def human_size(b: int | None) -> str:
    if b is None:
        return "size unknown"
    for unit in ("B", "KB", "MB", "GB"):
        if b < 1024 or unit == "GB":
            return f"{b:.0f} {unit}" if unit == "B" else f"{b:.1f} {unit}"
        b /= 1024
    return ""


def plan_text(p: Plan, *, jobs: int = 1, executor: str = "local") -> str:
    """The plan as plain text (what ``reproduce`` prints first, and all of ``--dry-run``)."""
    sel = p.selection
    n_cells = sum(g.cells for g in sel.groups)
    sched = schedule_text(p.scale) if p.scale is not None else "the paper's schedule"
    lines = [f"Plan: {sel.label}: {n_cells} measured cell(s) -> {sum(r.runs for r in p.rows)} distinct run(s); "
             f"device {p.device} ({p.device_name}); {sched}."]
    head = ("method", "data set", "runs", "done", "to run", "per run", "to-run total", "estimate")
    table = [head]
    for r in p.rows:
        how = r.how + (f": {r.note}" if r.note else "")
        if r.shortened:
            how += "; shortened: " + ", ".join(f"{k}={v}" for k, v in sorted(r.shortened.items()))
        table.append((r.method, r.dataset, str(r.runs), str(r.done), str(r.to_run) + (f" (+{r.queued} queued)" if r.queued else ""),
                      human_time(r.per_run_s), human_time(r.total_s) if r.to_run else "-", how))
    widths = [max(len(row[i]) for row in table) for i in range(len(head) - 1)]
    for row in table:
        lines.append("  " + "  ".join(c.ljust(w) for c, w in zip(row, widths)) + "  " + row[-1])
    fetch = [d for d in p.data if not d.fetched and d.source != "embedded"]
    if fetch:
        parts = []
        for d in fetch:
            if d.source == "download":
                parts.append(f"{d.name} ({human_size(d.size)})")
            else:
                parts.append(f"{d.name} (no public copy: `clusterbench fetch {d.name} --from FILE` first)")
        total = sum(d.size or 0 for d in fetch if d.source == "download")
        lines.append(f"Data to fetch before any run: {', '.join(parts)}; {human_size(total)} in all.")
    else:
        lines.append("Data: every data set of the plan is available.")
    known = p.total_s
    calibrated = sum(r.to_run for r in p.rows if r.how == "calibrated")
    extrapolated = sum(r.to_run for r in p.rows if r.how == "extrapolated")
    if p.to_run and p.n_unknown == p.to_run:
        text = f"Total: {p.to_run} run(s) to run, run time unknown (no estimate)"
    else:
        text = (f"Total: {p.to_run} run(s) to run, about {human_time(known)} of run time on {p.device}"
                + (" (at least: some estimates are unknown)" if p.n_unknown else ""))
    if executor == "local" and jobs > 1 and known:
        text += f" (about {human_time(known / jobs)} of wall time with --jobs {jobs})"
    text += f"; estimates: {calibrated} run(s) calibrated, {extrapolated} extrapolated, {p.n_unknown} unknown."
    lines.append(text)
    if p.calibrations_measured:
        lines.append(f"(Calibration measured now: {human_time(p.calibrations_measured)}; stored in the results home "
                     "and reused until the code or the device changes.)")
    for w in sel.left_out:
        lines.append(f"Left out: {w}.")
    return "\n".join(lines) + "\n"


def check_budget(p: Plan, max_hours: float | None) -> None:
    """ConfigError when the plan's estimated run time exceeds ``max_hours``."""
    if max_hours is None:
        return
    if max_hours <= 0:
        raise ConfigError(f"--max-hours must be positive, got {max_hours:g}.")
    hours = p.total_s / 3600
    if hours > max_hours:
        raise ConfigError(
            f"The plan of {p.selection.label} needs about {human_time(p.total_s)} of run time on {p.device} "
            f"({hours:,.1f} h{' at least: some estimates are unknown' if p.n_unknown else ''}), more than "
            f"--max-hours {max_hours:g}; nothing was fetched or run.",
            hint="Narrow the selection (--table, --method, --dataset), shorten the schedule (--budget 10%), "
                 "run on GPUs (--executor slurm --gpus 1), or raise --max-hours.")


# --------------------------------------------------------------------------- 3. fetch


def fetch_missing(p: Plan, *, mirror: str | None = None, on_fetch: Callable[[str], None] | None = None) -> None:
    """Fetch every data set of the plan that is not fetched yet, before any run. A data set that
    cannot be fetched (no public copy, offline, no mirror) is a DataError naming it."""
    # lazy: loaded on use (torch, h5py, scikit-learn or the runner behind it), not on import
    from clusterbench.data.fetch import fetch

    missing = [d for d in p.data if not d.fetched and d.source != "embedded"]
    for d in missing:
        if d.source != "download":
            raise DataError(
                f"Data set {d.name!r}, needed by {d.runs} run(s) of {p.selection.label}, has no public copy and is "
                "not fetched yet; nothing was run.",
                hint=f"Fetch it from your own copy first (`clusterbench fetch {d.name} --from FILE`, "
                     f"`clusterbench datasets {d.name}` says which file), or leave it out with --dataset.")
    for d in missing:
        if on_fetch:
            on_fetch(f"fetching {d.name} ({human_size(d.size)}) ...")
        try:
            fetch(d.name, mirror=mirror, progress=False)
        except ClusterbenchError as exc:
            raise DataError(
                f"Data set {d.name!r}, needed by {d.runs} run(s) of {p.selection.label}, could not be fetched: "
                f"{exc.message} Nothing was run.",
                hint=(exc.hint or "") + " Give a local copy of its files with --mirror DIR, or leave it out with --dataset.",
            ) from None
        d.fetched = True


# --------------------------------------------------------------------------- 4. Slurm: one array per method x data set


def slurm_minutes(per_run_s: float | None, default: str = "60") -> str:
    """A Slurm time limit from a run's estimate: 1.5 x the estimate plus 10 minutes (a margin
    for the queue's node being slower and the data loading), in minutes."""
    if per_run_s is None:
        return default
    return str(int(math.ceil(per_run_s * 1.5 / 60)) + 10)


@dataclass
class ArraySlurmExecutor:
    """The Slurm executor of ``reproduce``: one submitit job array per method x data set, each
    with its own time limit (from the plan, unless ``time`` is given) and GPUs (``gpus`` for deep
    methods, none for classical ones). Runs still queued from an earlier ``--no-wait`` submission
    are not submitted again. Job ids are kept in ``<results>/.slurm/reproduce-jobs.json``."""

    plan: Plan
    partition: str | None = None
    time: str | None = None
    gpus: int = 0
    cpus: int = 1
    mem: str | None = None
    wait: bool = True
    job_ids: list[str] = field(default_factory=list)
    arrays: list[tuple[str, str, int, str, int]] = field(default_factory=list)  # method, dataset, n, time, gpus
    submit_folder: Path | None = None

    @property
    def waits(self) -> bool:
        return self.wait

    def run(self, specs, results_home: Path, *, on_start=None, on_done=None, on_epoch=None) -> None:
        # lazy: loaded on use (torch, h5py, scikit-learn or the runner behind it), not on import
        from clusterbench.runner.executors import SlurmExecutor

        results_home = Path(results_home)
        queued = pending_jobs(results_home)
        todo = [s for s in specs if s.key not in queued]
        groups: dict[tuple[str, str], list] = {}
        for s in todo:
            groups.setdefault((s.method, s.dataset), []).append(s)
        rows = {(r.method, r.dataset): r for r in self.plan.rows}
        submitted = []
        jobs_of = dict(queued)
        for (m, d), group in groups.items():
            row = rows.get((m, d))
            deep = bool(row and row.deep)
            limit = self.time or slurm_minutes(row.per_run_s if row else None)
            ex = SlurmExecutor(partition=self.partition, time=limit, gpus=self.gpus if deep else 0,
                               cpus=self.cpus, mem=self.mem, wait=self.wait)
            jobs = ex.submit(group, results_home)
            self.submit_folder = ex.submit_folder
            self.job_ids += [j.job_id for j in jobs]
            self.arrays.append((m, d, len(group), limit, ex.gpus))
            submitted.append((ex, dict(zip(jobs, group))))
            jobs_of.update({s.key: j.job_id for s, j in zip(group, jobs)})
            if on_start:
                for s in group:
                    on_start(s)
        write_json_atomic(results_home / PENDING_FILE, jobs_of)
        if not self.wait:
            return
        for ex, pending in submitted:
            ex.wait_for(pending, results_home, on_done=on_done)
        _wait_queued(set(queued.values()))

    def summary(self) -> str:
        return "; ".join(f"{m} on {d}: {n} job(s), --time {t} min, {g} GPU(s)" for m, d, n, t, g in self.arrays)


def _wait_queued(job_ids: set[str], poll_s: float = 2.0) -> None:
    """Wait until the jobs of an earlier submission have left the queue (their records are then written)."""
    import time

    # lazy: loaded on use (torch, h5py, scikit-learn or the runner behind it), not on import
    from clusterbench.runner.executors import _queued_ids

    while job_ids:
        queued = _queued_ids()
        if queued is None:
            return
        job_ids = job_ids & queued
        if job_ids:
            time.sleep(poll_s)


# --------------------------------------------------------------------------- 5. render


def render_selection(sel: Selection, results_home: Path, *, scale: float | None = None, fmt: str = "md") -> str:
    """The selection's tables filled from ``results_home``: the paper's cells, or with ``scale``
    the table of runs shortened to that fraction (labelled as such in every format)."""
    # lazy: loaded on use (torch, h5py, scikit-learn or the runner behind it), not on import
    from clusterbench.report.render import fill_table, load_results, render

    res = load_results(results_home)
    return render([fill_table(t, res, schedule=scale) for t in sel.tables], fmt)
