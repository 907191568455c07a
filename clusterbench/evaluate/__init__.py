"""Evaluators: scores computed by the runner after ``fit`` on what a fitted method exposes.

A method never loads data sets and never scores itself beyond its posterior. A generative method
(``Method.generative``) hands back ``MethodOutput.generator`` (``(n, cluster=None, *, seed=0) ->
n x sample-shape numpy array`` in the data's value range); the runner then runs the evaluators
the run's configuration asks for and merges their metrics into the record and their facts into
``record.extras["evaluation"][name]``.

Which evaluators run (configuration as data, part of the run key like every option):
``--set evaluate=modes,fid,ssim`` on a deep method (``DeepConfig.evaluate``; empty by default, so
skipping them costs nothing). ``--set count_modes=true`` (the Table II option of the first
version) still works and means ``evaluate`` includes ``modes``. Evaluator options live in the same
config (``mode_samples``, ``fid_samples``, ``fid_network``, ``fid_real``, ``ssim_pairs``, ``eval_classifier``);
they are bookkeeping for the training loop (not in a checkpoint's fingerprint).

An evaluator that does not apply (a method that does not generate, samples of another shape) is
skipped, and the reason is recorded (``extras["evaluation"][name] = {"skipped": reason}``): a
grid of several methods with one ``--set evaluate=...`` never fails on that account.

The registry :data:`EVALUATORS` is data: name -> :class:`Evaluator` (its requirements and the
``"module:function"`` that computes it, imported only when it runs).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from clusterbench.errors import UnknownNameError
from clusterbench.plugins import load_ref

#: ``generator(n, cluster=None, *, seed=0) -> n x sample-shape float32 array``.
Generator = Callable[..., np.ndarray]

#: FID feature networks (``--set fid_network=...``): name -> what the features are (the one
#: place: ``evaluate.fid`` records it, the report prints it under tables that name the network).
#: DC3 Table 1's sub-2 MNIST/Fashion values cannot be Inception values (metrics-reference §4),
#: so tables name the network and only runs with that network fill them.
FID_NETWORKS: dict[str, str] = {
    "mnist-cnn": "the 128-d penultimate layer (post-ReLU) of the suite's Keras-style mnist_cnn classifier "
                 "trained on eval_classifier's training split (1x28x28 grey images only)",
    "inception": "Inception-v3 pool3 (2048-d) as pytorch-fid computes it (TF-FID weights "
                 "pt_inception-2015-12-05-6726825d.pth, bilinear resize to 299x299)",
}
#: ``fid_network`` values: the networks, and ``auto`` (mnist-cnn for 1x28x28, inception otherwise).
FID_NETWORK_OPTIONS: tuple[str, ...] = ("auto", *FID_NETWORKS)

#: Config keys the evaluators read (never the method): excluded from a checkpoint's fingerprint.
EVAL_OPTION_KEYS: tuple[str, ...] = (
    "evaluate", "count_modes", "mode_samples", "fid_samples", "fid_network", "ssim_pairs", "eval_classifier",
    "fid_real",
    "disentanglement_scale",
)


@dataclass
class EvalContext:
    """What an evaluator gets: the fitted method's generator, the run's facts, the real data.

    generator: see :data:`Generator` (None when the method does not generate).
    sample_shape: per-sample shape of the data (C x H x W for images).
    n_clusters: K of the run. seed: the run's seed (evaluators draw their samples from it).
    device: torch device string of the run. real: the run's data X (N x sample shape, the
    subset when the run used one), from the runner; None when not given.
    options: the run's resolved config dict (evaluator options such as ``fid_samples``).
    encoder: the fitted method's ``MethodOutput.encoder`` (B x sample shape -> B x d mean codes),
    None when it has none. dataset: the run's data set id; indices: the rows of it the run used
    (``--subset``), None for all (evaluators that read the data set's stored extras need both).
    """

    generator: Generator | None
    sample_shape: tuple[int, ...]
    n_clusters: int
    seed: int = 0
    device: str = "cpu"
    real: Any = None
    options: dict[str, Any] = field(default_factory=dict)
    encoder: Callable[[np.ndarray], np.ndarray] | None = None
    dataset: str | None = None
    indices: np.ndarray | None = None

    def option(self, key: str, default: Any) -> Any:
        v = self.options.get(key)
        return default if v is None else v


@dataclass
class EvalResult:
    """metrics: metric key -> float (merged into ``record.metrics``); facts: JSON-able details
    (``record.extras["evaluation"][name]``); extras: top-level record extras (kept for records of
    the first version, e.g. ``modes_generated``)."""

    metrics: dict[str, float] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)


class SkipEvaluator(Exception):
    """Raised by an evaluator that finds, once running, that it does not apply to this run (e.g.
    the chosen feature network takes another image shape): recorded as ``{"skipped": reason}``."""


@dataclass(frozen=True)
class Evaluator:
    """One registry entry.

    ref: ``"module:function"``, ``function(ctx: EvalContext) -> EvalResult``.
    needs_generator: applies only to generative methods.
    needs_clusters: needs per-cluster samples (``generator(n, cluster=k)``): not for methods that
    declare ``clusters = False`` (generator-only, WGAN-GP).
    sample_shapes: the per-sample shapes it accepts (None: any); image_only: C x H x W only;
    min_side: the smallest H and W it accepts (SSIM's 11 x 11 window).
    needs_real: needs the run's data (``ctx.real``).
    needs_encoder: needs the method's encoder (``ctx.encoder``, ``MethodOutput.encoder``).
    """

    name: str
    ref: str
    description: str
    needs_generator: bool = True
    needs_clusters: bool = False
    sample_shapes: tuple[tuple[int, ...], ...] | None = None
    image_only: bool = False
    min_side: int = 0
    needs_real: bool = False
    needs_encoder: bool = False

    def skip_reason(self, *, generative: bool, sample_shape: tuple[int, ...], clusters: bool = True) -> str | None:
        """Why this evaluator does not apply to a run (None when it does)."""
        if self.needs_generator and not generative:
            return f"{self.name} needs a generative method (MethodOutput.generator); this one does not generate."
        if self.needs_clusters and not clusters:
            return f"{self.name} needs per-cluster samples; this method does not cluster (clusters = False)."
        if self.image_only and len(sample_shape) != 3:
            return f"{self.name} needs image data (C x H x W); samples have shape {tuple(sample_shape)}."
        if self.min_side and len(sample_shape) == 3 and min(sample_shape[1:]) < self.min_side:
            return (f"{self.name} needs images of at least {self.min_side}x{self.min_side} pixels; these are "
                    f"{sample_shape[1]}x{sample_shape[2]}.")
        if self.sample_shapes is not None and tuple(sample_shape) not in self.sample_shapes:
            want = " or ".join("x".join(map(str, s)) for s in self.sample_shapes)
            return f"{self.name} needs samples of shape {want}; these have shape {'x'.join(map(str, sample_shape))}."
        return None


#: name -> evaluator. Adding an evaluator = one entry here + its function.
EVALUATORS: dict[str, Evaluator] = {
    "modes": Evaluator(
        "modes", "clusterbench.evaluate.modes:evaluate_modes",
        "Dual-AAE Table II: modes covered and KL(q(y)||uniform) of mode_samples generated samples, "
        "labelled by the cached MNIST classifier",
        sample_shapes=((1, 28, 28),),
    ),
    "fid": Evaluator(
        "fid", "clusterbench.evaluate.fid:evaluate_fid",
        "Frechet distance between fid_samples real and fid_samples generated samples in a feature "
        "network's space (fid_network: mnist-cnn for 1x28x28, inception otherwise)",
        image_only=True, needs_real=True,
    ),
    "ssim": Evaluator(
        "ssim", "clusterbench.evaluate.ssim:evaluate_ssim",
        "DC3 Table 2: mean single-scale SSIM of ssim_pairs random pairs of samples generated from each "
        "cluster, clusters matched to classes by the MNIST classifier (ssim@<class>)",
        image_only=True, needs_clusters=True, min_side=11,
    ),
    "disentanglement": Evaluator(
        "disentanglement", "clusterbench.evaluate.disentanglement:evaluate_disentanglement",
        "DC3 Table 3: the seven disentanglement_lib scores (BetaVAE, FactorVAE, DCI, SAP, MIG, modularity, "
        "explicitness) of the encoder's mean codes against the data set's stored factor labels (dSprites), "
        "sampling factors at the library's sample sizes x disentanglement_scale",
        needs_generator=False, needs_real=True, needs_encoder=True,
    ),
}


def evaluator_names(config: dict[str, Any]) -> list[str]:
    """The evaluator names a config asks for, as written, in order of first mention, without
    checking them: ``evaluate`` (a list/tuple of names or a comma-separated string) plus
    ``modes`` when the legacy ``count_modes`` is true. (The report matches runs with it: a run
    with ``evaluate=fid,ssim`` has what a table's ``evaluate=fid`` asks.)"""
    raw = config.get("evaluate") or ()
    names = [str(n).strip() for n in (raw.split(",") if isinstance(raw, str) else raw) if str(n).strip()]
    if config.get("count_modes") and "modes" not in names:
        names.insert(0, "modes")
    return list(dict.fromkeys(names))


def requested(config: dict[str, Any]) -> list[str]:
    """:func:`evaluator_names` of a run's resolved config; unknown names raise UnknownNameError."""
    names = evaluator_names(config)
    for n in names:
        if n not in EVALUATORS:
            raise UnknownNameError("evaluator", n, EVALUATORS)
    return names


def _load(ref: str) -> Callable[[EvalContext], EvalResult]:
    return load_ref(ref)


def run_evaluators(names: list[str], ctx: EvalContext, *, generative: bool, clusters: bool = True) -> EvalResult:
    """Run ``names`` on ``ctx``; one merged :class:`EvalResult` whose ``facts`` map each
    evaluator name to its facts (with ``seconds``) or to ``{"skipped": reason}``."""
    total = EvalResult()
    for name in names:
        ev = EVALUATORS[name]
        reason = ev.skip_reason(generative=generative and ctx.generator is not None, sample_shape=ctx.sample_shape,
                                clusters=clusters)
        if reason is None and ev.needs_real and ctx.real is None:
            reason = f"{name} needs the run's real data, which the caller did not pass."
        if reason is None and ev.needs_encoder and ctx.encoder is None:
            reason = f"{name} needs the method's encoder (MethodOutput.encoder); this method has none."
        if reason is not None:
            total.facts[name] = {"skipped": reason}
            continue
        t0 = time.perf_counter()
        try:
            res = _load(ev.ref)(ctx)
        except SkipEvaluator as exc:
            total.facts[name] = {"skipped": str(exc)}
            continue
        total.metrics.update(res.metrics)
        total.extras.update(res.extras)
        total.facts[name] = {**res.facts, "seconds": time.perf_counter() - t0}
    return total


def evaluate_run(config: dict[str, Any], *, generator: Generator | None, generative: bool, clusters: bool,
                 sample_shape: tuple[int, ...], n_clusters: int, seed: int, device: str,
                 real: Any, encoder: Callable[[np.ndarray], np.ndarray] | None = None,
                 dataset: str | None = None, indices: np.ndarray | None = None) -> EvalResult | None:
    """The runner's one call after ``fit``: the evaluators ``config`` requests (None when none).

    The result's ``extras`` plus ``{"evaluation": facts}`` go into the record's extras and its
    ``metrics`` into the record's metrics.
    """
    names = requested(config)
    if not names:
        return None
    ctx = EvalContext(generator=generator, sample_shape=tuple(sample_shape), n_clusters=int(n_clusters),
                      seed=int(seed), device=device, real=real, options=dict(config), encoder=encoder,
                      dataset=dataset, indices=indices)
    return run_evaluators(names, ctx, generative=generative, clusters=clusters)


__all__ = ["EVALUATORS", "EVAL_OPTION_KEYS", "FID_NETWORKS", "FID_NETWORK_OPTIONS", "EvalContext", "EvalResult",
           "Evaluator", "Generator", "SkipEvaluator", "evaluate_run", "evaluator_names", "requested", "run_evaluators"]
