"""MMD between the encoder's z_n on real data and prior draws (DLS Eq. 2, Algorithm 1 line 14:
MMD(z_n^r, z_n)), as the reference code computes it (``ifding/DLS-Clustering`` ``mmd_penalty``,
taken from ``tolstikhin/wae:wae.py``; metrics-reference §9):

* squared distances d(a, b) = ||a - b||^2 within q (encoded), within p (prior) and across;
* RBF kernel k = exp(-d / (2 sigma_k^2)) with the median heuristic
  sigma_k^2 = (h-th largest of d(q, p)) + (h-th largest of d(q, q)), h = (n^2 - n) / 2, over all
  n x n entries as WAE does (the bandwidth is part of the graph, as in WAE: gradients flow
  through it);
* unbiased estimate: off-diagonal means of k(q, q) and k(p, p), minus 2 x the mean of k(q, p).

Equal batch sizes n of q and p (>= 2), as in the reference.
"""

from __future__ import annotations

import torch

from clusterbench.precision import float32


def squared_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """n x d, m x d -> n x m matrix of squared Euclidean distances (clamped at 0)."""
    d = (a * a).sum(1, keepdim=True) + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return d.clamp_min(0.0)


def median_bandwidth(d_qp: torch.Tensor, d_qq: torch.Tensor) -> torch.Tensor:
    """WAE's sigma_k^2: the h-th largest entry of d(q, p) plus that of d(q, q), h = (n^2 - n) / 2."""
    n = d_qq.shape[0]
    h = max((n * n - n) // 2, 1)
    return torch.topk(d_qp.reshape(-1), h).values[-1] + torch.topk(d_qq.reshape(-1), h).values[-1]


@float32  # squared distances by a matrix product and their exp: float32 under any autocast
def mmd_rbf(q: torch.Tensor, p: torch.Tensor, *, bandwidth: float | torch.Tensor | None = None) -> torch.Tensor:
    """Unbiased MMD^2 estimate between samples q and p (n x d each) with the RBF kernel; the
    bandwidth sigma_k^2 is WAE's median heuristic unless given. Returns a scalar (can be slightly
    negative: the estimate is unbiased)."""
    if q.shape != p.shape or q.ndim != 2 or q.shape[0] < 2:
        raise ValueError(f"mmd_rbf needs two n x d samples of one shape with n >= 2, got {tuple(q.shape)} and {tuple(p.shape)}")
    q, p = q.float(), p.float()
    n = q.shape[0]
    d_qq, d_pp, d_qp = squared_distances(q, q), squared_distances(p, p), squared_distances(q, p)
    s2 = median_bandwidth(d_qp, d_qq) if bandwidth is None else torch.as_tensor(bandwidth, dtype=q.dtype, device=q.device)
    s2 = s2.clamp_min(1e-12)
    off = 1.0 - torch.eye(n, device=q.device, dtype=q.dtype)
    within = ((torch.exp(-d_qq / (2 * s2)) + torch.exp(-d_pp / (2 * s2))) * off).sum() / (n * n - n)
    across = torch.exp(-d_qp / (2 * s2)).sum() * 2.0 / (n * n)
    return within - across


__all__ = ["median_bandwidth", "mmd_rbf", "squared_distances"]
