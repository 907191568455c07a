"""ClusterGAN (Mukherjee, Asnani, Lin, Kannan, AAAI 2019): a WGAN-GP whose generator draws from
the discrete-continuous prior z = (one-hot z_c, z_n ~ N(0, sigma^2 I)), with an encoder E trained
with G to invert it. Not the CVPR'19 "ClusterGAN" of paper 004 (Ghasedi et al.): that one has its
own id. It is the ClusterGAN row of DLS Tables 3-4 and DC3 Tables 4-5.

Per generator iteration (after M = 5 critic steps, ``gan.wgan``):
    L_GE = -E D(G(z)) + beta_n * MSE(z_n, E_n(G(z))) + beta_c * CE(E_c(G(z)), z_c)
with one Adam over G and E (metrics-reference §9, ``sudiptodip15/ClusterGAN:Image_ClusterGAN.py``).
Cluster assignment: argmax of E_c's softmax on the real data (what DLS/DC3 compare with; the
reference evaluation runs k-means on [E_n, E_c] instead).

Defaults are the TF original's (metrics-reference §9): sigma 0.10, beta_n = beta_c = 10, M = 5,
one gradient-penalty eps per batch, lambda 10, Adam 1e-4 (0.5, 0.9), batch 64, L2 2.5e-5 on G's
weights, 500,000 generator iterations (``num_batches``), d_n 30 on MNIST (README; Fashion-MNIST
40 with beta_n = 0, Pendigits 5). The PyTorch port ``zhampel/clusterGAN`` differs; its values are
options: ``--set sigma=0.75 per_sample_eps=true critic_iters=1 iterations=none epochs=200``
(it also uses LeakyReLU in G and weight decay on E, which are not exposed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from clusterbench.methods.base import Method
from clusterbench.methods.gan.model import GANConfig, GANMethod, GANModel
from clusterbench.methods.gan.nets import GANSpec
from clusterbench.methods.gan.wgan import generator_loss

#: d_n by sample shape (ClusterGAN README): MNIST 30 (Fashion-MNIST 40 with beta_n = 0), Pendigits 5.
CLUSTERGAN_LATENT: dict[tuple[int, ...], tuple[int, str]] = {
    (1, 28, 28): (30, "ClusterGAN README: MNIST (Fashion-MNIST: 40 with beta_n=0)"),
    (16,): (5, "ClusterGAN README: Pendigits"),
    (3, 128, 128): (100, "COIL-100: DC3 Table 9 / the DLS reference README (DC3 Table 5's ClusterGAN row; ClusterGAN gives none)"),
}


class ClusterGANModel(GANModel):
    def generator_step(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        cfg = self.cfg
        z = self.draw(x.shape[0])
        with self.optimizing("ge") as opt:
            fake = self.G(z.z)
            adv = generator_loss(self.D, fake)
            zn_hat, logits = self.E(fake)
            mse = ((zn_hat - z.z_n) ** 2).mean()
            ce = torch.nn.functional.cross_entropy(logits, z.labels)
            loss = opt.backward(adv + cfg.beta_n * mse + cfg.beta_c * ce)
        return {"g": loss.detach(), "g_adv": adv.detach(), "zn_mse": mse.detach(), "zc_ce": ce.detach()}


class ClusterGAN(GANMethod, Method):
    """ClusterGAN (Mukherjee et al., AAAI 2019); module docstring."""

    name = "clustergan"
    deep = True
    generative = True
    latent_table: ClassVar[dict[tuple[int, ...], tuple[int, str]]] = CLUSTERGAN_LATENT

    @dataclass
    class Config(GANConfig):
        """Defaults: the TF original (metrics-reference §9; module docstring): 500,000 generator
        iterations, beta_n = beta_c = 10, L2 2.5e-5 on G, the shared GAN defaults otherwise."""

        iterations: int | None = 500_000
        beta_n: float = 10.0
        beta_c: float = 10.0
        weight_decay: float = 2.5e-5

    def make_model(self, device: torch.device, spec: GANSpec) -> ClusterGANModel:
        return ClusterGANModel(device, spec, self.config)


__all__ = ["CLUSTERGAN_LATENT", "ClusterGAN", "ClusterGANModel"]
