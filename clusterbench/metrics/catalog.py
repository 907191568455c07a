"""THE metrics catalogue: every key a run record's ``metrics`` may hold, in one place.

An entry (:class:`Metric`) gives a key's display name, definition, direction (higher or lower is
better), format (natural scale and decimals) and the function that computes it, where the suite
computes it from a run's outputs. Everything that needs to know about a metric reads it here:

* :func:`clusterbench.metrics.record.record_metrics` computes every entry whose ``inputs`` are
  ``"labels"`` or ``"posterior"`` (and copies the ``"extras"`` ones a method reported);
* the report's table specs validate their metric keys against it, and "best of N" takes the max
  or the min by its direction; definition markers (Hungarian ACC vs purity) come from
  ``family``/``marker``;
* ``clusterbench check``'s tolerance bands read the direction through :func:`direction`;
* ``clusterbench report --metrics`` lists it.

Adding a metric = one :class:`Metric` entry below (or in a plug-in) + one function. Keys are
fixed (``"acc"``) or parameterised (``"reject_acc@{t}"``, ``"ssim@{c}"``): a parameterised
entry matches ``reject_acc@0.9`` when the parameter matches ``param`` (a regex), and, when
``values`` is given, is one of those values (what ``record_metrics`` actually records).

Plug-ins: a package adds entries through the entry-point group ``clusterbench.metrics``; the
entry point's value refers to a :class:`Metric` or a list/tuple of them::

    [project.entry-points."clusterbench.metrics"]
    my-metric = "my_package.metrics:MY_METRIC"

A plug-in entry whose key clashes with a built-in is refused with a warning (built-ins win); one
that fails to import is left out with a warning naming it. Computing functions are
``"module:function"`` references, imported on use (:meth:`Metric.function`).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any, Literal

from clusterbench.errors import UnknownNameError
from clusterbench.paths import name_problem
from clusterbench.plugins import load_ref, plugin_entry_points

Direction = Literal["max", "min"]
#: Where a metric's value comes from.
#: ``labels``: ``compute(y_true (N,), y_pred (N,)) -> float``, computed for every run;
#: ``posterior``: ``compute(y_true (N,), proba (N, K), param: float) -> float`` at each of ``values``;
#: ``extras``: copied from ``MethodOutput.extras[extra]`` when the method reports it;
#: ``evaluator``: written by an evaluator of the ``evaluate/`` layer (generated samples, codes);
#: ``timings``: derived from the record's timings by the report.
Inputs = Literal["labels", "posterior", "extras", "evaluator", "timings"]

#: Dual-AAE Table IV's reject-option thresholds (Sec. IV-E) and 0 (no rejection, its first row):
#: the one place they are set. ``record_metrics`` writes ``reject_acc@t`` / ``reject_rate@t`` at
#: these, and a table spec may only name these.
REJECT_THRESHOLDS: tuple[float, ...] = (0.0, 0.5, 0.6, 0.9)
#: The threshold grid of the reject-option *figure* (ACC vs rejection rate curve, 100 points).
REJECT_CURVE_THRESHOLDS: tuple[float, ...] = tuple(round(i / 100, 4) for i in range(100))


@dataclass(frozen=True)
class Metric:
    """One catalogue entry.

    key: the record key, or a template with one ``{name}`` placeholder (``"ssim@{c}"``).
    name: display name (``"ACC (Hungarian)"``). definition: one sentence, with the source.
    better: ``"max"`` (higher is better) or ``"min"``.
    scale, decimals: natural display format (value x scale, rounded to decimals).
    inputs: see :data:`Inputs`. compute: ``"module:function"`` that computes it (None where an
    evaluator or the report derives it). extra: the ``MethodOutput.extras`` key (inputs = extras).
    param: regex of the placeholder's values; values: the only values recorded (None: any match).
    family, marker: metrics that answer the same question differently (``accuracy``: ``acc`` =
    Hungarian, ``purity``) share a family; a table mixing them marks each cell with ``marker``.
    evaluator: the evaluator (``clusterbench.evaluate.EVALUATORS``) that writes it; a table spec's
    measured cell of such a metric must name it (``set = { evaluate = "fid" }``) so that the
    fill command the report prints runs it.
    """

    key: str
    name: str
    definition: str
    better: Direction = "max"
    scale: float = 1.0
    decimals: int = 3
    inputs: Inputs = "labels"
    compute: str | None = None
    extra: str | None = None
    param: str | None = None
    values: tuple[float, ...] | None = None
    family: str | None = None
    marker: str | None = None
    evaluator: str | None = None

    @property
    def parameterised(self) -> bool:
        return "{" in self.key

    def regex(self) -> str:
        """The regex of the concrete keys this entry matches."""
        if not self.parameterised:
            return re.escape(self.key)
        head, _, rest = self.key.partition("{")
        _, _, tail = rest.partition("}")
        if self.values is not None:
            alt = "|".join(re.escape(f"{v:g}") for v in self.values)
        else:
            alt = self.param or r"[^@]+"
        return f"{re.escape(head)}(?:{alt}){re.escape(tail)}"

    def concrete(self, value: float | str) -> str:
        """The record key for one parameter value (``reject_acc@{t}``, 0.5 -> ``reject_acc@0.5``)."""
        text = f"{value:g}" if isinstance(value, (int, float)) else str(value)
        head, _, rest = self.key.partition("{")
        return head + text + rest.partition("}")[2]

    def function(self) -> Callable[..., float]:
        """The computing function (imported now). LookupError when the catalogue gives none."""
        if self.compute is None:
            raise LookupError(f"metric {self.key!r} has no computing function in the catalogue "
                              f"(inputs = {self.inputs!r})")
        return load_ref(self.compute)


_C = "clusterbench.metrics.clustering"
_R = "clusterbench.metrics.reject"

#: The built-in entries, in the order ``report --metrics`` lists them.
BUILTIN_METRICS: tuple[Metric, ...] = (
    # clustering (metrics-reference.md section 1)
    Metric("acc", "ACC (Hungarian)", "one-to-one (Hungarian) clustering accuracy in [0, 1] on the square "
           "max(K, C) contingency matrix (DEC-keras definition)", compute=f"{_C}:acc",
           family="accuracy", marker="H"),
    Metric("purity", "ACC (purity)", "majority-class purity in [0, 1], many-to-one, >= Hungarian ACC (what "
           "ClusterGAN [Mukherjee], DLS and DC3-GAN call 'ACC')", compute=f"{_C}:purity",
           family="accuracy", marker="P"),
    Metric("nmi", "NMI (arithmetic)", "normalised mutual information, arithmetic mean of the entropies "
           "(sklearn >= 0.22 default)", compute=f"{_C}:nmi", family="nmi", marker="a"),
    Metric("nmi_geometric", "NMI (geometric)", "normalised mutual information, geometric mean of the "
           "entropies (sklearn <= 0.21 default)", compute=f"{_C}:nmi_geometric", family="nmi", marker="g"),
    Metric("ari", "ARI", "adjusted Rand index, in [-0.5, 1]", compute=f"{_C}:ari"),
    # reject option (Dual-AAE Table IV; metrics-reference.md section 2)
    Metric("reject_acc@{t}", "ACC with reject option", "Hungarian ACC on the samples whose max posterior is "
           "> t (mapping fitted on all samples)", inputs="posterior", compute=f"{_R}:reject_acc",
           values=REJECT_THRESHOLDS, family="accuracy", marker="H"),
    Metric("reject_rate@{t}", "rejection rate", "fraction of samples rejected (max posterior <= t)", "min",
           inputs="posterior", compute=f"{_R}:reject_rate", values=REJECT_THRESHOLDS),
    # generated samples (Dual-AAE Table II; DC3 Tables 1, 2, 7)
    Metric("modes", "modes covered", "number of classes covered by generated samples, classified by a "
           "pretrained classifier (Dual-AAE Table II)", inputs="extras", extra="modes_generated", decimals=2),
    Metric("kl", "KL(q(y) || p(y))", "KL divergence of the predicted-label histogram of generated samples "
           "from the uniform prior, in nats (Dual-AAE Table II)", "min", inputs="extras", extra="modes_kl", decimals=4),
    Metric("fid", "FID", "Frechet distance between Gaussian fits (mean, covariance) of feature-network "
           "activations of fid_samples generated and fid_samples real samples (metrics-reference section 4), with "
           "one of two feature networks (--set fid_network=): 'inception' = Inception-v3 pool3, 2048-d, as "
           "pytorch-fid computes it (the usual FID; DC3 Table 7), or 'mnist-cnn' = the 128-d penultimate layer of "
           "the suite's MNIST-style classifier trained on eval_classifier (1x28x28 only; DC3 Table 1, whose sub-2 "
           "values cannot be Inception values). Values of different networks or sample counts are not comparable: "
           "the record names the network (extras.evaluation.fid.fid_network) and the counts, and a table spec "
           "names the network its cells need", "min", inputs="evaluator", decimals=2, evaluator="fid"),
    Metric("ssim@{c}", "SSIM (class c)", "mean SSIM of 200 random pairs of samples generated from the cluster "
           "matched to class c (DC3 Table 2; lower = more diverse)", "min", inputs="evaluator", param=r"\d+",
           evaluator="ssim"),
    # disentanglement (dSprites; metrics-reference.md section 6)
    Metric("factorvae", "FactorVAE score", "FactorVAE disentanglement score (disentanglement_lib)", inputs="evaluator",
           evaluator="disentanglement"),
    Metric("dci", "DCI disentanglement", "DCI disentanglement (disentanglement_lib)", inputs="evaluator",
           evaluator="disentanglement"),
    Metric("sap", "SAP", "SAP score (disentanglement_lib)", inputs="evaluator",
           evaluator="disentanglement"),
    Metric("explicitness", "explicitness", "explicitness (disentanglement_lib)", inputs="evaluator",
           evaluator="disentanglement"),
    Metric("modularity", "modularity", "modularity (disentanglement_lib)", inputs="evaluator",
           evaluator="disentanglement"),
    Metric("mig", "MIG", "mutual information gap (disentanglement_lib)", inputs="evaluator",
           evaluator="disentanglement"),
    Metric("betavae", "BetaVAE score", "BetaVAE score (disentanglement_lib)", inputs="evaluator",
           evaluator="disentanglement"),
    # hash retrieval (metrics-reference.md section 7)
    Metric("precision@1000", "precision@1000", "retrieval precision of the top 1000 by Hamming distance, "
           "in [0, 1]", inputs="evaluator"),
    Metric("map", "mAP", "retrieval mean average precision over the whole gallery, in [0, 1]", inputs="evaluator"),
    Metric("map@1000", "mAP@1000", "retrieval mean average precision of the top 1000, in [0, 1]", inputs="evaluator"),
    # time
    Metric("epoch_seconds", "seconds per epoch", "mean wall-clock seconds per training epoch (from the "
           "record's timings['epoch_s'] when the metric is absent)", "min", inputs="timings", decimals=2),
)


def _as_metrics(obj: Any, name: str) -> list[Metric]:
    items = list(obj) if isinstance(obj, (list, tuple)) else [obj]
    bad = [x for x in items if not isinstance(x, Metric)]
    if bad:
        raise TypeError(f"entry point {name!r} must refer to a clusterbench.metrics.catalog.Metric "
                        f"or a list of them, got {type(bad[0]).__name__}")
    return items


@lru_cache(maxsize=None)
def _catalogue() -> tuple[Metric, ...]:
    entries = list(BUILTIN_METRICS)
    keys = {m.key for m in entries}
    for name, ep in plugin_entry_points("metrics").items():
        try:
            found = _as_metrics(ep.load(), name)
        except Exception as exc:  # a broken plug-in must not take the suite down
            warnings.warn(f"Plug-in metric {name!r} ({ep.value}) could not be loaded "
                          f"({type(exc).__name__}: {exc}); it is left out.", stacklevel=2)
            continue
        for m in found:
            if name_problem(m.concrete(0)) is not None:
                warnings.warn(f"Plug-in metric {m.key!r} ({ep.value}) is left out: its key is not a plain name "
                              f"({name_problem(m.concrete(0))}). Rename it.", stacklevel=2)
                continue
            if m.key in keys:
                warnings.warn(f"Plug-in metric {m.key!r} ({ep.value}) has the key of a catalogue entry; "
                              "the built-in is used. Rename it.", stacklevel=2)
                continue
            keys.add(m.key)
            entries.append(m)
    return tuple(entries)


def catalogue() -> tuple[Metric, ...]:
    """Every entry: the built-ins, then the plug-ins' (entry-point group ``clusterbench.metrics``)."""
    return _catalogue()


def clear_cache() -> None:
    """Forget the loaded plug-ins (after changing ``sys.path`` or installed packages, in tests)."""
    _catalogue.cache_clear()
    plugin_entry_points.cache_clear()


def lookup(key: str) -> Metric:
    """The entry of a concrete metric key (``"acc"``, ``"reject_acc@0.9"``), with ``key`` set to it.

    Raises UnknownNameError (listing the valid keys and templates) for a key no entry matches.
    """
    for m in catalogue():
        if m.key == key:
            return m
        if m.parameterised and re.fullmatch(m.regex(), key):
            return replace(m, key=key)
    raise UnknownNameError("metric", key, [m.key for m in catalogue()])


def direction(key: str) -> Direction:
    """``"max"`` when higher is better, ``"min"`` when lower is; ``"max"`` for a key the catalogue
    does not know (a method's own extra metric; documented default for the regression bands)."""
    try:
        return lookup(key).better
    except UnknownNameError:
        return "max"


def recorded(inputs: Iterable[str]) -> list[Metric]:
    """The entries whose value comes from one of ``inputs`` (see :data:`Inputs`), in order."""
    wanted = set(inputs)
    return [m for m in catalogue() if m.inputs in wanted]


__all__ = ["BUILTIN_METRICS", "Direction", "Metric", "REJECT_CURVE_THRESHOLDS", "REJECT_THRESHOLDS",
           "catalogue", "clear_cache", "direction", "lookup", "recorded"]
