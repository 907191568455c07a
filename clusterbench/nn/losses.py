"""Losses, regularisers and loss-side diagnostics shared by the methods (networks live in the
architecture modules beside this one):

* :func:`entropy_terms` — H of a posterior's batch marginal and its mean conditional entropy
  (CatGAN's objective, Dual-AAE's diagnostics);
* :func:`clustering_regularizer` — Dual-AAE Eq. (9);
* :func:`dual_ae_loss` — the D-AE reconstruction of c = [y, h] (Dual-AAE Eq. 6, second term);
* :func:`critic_accuracy` — how well a critic separates prior samples from encodings;
* :func:`log_k` — log K, the minimum of the clustering regulariser;
* :func:`nt_xent` — SimCLR's contrastive loss (NT-Xent).
"""

from __future__ import annotations

import math

import torch
from torch import nn


def critic_accuracy(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """How well a critic tells prior samples (``d_real``, B) from encodings (``d_fake``, B): the
    balanced accuracy of thresholding its score at the midpoint of the two means (scalar in
    [0, 1]; 0.5 = it cannot tell them apart, 1 = it separates them). A diagnostic only."""
    d_real, d_fake = d_real.detach().flatten().float(), d_fake.detach().flatten().float()
    t = 0.5 * (d_real.mean() + d_fake.mean())
    return 0.5 * ((d_real > t).float().mean() + (d_fake <= t).float().mean())


def entropy_terms(p: torch.Tensor, eps: float = 1e-8) -> tuple[torch.Tensor, torch.Tensor]:
    """For a B x K posterior: (H of the batch marginal mean_b p, mean_b H(p_b)), natural log."""
    marginal = p.mean(0)
    h_marginal = -(marginal * torch.log(marginal + eps)).sum()
    h_cond = -(p * torch.log(p + eps)).sum(1).mean()
    return h_marginal, h_cond


def clustering_regularizer(p: torch.Tensor, *, lam2: float = 0.5, eps: float = 1e-8) -> torch.Tensor:
    """Dual-AAE Eq. (9): -H[q(y)] + lam2 * E_x H[q(y|x)] for a B x K posterior (scalar).

    Minimal (= -log K) for confident one-hot rows spread evenly over the K clusters.
    """
    h_marginal, h_cond = entropy_terms(p, eps)
    return -h_marginal + lam2 * h_cond


def dual_ae_loss(y_logits: torch.Tensor, h_pred: torch.Tensor, y_true: torch.Tensor,
                 h_true: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """D-AE reconstruction of c = [y, h] (Eq. 6, second term): cross-entropy of the recovered
    y logits (B x K) against the sampled labels (B,) plus the squared error of the recovered style
    (B x dh vs B x dh, mean over samples and dimensions). Returns (total, ce, mse)."""
    ce = nn.functional.cross_entropy(y_logits, y_true)
    mse = ((h_pred - h_true) ** 2).mean() if h_true.numel() else torch.zeros((), device=y_logits.device)
    return ce + mse, ce, mse


def log_k(k: int) -> float:
    return math.log(k)


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.5) -> torch.Tensor:
    """NT-Xent over a batch of B positive pairs (B x d each): for each of the 2B views, the
    cross-entropy of its cosine similarities / temperature to the 2B - 1 others, with its pair as
    the target; mean over the 2B views (scalar)."""
    z = nn.functional.normalize(torch.cat([z1, z2]).float(), dim=1)
    n = z1.shape[0]
    sim = z @ z.T / temperature
    sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return nn.functional.cross_entropy(sim, target)

