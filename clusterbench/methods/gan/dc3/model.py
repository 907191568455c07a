"""DC3-GAN's model: Algorithm 1 lines 8-15 (the loss terms of Eq. 7 and their weights) on the DLS
model's G, D, E and step; the d_n table (Table 9) and Table 8's ablation switches. The method
(:mod:`~clusterbench.methods.gan.dc3.dc3_gan`) and the CIFAR-10 variant
(:mod:`~clusterbench.methods.gan.dc3.cifar`) both build on it."""

from __future__ import annotations

import torch

from clusterbench.methods.gan.dls import DLSModel
from clusterbench.methods.gan.mmd import mmd_rbf
from clusterbench.methods.gan.prior import PriorSample
from clusterbench.methods.gan.wgan import generator_loss
from clusterbench.nn.gan import DLS_LATENT

#: DC3 Table 9: d_n by sample shape (DLS Table 2's values plus CIFAR-10's 128).
DC3_LATENT: dict[tuple[int, ...], tuple[int, str]] = {**DLS_LATENT, (3, 32, 32): (128, "CIFAR-10")}


#: Table 8's switches: config key -> the loss term it keeps (True, default) or removes (False).
ABLATIONS: dict[str, str] = {"loss_ce": "ce", "loss_n": "n", "loss_mmd": "mmd", "loss_ae": "ae"}


class DC3GANModel(DLSModel):
    """DC3-GAN's Algorithm 1 lines 8-15 (module docstring) on the DLS model's G, D, E and step."""

    def loss_terms(self, x: torch.Tensor, z: PriorSample) -> dict[str, torch.Tensor]:
        """The terms of Eq. 7 for the real batch x (B x sample shape) and the prior draw z."""
        x_g = self.G(z.z)                                     # x_g = G(z)
        zn_hat, zc_hat = self.E(x_g)                          # (z^_c, z^_n) = E(x_g)
        zrn, zrc = self.E(x)                                  # (z^r_c, z^r_n) = E(x_r)
        x_rec = self.G(torch.cat([zrc.softmax(1), zrn], 1))   # x^_r = G(z^r)
        return {
            "adv": self.adversarial_loss(x_g),
            "ae": (x.float() - x_rec.float()).abs().mean(),
            "mmd": mmd_rbf(zrn, z.z_n),
            "n": ((z.z_n - zn_hat.float()) ** 2).mean(),
            "ce": torch.nn.functional.cross_entropy(zc_hat.float(), z.labels),
        }

    def adversarial_loss(self, x_g: torch.Tensor) -> torch.Tensor:
        """G's adversarial term on x_g = G(z): -D(G(z)) (line 14); the CIFAR-10 variant overrides it."""
        return generator_loss(self.D, x_g)

    def term_weights(self) -> dict[str, float]:
        c = self.cfg
        weights = {"adv": 1.0, "ae": 1.0, "mmd": c.beta1, "n": c.beta2, "ce": c.beta3}
        for key, term in ABLATIONS.items():
            if not getattr(c, key):
                weights[term] = 0.0
        return weights



__all__ = ["ABLATIONS", "DC3GANModel", "DC3_LATENT"]
