"""InfoGAN (Chen et al., NIPS 2016) as a clustering method, on the Dual-AAE networks (Dual-AAE
paper §IV-B: "the same network architecture is used" for CatGAN, AAE, InfoGAN).

Generator G = Dual-AAE's decoder P on c = [y, h, z]; discriminator D and the recognition network
Q share Dual-AAE's encoder body, whose last layer gives 1 + K + dh outputs: the real/fake logit,
the logits of q(y|x) and the mean of q(h|x) (a fixed-variance Gaussian, so its log-likelihood is a
squared error). Priors: y ~ Cat(1/K) one-hot, h ~ U(-1, 1) (InfoGAN's continuous codes), z ~ N(0, I).
Clustering: argmax of q(y|x) on the real data.

Per batch:
1. D/Q step: BCE(D(x), real) + BCE(D(G(c)), fake) + lam_info * L_I(c, Q(G(c))) with G fixed,
   where L_I = cross-entropy on y + lam_cont * squared error on h (Q shares D's body, so it is
   trained with D, as in InfoGAN's Fig. 1 setup);
2. G step: BCE(D(G(c)), real) (non-saturating) + lam_info * L_I.

Known bugs of public InfoGAN code that we avoid (reference-code-notes.md): no softmax before
``cross_entropy`` (it takes logits), and the same code prior in the info step and the G step.

Choices: Adam betas (0.5, 0.999), lr 2e-4 for D/Q and 1e-3 for G, lam_info 1, lam_cont 0.1
(InfoGAN paper's MNIST settings); epochs 300 and batch 100 as Dual-AAE (the paper does not give
InfoGAN's); the noise z has Dual-AAE's size (InfoGAN used 62 dims on MNIST) so the networks are
identical; no pre-training.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from clusterbench.methods.base import Method
from clusterbench.nn.dual_aae import ArchSpec, build_decoder, build_encoder, sample_categorical
from clusterbench.training.contract import DeepConfig, DeepModel
from clusterbench.training.method import DeepMethod

_bce = nn.functional.binary_cross_entropy_with_logits


class InfoGANModel(DeepModel):
    def __init__(self, device: torch.device, spec: ArchSpec, cfg: "InfoGAN.Config") -> None:
        super().__init__(device)
        self.cfg, self.spec = cfg, spec
        self.K, self.dh, self.dz = spec.n_clusters, spec.style_dim, spec.noise_dim
        self.G = build_decoder(spec, spec.latent_dim).to(device)
        self.D = build_encoder(spec, 1 + self.K + self.dh).to(device)
        self.nets.update(G=self.G, D=self.D)
        betas = (cfg.beta1, 0.999)
        self.optims["d"] = torch.optim.Adam(self.D.parameters(), lr=cfg.lr_d, betas=betas)
        self.optims["g"] = torch.optim.Adam(self.G.parameters(), lr=cfg.lr_g, betas=betas)

    def codes(self, n: int):
        labels, y = sample_categorical(n, self.K, self.device)
        h = torch.rand(n, self.dh, device=self.device) * 2 - 1
        z = torch.randn(n, self.dz, device=self.device)
        return labels, y, h, z

    prior = codes  # (labels, one-hot y, h, z) from the priors

    def heads(self, x: torch.Tensor):
        out = self.D(x).float()
        return out[:, :1], out[:, 1 : 1 + self.K], out[:, 1 + self.K :]

    def info_loss(self, y_logits, h_pred, labels, h) -> torch.Tensor:
        mse = ((h_pred - h) ** 2).mean() if self.dh else torch.zeros((), device=self.device)
        return nn.functional.cross_entropy(y_logits, labels) + self.cfg.lam_cont * mse

    def training_step(self, x: torch.Tensor, step: int) -> dict[str, torch.Tensor]:
        n, cfg = x.shape[0], self.cfg
        ones = torch.ones(n, 1, device=self.device)
        zeros = torch.zeros(n, 1, device=self.device)
        labels, y, h, z = self.codes(n)
        # 1. D and Q
        with self.optimizing("d") as opt:
            with torch.no_grad():
                fake = self.G(torch.cat([y, h, z], 1))
            real_logit, _, _ = self.heads(x)
            fake_logit, y_logits, h_pred = self.heads(fake)
            info_d = self.info_loss(y_logits, h_pred, labels, h)
            d_loss = opt.backward(_bce(real_logit, ones) + _bce(fake_logit, zeros) + cfg.lam_info * info_d)
        # 2. G (same codes: one prior for both steps)
        with self.optimizing("g") as opt:
            fake_logit, y_logits, h_pred = self.heads(self.G(torch.cat([y, h, z], 1)))
            info_g = self.info_loss(y_logits, h_pred, labels, h)
            g_loss = opt.backward(_bce(fake_logit, ones) + cfg.lam_info * info_g)
        return {"d": d_loss.detach(), "g": g_loss.detach(), "info": info_g.detach()}

    @torch.no_grad()
    def predict(self, x: torch.Tensor):
        _, y_logits, h_pred = self.heads(x)
        y = y_logits.softmax(1)
        return y, torch.cat([y, h_pred], 1)

    @torch.no_grad()
    def generate(self, y, h, z):
        return self.G(torch.cat([y, h, z], 1))


class InfoGAN(DeepMethod, Method):
    """InfoGAN on the Dual-AAE networks (module docstring)."""

    name = "infogan"
    deep = True
    generative = True

    @dataclass
    class Config(DeepConfig):
        """Defaults: InfoGAN paper's MNIST optimiser settings; Dual-AAE's epochs/batch."""

        epochs: int = 300
        batch_size: int = 100
        pretrain_epochs: int = 0
        lr_d: float = 2e-4
        lr_g: float = 1e-3
        beta1: float = 0.5
        lam_info: float = 1.0
        lam_cont: float = 0.1

    def make_model(self, device: torch.device, spec: ArchSpec) -> InfoGANModel:
        return InfoGANModel(device, spec, self.config)


__all__ = ["InfoGAN", "InfoGANModel"]
