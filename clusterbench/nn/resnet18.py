"""The SimCLR backbone of DC3-GAN's CIFAR-10 encoder (method :mod:`clusterbench.methods.pretrain.simclr`):
ResNet-18 adapted to 32 x 32 inputs as in the SimCLR paper's CIFAR-10 experiments (3 x 3 stride-1
stem, no max-pool, no classifier; torchvision's ``resnet18``, imported on first use) and SimCLR's
projection head g (512 -> 2048 -> 128)."""

from __future__ import annotations

from torch import nn

FEATURE_DIM = 512


def resnet18_cifar() -> nn.Module:
    """ResNet-18 for 32 x 32 images: B x 3 x 32 x 32 -> B x 512 (3 x 3 stride-1 stem, no max-pool,
    no classifier)."""
    from torchvision.models import resnet18

    net = resnet18(weights=None)
    net.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
    net.maxpool = nn.Identity()
    net.fc = nn.Identity()
    return net


def projection_head(in_dim: int = FEATURE_DIM, hidden: int = 2048, out_dim: int = 128) -> nn.Module:
    """g: B x in_dim -> B x out_dim."""
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Linear(hidden, out_dim))


__all__ = ["FEATURE_DIM", "projection_head", "resnet18_cifar"]
