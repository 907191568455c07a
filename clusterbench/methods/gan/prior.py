"""The discrete-continuous prior of ClusterGAN (Mukherjee et al., AAAI 2019) and DLS-Clustering
(paper 002 §3.2 and §4.2; DC3-GAN §A.2): z = (z_c, z_n) with z_c one of the K elementary one-hot
vectors, drawn uniformly (balanced in expectation), and z_n ~ N(0, sigma^2 I_{d_n}), sigma = 0.10
(DLS §4.2; ``sudiptodip15/ClusterGAN:util.py`` ``sample_Z``: ``0.10 * N(0, 1)``). The PyTorch port
``zhampel/clusterGAN`` uses sigma = 0.75 (an option of ClusterGAN's Config).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

#: DLS §4.2: "z_n ~ N(0, sigma^2 I_{d_n}), here sigma = 0.10".
PRIOR_SIGMA = 0.10


@dataclass(frozen=True)
class PriorSample:
    """One batch from the prior.

    labels: (B,) int64 cluster indices; z_c: B x K one-hot float; z_n: B x d_n float.
    """

    labels: torch.Tensor
    z_c: torch.Tensor
    z_n: torch.Tensor

    @property
    def z(self) -> torch.Tensor:
        """B x (K + d_n): the generator's input, z_c first (as DLS Fig. 1: z = (z_c, z_n))."""
        return torch.cat([self.z_c, self.z_n], 1)


def sample_prior(n: int, k: int, d_n: int, *, sigma: float = PRIOR_SIGMA, device: torch.device | str = "cpu",
                 cluster: int | None = None, generator: torch.Generator | None = None) -> PriorSample:
    """n draws of z = (z_c, z_n): z_c uniform over the K one-hot vectors (all equal to
    ``cluster`` when given), z_n ~ N(0, sigma^2 I_{d_n}). Uses torch's global RNG unless a
    ``generator`` (on the same device) is given, so a seeded run draws the same codes."""
    if cluster is not None and not 0 <= int(cluster) < k:
        raise ValueError(f"cluster must be in [0, {k}), got {cluster}")
    if cluster is None:
        labels = torch.randint(0, k, (n,), device=device, generator=generator)
    else:
        labels = torch.full((n,), int(cluster), dtype=torch.long, device=device)
    z_c = torch.nn.functional.one_hot(labels, k).float()
    z_n = torch.randn(n, d_n, device=device, generator=generator) * float(sigma)
    return PriorSample(labels, z_c, z_n)


__all__ = ["PRIOR_SIGMA", "PriorSample", "sample_prior"]
