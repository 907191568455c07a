"""CatGAN (Springenberg, ICLR 2016) for unsupervised clustering, on the Dual-AAE networks
(Dual-AAE paper §IV-B: "the same network architecture is used").

Generator G = Dual-AAE's decoder P fed with noise of the same size (K + dh + dz, N(0, I));
the discriminator is a K-way classifier: Dual-AAE's encoder body with K output logits.
With H the entropy and p(y|x) the classifier's softmax (Springenberg Eqs. 7-8, as in
``xinario/catgan_pytorch``):

* D minimises  E_x H[p(y|x)] - H[E_x p(y|x)] - E_z H[p(y|G(z))]
  (certain on real data, balanced over clusters, uncertain on generated samples);
* G minimises  E_z H[p(y|G(z))] - H[E_z p(y|G(z))]
  (generated samples look certain and balanced).

Clustering: argmax p(y|x). Choices: Adam lr 2e-4, betas (0.5, 0.999) for both (the reference
PyTorch port; Springenberg used Adam too); marginal entropies from the batch; epochs 300 and batch
100 as Dual-AAE; no pre-training.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from clusterbench.methods.base import UNIT_INTERVAL, Method
from clusterbench.nn.dual_aae import ArchSpec, build_decoder, build_encoder
from clusterbench.nn.losses import entropy_terms
from clusterbench.training.contract import DeepConfig, DeepModel
from clusterbench.training.method import DeepMethod


class CatGANModel(DeepModel):
    def __init__(self, device: torch.device, spec: ArchSpec, cfg: "CatGAN.Config") -> None:
        super().__init__(device)
        self.cfg, self.spec, self.K = cfg, spec, spec.n_clusters
        self.noise_dim = spec.latent_dim
        self.G = build_decoder(spec, self.noise_dim).to(device)
        self.D = build_encoder(spec, self.K).to(device)
        self.nets.update(G=self.G, D=self.D)
        betas = (cfg.beta1, 0.999)
        self.optims["d"] = torch.optim.Adam(self.D.parameters(), lr=cfg.lr, betas=betas)
        self.optims["g"] = torch.optim.Adam(self.G.parameters(), lr=cfg.lr, betas=betas)

    def training_step(self, x: torch.Tensor, step: int) -> dict[str, torch.Tensor]:
        n = x.shape[0]
        noise = torch.randn(n, self.noise_dim, device=self.device)
        # 1. discriminator / classifier
        with self.optimizing("d") as opt:
            with torch.no_grad():
                fake = self.G(noise)
            hm_real, hc_real = entropy_terms(self.D(x).float().softmax(1))
            _, hc_fake = entropy_terms(self.D(fake).float().softmax(1))
            d_loss = opt.backward(hc_real - self.cfg.lam_marginal * hm_real - hc_fake)
        # 2. generator
        with self.optimizing("g") as opt:
            hm_fake, hc_fake = entropy_terms(self.D(self.G(noise)).float().softmax(1))
            g_loss = opt.backward(hc_fake - self.cfg.lam_marginal * hm_fake)
        return {"d": d_loss.detach(), "g": g_loss.detach(), "H_marginal": hm_real.detach(),
                "H_conditional": hc_real.detach()}

    @torch.no_grad()
    def predict(self, x: torch.Tensor):
        logits = self.D(x).float()
        return logits.softmax(1), logits


class CatGAN(DeepMethod, Method):
    """CatGAN on the Dual-AAE networks (module docstring)."""

    name = "catgan"
    deep = True

    @dataclass
    class Config(DeepConfig):
        """Defaults: Adam 2e-4 (0.5, 0.999) (reference port); Dual-AAE's epochs/batch."""

        epochs: int = 300
        batch_size: int = 100
        pretrain_epochs: int = 0
        lr: float = 2e-4
        beta1: float = field(default=0.5, metadata=UNIT_INTERVAL)  # Adam's beta1
        lam_marginal: float = 1.0

    def make_model(self, device: torch.device, spec: ArchSpec) -> CatGANModel:
        return CatGANModel(device, spec, self.config)


__all__ = ["CatGAN", "CatGANModel"]
