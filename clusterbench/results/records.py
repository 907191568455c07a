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

import io
import json
import os
import re
import shutil
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Literal

import numpy as np

from clusterbench.errors import DataError
from clusterbench.fsutil import atomic_path, disk_full_error, is_disk_full, named, temp_beside, write_json_atomic
from clusterbench.paths import check_name, name_problem

if TYPE_CHECKING:  # pandas is imported by records_frame only: `clusterbench runs` starts without it
    import pandas as pd

SCHEMA_VERSION = 1
#: The config key of a record that selects one run of a pool instead of training one (value: the
#: selection, e.g. "model-centrality", written by ``clusterbench model-centrality``; trained runs
#: have "none" or no such key). The report's cells that set it read those records.
SELECTION_KEY = "model_selection"
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
    warnings: list[dict[str, Any]] = field(default_factory=list)  # [{category, message, count}] raised in fit
    created: str = ""
    schema_version: int = SCHEMA_VERSION
    #: fraction of the paper's schedule when the run was shortened (``reproduce --budget``); None:
    #: the config's own schedule. A shortened run never fills a paper cell of the report.
    schedule: float | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunRecord":
        """Build a record from its JSON dict after :func:`record_problem` found nothing wrong
        (raises :class:`InvalidRecord` naming the problem otherwise). Unknown keys are ignored."""
        problem = record_problem(d)
        if problem is not None:
            raise InvalidRecord(problem)
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in d.items() if k in known})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class InvalidRecord(DataError, ValueError):
    """A run record file that does not follow the record schema (the message says how).

    A :class:`DataError` (the CLI prints one paragraph) and a ``ValueError`` (callers that skip
    unreadable records catch that)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, hint="Delete or fix the file; `clusterbench run` reruns such a run.")

    def __str__(self) -> str:
        return self.message


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


#: The record schema: field -> (check, what it must be). Fields absent from a file take the
#: dataclass default, except the required ones.
_SCHEMA: dict[str, tuple[Any, str]] = {
    "key": (lambda v: isinstance(v, str) and v != "", "a non-empty string"),
    "method": (lambda v: name_problem(v) is None, "a plain name (one path component)"),
    "dataset": (lambda v: name_problem(v) is None, "a plain name (one path component)"),
    "seed": (lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"),
    "status": (lambda v: v in ("ok", "failed"), '"ok" or "failed"'),
    "config": (lambda v: isinstance(v, dict), "an object"),
    "dataset_checksum": (lambda v: isinstance(v, str), "a string"),
    "subset": (lambda v: v is None or (isinstance(v, int) and not isinstance(v, bool)), "an integer or null"),
    "code_version": (lambda v: isinstance(v, str), "a string"),
    "metrics": (lambda v: isinstance(v, dict) and all(isinstance(k, str) and _is_num(x) for k, x in v.items()),
                "an object of numbers"),
    "history": (lambda v: isinstance(v, list) and all(isinstance(h, dict) for h in v), "a list of objects"),
    "timings": (lambda v: isinstance(v, dict) and all(_is_num(x) or (isinstance(x, list) and all(map(_is_num, x)))
                                                       for x in v.values()), "an object of numbers (or number lists)"),
    "peak_memory_mb": (lambda v: v is None or _is_num(v), "a number or null"),
    "environment": (lambda v: isinstance(v, dict), "an object"),
    "error": (lambda v: v is None or isinstance(v, str), "a string or null"),
    "traceback": (lambda v: v is None or isinstance(v, str), "a string or null"),
    "peak_gpu_memory_mb": (lambda v: v is None or _is_num(v), "a number or null"),
    "device": (lambda v: isinstance(v, str), "a string"),
    "extras": (lambda v: isinstance(v, dict), "an object"),
    "artifacts": (lambda v: isinstance(v, dict) and all(isinstance(x, str) for x in v.values()), "an object of strings"),
    "created": (lambda v: isinstance(v, str), "a string"),
    "schema_version": (lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"),
    "schedule": (lambda v: v is None or (_is_num(v) and 0 < v < 1), "a number in (0, 1) or null"),
}
_REQUIRED = ("key", "method", "dataset", "seed", "status", "config")


def record_problem(d: Any) -> str | None:
    """What is wrong with a record's JSON value ``d`` against the record schema, or None.

    ``d`` must be an object with the required fields (key, method, dataset, seed, status,
    config), every known field of the type :class:`RunRecord` declares (``_SCHEMA``; metrics are
    numbers, NaN allowed, never null or strings), and an ok record must have metrics unless it is
    of a generator-only method (``extras['clusters'] is False``).
    """
    if not isinstance(d, dict):
        return f"the file holds {type(d).__name__ if d is not None else 'null'} ({json.dumps(d)[:40]}), not a record object"
    missing = [k for k in _REQUIRED if k not in d]
    if missing:
        return "missing field(s) " + ", ".join(missing)
    for k, (ok, what) in _SCHEMA.items():
        if k in d and not ok(d[k]):
            return f"field {k!r} must be {what}, got {json.dumps(d[k], default=str)[:60]}"
    if d["status"] == "ok" and not d.get("metrics") and d.get("extras", {}).get("clusters", True) is not False:
        return "an ok record without metrics"  # only generator-only methods (extras.clusters false) have none
    return None


def record_path(home: Path, method: str, dataset: str, key: str) -> Path:
    """``<home>/<method>/<dataset>/<key>.json``; names that are not one plain path component are
    refused (:func:`clusterbench.paths.check_name`), so a record never lands outside ``home``."""
    check_name("method", method)
    check_name("data set", dataset)
    if not isinstance(key, str) or name_problem(key) is not None:
        raise DataError(f"The run key {key!r} cannot be a file name.", hint="This is a bug; please report it.")
    return Path(home) / method / dataset / f"{key}.json"


def outputs_path(record_file: Path) -> Path:
    """The HDF5 sidecar ``<key>.h5`` beside a record ``<key>.json``."""
    return Path(record_file).with_suffix(".h5")


def artifacts_dir(record_file: Path) -> Path:
    """The artifact folder ``<key>/`` beside a record ``<key>.json``."""
    return Path(record_file).with_suffix("")


def rerun_dir(record_file: Path) -> Path:
    """The staging artifact folder ``.<key>.rerun`` of a rerun (``--force``) of an ok run."""
    return Path(record_file).parent / f".{Path(record_file).stem}.rerun"


def failure_beside_ok_path(record_file: Path) -> Path:
    """Where a failed rerun of a run with an ok record is kept: ``<key>/failed-rerun.json``."""
    return artifacts_dir(record_file) / "failed-rerun.json"


def has_ok_record(record_file: Path) -> bool:
    """True when ``record_file`` is a valid record of status ok."""
    try:
        return read_record(record_file).status == "ok"
    except (OSError, ValueError):
        return False


def write_record(home: Path, record: RunRecord) -> Path:
    """Write ``record`` atomically under ``home``; returns the path written.

    A failed record never replaces an ok one (a ``--force`` rerun that failed, a worker that died
    after its run was recorded): it is written to :func:`failure_beside_ok_path` instead and the
    ok record, its sidecar and artifacts stay as they are.
    """
    path = record_path(home, record.method, record.dataset, record.key)
    if record.status != "ok" and has_ok_record(path):
        path = failure_beside_ok_path(path)
    write_json_atomic(path, record.to_dict())
    return path


#: The deepest nesting of lists/objects a record may have (the suite's own are under 10 deep).
MAX_DEPTH = 64


def _depth(obj: Any) -> int:
    """Nesting depth of a JSON value (iterative: no recursion on hostile input)."""
    deepest, stack = 0, [(obj, 1)]
    while stack:
        o, d = stack.pop()
        if isinstance(o, (dict, list)):
            deepest = max(deepest, d)
            if deepest > MAX_DEPTH:
                return deepest
            stack.extend((v, d + 1) for v in (o.values() if isinstance(o, dict) else o))
    return deepest


def read_record(path: Path) -> RunRecord:
    """Read and validate one record; :class:`InvalidRecord` (a ValueError) names the file and the
    problem for unparsable JSON or a record that does not follow the schema."""
    try:
        with open(path, encoding="utf-8") as fh:
            d = json.load(fh)
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise InvalidRecord(f"{path}: not valid JSON ({exc})") from None
    except RecursionError:  # hostile nesting ([[[[...]]]]) overflows the parser's stack
        raise InvalidRecord(f"{path}: nested deeper than the JSON parser can follow") from None
    if _depth(d) > MAX_DEPTH:  # would overflow later (copies, json.dumps of the config, pandas)
        raise InvalidRecord(f"{path}: nested deeper than {MAX_DEPTH} levels; a run record is a few levels deep")
    try:
        return RunRecord.from_dict(d)
    except InvalidRecord as exc:
        raise InvalidRecord(f"{path}: {exc}") from None


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
            if path.name.startswith("."):  # never a record (hidden bookkeeping files)
                continue
            try:
                rec = read_record(path)
            except InvalidRecord as exc:
                warnings.warn(f"skipping corrupt run record {exc}", stacklevel=2)
                continue
            except OSError as exc:
                warnings.warn(f"skipping corrupt (unreadable) run record {path}: {exc}", stacklevel=2)
                continue
            yield path, rec


def records_frame(homes: Path | Iterable[Path]) -> pd.DataFrame:
    """Tidy long rows, one per (run, metric):

    columns: key, method, dataset, seed, subset, status, metric, value, config (JSON string),
    created, path. A failed run contributes one row with metric=None so it can be counted, never
    averaged in.
    """
    return frame_of_records(iter_records(homes))


def frame_of_records(records: Iterable[tuple[Path, RunRecord]]) -> pd.DataFrame:
    """:func:`records_frame` of ``(path, record)`` pairs already read (each file read once)."""
    import pandas as pd  # lazily: only the tidy frame needs pandas (fast start of `runs`)

    rows = []
    for path, r in records:
        base = {
            "key": r.key,
            "method": r.method,
            "dataset": r.dataset,
            "seed": r.seed,
            "subset": r.subset,
            "schedule": r.schedule,
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
    cols = ["key", "method", "dataset", "seed", "subset", "schedule", "status", "metric", "value", "config",
            "created", "path"]
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
    import h5py  # heavy, and only needed by runs that write outputs

    target = outputs_path(record_file)
    # built in memory, then written with one plain write: a full disk is an OSError here, never
    # an HDF5 library error half way through a file (h5py crashed on ENOSPC in 2 of 4 tries)
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        f.create_dataset("proba", data=np.asarray(proba, dtype=np.float32), compression="gzip", compression_opts=4)
        f.create_dataset("y", data=np.asarray(y, dtype=np.int64), compression="gzip")
        if embedding is not None:
            f.create_dataset("embedding", data=np.asarray(embedding, dtype=np.float32), compression="gzip", compression_opts=4)
        if indices is not None:
            f.create_dataset("indices", data=np.asarray(indices, dtype=np.int64), compression="gzip")
    with atomic_path(target) as tmp:
        tmp.write_bytes(buf.getbuffer())
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

#: A run key: the sha256 hex digest of the run's identity (``clusterbench.runner.spec``).
KEY_RE = re.compile(r"[0-9a-f]{64}")


@dataclass
class MergeReport:
    """Counts of one merge: records added, replaced (better/newer), kept (the existing one won),
    refused (unsafe or inconsistent records, each named in a warning)."""

    added: int = 0
    replaced: int = 0
    kept: int = 0
    sources: int = 0
    refused: int = 0


def _better(new: RunRecord, old: RunRecord) -> bool:
    """Same key: an ok record beats a failed one; otherwise the newer (``created``) wins."""
    if (new.status == "ok") != (old.status == "ok"):
        return new.status == "ok"
    return (new.created or "") > (old.created or "")


def _within(path: Path, root: Path) -> bool:
    """True when ``path`` (symlinks resolved, also in its parents) lies inside ``root``."""
    try:
        Path(os.path.realpath(path)).relative_to(os.path.realpath(root))
    except ValueError:
        return False
    return True


def artifact_problem(record_file: Path, name: str, rel: str) -> str | None:
    """Why the artifact ``name -> rel`` of the record ``record_file`` must not be read, copied or
    merged, or None. An artifact lies in the run's own folder, the record's ``<method>/<dataset>/``
    (its ``<key>/`` folder; a ``model-centrality`` record names the selected run's ``model.pt``
    beside it): ``rel`` is relative, has no ``..`` that leaves that folder, and does not resolve
    outside it through a symbolic link."""
    folder = Path(record_file).parent
    if not isinstance(rel, str) or not rel or "\0" in rel:
        return f"its artifact {name!r} is not a file name"
    if os.path.isabs(rel):
        return f"its artifact {name!r} is an absolute path ({rel})"
    if os.path.normpath(rel).split(os.sep)[0] == "..":
        return f"its artifact {name!r} ({rel}) points outside the run's folder {folder}"
    if not _within(folder / rel, folder):
        return f"its artifact {name!r} ({rel}) resolves outside the run's folder {folder} (a symbolic link)"
    return None


def merge_problem(src_home: Path, path: Path, rec: RunRecord, into: Path) -> str | None:
    """Why the record ``path`` of ``src_home`` must not be merged into ``into``, or None.

    The destination is built from the record's own fields, so they must be safe and agree with
    the record's place in its source home: ``<method>/<dataset>/<key>.json`` with a 64-hex key and
    plain one-component names; the record, its sidecar and artifact folder must be regular files /
    folders (no symlinks) inside the source home; the destination must resolve inside ``into``.
    """
    if not isinstance(rec.key, str) or not KEY_RE.fullmatch(rec.key):
        return f"its key {rec.key!r} is not a 64-character hex run key"
    for what, v in (("method", rec.method), ("data set", rec.dataset)):
        if name_problem(v) is not None:
            return f"its {what} name {v!r} is not a plain name"
    rel = path.relative_to(src_home)
    if rel.parts != (rec.method, rec.dataset, f"{rec.key}.json"):
        return f"its fields (method {rec.method!r}, data set {rec.dataset!r}, key {rec.key[:12]}...) do not match its place {rel}"
    for p in (path, outputs_path(path), artifacts_dir(path), path.parent, path.parent.parent):
        if p.is_symlink():
            return f"{p} is a symbolic link"
    if not _within(path, src_home):
        return "it lies outside its results home"
    for name, rel in rec.artifacts.items():
        problem = artifact_problem(path, name, rel)
        if problem is not None:
            return problem
    dst = record_path(into, rec.method, rec.dataset, rec.key)
    for p in (dst, outputs_path(dst), artifacts_dir(dst)):
        if not _within(p, into):
            return f"its destination {p} would lie outside {into}"
    if artifacts_dir(dst).is_symlink() or outputs_path(dst).is_symlink() or dst.is_symlink():
        return f"the destination {dst} (or its sidecar/artifacts) is a symbolic link"
    return None


def _copy_file(src: Path, dst: Path) -> None:
    try:
        shutil.copyfile(src, dst)
    except OSError as exc:
        raise named(exc, dst) from None


def _copy_tree(src: Path, dst: Path) -> None:
    """Copy the folder ``src`` into the existing empty folder ``dst``; symbolic links (they could
    point anywhere) are never copied; the first error stops the copy (no error list)."""
    for entry in sorted(src.iterdir()):
        if entry.is_symlink():
            continue
        if entry.is_dir():
            (dst / entry.name).mkdir()
            _copy_tree(entry, dst / entry.name)
        elif entry.is_file():
            _copy_file(entry, dst / entry.name)


def _copy_run(src_file: Path, dst_file: Path) -> None:
    """Copy a record with its sidecar and artifact folder, all or nothing.

    Everything is first copied to temporaries beside the destination; only when all copies are
    complete are they renamed into place (sidecar, artifacts, record last: a record is never
    visible before its outputs). A failed copy (a full disk) removes the temporaries and leaves
    the destination as it was. Only the suite's own files are ever removed: the sidecar
    ``<key>.h5`` and artifact folder ``<key>/`` of the run being replaced, at paths
    :func:`merge_problem` checked to lie in the target (a symlink there is refused before).
    """
    src_out, dst_out = outputs_path(src_file), outputs_path(dst_file)
    src_art, dst_art = artifacts_dir(src_file), artifacts_dir(dst_file)
    dst_file.parent.mkdir(parents=True, exist_ok=True)
    staged: list[Path] = []
    try:
        out_tmp = art_tmp = None
        if src_out.is_file():
            out_tmp = temp_beside(dst_out)
            staged.append(out_tmp)
            _copy_file(src_out, out_tmp)
        if src_art.is_dir():
            art_tmp = temp_beside(dst_art, directory=True)
            staged.append(art_tmp)
            _copy_tree(src_art, art_tmp)
        rec_tmp = temp_beside(dst_file)
        staged.append(rec_tmp)
        _copy_file(src_file, rec_tmp)
    except BaseException:
        for p in staged:
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
        raise
    # every copy is complete: renames only from here
    if out_tmp is not None:
        os.replace(out_tmp, dst_out)
    elif dst_out.is_file():
        dst_out.unlink()
    if art_tmp is not None:
        old = None
        if dst_art.is_dir():
            old = dst_art.with_name(f".{dst_art.name}.old-{os.getpid()}")
            dst_art.rename(old)
        art_tmp.rename(dst_art)
        if old is not None:
            shutil.rmtree(old)
    os.replace(rec_tmp, dst_file)


def merge_homes(sources: Iterable[Path], into: Path) -> MergeReport:
    """Merge the records (and their ``.h5`` sidecars and artifacts) of other results homes into
    ``into`` without duplicates: for one key, an ok record beats a failed one, else the newer
    (by ``created``) wins. A record that :func:`merge_problem` finds unsafe is refused with a
    warning naming it (and counted in ``refused``); nothing of it is written or deleted."""
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
            problem = merge_problem(src_home, path, rec, into)
            if problem is not None:
                warnings.warn(f"not merging the run record {path}: {problem}", stacklevel=2)
                report.refused += 1
                continue
            dst = record_path(into, rec.method, rec.dataset, rec.key)
            old_exists = dst.exists()
            if old_exists:
                try:
                    old = read_record(dst)
                except (OSError, ValueError, TypeError):
                    old = None
                if old is not None and not _better(rec, old):
                    report.kept += 1
                    continue
            try:
                _copy_run(path, dst)
            except OSError as exc:
                if is_disk_full(exc):
                    raise disk_full_error(Path(exc.filename or dst), what=(
                        f"nothing of the run record {path} was merged, and the {report.added + report.replaced} "
                        "record(s) merged before it are complete")) from None
                raise
            if old_exists:
                report.replaced += 1
            else:
                report.added += 1
    return report
