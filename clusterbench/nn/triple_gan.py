"""The networks of ClusterGAN-BSPL (Ghasedi Dizaji et al., CVPR 2019; method
:mod:`clusterbench.methods.gan.clustergan_bspl`): clusterer C, generator G and joint discriminator
D(z, x), chosen by the option ``net``.

Networks (option ``net``; Triple-GAN, Li et al. 2017, ``zhenxuan00/triple-gan``; weight norm replaced
by batch norm in C and G and plain layers in D *(ours)*):

``tg-mnist`` (grey images: 1×28×28 MNIST, 1×16×16 USPS and, nearest family, 1×8×8 digits)
    C: conv32 5×5 BN lReLU, pool 2, dropout .5; conv64 3×3 ×2, pool 2, dropout .5; conv128 3×3 ×2;
    global mean pool; FC m, sigmoid ("same" padding, so any H, W >= 4 works: 16×16 and 8×8 give
    4×4 and 2×2 maps before the global pool; no other change).
    G: z -> FC500 softplus BN -> FC500 softplus BN -> FC(C·H·W), sigmoid (tanh for [−1, 1] data).
    D: [x, z] with Gaussian noise .3 on x -> FC 1000-500-250-250-250 (lReLU .2, Gaussian noise .5
    before each, z concatenated to every layer's input) -> FC1 (Triple-GAN concatenates its label
    y; ClusterGAN's D sees z in its place).
``tg-cifar`` (colour images: 3×32×32 CIFAR-10/FRGC; 3×96×96 STL-10)
    C: Gaussian noise .15; conv128 3×3 ×3, pool 2, dropout .5; conv256 3×3 ×3, pool 2, dropout .5;
    conv512 3×3 valid, NiN256, NiN128, global pool, FC m, sigmoid (lReLU .1, BN: the 9 hidden layers
    of Sec. 4.1). **96×96** *(ours, Triple-GAN has none)*: the first conv has stride 2 and a third
    pool follows the second block, so the valid conv sees 6×6 maps as on 32×32 input.
    G: FC (H/8)² ·512 BN ReLU -> deconv 5×5 stride 2 to 256, 128 (BN ReLU), C channels (tanh /
    sigmoid); z concatenated as constant maps before each deconv. **96×96**: starts at 6×6 with one
    more deconv stage (256, 128, 64, C: 6 -> 12 -> 24 -> 48 -> 96).
    D: dropout .2; conv32 3×3, conv32 3×3 stride 2, dropout .2; conv64, conv64 stride 2, dropout .2;
    conv128 valid, conv128 valid; global pool; FC1 on [features, z]; lReLU .2; z concatenated as
    constant maps before each conv. **96×96**: one more (conv64, conv64 stride 2) stage.
``mlp`` (vectors, and images neither family covers, flattened) *(ours)*: C d-500-500-m (BN ReLU),
    G and D as in ``tg-mnist``.
``auto``: tg-mnist for 1-channel images, tg-cifar for 3-channel square images with H divisible by
8, mlp otherwise.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from clusterbench.errors import ConfigError

NET_FAMILIES = ("auto", "tg-mnist", "tg-cifar", "mlp")


class GaussianNoise(nn.Module):
    """Adds N(0, sigma²) noise in training mode (Triple-GAN's GaussianNoiseLayer)."""

    def __init__(self, sigma: float) -> None:
        super().__init__()
        self.sigma = sigma

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.sigma * torch.randn_like(x) if self.training and self.sigma > 0 else x


def _conv_block(cin: int, cout: int, k: int, *, stride: int = 1, pad: int | None = None, slope: float = 0.1) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, k, stride, k // 2 if pad is None else pad), nn.BatchNorm2d(cout), nn.LeakyReLU(slope)]


def build_clusterer(family: str, shape: tuple[int, ...], m: int) -> nn.Module:
    """C: B x shape -> B x m logits (the sigmoid is applied by the model)."""
    if family == "tg-mnist":
        c = shape[0]
        return nn.Sequential(
            *_conv_block(c, 32, 5), nn.MaxPool2d(2), nn.Dropout(0.5),
            *_conv_block(32, 64, 3), *_conv_block(64, 64, 3), nn.MaxPool2d(2), nn.Dropout(0.5),
            *_conv_block(64, 128, 3), *_conv_block(128, 128, 3),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, m),
        )
    if family == "tg-cifar":
        c, h = shape[0], shape[1]
        big = h > 32
        layers: list[nn.Module] = [GaussianNoise(0.15), *_conv_block(c, 128, 3, stride=2 if big else 1),
                                   *_conv_block(128, 128, 3), *_conv_block(128, 128, 3), nn.MaxPool2d(2), nn.Dropout(0.5),
                                   *_conv_block(128, 256, 3), *_conv_block(256, 256, 3), *_conv_block(256, 256, 3),
                                   nn.MaxPool2d(2)]
        if big:
            layers.append(nn.MaxPool2d(2))
        layers += [nn.Dropout(0.5), *_conv_block(256, 512, 3, pad=0), *_conv_block(512, 256, 1), *_conv_block(256, 128, 1),
                   nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, m)]
        return nn.Sequential(*layers)
    d = int(np.prod(shape))
    return nn.Sequential(nn.Flatten(), nn.Linear(d, 500), nn.BatchNorm1d(500), nn.ReLU(),
                         nn.Linear(500, 500), nn.BatchNorm1d(500), nn.ReLU(), nn.Linear(500, m))


class _MLPGenerator(nn.Module):
    def __init__(self, m: int, shape: tuple[int, ...], out_act: nn.Module | None) -> None:
        super().__init__()
        self.shape = shape
        self.net = nn.Sequential(nn.Linear(m, 500), nn.Softplus(), nn.BatchNorm1d(500),
                                 nn.Linear(500, 500), nn.Softplus(), nn.BatchNorm1d(500),
                                 nn.Linear(500, int(np.prod(shape))))
        self.out_act = out_act

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.net(z)
        x = self.out_act(x) if self.out_act is not None else x
        return x.reshape(z.shape[0], *self.shape)


def _maps(z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """[x, z broadcast as constant feature maps] along channels (Triple-GAN's ConvConcatLayer)."""
    return torch.cat([x, z[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])], 1)


class _ConvGenerator(nn.Module):
    def __init__(self, m: int, shape: tuple[int, ...], out_act: nn.Module | None) -> None:
        super().__init__()
        c, h, _ = shape
        widths = [512, 256, 128] + ([64] if h > 32 else [])
        self.base = h // (2 ** len(widths))
        self.fc = nn.Sequential(nn.Linear(m, self.base * self.base * 512), nn.BatchNorm1d(self.base * self.base * 512), nn.ReLU())
        self.ups = nn.ModuleList()
        for i, w in enumerate(widths):
            out = widths[i + 1] if i + 1 < len(widths) else c
            last = i + 1 == len(widths)
            up: list[nn.Module] = [nn.ConvTranspose2d(w + m, out, 5, 2, 2, output_padding=1)]
            if not last:
                up += [nn.BatchNorm2d(out), nn.ReLU()]
            self.ups.append(nn.Sequential(*up))
        self.out_act = out_act

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.fc(z).reshape(z.shape[0], 512, self.base, self.base)
        for up in self.ups:
            x = up(_maps(z, x))
        return self.out_act(x) if self.out_act is not None else x


def build_generator(family: str, shape: tuple[int, ...], m: int, out_act: nn.Module | None) -> nn.Module:
    """G: B x m -> B x shape."""
    if family == "tg-cifar":
        return _ConvGenerator(m, shape, out_act)
    return _MLPGenerator(m, shape, out_act)


class _MLPDiscriminator(nn.Module):
    def __init__(self, m: int, shape: tuple[int, ...]) -> None:
        super().__init__()
        d = int(np.prod(shape))
        dims = [d, 1000, 500, 250, 250, 250]
        self.noise_in = GaussianNoise(0.3)
        self.layers = nn.ModuleList(nn.Linear(dims[i] + m, dims[i + 1]) for i in range(len(dims) - 1))
        self.noise = GaussianNoise(0.5)
        self.out = nn.Linear(dims[-1] + m, 1)
        self.act = nn.LeakyReLU(0.2)

    def forward(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        h = self.noise_in(x.flatten(1))
        for i, layer in enumerate(self.layers):
            h = self.act(layer(torch.cat([h if i == 0 else self.noise(h), z], 1)))
        return self.out(torch.cat([h, z], 1))


class _ConvDiscriminator(nn.Module):
    def __init__(self, m: int, shape: tuple[int, ...]) -> None:
        super().__init__()
        c, h, _ = shape
        spec = [(32, 1, 1), (32, 2, 1), None, (64, 1, 1), (64, 2, 1), None]
        if h > 32:
            spec += [(64, 1, 1), (64, 2, 1), None]
        spec += [(128, 1, 0), (128, 1, 0)]
        self.drop_in = nn.Dropout(0.2)
        self.convs = nn.ModuleList()
        self.after = []
        cin = c
        for s in spec:
            if s is None:
                self.after[-1] = True
                continue
            w, stride, pad = s
            self.convs.append(nn.Conv2d(cin + m, w, 3, stride, pad))
            self.after.append(False)
            cin = w
        self.drop = nn.Dropout(0.2)
        self.act = nn.LeakyReLU(0.2)
        self.out = nn.Linear(cin + m, 1)

    def forward(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        h = self.drop_in(x)
        for conv, drop in zip(self.convs, self.after):
            h = self.act(conv(_maps(z, h)))
            if drop:
                h = self.drop(h)
        return self.out(torch.cat([h.mean((2, 3)), z], 1))


def build_discriminator(family: str, shape: tuple[int, ...], m: int) -> nn.Module:
    """D: (B x m codes, B x shape samples) -> B x 1 logits."""
    if family == "tg-cifar":
        return _ConvDiscriminator(m, shape)
    return _MLPDiscriminator(m, shape)


def resolve_family(shape: tuple[int, ...], net: str) -> str:
    """The network family for samples of ``shape`` (module docstring)."""
    if net not in NET_FAMILIES:
        raise ConfigError(f"net={net!r} is not a clustergan-bspl network family.", hint=f"Use one of {', '.join(NET_FAMILIES)}.")
    grey_ok = len(shape) == 3 and shape[0] == 1 and min(shape[1:]) >= 4
    colour_ok = len(shape) == 3 and shape[0] == 3 and shape[1] == shape[2] and shape[1] % 8 == 0 and shape[1] >= 16
    if net == "auto":
        return "tg-mnist" if grey_ok else "tg-cifar" if colour_ok else "mlp"
    if (net == "tg-mnist" and not grey_ok) or (net == "tg-cifar" and not colour_ok):
        raise ConfigError(f"net={net} does not fit samples of shape {tuple(shape)}.",
                          hint="tg-mnist takes 1 x H x W (H, W >= 4), tg-cifar 3 x H x H with H divisible by 8; "
                               "use net=auto.")
    return net



__all__ = ["NET_FAMILIES", "GaussianNoise", "build_clusterer", "build_discriminator", "build_generator", "resolve_family"]
