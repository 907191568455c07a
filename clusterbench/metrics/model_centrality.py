"""ModelCentrality (Lin et al., "InfoGAN-CR and ModelCentrality", ICML 2020): unsupervised
selection of the most disentangled model of a pool (DC3 Table 3's "+ MC" rows).

For two models i and j of the pool, model j's *generator* serves as the ground truth: its
latent codes are the factors, and model i's *encoder* is the representation scored with the
FactorVAE metric (:func:`clusterbench.metrics.disentanglement.factor_vae_score`). The pairwise
similarity is symmetrised, ``S_ij = (FactorVAE(i | j) + FactorVAE(j | i)) / 2``; a model's
centrality is its mean similarity to the other models, and the selected model is the most
central one (the model the others agree with most).

Choices where the paper leaves room, written here: continuous codes (uniform on
``code_range``, InfoGAN-CR's [−1, 1]) are factors with ``grid`` equally spaced values (a
FactorVAE vote fixes one code at one of them and resamples the rest); the generator's
non-code noise is drawn fresh for every batch; FactorVAE sample sizes default to the library's
(10,000 / 5,000 votes) and can be shrunk for smoke runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from clusterbench.metrics.disentanglement import FunctionGroundTruth, factor_vae_score


@dataclass
class PoolModel:
    """One trained model of the pool.

    generate: (n, n_codes) codes in ``code_range`` -> (n, ...) samples (noise drawn inside).
    encode: (n, ...) samples -> (n, d) mean codes (the encoder's code head).
    """

    name: str
    generate: Callable[[np.ndarray], np.ndarray]
    encode: Callable[[np.ndarray], np.ndarray]
    n_codes: int
    code_range: tuple[float, float] = (-1.0, 1.0)
    meta: dict[str, Any] = field(default_factory=dict)  # e.g. the run key and config


def _ground_truth(enc: PoolModel, gen: PoolModel, grid: int) -> FunctionGroundTruth:
    lo, hi = gen.code_range
    values = np.linspace(lo, hi, grid)

    def represent(factors: np.ndarray) -> np.ndarray:
        return enc.encode(gen.generate(values[np.asarray(factors)]))

    return FunctionGroundTruth((grid,) * gen.n_codes, represent)


def pairwise_similarity(models: list[PoolModel], *, seed: int = 0, grid: int = 100,
                        **factor_vae_kw: Any) -> np.ndarray:
    """(M, M) symmetric similarity matrix (diagonal: the model scored against itself)."""
    m = len(models)
    directed = np.zeros((m, m))
    for i in range(m):
        for j in range(m):
            gt = _ground_truth(models[i], models[j], grid)
            directed[i, j] = factor_vae_score(gt, seed=seed + i * m + j, **factor_vae_kw)["eval_accuracy"]
    return (directed + directed.T) / 2.0


def model_centrality(models: list[PoolModel], *, seed: int = 0, grid: int = 100,
                     **factor_vae_kw: Any) -> dict[str, Any]:
    """``{"similarity": (M, M), "centrality": (M,), "selected": index, "pool": [names]}``."""
    if len(models) < 2:
        raise ValueError(f"ModelCentrality needs a pool of at least 2 models, got {len(models)}")
    sim = pairwise_similarity(models, seed=seed, grid=grid, **factor_vae_kw)
    m = len(models)
    centrality = (sim.sum(axis=1) - np.diag(sim)) / (m - 1)
    return {"similarity": sim, "centrality": centrality, "selected": int(np.argmax(centrality)),
            "pool": [p.name for p in models]}


__all__ = ["PoolModel", "model_centrality", "pairwise_similarity"]
