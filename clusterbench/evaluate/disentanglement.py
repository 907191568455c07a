"""Disentanglement scores (DC3 Table 3; metrics-reference §6): the seven disentanglement_lib scores
of the fitted method's encoder (``MethodOutput.encoder``: its *mean* codes, as the library's
``mean_representation``) against the generative factors the data set stores
(``extra/latents_classes``: dSprites' shape, scale, orientation, posX, posY; the constant colour
is dropped), computed by :func:`clusterbench.metrics.disentanglement_data.scores`.

The scores sample factors (a full factorial design: one stored image per combination) and read
and encode only those rows of X, a batch at a time; X may stay in its file (StoredArray). Sample
sizes are the library's defaults (``unsupervised_study_v1``: 10,000 train / 5,000 eval, ...) times
``disentanglement_scale`` (1.0 by default; smaller only for smoke runs: the facts say which), and
the scores' random seed is 0 whatever the run's seed (the library's ``evaluation.random_seed=0``),
so two runs differ only by their models.

Skipped (with the reason in the record) when the method has no encoder, the data set stores no
factor labels, or the run used a ``--subset`` (not a full factorial design).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from clusterbench import paths
from clusterbench.errors import DataError
from clusterbench.evaluate import EvalContext, EvalResult, SkipEvaluator
from clusterbench.metrics.disentanglement_data import FACTORS_KEY, read_factors, scores

#: The seven metric keys (the metrics catalogue's disentanglement entries).
KEYS = ("betavae", "factorvae", "dci", "sap", "mig", "modularity", "explicitness")
#: disentanglement_lib's ``evaluation.random_seed`` in every metric config of the study.
SCORE_SEED = 0


def evaluate_disentanglement(ctx: EvalContext) -> EvalResult:
    """Metrics: the seven scores; facts: factor sizes, rows read, sample scale, representation."""
    if ctx.dataset is None:
        raise SkipEvaluator("disentanglement needs the run's data set (its stored factor labels).")
    path = paths.dataset_file(ctx.dataset)
    try:
        factors = read_factors(path)
    except DataError as exc:
        raise SkipEvaluator(f"{ctx.dataset} stores no factor labels ({FACTORS_KEY}): {exc}") from None
    if ctx.indices is not None:
        raise SkipEvaluator("disentanglement needs all samples of the data set (a full factorial design); "
                            "this run used a --subset.")
    scale = float(ctx.option("disentanglement_scale", 1.0))
    try:
        res: dict[str, Any] = scores(ctx.real, factors, ctx.encoder, seed=SCORE_SEED, scale=scale)
    except ValueError as exc:  # some factor combination has no sample
        raise SkipEvaluator(f"disentanglement: {exc}") from None
    metrics = {k: float(res[k]) for k in KEYS}
    if not all(np.isfinite(v) for v in metrics.values()):
        raise FloatingPointError(f"disentanglement scores are not finite: {metrics}")
    facts = {"factor_sizes": res["factor_sizes"], "rows_read": res["rows_read"], "sample_scale": res["sample_scale"],
             "score_seed": SCORE_SEED, "representation": "encoder mean codes (MethodOutput.encoder)",
             "definitions": "disentanglement_lib unsupervised_study_v1 (metrics-reference section 6)"}
    return EvalResult(metrics=metrics, facts=facts)
