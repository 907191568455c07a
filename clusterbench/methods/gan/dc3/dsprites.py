"""DC3-GAN's dSprites variant (paper 003, Section 3.2, Appendix A.2 and Table 11; the ``Ours + MC``
row of Table 3): InfoGAN-CR's networks and training (DC3: "The implementation of DC3-GAN is based
on the source code of InfoGAN-CR"), with DC3's double cycle-consistency in place of the
contrastive regulariser (Section 3.2: "we implement the proposed double-cycle consistency to
replace the contrastive regularizer (CR) based on the InfoGAN architecture, which has two latent
variables").

Latents (Table 11, "as InfoGAN-CR"): z = (c, n), 5 continuous codes c and 5 noise inputs n, all
uniform in [-1, 1]; no clusters (dSprites' factors are continuous). E is Table 11's "FC 10" head
on D's trunk: it recovers all 10 inputs, (c^, n^) = E(x).

The two cycles, on a batch x_r and a prior draw z (the clustering DC3-GAN's Algorithm 1 terms
with c in the role of the cluster code z_c, which is continuous here):

* generator-encoder pair: (c^, n^) = E(G(z)); the codes' term is InfoGAN's
  L_c = ½ Σ_k (c_k − c^_k)² (mean over the batch; InfoGAN-CR's info loss, weight ``info_weight``)
  and the noise term L_n = mean (n − n^)² (Algorithm 1 line 14's ||z_n − z^_n||², weight
  ``beta_n`` = β2);
* encoder-generator pair: x^_r = G(E(x_r)), L_AE = mean |x_r − x^_r| (Eq. 6, weight
  ``ae_weight``), and L_MMD = MMD(E(x_r), z') against prior draws z' (Eq. 5, RBF kernel with WAE's
  median bandwidth, ``gan.mmd``; weight ``beta_mmd`` = β1), on all 10 dimensions: both parts of
  the latent are continuous and uniform here (the clustering model penalises z_n only because z_c
  is one-hot).

Per batch (manual optimisation, :meth:`DeepModel.optimizing`), as InfoGAN-CR's D/E and G steps:

1. D/E step (Adam ``lr_d``; D and E share the trunk): BCE(D(x_r), 1) + BCE(D(G(z)), 0)
   + info_weight · L_c + beta_n · L_n + ae_weight · L_AE + beta_mmd · L_MMD (G fixed);
2. G step (Adam ``lr_g``): BCE(D(G(z)), 1) (non-saturating) + info_weight · L_c + beta_n · L_n
   + ae_weight · |x_r − G(E(x_r))| with E's codes of step 1 held fixed (L_MMD does not depend on G).

Defaults: DC3 Appendix A.2 (lr_g 1e-3, lr_d 2e-3 for D and E, 28 epochs), Table 11 (networks,
5 + 5 latents), InfoGAN-CR's dSprites config (batch 64, beta1 0.5, info weight 0.05), DC3
Section 3 "Implementation details" (β1 = β2 = 0.1). Choices of ours where the paper is silent:
the unit weight of L_AE (Eq. 7), the MMD on all 10 dimensions, the ½-sum form of L_c (so that with
``beta_n = ae_weight = beta_mmd = 0`` the objective is plain InfoGAN's, ``infogan-cr --set
cr_weight=0``), and E's codes of step 1 reused in step 2. The disentanglement scores use E's 5
code means (as InfoGAN-CR's), not the recovered noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from clusterbench.methods.gan.infogan_cr import DSpritesGANConfig, DSpritesGANMethod, DSpritesGANModel
from clusterbench.methods.gan.mmd import mmd_rbf

_bce = nn.functional.binary_cross_entropy_with_logits


@dataclass
class DC3DSpritesConfig(DSpritesGANConfig):
    """DC3-GAN on dSprites: :class:`~clusterbench.methods.gan.infogan_cr.DSpritesGANConfig` (DC3
    Appendix A.2: lr_g 1e-3, lr_d 2e-3, 28 epochs; InfoGAN-CR: batch 64, beta1 0.5, info weight
    0.05) plus the double cycle's weights: beta_mmd = β1 = 0.1 and beta_n = β2 = 0.1 (DC3 Section 3
    "Implementation details"), ae_weight 1 (Eq. 7's unit weight of L_AE; our reading, the paper
    gives no dSprites-specific values)."""

    beta_mmd: float = 0.1
    beta_n: float = 0.1
    ae_weight: float = 1.0


class DC3DSpritesModel(DSpritesGANModel):
    """G and the D/E trunk of Table 11 with E's "FC 10" head (codes and noise), the double cycle."""

    recovers_noise: ClassVar[bool] = True
    cfg: DC3DSpritesConfig

    def cycle_terms(self, x: torch.Tensor, z: torch.Tensor, fake_codes: torch.Tensor,
                    real_codes: torch.Tensor) -> dict[str, torch.Tensor]:
        """L_c, L_n on E(G(z)) = ``fake_codes`` (B x 10) and L_AE, L_MMD on E(x) = ``real_codes``."""
        k = self.cfg.n_codes
        fake_codes, real_codes = fake_codes.float(), real_codes.float()
        return {
            "info": self.info_loss(fake_codes[:, :k], z[:, :k]),
            "n": ((fake_codes[:, k:] - z[:, k:]) ** 2).mean(),
            "ae": (x.float() - self.G(real_codes).float()).abs().mean(),
            "mmd": mmd_rbf(real_codes, self.latents(x.shape[0])),
        }

    def training_step(self, x: torch.Tensor, step: int) -> dict[str, torch.Tensor | float]:
        cfg, n = self.cfg, x.shape[0]
        ones = torch.ones(n, 1, device=self.device)
        zeros = torch.zeros(n, 1, device=self.device)
        w = {"info": cfg.info_weight, "n": cfg.beta_n, "ae": cfg.ae_weight, "mmd": cfg.beta_mmd}
        z = self.latents(n)
        # 1. D and E (G fixed: only D's optimizer steps)
        with self.optimizing("d") as opt:
            with torch.no_grad():
                fake = self.G(z)
            real_logit, real_codes = self.D(x)
            fake_logit, fake_codes = self.D(fake)
            terms = self.cycle_terms(x, z, fake_codes, real_codes)
            adv = _bce(real_logit.float(), ones) + _bce(fake_logit.float(), zeros)
            d_loss = opt.backward(adv + sum(w[k] * v for k, v in terms.items() if w[k]))
        out: dict[str, torch.Tensor | float] = {"d": d_loss.detach(), **{f"L_{k}": v.detach() for k, v in terms.items()}}
        # 2. G (E's codes of x from step 1, fixed)
        codes_r = real_codes.detach().float()
        with self.optimizing("g") as opt:
            fake_logit, fake_codes = self.D(self.G(z))
            k = cfg.n_codes
            g_loss = (_bce(fake_logit.float(), ones) + w["info"] * self.info_loss(fake_codes[:, :k], z[:, :k])
                      + w["n"] * ((fake_codes[:, k:].float() - z[:, k:]) ** 2).mean()
                      + w["ae"] * (x.float() - self.G(codes_r).float()).abs().mean())
            opt.backward(g_loss)
        out["g"] = g_loss.detach()
        return out


class DC3GANDSprites(DSpritesGANMethod):
    """DC3-GAN's dSprites variant (DC3 Section 3.2, Table 11): InfoGAN-CR's networks and training
    with the double cycle-consistency in place of the CR; 5 continuous codes, no clusters."""

    name: ClassVar[str] = "dc3-gan-dsprites"
    Config: ClassVar[type] = DC3DSpritesConfig
    Model: ClassVar[type[DSpritesGANModel]] = DC3DSpritesModel

    def extras(self) -> dict[str, Any]:
        return {**super().extras(), "variant": "dc3-double-cycle", "encoder_outputs": self.config.n_codes + self.config.n_noise}


__all__ = ["DC3DSpritesConfig", "DC3DSpritesModel", "DC3GANDSprites"]
