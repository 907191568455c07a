"""Shared network builders of the Dual-AAE family (Dual-AAE, its no-CR variant, AAE, InfoGAN,
CatGAN: "the same network architecture is used", Dual-AAE paper §IV-B), chosen from the data's
sample shape and overridable with the ``arch`` option.

Architectures (Dual-AAE paper, Appendix A; "BN in all layers of encoder and decoder except the
last", LeakyReLU(0.1) in the encoder, the discriminator FC(100)-Drop(0.2)-ReLU-FC(100)-Drop(0.2)-
ReLU-FC(1) everywhere):

``conv``  (MNIST, Appendix A)
    encoder  C(64,4,s2) -> C(128,4,s2) -> C(1024,k) -> C(128,1) -> FC(K+dh+dz)   LeakyReLU 0.1
    decoder  DC(1024,1) -> DC(128,k) -> DC(64,4,s2) -> DC(C,4,s2) -> sigmoid     ReLU
    with k = 7 for 28x28 input. The paper's net only fits 28x28; for any other C x H x W image
    with H and W divisible by 4 and at most 32 we keep the same layers and set k = (H/4, W/4)
    (the "full" convolution over what the two stride-2 layers leave), e.g. k = 2 for the 8x8
    scikit-learn digits. Latent sizes (y, h, z) = (K, 3, 1). The first encoder layer also gets
    batch norm (paper's rule); the authors' code has none there.
``mlp-hhar`` (HHAR, Appendix A): 561-1000-1000-500-500-(K+dh+dz) / reverse; N(0, 0.02) init;
    (K, 4, 2).
``mlp-stl`` (STL-10 ResNet features, Appendix A): 2048-500-500-500-(K+dh+dz) and
    (K+dh+dz)-2000-500-1000-2048 (asymmetric, as printed); N(0, 0.02) init; (K, 4, 4).
``mlp``   every other vector (Reuters: the paper gives no architecture) and images that the conv
    rule does not cover (flattened): DEC's body d-500-500-2000-(K+dh+dz) / reverse, PyTorch
    default init, (K, 4, 2) — our choice, not the paper's.

``auto`` picks: conv for 3-D samples whose H, W are divisible by 4 and <= 32; mlp-hhar for 561-d
vectors; mlp-stl for 2048-d vectors; mlp otherwise. The decoder ends with a sigmoid when the data
lie in [0, 1] (images scaled as in the paper), otherwise it is linear (Appendix A: no activation on
the last layer of the MLP decoders).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from clusterbench.errors import ConfigError

ARCHS = ("auto", "conv", "mlp-hhar", "mlp-stl", "mlp")
_LATENT = {"conv": (3, 1), "mlp-hhar": (4, 2), "mlp-stl": (4, 4), "mlp": (4, 2)}
_MLP_BODY = {
    "mlp-hhar": ([1000, 1000, 500, 500], [500, 500, 1000, 1000]),
    "mlp-stl": ([500, 500, 500], [2000, 500, 1000]),
    "mlp": ([500, 500, 2000], [2000, 500, 500]),
}


@dataclass(frozen=True)
class ArchSpec:
    """Resolved architecture: name, sample shape, latent sizes (K, dh, dz), output activation."""

    name: str
    sample_shape: tuple[int, ...]
    n_clusters: int
    style_dim: int
    noise_dim: int
    sigmoid_out: bool

    @property
    def latent_dim(self) -> int:
        return self.n_clusters + self.style_dim + self.noise_dim

    @property
    def is_image(self) -> bool:
        return len(self.sample_shape) == 3

    def describe(self) -> dict[str, Any]:
        return {"arch": self.name, "sample_shape": list(self.sample_shape), "y": self.n_clusters,
                "h": self.style_dim, "z": self.noise_dim, "sigmoid_out": self.sigmoid_out}


def _conv_ok(shape: tuple[int, ...]) -> bool:
    return len(shape) == 3 and all(s % 4 == 0 and 4 <= s <= 32 for s in shape[1:])


def resolve_arch(sample_shape: tuple[int, ...], n_clusters: int, *, arch: str = "auto",
                 style_dim: int | None = None, noise_dim: int | None = None,
                 unit_range: bool = True) -> ArchSpec:
    """Choose the architecture for samples of ``sample_shape`` (see the module docstring)."""
    shape = tuple(int(s) for s in sample_shape)
    if arch not in ARCHS:
        raise ConfigError(f"arch={arch!r} is not a known architecture.", hint=f"Use one of {', '.join(ARCHS)}.")
    flat = int(np.prod(shape))
    if arch == "auto":
        if _conv_ok(shape):
            arch = "conv"
        elif flat == 561 and len(shape) == 1:
            arch = "mlp-hhar"
        elif flat == 2048 and len(shape) == 1:
            arch = "mlp-stl"
        else:
            arch = "mlp"
    if arch == "conv" and not _conv_ok(shape):
        raise ConfigError(
            f"arch=conv needs C x H x W samples with H and W divisible by 4 and at most 32; the data "
            f"have samples of shape {shape}.",
            hint="Use arch=mlp (flattened input) or arch=auto.",
        )
    dh, dz = _LATENT[arch]
    dh = dh if style_dim is None else int(style_dim)
    dz = dz if noise_dim is None else int(noise_dim)
    if dh < 0 or dz < 0 or dh + dz == 0:
        raise ConfigError(f"style_dim and noise_dim must be >= 0 and not both 0, got {dh}, {dz}.")
    return ArchSpec(arch, shape, int(n_clusters), dh, dz, bool(unit_range))


# --- builders --------------------------------------------------------------------------------------


def _mlp(dims: list[int], *, act: nn.Module, last_act: nn.Module | None = None) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(len(dims) - 1):
        layers.append(nn.Linear(dims[i], dims[i + 1]))
        if i < len(dims) - 2:  # BN + activation on every layer but the last
            layers += [nn.BatchNorm1d(dims[i + 1]), act]
    if last_act is not None:
        layers.append(last_act)
    return nn.Sequential(*layers)


def _normal_init(module: nn.Module, std: float = 0.02) -> None:
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, std)
            nn.init.zeros_(m.bias)


class _Flatten(nn.Module):
    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.shape = shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.shape)


class FullConv2d(nn.Conv2d):
    """A convolution whose kernel covers its whole input (Appendix A's C(1024, 7) on the 7 x 7 map,
    and C(128, 1) on the 1 x 1 map that follows): computed as one matrix product. Same function,
    parameters, state-dict layout and initialisation as :class:`torch.nn.Conv2d` (inputs of any
    other size take the ordinary convolution); on CPU it is about 4x faster than oneDNN's
    convolution for these shapes. Needs stride 1, no padding, no dilation, groups 1."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[-2:]) != tuple(self.kernel_size):
            return super().forward(x)
        return nn.functional.linear(x.flatten(1), self.weight.flatten(1), self.bias)[:, :, None, None]


class FullConvTranspose2d(nn.ConvTranspose2d):
    """A transposed convolution applied to a 1 x 1 map (Appendix A's DC(1024, 1) and DC(128, 7)):
    one matrix product, then reshaped to out x k x k. Same function, parameters and initialisation
    as :class:`torch.nn.ConvTranspose2d` (larger inputs take the ordinary path). Needs stride 1, no
    padding, no output padding, groups 1."""

    def forward(self, x: torch.Tensor, output_size=None) -> torch.Tensor:
        if tuple(x.shape[-2:]) != (1, 1) or output_size is not None:
            return super().forward(x, output_size)
        out = (x.flatten(1) @ self.weight.flatten(1)).reshape(x.shape[0], self.out_channels, *self.kernel_size)
        return out if self.bias is None else out + self.bias[None, :, None, None]


def build_encoder(spec: ArchSpec, out_dim: int) -> nn.Module:
    """Encoder Q (or a GAN discriminator trunk): B x sample shape -> B x out_dim (linear last layer)."""
    lrelu = nn.LeakyReLU(0.1)
    if spec.name == "conv":
        c, h, w = spec.sample_shape
        return nn.Sequential(
            nn.Conv2d(c, 64, 4, 2, 1), nn.BatchNorm2d(64), lrelu,
            nn.Conv2d(64, 128, 4, 2, 1), nn.BatchNorm2d(128), lrelu,
            FullConv2d(128, 1024, (h // 4, w // 4)), nn.BatchNorm2d(1024), lrelu,
            FullConv2d(1024, 128, 1), nn.BatchNorm2d(128), lrelu,
            nn.Flatten(), nn.Linear(128, out_dim),
        )
    d = int(np.prod(spec.sample_shape))
    body = _mlp([d, *_MLP_BODY[spec.name][0], out_dim], act=lrelu)
    net = nn.Sequential(nn.Flatten(), body)
    if spec.name in ("mlp-hhar", "mlp-stl"):
        _normal_init(net)
    return net


def build_decoder(spec: ArchSpec, in_dim: int) -> nn.Module:
    """Decoder P (or a GAN generator): B x in_dim -> B x sample shape."""
    out_act = nn.Sigmoid() if spec.sigmoid_out else None
    if spec.name == "conv":
        c, h, w = spec.sample_shape
        layers: list[nn.Module] = [
            _Flatten((in_dim, 1, 1)),
            FullConvTranspose2d(in_dim, 1024, 1), nn.BatchNorm2d(1024), nn.ReLU(),
            FullConvTranspose2d(1024, 128, (h // 4, w // 4)), nn.BatchNorm2d(128), nn.ReLU(),
            nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.ReLU(),
            nn.ConvTranspose2d(64, c, 4, 2, 1),
        ]
        if out_act is not None:
            layers.append(out_act)
        return nn.Sequential(*layers)
    d = int(np.prod(spec.sample_shape))
    # Appendix A: ReLU in the conv decoder, LeakyReLU(0.1) in the MLP ones.
    body = _mlp([in_dim, *_MLP_BODY[spec.name][1], d], act=nn.LeakyReLU(0.1), last_act=out_act)
    net = nn.Sequential(body, _Flatten(spec.sample_shape))
    if spec.name in ("mlp-hhar", "mlp-stl"):
        _normal_init(net)
    return net


def build_critic(in_dim: int, *, hidden: int = 100, dropout: float = 0.2) -> nn.Module:
    """Appendix A discriminator: FC(100)-Drop(0.2)-ReLU-FC(100)-Drop(0.2)-ReLU-FC(1) -> B x 1."""
    return nn.Sequential(
        nn.Linear(in_dim, hidden), nn.Dropout(dropout), nn.ReLU(),
        nn.Linear(hidden, hidden), nn.Dropout(dropout), nn.ReLU(),
        nn.Linear(hidden, 1),
    )


# --- priors ----------------------------------------------------------------------------------------


def sample_categorical(n: int, k: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """n labels uniform over k and their one-hot rows: (n,) int64, n x k float."""
    labels = torch.randint(0, k, (n,), device=device)
    return labels, torch.nn.functional.one_hot(labels, k).float()
