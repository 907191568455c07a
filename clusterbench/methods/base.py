"""The Method contract shared by every clustering method (baselines and deep models).

A method is a class with
  * ``name``: its registry id (``METHODS`` key),
  * ``Config``: a dataclass whose defaults are the paper's hyper-parameters (the docstring cites
    the table or section each default comes from, and says where the paper was silent and what the
    reference code does instead),
  * ``fit(X, n_clusters, *, seed, device, workdir, monitor=None) -> MethodOutput``.

``monitor`` is an optional callable ``monitor(proba) -> dict[str, float]`` that the runner builds
from the labels so deep methods can log ACC/NMI per epoch: a method never sees the labels.
Deep methods do not write their own loop: they implement the training-step interface of
``clusterbench.training.contract`` and call the single loop of ``clusterbench.training.loop``.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from clusterbench.errors import ConfigError

Monitor = Callable[[np.ndarray], dict[str, float]]


@dataclass
class MethodOutput:
    """What ``fit`` returns.

    proba: N x K soft assignments, rows sum to 1 (one-hot for hard clusterers); None only for
    methods that declare ``clusters = False`` (generator-only, e.g. WGAN-GP).
    embedding: N x d latent representation where the method has one.
    history: one dict per epoch (losses, monitor metrics, seconds).
    artifacts: name -> file written under ``workdir`` (checkpoints, PNG sample grids).
    extras: small JSON-able facts for the record (e.g. the cluster histogram).
    generator: generative methods only (``Method.generative``): ``generator(n, cluster=None, *,
    seed=0) -> n x sample-shape float32 array`` of samples from the fitted model's prior (of one
    cluster when given), in the data's value range; the runner's evaluators
    (``clusterbench.evaluate``) score them. Not stored in the record.
    encoder: methods whose inference network an evaluator scores (the disentanglement scores):
    ``encoder(x: B x sample-shape float32 array) -> B x d`` mean codes. Not stored in the record.
    """

    proba: np.ndarray | None
    embedding: np.ndarray | None = None
    history: list[dict[str, float]] = field(default_factory=list)
    artifacts: dict[str, Path] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)
    generator: Callable[..., np.ndarray] | None = None
    encoder: Callable[[np.ndarray], np.ndarray] | None = None

    @property
    def labels(self) -> np.ndarray | None:
        return None if self.proba is None else np.asarray(self.proba).argmax(axis=1)

    def validate(self, n_samples: int, *, clusters: bool = True) -> None:
        """Check the posterior; ``clusters=False`` (the method's declared capability) allows None."""
        if self.proba is None:
            if clusters:
                raise ValueError("proba is None, but the method declares clusters=True")
            return
        if not clusters:
            raise ValueError("a method that declares clusters=False must return proba=None")
        p = np.asarray(self.proba)
        if p.ndim != 2 or p.shape[0] != n_samples:
            raise ValueError(f"proba must be N x K with N={n_samples}, got shape {p.shape}")
        if not np.isfinite(p).all():
            raise FloatingPointError("proba contains NaN or infinite values (the run diverged)")
        if not np.allclose(p.sum(axis=1), 1.0, atol=1e-3):
            raise ValueError("proba rows must sum to 1")


class Method:
    """Base class: holds the resolved config. Subclasses set ``name``, ``Config`` and ``fit``."""

    name: ClassVar[str] = ""
    Config: ClassVar[type] = object

    # Declared capabilities (read by the runner, the evaluators, ``check`` and ``methods``;
    # never probed with hasattr):
    #: True for methods that use torch (they accept device="cuda").
    deep: ClassVar[bool] = False
    #: True for methods whose fitted model can generate samples (``MethodOutput.generator``):
    #: generation evaluators (mode counting, FID, SSIM) run on them.
    generative: ClassVar[bool] = False
    #: False for methods that only generate (WGAN-GP): no cluster posterior, no ACC/NMI.
    clusters: ClassVar[bool] = True
    #: True when ``fit`` takes a scipy.sparse CSR matrix (Reuters tf-idf).
    accepts_sparse: ClassVar[bool] = True
    #: Input families the method takes: "vector" (N x D) and/or "image" (N x C x H x W).
    inputs: ClassVar[frozenset[str]] = frozenset({"vector", "image"})
    #: True for methods that also give binary hash codes (``hash_codes(X)`` after ``fit``, option
    #: ``hash_bits``): the retrieval protocol (``clusterbench retrieval``) can evaluate them.
    hashes: ClassVar[bool] = False
    #: True for methods whose ``fit`` reads X batch by batch and never needs all of it in memory:
    #: the runner then leaves X in its file (a StoredArray, decoded per batch) whatever the RAM
    #: (dSprites: 3 GB of uint8 on disk instead of 12 GB of float32 in RAM and on the GPU).
    out_of_core: ClassVar[bool] = False
    #: Classical methods: the exponent a of the fit time t ~ N^a that ``reproduce``'s plan uses to
    #: extrapolate its calibration on a subset to the whole data set (None: measured from two subset
    #: sizes, which is noisy on a loaded machine).
    time_complexity: ClassVar[float | None] = None

    @classmethod
    def incompatibility(cls, *, sample_shape: tuple[int, ...], sparse: bool, n_clusters: int) -> str | None:
        """Why this method cannot run on data of this kind (None when it can): checked at plan
        time, before any data is loaded, so an impossible (method, data set) pair is refused with
        its reason instead of being recorded as a failed run. Subclasses with narrower needs
        (one image size, one family) extend it."""
        family = "image" if len(sample_shape) == 3 else "vector"
        if family not in cls.inputs:
            return (f"{cls.name or cls.__name__} takes {' or '.join(sorted(cls.inputs))} data; "
                    f"this data set has samples of shape {tuple(sample_shape)} ({family}).")
        if sparse and not cls.accepts_sparse:
            return f"{cls.name or cls.__name__} does not accept sparse input."
        if n_clusters < 2:
            return f"n_clusters must be >= 2, got {n_clusters}."
        return None

    @classmethod
    def config_incompatibility(cls, config: dict[str, Any], *, sample_shape: tuple[int, ...], sparse: bool,
                               n_clusters: int) -> str | None:
        """Why this method with the resolved ``config`` (a dict, as in the run key) cannot run on
        data of this kind, or None: checked at plan time like :meth:`incompatibility` (no data
        loaded), for options that need other data or a file that is missing."""
        return None

    def __init__(self, config: Any | None = None) -> None:
        self.config = config if config is not None else self.Config()

    def fit(
        self,
        X: Any,
        n_clusters: int,
        *,
        seed: int,
        device: str = "cpu",
        workdir: Path | None = None,
        monitor: Monitor | None = None,
    ) -> MethodOutput:
        raise NotImplementedError


def one_hot(labels: np.ndarray, n_clusters: int | None = None) -> np.ndarray:
    """N integer labels -> N x K one-hot float64 (K = max label + 1 when not given)."""
    labels = np.asarray(labels, dtype=np.int64)
    k = int(n_clusters if n_clusters is not None else labels.max() + 1)
    out = np.zeros((labels.size, max(k, int(labels.max()) + 1)), dtype=np.float64)
    out[np.arange(labels.size), labels] = 1.0
    return out


# --- configuration as data -----------------------------------------------------------------


def config_dict(config: Any) -> dict[str, Any]:
    """A config dataclass as a plain JSON-able dict (for run keys and records)."""
    return dataclasses.asdict(config)


def _coerce(value: str, typ: Any, key: str) -> Any:
    origin = typing.get_origin(typ)
    args = typing.get_args(typ)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        if value.lower() in ("none", "null") and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(value, a, key)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(f"--set {key}={value}: not a valid {typ}.")
    if origin is typing.Literal:
        if value in [str(a) for a in args]:
            return next(a for a in args if str(a) == value)
        raise ConfigError(f"--set {key}={value}: must be one of {', '.join(map(str, args))}.")
    if origin in (tuple, list):
        items = [v for v in value.strip("()[]").split(",") if v.strip()]
        inner = args[0] if args else str
        conv = [_coerce(v.strip(), inner, key) for v in items]
        return tuple(conv) if origin is tuple else conv
    try:
        if typ is bool:
            if value.lower() in ("1", "true", "yes", "on"):
                return True
            if value.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if typ is int:
            return int(value)
        if typ is float:
            return float(value)
        if typ is str:
            return value
    except ValueError:
        raise ConfigError(f"--set {key}={value}: expected {getattr(typ, '__name__', typ)}.") from None
    raise ConfigError(f"--set {key}: options of type {typ} cannot be set from the command line.")


def make_config(config_cls: type, overrides: dict[str, str | Any] | None = None, *, method: str = "") -> Any:
    """Build ``config_cls`` with ``overrides`` (strings from ``--set key=value`` are converted).

    Unknown keys and values of the wrong type raise :class:`ConfigError` listing the valid keys.
    """
    overrides = dict(overrides or {})
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    hints = typing.get_type_hints(config_cls)
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        valid = ", ".join(f"{k} ({getattr(hints[k], '__name__', hints[k])})" for k in fields)
        raise ConfigError(
            f"Unknown option(s) {', '.join(unknown)} for method {method or config_cls.__name__}.",
            hint=f"Valid keys: {valid}.",
        )
    kwargs = {}
    for k, v in overrides.items():
        kwargs[k] = _coerce(v, hints[k], k) if isinstance(v, str) and hints[k] is not str else v
    try:
        cfg = config_cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"Invalid configuration for {method or config_cls.__name__}: {exc}") from None
    problem = config_value_problem(cfg)
    if problem:
        raise ConfigError(f"Invalid configuration for {method or config_cls.__name__}: {problem}.")
    return cfg


#: Name conventions every Config follows (checked by :func:`config_value_problem`, so a value a
#: run would reject is refused at plan time): fields ending with these are fractions in [0, 1).
#: Other fractions (Adam's beta1 — the papers' "beta1..beta4" are loss weights, not fractions)
#: say so in their field metadata: ``field(default=0.5, metadata=UNIT_INTERVAL)``.
UNIT_INTERVAL_SUFFIXES = ("dropout", "corruption")
UNIT_INTERVAL = {"unit_interval": True}


def config_value_problem(cfg: Any) -> str | None:
    """The first value of ``cfg`` that no run could accept, or None. Generic rules over every
    Config (a Config's own ``__post_init__`` adds the rest): numbers are finite; a number whose
    default is >= 0 (counts, sizes, rates, weights, tolerances) is >= 0; names ending with one
    of :data:`UNIT_INTERVAL_SUFFIXES`, or with :data:`UNIT_INTERVAL` metadata, are in [0, 1)."""
    for f in dataclasses.fields(cfg):
        v = getattr(cfg, f.name)
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            continue
        if isinstance(v, float) and not math.isfinite(v):
            return f"{f.name}={v} is not a finite number"
        default = f.default if f.default is not dataclasses.MISSING else None
        if isinstance(default, (int, float)) and not isinstance(default, bool) and default >= 0 and v < 0:
            return f"{f.name}={v} must be >= 0"
        if (f.name.endswith(UNIT_INTERVAL_SUFFIXES) or f.metadata.get("unit_interval")) and not 0 <= v < 1:
            return f"{f.name}={v} must be in [0, 1)"
    return None
