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
``clusterbench.methods.training`` and call its single loop.
"""

from __future__ import annotations

import dataclasses
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

    proba: N x K soft assignments, rows sum to 1 (one-hot for hard clusterers).
    embedding: N x d latent representation where the method has one.
    history: one dict per epoch (losses, monitor metrics, seconds).
    artifacts: name -> file written under ``workdir`` (checkpoints, PNG sample grids).
    extras: small JSON-able facts for the record (e.g. the cluster histogram, generated-mode counts).
    """

    proba: np.ndarray
    embedding: np.ndarray | None = None
    history: list[dict[str, float]] = field(default_factory=list)
    artifacts: dict[str, Path] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def labels(self) -> np.ndarray:
        return np.asarray(self.proba).argmax(axis=1)

    def validate(self, n_samples: int) -> None:
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
    return cfg
