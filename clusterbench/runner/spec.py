"""Run specs: the grid method x data set x seed expanded into plain, picklable run descriptions.

A :class:`RunSpec` holds everything that defines a run (and so its key) plus how to execute it
(device, where to import the method class from). Expansion validates everything a user can get
wrong *before* anything runs: unknown methods or data sets, ``--set`` overrides, the subset size,
more clusters than samples, data sets not fetched yet or corrupt.
"""

from __future__ import annotations

import functools
import hashlib
import json
import subprocess
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from clusterbench import __version__, paths
from clusterbench.data.hdf5 import read_info, verify_content
from clusterbench.data.registry import get_spec
from clusterbench.errors import ConfigError, DataError
from clusterbench.plugins import dataset_settings

#: The fixed seed of ``--subset`` draws: the subset is the same for every run seed, so seeds vary
#: the method only, and it is recorded in the run key.
SUBSET_SEED = 0
#: The largest run seed: numpy's and scikit-learn's random states take seeds in [0, 2**32 - 1].
MAX_SEED = 2**32 - 1
#: The most seeds one request may expand to (per method and data set): a paper's protocol uses
#: at most a few hundred; 100,000,000 would only exhaust memory while planning.
MAX_SEEDS = 10_000


def validate_seeds(seeds: int, seed_start: int = 0, *, what: str = "--seeds", start: str = "--seed-start") -> None:
    """ConfigError unless ``seed_start .. seed_start + seeds - 1`` are 1 to :data:`MAX_SEEDS` seeds
    in [0, :data:`MAX_SEED`] (``what``/``start`` name the options in the message)."""
    if seeds < 1:
        raise ConfigError(f"{what} must be at least 1, got {seeds}.", hint=f"Give {what} N with N >= 1 (the number of seeds).")
    if seeds > MAX_SEEDS:
        raise ConfigError(f"{what} {seeds} is more seeds than one request may hold (at most {MAX_SEEDS:,}).",
                          hint=f"Give {what} {MAX_SEEDS} or fewer; run more seeds in several requests with {start}.")
    if seed_start < 0:
        raise ConfigError(f"{start} must be >= 0, got {seed_start}.")
    if seed_start + seeds - 1 > MAX_SEED:  # numpy / scikit-learn random states take 32-bit seeds
        raise ConfigError(f"Seeds must be at most {MAX_SEED} (2**32 - 1), got up to {seed_start + seeds - 1}.",
                          hint=f"Give a smaller {start}.")


@dataclass(frozen=True)
class RunSpec:
    """One run of the grid. Everything but ``device``, ``method_ref`` and ``extras`` is in the key.

    ``device`` is not part of the key (a CPU and a CUDA run of one config are the same experiment;
    the record says which device ran it). ``method_ref`` is ``"module:QualName"`` of the method
    class, so worker processes and Slurm jobs import the same class the parent resolved.
    """

    method: str
    config: dict[str, Any]
    dataset: str
    dataset_checksum: str
    seed: int
    subset: int | None = None
    subset_seed: int = SUBSET_SEED
    code_version: str = ""
    device: str = "auto"
    method_ref: str = ""
    n_clusters: int = 0
    extras: dict[str, Any] = field(default_factory=dict, compare=False)
    #: fraction of the paper's schedule (epochs, iterations) when shortened (``reproduce --budget``);
    #: None = the schedule the config gives. In the key only when set (other keys are unchanged).
    schedule: float | None = None

    def key_fields(self) -> dict[str, Any]:
        """The fields hashed into the run key."""
        extra = {} if self.schedule is None else {"schedule": self.schedule}
        return {**extra,
            "method": self.method,
            "config": self.config,
            "dataset": self.dataset,
            "dataset_checksum": self.dataset_checksum,
            "subset": None if self.subset is None else {"n": self.subset, "seed": self.subset_seed},
            "n_clusters": self.n_clusters,
            "seed": self.seed,
            "code_version": self.code_version,
        }

    @property
    def key(self) -> str:
        return run_key(self.key_fields())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunSpec":
        return cls(**d)

    @property
    def label(self) -> str:
        sub = f" subset={self.subset}" if self.subset is not None else ""
        return f"{self.method} / {self.dataset} / seed {self.seed}{sub}"


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys, no whitespace, tuples as lists: equal content -> equal text."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=_default)


def _default(o: Any) -> Any:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, (set, frozenset)):
        return sorted(o)
    raise TypeError(f"not JSON serialisable in a run key: {type(o).__name__}")


def run_key(fields: dict[str, Any]) -> str:
    """sha256 (hex) of the canonical JSON of the key fields."""
    return hashlib.sha256(canonical_json(fields).encode("utf-8")).hexdigest()


# --- code version ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def git_info() -> dict[str, Any]:
    """``{"commit": sha or None, "dirty": bool or None}`` of the source checkout, when there is one."""
    root = paths.repo_root()
    if root is None or not (root / ".git").exists():
        return {"commit": None, "dirty": None}
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout
        return {"commit": commit or None, "dirty": bool(status.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def code_version() -> str:
    """Package version plus the git commit of the source checkout when available
    (``"0.1.0+g<sha>"``). Uncommitted edits are *not* in the key (they are recorded in the
    environment as ``git_dirty``): keys stay stable while developing, and CI runs from commits."""
    commit = git_info()["commit"]
    return f"{__version__}+g{commit}" if commit else __version__


# --- --set overrides ------------------------------------------------------------------------


def parse_overrides(items: list[str] | None, methods: list[str]) -> dict[str, dict[str, str]]:
    """``["lr=0.1", "dec.epochs=5"]`` -> per-method override dicts.

    ``key=value`` applies to every method of the grid (and must be valid for each of them);
    ``METHOD.key=value`` targets one method of the grid. Values stay strings here; they are
    converted and validated by ``methods.base.make_config`` against each method's Config.
    """
    per: dict[str, dict[str, str]] = {m: {} for m in methods}
    for item in items or []:
        if "=" not in item:
            raise ConfigError(f"--set {item!r} is not of the form key=value.", hint="Example: --set n_init=10 or --set kmeans.n_init=10.")
        key, value = item.split("=", 1)
        key = key.strip()
        if not key:
            raise ConfigError(f"--set {item!r} has an empty key.", hint="Example: --set n_init=10.")
        if "." in key:
            target, key = key.split(".", 1)
            if target not in per:
                raise ConfigError(
                    f"--set {item!r} targets method {target!r}, which is not in this run.",
                    hint=f"Methods of this run: {', '.join(methods)}. Use METHOD.key=value with one of them, or key=value for all.",
                )
            per[target][key] = value
        else:
            for m in per:
                per[m][key] = value
    return per


def resolve_configs(methods: list[str], overrides: list[str] | None,
                    dataset: str | None = None) -> dict[str, tuple[type, dict[str, Any]]]:
    """method name -> (Method class, resolved config as a JSON-able dict). Raises ConfigError /
    UnknownNameError for unknown methods and bad overrides (with the valid keys listed).

    With ``dataset``, the paper's settings of each method on that data set
    (:func:`clusterbench.plugins.dataset_settings`, e.g. DLS's ``latent_dim = 40`` on
    Fashion-MNIST) are defaults under the overrides: the user's ``--set`` wins."""
    # lazy: clusterbench.methods imports every method module (torch); only expansion needs them
    from clusterbench.methods import get_method
    from clusterbench.methods.base import config_dict, make_config

    classes = {m: get_method(m) for m in methods}
    per = parse_overrides(overrides, methods)
    out = {}
    for m, cls in classes.items():
        cfg = make_config(cls.Config, {**dataset_settings(m, dataset), **per[m]}, method=m)
        out[m] = (cls, json.loads(canonical_json(config_dict(cfg))))
    return out


# --- data sets and subsets ------------------------------------------------------------------


def dataset_info(name: str):
    """The :class:`DatasetInfo` of a registered data set, preparing embedded ones on first use.

    Raises UnknownNameError (closest names), DataError (not fetched yet: says ``clusterbench fetch
    NAME``; corrupt file).
    """
    spec = get_spec(name)
    path = paths.dataset_file(name)
    if not path.exists():
        if spec.source == "embedded":
            from clusterbench.data.fetch import fetch  # lazy: the download stack, for embedded sets only

            return fetch(name, progress=False)
        raise DataError(
            f"Data set {name!r} has not been fetched yet (no {path}).",
            hint=f"Run `clusterbench fetch {name}` first.",
        )
    info = read_info(path)
    verify_content(path, info)  # changed data is refused before anything runs (cached when unchanged)
    return info


def read_labels(path) -> np.ndarray:
    """The label vector ``y`` of a data set file (cheap: X is not read)."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            return f["y"][()]
    except (OSError, KeyError) as exc:
        raise DataError(
            f"The data file {path} is corrupt or truncated ({exc}).",
            hint="Run `clusterbench fetch NAME --force` to rebuild it.",
        ) from None


def stratified_subset(y: np.ndarray, n: int, *, seed: int = SUBSET_SEED) -> np.ndarray:
    """Sorted indices of a stratified random subset of ``n`` of the N labels ``y``.

    Each class gets ``n * count / N`` samples, rounded by largest remainder (ties to the larger
    class, then the smaller label), so class proportions are kept as closely as integers allow;
    within a class the samples are drawn without replacement by ``numpy.random.default_rng(seed)``.
    Deterministic for a given (y, n, seed).
    """
    y = np.asarray(y)
    N = y.size
    if not 0 < n <= N:
        raise ConfigError(f"A subset of {n} samples cannot be drawn from {N} samples.")
    classes, counts = np.unique(y, return_counts=True)
    quota = counts * (n / N)
    take = np.floor(quota).astype(np.int64)
    short = n - int(take.sum())
    if short:
        order = sorted(range(classes.size), key=lambda i: (-(quota[i] - take[i]), -counts[i], classes[i]))
        for i in order[:short]:
            take[i] += 1
    rng = np.random.default_rng(seed)
    picked = [rng.choice(np.flatnonzero(y == c), size=int(t), replace=False) for c, t in zip(classes, take) if t]
    return np.sort(np.concatenate(picked)) if picked else np.zeros(0, dtype=np.int64)


# --- the grid -------------------------------------------------------------------------------


def data_kind(name: str) -> tuple[tuple[int, ...], bool, int] | None:
    """``(sample_shape, sparse, n_clusters)`` of a data set without reading X: the HDF5
    attributes when it is fetched, else its registry entry (sparse: False; the stored file says);
    None when neither knows the sample shape (checked once the data set is fetched)."""
    spec = get_spec(name)
    path = paths.dataset_file(name)
    if path.exists():
        info = read_info(path)
        return tuple(info.sample_shape), bool(info.sparse), int(info.n_clusters)
    if spec.sample_shape is None:
        return None
    return tuple(spec.sample_shape), False, int(spec.n_clusters)


def incompatible_pairs(classes: dict[str, type], datasets: list[str]) -> list[tuple[str, str, str]]:
    """``(method, dataset, reason)`` of every pair whose :meth:`Method.incompatibility` refuses
    the data set's kind (:func:`data_kind`); no data is loaded. Raises UnknownNameError for an
    unknown data set."""
    out = []
    for d in datasets:
        kind = data_kind(d)
        if kind is None:
            continue
        shape, sparse, k = kind
        for m, cls in classes.items():
            why = cls.incompatibility(sample_shape=shape, sparse=sparse, n_clusters=k)
            if why:
                out.append((m, d, why))
    return out


def expand_grid(
    methods: list[str],
    datasets: list[str],
    *,
    seeds: int = 1,
    seed_start: int = 0,
    subset: int | None = None,
    overrides: list[str] | None = None,
    device: str = "auto",
    incompatible: list[tuple[str, str, str]] | None = None,
) -> list[RunSpec]:
    """Validate the request and expand it into run specs, ordered data set, method, seed.

    Raises ClusterbenchError subclasses for every user mistake (nothing has run yet). A method x
    data set pair that cannot run (:meth:`Method.incompatibility`, see :func:`incompatible_pairs`)
    is a ConfigError naming every such pair and its reason; with an ``incompatible`` list the
    pairs are appended to it as ``(method, dataset, reason)`` and left out instead (``check``).
    """
    if not methods:
        raise ConfigError("Name at least one method to run.", hint="Example: clusterbench run kmeans --dataset digits.")
    if not datasets:
        raise ConfigError("Name at least one data set with --dataset.", hint="`clusterbench datasets` lists them.")
    validate_seeds(seeds, seed_start)
    if subset is not None and subset < 1:
        raise ConfigError(f"--subset must be a positive number of samples, got {subset}.")
    methods = list(dict.fromkeys(methods))
    datasets = list(dict.fromkeys(datasets))
    configs = resolve_configs(methods, overrides)
    # plan-time compatibility, from the registry / HDF5 attributes (X is not read): every
    # impossible pair is named at once, before anything is fetched or run
    impossible = incompatible_pairs({m: cls for m, (cls, _) in configs.items()}, datasets)
    if impossible and incompatible is None:
        raise ConfigError(
            "Some method x data set pairs of this run cannot run: "
            + " ".join(f"{m} on {d}: {why}" for m, d, why in impossible),
            hint="Leave those methods or data sets out of this run (`clusterbench methods` and "
                 "`clusterbench datasets` say what each takes).",
        )
    if incompatible is not None:
        incompatible += impossible
    skip = {(m, d) for m, d, _ in impossible}
    version = code_version()
    specs: list[RunSpec] = []
    for d in datasets:
        if all((m, d) in skip for m in configs):
            continue
        info = dataset_info(d)
        n = info.n_samples
        if subset is not None and subset > n:
            raise ConfigError(
                f"--subset {subset} is larger than data set {d!r} ({n:,} samples).",
                hint=f"Give --subset {n} or less, or leave --subset out to use all samples.",
            )
        n_used = subset if subset is not None else n
        if info.n_clusters > n_used:
            raise ConfigError(
                f"Data set {d!r} has {info.n_clusters} clusters but the run would see only {n_used} samples.",
                hint="Use a larger --subset (at least the number of clusters), or all samples.",
            )
        if subset is not None:
            # read the labels now: a corrupt file or a subset without every class is caught here
            y = read_labels(info.path)
            idx = stratified_subset(y, subset)
            missing = info.n_clusters - np.unique(y[idx]).size
            if missing > 0 and np.unique(y).size == info.n_clusters:
                # odd but usable (metrics are defined): warn, do not refuse
                warnings.warn(
                    f"--subset {subset} of {d!r} leaves {missing} of its {info.n_clusters} classes without a "
                    "sample (proportional allocation rounds small classes to zero); use a larger --subset "
                    "to see every class.",
                    stacklevel=2,
                )
        per_dataset = resolve_configs(methods, overrides, d)  # the papers' settings on d, under --set
        for m, (cls, cfg) in per_dataset.items():
            if (m, d) in skip:
                continue
            why = cls.config_incompatibility(cfg, sample_shape=tuple(info.sample_shape), sparse=bool(info.sparse),
                                             n_clusters=int(info.n_clusters))
            if why:  # an option that cannot work on this data set: refused now, never a failed run
                if incompatible is None:
                    raise ConfigError(f"{m} on {d} cannot run with this configuration: {why}",
                                      hint="Change the --set values, or leave this method or data set out.")
                incompatible.append((m, d, why))
                continue
            ref = f"{cls.__module__}:{cls.__qualname__}"
            for s in range(seed_start, seed_start + seeds):
                specs.append(
                    RunSpec(
                        method=m, config=cfg, dataset=d, dataset_checksum=info.checksum, seed=s,
                        subset=subset, code_version=version, device=device, method_ref=ref,
                        n_clusters=info.n_clusters,
                    )
                )
    return specs
