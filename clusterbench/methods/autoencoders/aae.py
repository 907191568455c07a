"""AAE for unsupervised clustering (Makhzani et al., "Adversarial Autoencoders", 2015, §6), with
the networks of Dual-AAE (Dual-AAE paper §IV-B: "the same network architecture is used").

Encoder Q: x -> (y = softmax over K, style s = [h, z]); decoder P(y, s). Per batch (Makhzani's
three phases):

1. reconstruction: Q and P minimise the squared error of P(Q(x)) against x;
2. regularisation, discriminators: D_y separates one-hot samples of Cat(1/K) from q(y|x), D_s
   separates N(0, I) samples from s (standard GAN, binary cross-entropy);
3. regularisation, generator: Q fools both discriminators (non-saturating loss).

Choices (Makhzani is silent or differs): both discriminators are the Dual-AAE MLP
(100-100-1, dropout 0.2); Adam lr 1e-4, betas (0.5, 0.999) for all phases (the Chainer reference
``musyoku/adversarial-autoencoder`` uses Adam 1e-4 with beta1 0.1 and gradient clipping 5; Makhzani
used SGD with momentum); Dual-AAE's style/noise split is kept only so the networks are identical —
AAE treats [h, z] as one Gaussian style code. Like Dual-AAE we pre-train Q/P as a denoising
auto-encoder and initialise y from k-means on the pre-trained features (``AEConfig`` in
``autoencoder.py``) so the comparison differs only in the losses; set ``pretrain_epochs=0`` for
Makhzani's setup.
Epochs 300 and batch 100 as for Dual-AAE.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from clusterbench.methods.autoencoders.dual_aae import AEConfig, LatentAutoEncoder
from clusterbench.methods.base import UNIT_INTERVAL, Method
from clusterbench.nn.dual_aae import ArchSpec, build_critic
from clusterbench.training.method import DeepMethod

_bce = nn.functional.binary_cross_entropy_with_logits


class AAEModel(LatentAutoEncoder):
    def __init__(self, device: torch.device, spec: ArchSpec, cfg: "AAE.Config") -> None:
        super().__init__(device, spec, cfg)
        self.Dy = build_critic(self.K, dropout=cfg.critic_dropout).to(device)
        self.Ds = build_critic(self.dh + self.dz, dropout=cfg.critic_dropout).to(device)
        self.nets.update(Dy=self.Dy, Ds=self.Ds)
        betas = (cfg.beta1, 0.999)
        self.optims["recon"] = torch.optim.Adam(self.qp_params(), lr=cfg.lr, betas=betas)
        self.optims["disc"] = torch.optim.Adam(
            list(self.Dy.parameters()) + list(self.Ds.parameters()), lr=cfg.lr, betas=betas)
        self.optims["gen"] = torch.optim.Adam(self.Q.parameters(), lr=cfg.lr, betas=betas)

    def training_step(self, x: torch.Tensor, step: int) -> dict[str, torch.Tensor]:
        n = x.shape[0]
        ones = torch.ones(n, 1, device=self.device)
        zeros = torch.zeros(n, 1, device=self.device)
        # 1. reconstruction phase
        with self.optimizing("recon") as opt:
            recon = opt.backward(self.recon_loss(x)[0])
        # 2. discriminators: prior samples are "real", encodings "fake" (float32: small MLPs)
        with self.optimizing("disc", autocast=False) as opt:
            with torch.no_grad(), self.autocast():
                logits, h, z = self.encode(x)
                y, s = logits.softmax(1), torch.cat([h, z], 1)
            _, y_p, h_p, z_p = self.prior(n)
            s_p = torch.cat([h_p, z_p], 1)
            d_loss = opt.backward(_bce(self.Dy(y_p), ones) + _bce(self.Dy(y.float()), zeros)
                                  + _bce(self.Ds(s_p), ones) + _bce(self.Ds(s.float()), zeros))
        # 3. generator: the encoder fools both discriminators
        with self.optimizing("gen") as opt:
            logits, h, z = self.encode(x)
            g_loss = opt.backward(_bce(self.Dy(logits.softmax(1)), ones)
                                  + _bce(self.Ds(torch.cat([h, z], 1)), ones))
        return {"recon": recon.detach(), "disc": d_loss.detach(), "gen": g_loss.detach()}


class AAE(DeepMethod, Method):
    """Makhzani's unsupervised-clustering AAE on the Dual-AAE networks (module docstring)."""

    name = "aae"
    deep = True
    generative = True

    @dataclass
    class Config(AEConfig):
        """Defaults: see the module docstring (Dual-AAE's epochs/batch/pre-training/cluster
        initialisation for a fair comparison; Adam 1e-4, beta1 0.5)."""

        epochs: int = 300
        batch_size: int = 100
        lr: float = 1e-4
        beta1: float = field(default=0.5, metadata=UNIT_INTERVAL)  # Adam's beta1
        critic_dropout: float = 0.2

    def make_model(self, device: torch.device, spec: ArchSpec) -> AAEModel:
        return AAEModel(device, spec, self.config)


__all__ = ["AAE", "AAEModel"]
