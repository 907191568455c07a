"""The dSprites networks of DC3-GAN Appendix Table 11 (FactorVAE's / InfoGAN-CR's architecture).

Table 11 (64 x 64 binary input; G from 10 inputs = 5 continuous codes + 5 noise, "as
InfoGAN-CR")::

    D / E                                          G
    4x4 conv 32 lReLU stride 2                     FC 128 ReLU batchnorm
    4x4 conv 32 lReLU stride 2 batchnorm           FC 4x4x64 ReLU batchnorm
    4x4 conv 64 lReLU stride 2 batchnorm           4x4 upconv 64 lReLU stride 2 batchnorm
    4x4 conv 64 lReLU stride 2 batchnorm           4x4 upconv 32 lReLU stride 2 batchnorm
    FC 128 lReLU batchnorm (*)                     4x4 upconv 32 lReLU stride 2 batchnorm
    from *: FC 1 sigmoid (D)                       4x4 upconv 1 sigmoid stride 2
    from *: FC 128 lReLU batchnorm, FC 10 (E)

Choices where the table is silent (ours):

* D and E share the trunk up to (*) (InfoGAN's design; the InfoGAN-CR code builds one network
  with both heads); :class:`DiscriminatorEncoder` returns both heads.
* Order inside a layer: linear/conv -> batch norm -> activation (DCGAN's order); LeakyReLU slope
  0.2 (the slope DC3 Appendix gives for its DCGAN-like nets); padding 1 on every 4x4 stride-2
  (up)convolution, so 64 -> 32 -> 16 -> 8 -> 4 and back.
* D's head returns the *logit* (the sigmoid is inside the BCE-with-logits loss).
* E's last layer has ``code_dim`` outputs: Table 11 prints 10; InfoGAN-CR's code predicts the
  means of the 5 regularised codes only (a fixed-std Gaussian q, ``q_std=1``), so
  ``infogan-cr`` uses 5; a DC3 variant that also recovers the noise uses 10.
* The CR discriminator (InfoGAN-CR's contrastive regulariser, not in Table 11) is D's trunk on a
  pair of images stacked as channels (2C x 64 x 64), FC 128, and one logit per code: which code
  the pair shares. InfoGAN-CR's code adds spectral normalisation to it; we do not.
"""

from __future__ import annotations

import torch
from torch import nn

IMAGE_SIZE = 64
N_CODES = 5   # continuous codes, uniform in [-1, 1] (InfoGAN-CR dSprites: uniform_reg_dim = 5)
N_NOISE = 5   # noise inputs, uniform in [-1, 1] (uniform_not_reg_dim = 5)
LRELU = 0.2


def _trunk(in_ch: int) -> nn.Sequential:
    """B x in_ch x 64 x 64 -> B x 128 (Table 11's D/E up to (*))."""
    a = lambda: nn.LeakyReLU(LRELU)
    return nn.Sequential(
        nn.Conv2d(in_ch, 32, 4, 2, 1), a(),
        nn.Conv2d(32, 32, 4, 2, 1), nn.BatchNorm2d(32), a(),
        nn.Conv2d(32, 64, 4, 2, 1), nn.BatchNorm2d(64), a(),
        nn.Conv2d(64, 64, 4, 2, 1), nn.BatchNorm2d(64), a(),
        nn.Flatten(), nn.Linear(64 * 4 * 4, 128), nn.BatchNorm1d(128), a(),
    )


class Generator(nn.Module):
    """G: B x (n_codes + n_noise) -> B x C x 64 x 64 in [0, 1] (sigmoid)."""

    def __init__(self, in_dim: int = N_CODES + N_NOISE, channels: int = 1) -> None:
        super().__init__()
        a = lambda: nn.LeakyReLU(LRELU)
        self.fc = nn.Sequential(
            nn.Linear(in_dim, 128), nn.BatchNorm1d(128), nn.ReLU(),
            nn.Linear(128, 4 * 4 * 64), nn.BatchNorm1d(4 * 4 * 64), nn.ReLU(),
        )
        self.up = nn.Sequential(
            nn.ConvTranspose2d(64, 64, 4, 2, 1), nn.BatchNorm2d(64), a(),
            nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.BatchNorm2d(32), a(),
            nn.ConvTranspose2d(32, 32, 4, 2, 1), nn.BatchNorm2d(32), a(),
            nn.ConvTranspose2d(32, channels, 4, 2, 1), nn.Sigmoid(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.up(self.fc(z).reshape(z.shape[0], 64, 4, 4))


class DiscriminatorEncoder(nn.Module):
    """D and E on one trunk: B x C x 64 x 64 -> (B x 1 real/fake logit, B x code_dim code means)."""

    def __init__(self, channels: int = 1, code_dim: int = N_CODES) -> None:
        super().__init__()
        self.trunk = _trunk(channels)
        self.d_head = nn.Linear(128, 1)
        self.e_head = nn.Sequential(nn.Linear(128, 128), nn.BatchNorm1d(128), nn.LeakyReLU(LRELU),
                                    nn.Linear(128, code_dim))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.trunk(x)
        return self.d_head(h), self.e_head(h)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """B x C x 64 x 64 -> B x code_dim (E's head only)."""
        return self.e_head(self.trunk(x))


class CRDiscriminator(nn.Module):
    """InfoGAN-CR's contrastive regulariser: a pair (two B x C x 64 x 64 batches) -> B x n_codes
    logits of which code the two images share (module docstring: our architecture)."""

    def __init__(self, channels: int = 1, n_codes: int = N_CODES) -> None:
        super().__init__()
        self.trunk = _trunk(2 * channels)
        self.head = nn.Linear(128, n_codes)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(torch.cat([a, b], dim=1)))


__all__ = ["IMAGE_SIZE", "N_CODES", "N_NOISE", "CRDiscriminator", "DiscriminatorEncoder", "Generator"]
