"""``clusterbench check``: run a fixed small grid and compare it with committed reference records.

The grid is data (``clusterbench/runner/check.toml``, see :func:`load_grid`): data sets (with an
optional stratified ``subset`` and a local ``mirror`` to fetch from), seeds, a generic *deep rule*
for methods that train by epochs, per-method overrides, and the tolerance bands. The methods are
*every* method registered in :data:`clusterbench.methods.METHODS` at run time, so a new method is
checked as soon as it is registered (reported as "new, no reference" until ``--update``).

:func:`run_check` runs the grid with the normal grid runner (:func:`clusterbench.runner.run_grid`,
one request per method x data set; a pair the method cannot run on is skipped with a note) into a
results home (a temporary one by default), then compares the grid's own records with the references through :mod:`clusterbench.runner.regression` (``compare``). A run is
a regression when one of its metrics moved beyond its band in the bad direction, when a reference
has no current run (``missing``), or when a run of the grid failed.

``update=True`` rewrites the references from the current ok records: staged in a sibling folder
and swapped in with two renames, so a crash never leaves a half-written reference set. References
outside the checked scope (a data set skipped because it is not available here, methods/data sets
left out with the filters) are kept as they are.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import shutil
import tempfile
import time
import tomllib
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clusterbench import paths
from clusterbench.data.fetch import fetch, is_fetched
from clusterbench.data.registry import get_spec
from clusterbench.errors import ConfigError, UnknownNameError, suggest
from clusterbench.methods import METHODS, get_method
from clusterbench.results.records import iter_records
from clusterbench.runner.executors import LocalExecutor
from clusterbench.runner.grid import GridRequest, GridResult, run_grid
from clusterbench.runner.spec import validate_seeds
from clusterbench.runner.regression import Change, compare, has_regression, update_references

GRID_FILE = Path(__file__).with_name("check.toml")


# --- the grid as data -----------------------------------------------------------------------


@dataclass(frozen=True)
class CheckDataset:
    """One data set of the grid: ``subset`` samples (stratified; None = all); ``mirror`` a local
    directory (or URL prefix) to fetch it from when it is not fetched yet."""

    name: str
    subset: int | None = None
    mirror: str | None = None


@dataclass(frozen=True)
class MethodOverride:
    """Per-method entry of the grid: config ``set`` (after the epoch rule), ``seeds``, the
    ``datasets`` it runs on (None = all of the grid's), and per-metric ``tolerances``."""

    set: dict[str, Any] = field(default_factory=dict)
    seeds: int | None = None
    datasets: tuple[str, ...] | None = None
    tolerances: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class DeepRule:
    """The generic rule for deep methods: ``set`` maps fnmatch patterns of Config fields to values
    (an int value caps the field: min(default, value)); ``datasets``/``seeds`` restrict their runs
    (None = the grid's); ``tolerances`` replace the grid's bands for them."""

    set: dict[str, Any] = field(default_factory=dict)
    datasets: tuple[str, ...] | None = None
    seeds: int | None = None
    tolerances: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class CheckGrid:
    seeds: int
    jobs: int
    device: str
    datasets: tuple[CheckDataset, ...]
    deep: DeepRule
    methods: dict[str, MethodOverride]
    tolerances: dict[str, float]
    source: Path | None = None


def _err(source: Path | None, msg: str) -> ConfigError:
    return ConfigError(f"Check grid {source or '<dict>'}: {msg}", hint="Fix the file (its comments document each key).")


def _floats(d: Any, where: str, source: Path | None) -> dict[str, float]:
    if not isinstance(d, dict) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in d.values()):
        raise _err(source, f"{where} must map metric names to non-negative numbers.")
    return {str(k): float(v) for k, v in d.items()}


def _seeds(n: Any, where: str, source: Path | None) -> None:
    if not isinstance(n, int) or isinstance(n, bool):
        raise _err(source, f"{where} must be a positive integer, got {n!r}.")
    try:
        validate_seeds(n, what=where)
    except ConfigError as exc:
        raise _err(source, exc.message) from None


def _unknown_method(source: Path | None, m: str) -> ConfigError:
    close = suggest(m, METHODS)
    return _err(source, f"[methods.{m}] names no method{' (did you mean ' + ' or '.join(close) + '?)' if close else ''}; "
                        f"valid methods: {', '.join(sorted(METHODS))}.")


def parse_grid(data: dict[str, Any], *, source: Path | None = None) -> CheckGrid:
    """Validate the grid TOML (already parsed) into a :class:`CheckGrid`; ConfigError on a bad key."""
    known = {"seeds", "jobs", "device", "datasets", "deep", "methods", "tolerances"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise _err(source, f"unknown key(s) {', '.join(unknown)} (valid: {', '.join(sorted(known))}).")
    seeds, jobs, device = data.get("seeds", 2), data.get("jobs", 1), data.get("device", "cpu")
    if not isinstance(seeds, int) or seeds < 1 or not isinstance(jobs, int) or jobs < 1:
        raise _err(source, "seeds and jobs must be positive integers.")
    _seeds(seeds, "seeds", source)
    if device not in ("auto", "cpu", "cuda"):
        raise _err(source, f"device must be auto, cpu or cuda, got {device!r}.")
    dsets = []
    for d in data.get("datasets", []):
        if not isinstance(d, dict) or "name" not in d or set(d) - {"name", "subset", "mirror"}:
            raise _err(source, f"each [[datasets]] needs name and may give subset, mirror; got {d!r}.")
        dsets.append(CheckDataset(str(d["name"]), d.get("subset"), d.get("mirror")))
    if not dsets:
        raise _err(source, "no [[datasets]].")
    names = [d.name for d in dsets]
    methods = {}
    for m, o in data.get("methods", {}).items():
        if m not in METHODS:  # a misspelt method would silently get the defaults
            raise _unknown_method(source, m)
        if not isinstance(o, dict) or set(o) - {"set", "seeds", "datasets", "tolerances"}:
            raise _err(source, f"[methods.{m}] may only give set, seeds, datasets, tolerances.")
        if o.get("seeds") is not None:
            _seeds(o["seeds"], f"[methods.{m}] seeds", source)
        ds = o.get("datasets")
        if ds is not None and set(ds) - set(names):
            raise _err(source, f"[methods.{m}] datasets {sorted(set(ds) - set(names))} are not in the grid's [[datasets]].")
        methods[str(m)] = MethodOverride(dict(o.get("set", {})), o.get("seeds"), tuple(ds) if ds is not None else None,
                                         _floats(o.get("tolerances", {}), f"[methods.{m}] tolerances", source))
    dp = data.get("deep", {})
    if not isinstance(dp, dict) or set(dp) - {"set", "datasets", "seeds", "tolerances"}:
        raise _err(source, "[deep] may only give set, datasets, seeds, tolerances.")
    if dp.get("seeds") is not None:
        _seeds(dp["seeds"], "[deep] seeds", source)
    ds = dp.get("datasets")
    if ds is not None and set(ds) - set(names):
        raise _err(source, f"[deep] datasets {sorted(set(ds) - set(names))} are not in the grid's [[datasets]].")
    deep = DeepRule(dict(dp.get("set", {})), tuple(ds) if ds is not None else None, dp.get("seeds"),
                    _floats(dp.get("tolerances", {}), "[deep.tolerances]", source))
    return CheckGrid(seeds, jobs, device, tuple(dsets), deep, methods,
                     _floats(data.get("tolerances", {}), "[tolerances]", source), source)


def load_grid(path: Path | None = None) -> CheckGrid:
    """The check grid from ``path`` (default: the packaged ``check.toml``)."""
    path = Path(path) if path is not None else GRID_FILE
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"Check grid file {path} does not exist.", hint="Pass an existing TOML with --grid.") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"Check grid file {path} is not valid TOML: {exc}.", hint="Fix its syntax.") from None
    return parse_grid(data, source=path)


def default_reference() -> Path:
    """``results/check`` of the source checkout (where the references are committed)."""
    root = paths.repo_root()
    if root is None:
        raise ConfigError(
            "clusterbench is not running from a source checkout, so there are no committed reference records.",
            hint="Pass --reference DIR (a folder of reference records, e.g. results/check of a checkout).",
        )
    return root / "results" / "check"


# --- the plan -------------------------------------------------------------------------------


@dataclass(frozen=True)
class MethodPlan:
    """What one method runs in the check: its ``--set`` overrides, seeds, data sets, bands."""

    method: str
    overrides: dict[str, Any]
    seeds: int
    datasets: tuple[str, ...]
    tolerances: dict[str, float]


def is_deep(cls: type) -> bool:
    """A deep method: ``deep = True``, or a dataclass Config with an ``epochs`` field."""
    import dataclasses

    cfg = getattr(cls, "Config", None)
    has_epochs = dataclasses.is_dataclass(cfg) and any(f.name == "epochs" for f in dataclasses.fields(cfg))
    return bool(getattr(cls, "deep", False) or has_epochs)


def method_plan(grid: CheckGrid, method: str, cls: type) -> MethodPlan:
    """What ``method`` runs: for deep methods (:func:`is_deep`) the ``[deep]`` rule first (every
    Config field matching a ``[deep.set]`` pattern; an int value caps the default), its data sets
    and seeds; then the method's own ``[methods.NAME]`` entry, which wins.

    Tolerances: the grid's ``[tolerances]``, then ``[deep.tolerances]`` for deep methods, then the
    method's own ``tolerances``.
    """
    import dataclasses

    deep = is_deep(cls)
    over: dict[str, Any] = {}
    if deep and dataclasses.is_dataclass(cls.Config):
        for f in dataclasses.fields(cls.Config):
            for pattern, value in grid.deep.set.items():
                if fnmatch.fnmatchcase(f.name, pattern):
                    default = f.default if f.default is not dataclasses.MISSING else None
                    if isinstance(value, int) and not isinstance(value, bool) and isinstance(default, int) \
                            and not isinstance(default, bool):
                        value = min(default, value)
                    over[f.name] = value
                    break
    own = grid.methods.get(method, MethodOverride())
    over.update(own.set)
    tol = {**grid.tolerances, **(grid.deep.tolerances if deep else {}), **own.tolerances}
    all_ds = tuple(d.name for d in grid.datasets)
    ds = own.datasets or (grid.deep.datasets if deep and grid.deep.datasets else all_ds)
    seeds = own.seeds or (grid.deep.seeds if deep and grid.deep.seeds else grid.seeds)
    return MethodPlan(method, over, seeds, ds, tol)


def _set_items(overrides: dict[str, Any]) -> list[str]:
    def fmt(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (list, tuple)):
            return ",".join(fmt(x) for x in v)
        return str(v)

    return [f"{k}={fmt(v)}" for k, v in overrides.items()]


def ensure_dataset(d: CheckDataset) -> str | None:
    """Make ``d`` available (embedded ones are prepared by the runner; others fetched from the
    mirror when it exists). Returns a note when it must be skipped, None when it is usable."""
    spec = get_spec(d.name)
    if spec.source == "embedded" or is_fetched(d.name):
        return None
    if d.mirror is None:
        return f"{d.name}: not fetched and the grid names no mirror; skipped (run `clusterbench fetch {d.name}` to include it)."
    if "://" not in d.mirror and not Path(d.mirror).is_dir():
        return (f"{d.name}: not fetched and {d.mirror} is absent; skipped (on Debian: "
                f"`apt-get install dataset-{d.name}`, or `clusterbench fetch {d.name}`).")
    fetch(d.name, mirror=d.mirror, progress=False)
    return None


# --- running and comparing ------------------------------------------------------------------


@dataclass
class Failure:
    """A run of the grid that did not produce an ok record."""

    method: str
    dataset: str
    seed: int
    reason: str
    record: Path | None


@dataclass
class CheckResult:
    changes: list[Change]
    failures: list[Failure]
    notes: list[str]                      # skipped data sets, ...
    warnings: list[str]                   # corrupt records skipped by compare
    results_home: Path
    reference: Path
    n_runs: int
    seconds: float
    run_seconds: dict[str, float]          # method -> summed total_s of its runs
    updated: list[Path] | None = None      # reference files written by --update

    @property
    def regressed(self) -> bool:
        return bool(self.failures) or has_regression(self.changes)

    @property
    def new_methods(self) -> list[str]:
        return sorted({c.method for c in self.changes if c.status == "new"})


@contextlib.contextmanager
def _tmpdir(prefix: str) -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _copy_records(files: list[Path], src_root: Path, dst_root: Path) -> None:
    for f in files:
        dst = dst_root / f.relative_to(src_root)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f, dst)


def _reference_files(reference: Path) -> list[Path]:
    return sorted(reference.glob("*/*/*.json")) if reference.is_dir() else []


def swap_in(staging: Path, reference: Path) -> None:
    """Replace the folder ``reference`` by ``staging`` (same parent) with two renames."""
    old = reference.with_name(f".{reference.name}.old-{os.getpid()}")
    if reference.exists():
        os.replace(reference, old)
    os.replace(staging, reference)
    shutil.rmtree(old, ignore_errors=True)


def run_check(
    grid: CheckGrid,
    *,
    reference: Path,
    results: Path | None = None,
    update: bool = False,
    methods: list[str] | None = None,
    datasets: list[str] | None = None,
    jobs: int | None = None,
    on_note: Callable[[str], None] | None = None,
    on_done: Callable[[dict[str, Any]], None] | None = None,
) -> CheckResult:
    """Run the grid (every registered method, or ``methods``; every grid data set, or ``datasets``)
    into ``results`` (a temporary folder, removed afterwards, when None), compare with
    ``reference``, and with ``update`` rewrite the references from this run.

    ``update`` refuses (ConfigError) when a run failed: references always come from a complete run
    of their scope. Raises UnknownNameError for a filter naming no method / grid data set.
    """
    t0 = time.perf_counter()
    reference = Path(reference)
    grid_names = [d.name for d in grid.datasets]
    for d in datasets or []:
        if d not in grid_names:
            raise UnknownNameError("check data set", d, grid_names)
    names = list(methods) if methods else list(METHODS)
    classes = {m: get_method(m) for m in names}
    filtered = bool(methods or datasets)

    notes: list[str] = []

    def note(msg: str) -> None:
        notes.append(msg)
        if on_note:
            on_note(msg)

    usable: list[CheckDataset] = []
    for d in grid.datasets:
        if datasets and d.name not in datasets:
            continue
        why = ensure_dataset(d)
        if why:
            note(why)
        else:
            usable.append(d)
    skipped = {d.name for d in grid.datasets} - {d.name for d in usable}

    # one request per method x data set (seeds and --set differ per method, the subset per data set)
    plans = {m: method_plan(grid, m, cls) for m, cls in classes.items()}
    requests = [
        GridRequest((m,), (d.name,), seeds=mp.seeds, subset=d.subset, overrides=tuple(_set_items(mp.overrides)),
                    device=grid.device)
        for d in usable for m, mp in plans.items() if d.name in mp.datasets
    ]

    def on_plan(g: GridResult) -> None:
        for m, d, why in g.incompatible:  # impossible pairs are left out, not failed runs
            note(f"{m} on {d}: skipped, the method cannot run on this data set ({why})")

    with contextlib.ExitStack() as stack:
        home = Path(results) if results is not None else stack.enter_context(_tmpdir("clusterbench-check-"))
        g = run_grid(requests, home, executor=LocalExecutor.for_device(jobs or grid.jobs, grid.device),
                     skip_incompatible=True, on_plan=on_plan, on_done=on_done)
        specs = g.specs
        scope = {(s.method, s.dataset) for s in specs}

        # the grid's own records (the home may hold other runs), failures, run times
        failures: list[Failure] = []
        run_seconds: dict[str, float] = {}
        ok_files: list[Path] = []
        for o in g.outcomes:
            s, rec = o.spec, o.record
            if rec is None:
                failures.append(Failure(s.method, s.dataset, s.seed, "no record was written (the run did not finish)", None))
                continue
            run_seconds[s.method] = run_seconds.get(s.method, 0.0) + float(rec.timings.get("total_s", 0.0))
            if rec.status == "ok":
                ok_files.append(o.path)
            else:
                failures.append(Failure(s.method, s.dataset, s.seed, rec.error or "failed", o.path))

        # references in scope: with filters, the pairs this check ran; else all but skipped data sets
        # and pairs the method declares it cannot run on (those are kept, not compared)
        ref_files = _reference_files(reference)
        impossible = {(m, d) for m, d, _ in g.incompatible}

        def in_scope(f: Path) -> bool:
            m, d = f.parent.parent.name, f.parent.name
            return (m, d) in scope if filtered else d not in skipped and (m, d) not in impossible

        with _tmpdir("clusterbench-check-cmp-") as tmp:
            cur_dir, ref_dir = tmp / "current", tmp / "reference"
            _copy_records(ok_files, home, cur_dir)
            _copy_records([f for f in ref_files if in_scope(f)], reference, ref_dir)
            changes = _compare_banded(cur_dir, ref_dir, plans, grid)
            with warnings.catch_warnings(record=True) as caught:  # corrupt references, named by their real path
                warnings.simplefilter("always")
                list(iter_records(reference))
            warns = [str(w.message) for w in caught]

            updated = None
            if update:
                if failures:
                    raise ConfigError(
                        f"--update refused: {len(failures)} run(s) of the check failed, and references must come from a "
                        "complete run (the current references are untouched).",
                        hint="Fix the failing method, or leave it out with --method (updating the other methods only).",
                    )
                combined = tmp / "combined"
                _copy_records(ok_files, home, combined)
                _copy_records([f for f in ref_files if not in_scope(f)], reference, combined)
                reference.parent.mkdir(parents=True, exist_ok=True)
                staging = Path(tempfile.mkdtemp(prefix=f".{reference.name}.new-", dir=reference.parent))
                try:
                    written = update_references(combined, staging)
                    swap_in(staging, reference)
                except BaseException:
                    shutil.rmtree(staging, ignore_errors=True)
                    raise
                updated = [reference / w.relative_to(staging) for w in written]

    return CheckResult(changes, failures, notes, warns, home, reference, len(specs),
                       time.perf_counter() - t0, run_seconds, updated)


def _compare_banded(cur: Path, ref: Path, plans: dict[str, MethodPlan], grid: CheckGrid) -> list[Change]:
    """:func:`compare` with each method's own bands (one compare per distinct band set; methods
    with references but no plan, e.g. removed ones, use the grid's ``[tolerances]``)."""
    def key(t: dict[str, float]) -> str:
        return json.dumps(t, sort_keys=True)

    bands = {key(mp.tolerances): mp.tolerances for mp in plans.values()}
    bands.setdefault(key(grid.tolerances), grid.tolerances)
    owner = {m: key(mp.tolerances) for m, mp in plans.items()}
    out: list[Change] = []
    for k, tol in bands.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            changes, _ = compare(cur, ref, tolerances=tol)
        out += [c for c in changes if owner.get(c.method, key(grid.tolerances)) == k]
    order = {"regressed": 0, "missing": 1, "improved": 2, "new": 3, "ok": 4}
    out.sort(key=lambda c: (order[c.status], c.method, c.dataset, c.metric))
    return out


__all__ = [
    "CheckDataset", "CheckGrid", "CheckResult", "DeepRule", "Failure", "GRID_FILE", "MethodOverride", "MethodPlan",
    "default_reference", "ensure_dataset", "is_deep", "load_grid", "method_plan", "parse_grid", "run_check",
]
