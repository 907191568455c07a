"""DLS-Clustering (Ding & Luo, "Clustering by Directly Disentangling Latent Space", arXiv
1911.05210; paper 002): a WGAN-GP generator G and an encoder E form a deterministic
encoder-decoder pair on the discrete-continuous prior; the one-hot part z_c of E's output is the
cluster (argmax of its softmax), the continuous part z_n holds the other factors.

Algorithm 1 per generator iteration (after M = 5 critic steps, lines 2-8, ``gan.wgan``), on the
last critic step's real batch x_r (lines 9-15), all G passes and all E passes sharing weights
(Fig. 1):
    z = (z_c, z_n) ~ prior;  x_g = G(z);  (z^_c, z^_n) = E(x_g);  (z^r_c, z^r_n) = E(x_r)
    z' = (z_c, z^r_n);  z^r = (softmax z^r_c, z^r_n);  x'_g = G(z');  x^_r = G(z^r)
    (z^'_c, z^^r_n) = E(x'_g)
    L_theta = -D(G(z)) + L_AE + b1 MMD(z^r_n, z_n) + b2 L_n + b3 L_CE + b4 L_c     (line 14)
    L_phi   =            L_AE + b1 MMD(z^r_n, z_n) + b2 L_n + b3 L_CE + b4 L_c     (line 15)
with L_AE = ||x_r - x^_r||^2 (Eq. 4; mean squared error, reference code), L_n = ||z^r_n - z^^r_n||^2
(Eq. 6, MSE), L_CE = H(z_c, z^_c) (Eq. 3), L_c = H(z_c, z^'_c) (Eq. 5), MMD = RBF-MMD with WAE's
median bandwidth (Eq. 2, ``gan.mmd``). The adversarial term does not depend on phi, so
grad_phi L_theta = grad_phi L_phi: one backward of L_theta and one Adam step over theta and phi
performs lines 14 and 15 at the same parameters (the reference code's single G+E optimiser).
z^r uses the softmax of E's logits (reference code: ``G(E_n(x), softmax E_c(x))``).

Defaults (DLS §4.2, Tables 1-2; reference code ``ifding/DLS-Clustering``, metrics-reference §9):
beta1 = beta2 = 1, beta3 = beta4 = 10, lambda = 10 (one eps per batch), M = 5, Adam 1e-4 (0.5, 0.9),
batch 64, sigma 0.10, 150,000 generator iterations (``num_batches``), d_n from Table 2 per data set
(``methods/dataset_settings.toml``, written into the run's config at plan time: MNIST 25,
Fashion-MNIST 40, YTF 60, Pendigits 5, 10x_73k 30, COIL-100 100), by sample shape elsewhere. The reference README's
MNIST command uses beta_n = 1, beta_c = 10: the same. ``ae_loss=l1`` gives the L1 reconstruction
of the DC3-GAN paper (Algorithm 1 there), for reuse.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import torch

from clusterbench.methods.base import Method
from clusterbench.methods.gan.mmd import mmd_rbf
from clusterbench.methods.gan.model import GANConfig, GANMethod, GANModel
from clusterbench.methods.gan.prior import PriorSample
from clusterbench.methods.gan.wgan import generator_loss
from clusterbench.nn.gan import DLS_LATENT, GANSpec

_ce = torch.nn.functional.cross_entropy


class DLSModel(GANModel):
    """DLS-Clustering's G, D, E and Algorithm 1 (module docstring). Subclasses (DC3-GAN) may
    override :meth:`loss_terms` and :meth:`term_weights`."""

    def loss_terms(self, x: torch.Tensor, z: PriorSample) -> dict[str, torch.Tensor]:
        """The terms of Algorithm 1 lines 9-15 for the real batch x (B x sample shape) and prior draw z."""
        x_g = self.G(z.z)
        _zn_hat, zc_hat = self.E(x_g)                       # (z^_c, z^_n) = E(x_g); z^_n unused by DLS
        zrn, zrc = self.E(x)                                # (z^r_c, z^r_n) = E(x_r)
        x_rec = self.G(torch.cat([zrc.softmax(1), zrn], 1))  # x^_r = G(z^r)
        x_g2 = self.G(torch.cat([z.z_c, zrn], 1))            # x'_g = G(z_c, z^r_n)
        zrn_hat, zc2_hat = self.E(x_g2)                      # (z^'_c, z^^r_n) = E(x'_g)
        diff = x.float() - x_rec.float()
        return {
            "adv": generator_loss(self.D, x_g),
            "ae": (diff ** 2).mean() if self.cfg.ae_loss == "mse" else diff.abs().mean(),
            "mmd": mmd_rbf(zrn, z.z_n),
            "n": ((zrn - zrn_hat) ** 2).mean(),
            "ce": _ce(zc_hat, z.labels),
            "c": _ce(zc2_hat, z.labels),
        }

    def term_weights(self) -> dict[str, float]:
        c = self.cfg
        return {"adv": 1.0, "ae": 1.0, "mmd": c.beta1, "n": c.beta2, "ce": c.beta3, "c": c.beta4}

    def generator_step(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        z = self.draw(x.shape[0])
        weights = self.term_weights()
        with self.optimizing("ge") as opt:
            terms = self.loss_terms(x, z)
            loss = opt.backward(sum(weights[k] * v for k, v in terms.items() if weights[k]))
        return {"g": loss.detach(), **{f"L_{k}": v.detach() for k, v in terms.items()}}


class DLS(GANMethod, Method):
    """DLS-Clustering (module docstring)."""

    name = "dls"
    deep = True
    generative = True
    latent_table: ClassVar[dict[tuple[int, ...], tuple[int, str]]] = DLS_LATENT

    @dataclass
    class Config(GANConfig):
        """Defaults: DLS §4.2 (beta1 = beta2 = 1, beta3 = beta4 = 10, lambda = 10, sigma 0.10),
        Tables 1-2 (networks, d_n), reference code (150,000 generator iterations, batch 64,
        M = 5, Adam 1e-4 (0.5, 0.9), MSE reconstruction). ae_loss: "mse" (DLS) or "l1" (DC3)."""

        iterations: int | None = 150_000
        beta1: float = 1.0
        beta2: float = 1.0
        beta3: float = 10.0
        beta4: float = 10.0
        ae_loss: Literal["mse", "l1"] = "mse"

    def make_model(self, device: torch.device, spec: GANSpec) -> DLSModel:
        return DLSModel(device, spec, self.config)


__all__ = ["DLS", "DLSModel"]
