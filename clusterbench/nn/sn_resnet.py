"""The CIFAR-10 networks of DC3-GAN Appendix Table 12 (compare_gan's ``resnet_cifar``), with
spectral normalisation on G and D and class-conditional batch norm in G (Lucic et al. 2019),
and DC3's encoder: a frozen SimCLR ResNet-18 with a trainable MLP 512 -> 512 -> 138.

Table 12 (input 32 x 32 x 3)::

    D                                        G
    ResBlock down   16 x 16 x 128            z_n                     128
    ResBlock down    8 x  8 x 128            Linear                  4 x 4 x 256
    ResBlock         8 x  8 x 128            ResBlock up             8 x 8 x 256
    ResBlock         8 x  8 x 128            ResBlock up            16 x 16 x 256
    ReLU, mean pooling         128           ResBlock up            32 x 32 x 256
    Linear                       1           BN, ReLU               32 x 32 x 256
                                             Conv 3x3, sigmoid      32 x 32 x 3

Residual blocks (compare_gan's ``resnet_ops``; kernels 3 x 3 stride 1, resampling by nearest
2x up-sampling before the first conv in G and 2 x 2 average pooling after the second conv in D):

* G block: CBN(y) -> ReLU -> up -> conv -> CBN(y) -> ReLU -> conv; shortcut up -> conv 1x1.
* D block: ReLU -> conv -> ReLU -> conv [-> avgpool]; shortcut conv 1x1 [-> avgpool] when it
  resamples or changes width (identity otherwise). D's first block has no ReLU before its first
  conv (the image is not pre-activated; compare_gan's "optimized" first block).

Choices where the table and paper are silent (ours):

* Class-conditional BN: batch norm without affine parameters, then ``x * (1 + gamma(y)) +
  beta(y)`` with gamma, beta bias-free linear maps of the one-hot z_c (so the initial map is the
  identity); every BN of G is conditional, including the final one.
* Spectral normalisation (``torch.nn.utils.parametrizations.spectral_norm``, one power iteration)
  on every conv and linear layer of G and D, but not on the CBN's gamma/beta maps.
* The encoder's MLP: Linear(512, 512) -> ReLU -> Linear(512, 138), no normalisation; outputs
  split as z_n (128) and the K = 10 logits of z_c. The SimCLR backbone is frozen: no gradients,
  and kept in eval mode (its batch-norm statistics never change).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

Z_N = 128
N_CLASSES = 10


def _sn(m: nn.Module, on: bool) -> nn.Module:
    return spectral_norm(m) if on else m


class ConditionalBatchNorm2d(nn.Module):
    """BN without affine parameters, scaled and shifted by linear functions of a one-hot y:
    (B x C x H x W, B x K) -> B x C x H x W."""

    def __init__(self, channels: int, n_classes: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=False)
        self.gamma = nn.Linear(n_classes, channels, bias=False)
        self.beta = nn.Linear(n_classes, channels, bias=False)
        nn.init.zeros_(self.gamma.weight)
        nn.init.zeros_(self.beta.weight)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        g = 1 + self.gamma(y)[:, :, None, None]
        return self.bn(x) * g + self.beta(y)[:, :, None, None]


class GBlock(nn.Module):
    """G's residual block with 2x nearest up-sampling: (B x in x H x W, B x K) -> B x out x 2H x 2W."""

    def __init__(self, cin: int, cout: int, n_classes: int, sn: bool = True) -> None:
        super().__init__()
        self.bn1 = ConditionalBatchNorm2d(cin, n_classes)
        self.conv1 = _sn(nn.Conv2d(cin, cout, 3, 1, 1), sn)
        self.bn2 = ConditionalBatchNorm2d(cout, n_classes)
        self.conv2 = _sn(nn.Conv2d(cout, cout, 3, 1, 1), sn)
        self.skip = _sn(nn.Conv2d(cin, cout, 1), sn)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        up = nn.functional.interpolate
        h = self.conv1(up(torch.relu(self.bn1(x, y)), scale_factor=2, mode="nearest"))
        h = self.conv2(torch.relu(self.bn2(h, y)))
        return h + self.skip(up(x, scale_factor=2, mode="nearest"))


class DBlock(nn.Module):
    """D's residual block: B x in x H x W -> B x out x H' x W' (H' = H / 2 when ``down``)."""

    def __init__(self, cin: int, cout: int, *, down: bool, first: bool = False, sn: bool = True) -> None:
        super().__init__()
        self.first, self.down = first, down
        self.conv1 = _sn(nn.Conv2d(cin, cout, 3, 1, 1), sn)
        self.conv2 = _sn(nn.Conv2d(cout, cout, 3, 1, 1), sn)
        self.skip = _sn(nn.Conv2d(cin, cout, 1), sn) if (down or cin != cout) else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x if self.first else torch.relu(x)
        h = self.conv2(torch.relu(self.conv1(h)))
        s = x if self.skip is None else self.skip(x)
        if self.down:
            h, s = nn.functional.avg_pool2d(h, 2), nn.functional.avg_pool2d(s, 2)
        return h + s


class ResNetGenerator(nn.Module):
    """G: (B x z_n, B x K one-hot z_c) -> B x 3 x 32 x 32 in [0, 1]."""

    def __init__(self, z_dim: int = Z_N, n_classes: int = N_CLASSES, ch: int = 256, sn: bool = True) -> None:
        super().__init__()
        self.ch = ch
        self.linear = _sn(nn.Linear(z_dim, 4 * 4 * ch), sn)
        self.blocks = nn.ModuleList([GBlock(ch, ch, n_classes, sn) for _ in range(3)])
        self.bn = ConditionalBatchNorm2d(ch, n_classes)
        self.conv = _sn(nn.Conv2d(ch, 3, 3, 1, 1), sn)

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = self.linear(z).reshape(z.shape[0], self.ch, 4, 4)
        for b in self.blocks:
            h = b(h, y)
        return torch.sigmoid(self.conv(torch.relu(self.bn(h, y))))


class ResNetDiscriminator(nn.Module):
    """D: B x 3 x 32 x 32 -> B x 1 logit (unconditional)."""

    def __init__(self, ch: int = 128, sn: bool = True) -> None:
        super().__init__()
        self.blocks = nn.Sequential(
            DBlock(3, ch, down=True, first=True, sn=sn), DBlock(ch, ch, down=True, sn=sn),
            DBlock(ch, ch, down=False, sn=sn), DBlock(ch, ch, down=False, sn=sn),
        )
        self.linear = _sn(nn.Linear(ch, 1), sn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(torch.relu(self.blocks(x)).mean(dim=(2, 3)))


class SimCLREncoder(nn.Module):
    """DC3's E: a frozen SimCLR backbone (B x 3 x 32 x 32 -> B x 512) and a trainable MLP
    512 -> 512 -> z_n + K; ``forward`` returns (B x z_n, B x K logits of z_c)."""

    def __init__(self, backbone: nn.Module, *, feature_dim: int = 512, hidden: int = 512,
                 z_dim: int = Z_N, n_classes: int = N_CLASSES) -> None:
        super().__init__()
        self.backbone = backbone
        for p in self.backbone.parameters():
            p.requires_grad_(False)
        self.backbone.eval()
        self.z_dim = z_dim
        self.mlp = nn.Sequential(nn.Linear(feature_dim, hidden), nn.ReLU(), nn.Linear(hidden, z_dim + n_classes))

    def train(self, mode: bool = True) -> SimCLREncoder:
        super().train(mode)
        self.backbone.eval()  # frozen: its batch-norm statistics never move
        return self

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            f = self.backbone(x)
        out = self.mlp(f)
        return out[:, : self.z_dim], out[:, self.z_dim :]


__all__ = [
    "N_CLASSES",
    "Z_N",
    "ConditionalBatchNorm2d",
    "DBlock",
    "GBlock",
    "ResNetDiscriminator",
    "ResNetGenerator",
    "SimCLREncoder",
]
