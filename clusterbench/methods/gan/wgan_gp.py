"""WGAN-GP (Gulrajani et al., 2017) on the GAN clustering methods' networks: ClusterGAN's G and D
(``gan.nets``) without the encoder. A generator-only method (``clusters = False``): it has no
cluster posterior, its records carry no ACC/NMI, and only generation metrics (FID: DC3 Table 1's
"WGAN" column, from the ClusterGAN paper's prior comparison) are asked of it.

Prior (``prior``): "gaussian" (default; the plain WGAN-GP baseline of that comparison):
z ~ N(0, sigma^2 I) over all K + d_n inputs of G, sigma = 1 (standard WGAN-GP; the papers do not
give it); or "discrete-continuous": ClusterGAN's prior (one-hot z_c, z_n ~ N(0, 0.1^2 I) with
``sigma=0.1``), which makes it ClusterGAN without its encoder and lets ``sample(n, cluster)`` fix
z_c. Under the Gaussian prior there are no clusters: ``sample(n, cluster=c)`` is refused; G's
first K inputs are Gaussian like the rest (``prior()`` returns them in the place of z_c, so mode
counting sees plain samples), and row k of the "per-cluster" PNG grid puts the k-th unit vector
there (a fixed point of the Gaussian, not a cluster); ``sample(n)`` gives plain samples.

Training as ClusterGAN/DLS: M = 5 critic steps per generator step, lambda 10 with one eps per
batch, Adam 1e-4 (0.5, 0.9), batch 64; 150,000 generator iterations (DLS's ``num_batches``; our
choice: the papers do not train this baseline themselves). d_n from DLS Table 2.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch

from clusterbench.methods.base import Method
from clusterbench.methods.gan.model import GANConfig, GANMethod, GANModel
from clusterbench.methods.gan.prior import PriorSample
from clusterbench.methods.gan.wgan import generator_loss
from clusterbench.nn.gan import DLS_LATENT, GANSpec


class WGANGPModel(GANModel):
    has_encoder = False
    clusters = False

    def draw(self, n: int, cluster: int | None = None) -> PriorSample:
        if self.cfg.prior == "discrete-continuous":
            return super().draw(n, cluster)
        if cluster is not None:
            raise ValueError("wgan-gp with the Gaussian prior has no clusters: sample(n, cluster=None) only")
        z = torch.randn(n, self.K + self.d_n, device=self.device) * self.cfg.sigma
        return PriorSample(torch.full((n,), -1, dtype=torch.long, device=self.device), z[:, : self.K], z[:, self.K :])

    def generator_step(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        z = self.draw(x.shape[0])
        with self.optimizing("ge") as opt:
            loss = opt.backward(generator_loss(self.D, self.G(z.z)))
        return {"g": loss.detach()}

    def predict(self, x: torch.Tensor):  # never called: clusters = False
        raise RuntimeError("wgan-gp does not cluster")


class WGANGP(GANMethod, Method):
    """WGAN-GP, generator only (module docstring)."""

    name = "wgan-gp"
    deep = True
    generative = True
    clusters = False
    latent_table: ClassVar[dict[tuple[int, ...], tuple[int, str]]] = DLS_LATENT

    @dataclass
    class Config(GANConfig):
        """Defaults: the shared GAN defaults (ClusterGAN/DLS reference code); Gaussian prior with
        sigma 1 and 150,000 generator iterations (our choices, module docstring)."""

        iterations: int | None = 150_000
        prior: Literal["gaussian", "discrete-continuous"] = "gaussian"
        sigma: float = 1.0

    def generation_options(self) -> dict[str, Any]:
        opts = super().generation_options()
        if self.config.prior == "gaussian":
            opts["span"] = (-2.0, 2.0)
        return opts

    def make_model(self, device: torch.device, spec: GANSpec) -> WGANGPModel:
        return WGANGPModel(device, spec, self.config)


__all__ = ["WGANGP", "WGANGPModel"]
