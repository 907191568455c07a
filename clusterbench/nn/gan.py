"""Generator G, critic D and encoder E of the GAN clustering methods, built from the data's
sample shape (DLS Table 1 = DC3 Table 10; layer details from the reference code,
``sudiptodip15/ClusterGAN`` / ``ifding/DLS-Clustering``, metrics-reference §9).

Families (``arch``):

``conv4``  Table 1's MNIST / Fashion rows (4x4x64, 4x4x128), for C x H x W images with H and W
    divisible by 4 and at most 32:
    G  FC1024-BN-ReLU -> FC(128 x H/4 x W/4)-BN-ReLU -> DC(64,4,s2)-BN-ReLU -> DC(C,4,s2) -> out
    D  C(64,4,s2)-LReLU(0.2) -> C(128,4,s2)-LReLU -> FC1024-LReLU -> FC1
    The reference nets are for 28x28 (7x7 maps); other sizes keep the layers with H/4 x W/4 maps
    (the scikit-learn digits, 1x8x8, get 2x2 maps).
``conv5``  Table 1's YTF row (5x5x32/64/128/256), for every other image (55x55x3 YTF, odd
    sizes): D = four C(.,5,s2,pad 2)-LReLU(0.2) layers (32, 64, 128, 256 channels) -> FC1;
    G = FC(256 x h x w)-BN-ReLU -> four DC(.,5,s2) layers back to H x W (output padding chosen per
    layer so the sizes invert exactly), BN-ReLU between them.
``dcgan128`` C x 128 x 128 images (COIL-100, DC3 Table 5 / Fig. 4; COIL-20). Neither paper gives
    a network for them (DC3 Table 10 stops at YTF), so this is our choice: DCGAN (Radford et al.)
    extended by one up/down-sampling stage from 64 to 128 pixels, 5x5 kernels as in DCGAN's
    reference implementation, with the layer sizes of the DLS reference code's COIL-100 network
    (``ifding/DLS-Clustering:coil/clus_wgan.py``, same authors as DC3; read for its sizes only):
    D/E body  C(64,5,s2)-LReLU -> C(128,5,s2)-LReLU -> C(256,5,s2)-LReLU -> C(512,5,s1)-LReLU
              -> C(1024,5,s2)-LReLU -> flatten 1024 x 8 x 8 (pad 2: 128 -> 64 -> 32 -> 16 -> 16 -> 8)
    G         FC(1024 x 8 x 8)-BN-ReLU -> DC(512,5,s2)-BN-ReLU -> DC(256,5,s2)-BN-ReLU
              -> DC(128,5,s2)-BN-ReLU -> DC(64,5,s2)-BN-ReLU -> DC(C,5,s1) -> sigmoid (8 -> 128)
    Departures from that code: LReLU after E's third conv too (the reference E feeds the
    pre-activation to its fourth layer, a slip: its D does not), sigmoid output for [0, 1] data
    (the reference ends with tanh on [0, 1] COIL data), no L2 on G unless ``weight_decay``.
    Channel widths: :data:`DCGAN128_CHANNELS`. z_c = K (100 for COIL-100), z_n from the table
    (DC3 Table 9: 100).
``mlp``    Table 1's Pendigits / 10x_73k rows, for vectors: G z-256-256-d (BN-ReLU), D d-256-256-1
    (LReLU 0.2).

E = D's body with a (d_n + K) head: ``E(x) -> (z_n: B x d_n, logits: B x K)``; softmax on the K
logits gives the cluster posterior (DLS §4.2).

Choices where the papers are silent or disagree with the code: batch norm in G only (the
reference D and E have none, and a batch-normalised critic breaks the per-sample gradient
penalty of WGAN-GP); ReLU in G, LeakyReLU 0.2 in D and E (DCGAN, as the reference code; the
paper's "leaky ReLU 0.2" is D's); G ends with a sigmoid when the data lie in [0, 1] (images as
stored here; the reference MNIST code too), linear otherwise. Initialisation N(0, 0.02) of every
linear/conv weight, zero biases (§4.2 "random normal"; reference ``stddev=0.02``).

Latent size d_n (DLS Table 2 = DC3 Table 9; ClusterGAN's from its README) per sample shape: each
method passes its own table; ``latent_dim`` overrides it. On the papers' data sets the run's
config carries the paper's value (``methods/dataset_settings.toml``, applied at plan time: e.g.
Fashion-MNIST's 40, which its shape, MNIST's, cannot tell); the shape table decides for every
other data set (1x28x28 is MNIST's entry). A shape in no table takes the entry of the nearest
known shape of the same kind (image / vector; nearest by log of the number of values), and the
record's ``architecture`` extras say so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from clusterbench.errors import ConfigError
from clusterbench.nn.dual_aae import _normal_init

GAN_ARCHS = ("auto", "conv4", "conv5", "dcgan128", "mlp")
#: Channels of the ``dcgan128`` family's five D/E layers (G mirrors them): the DLS reference COIL-100 sizes.
DCGAN128_CHANNELS: tuple[int, int, int, int, int] = (64, 128, 256, 512, 1024)

#: DLS Table 2 / DC3 Table 9: continuous latent size d_n by sample shape (and the data set it is from).
DLS_LATENT: dict[tuple[int, ...], tuple[int, str]] = {
    (1, 28, 28): (25, "MNIST (Fashion-MNIST: 40)"),
    (3, 55, 55): (60, "YTF"),
    (16,): (5, "Pendigits"),
    (720,): (30, "10x_73k"),
    (3, 128, 128): (100, "COIL-100"),
}


def _lrelu() -> nn.Module:
    return nn.LeakyReLU(0.2)


def _conv5_sizes(h: int, w: int) -> list[tuple[int, int]]:
    """Spatial sizes through four C(5, s2, pad 2) layers: ceil(s / 2) each time (5 entries)."""
    sizes = [(h, w)]
    for _ in range(4):
        sizes.append(((sizes[-1][0] + 1) // 2, (sizes[-1][1] + 1) // 2))
    return sizes


@dataclass(frozen=True)
class GANSpec:
    """Resolved networks: family, sample shape, K, d_n, output activation, and how they were chosen.

    ``style_dim`` / ``noise_dim`` / ``is_image`` make it usable by ``training.artifacts.generation_artifacts``
    (no style code; the noise code is z_n).
    """

    name: str
    sample_shape: tuple[int, ...]
    n_clusters: int
    latent_dim: int
    sigmoid_out: bool
    latent_from: str
    nearest_note: str | None = None

    style_dim = 0

    @property
    def noise_dim(self) -> int:
        return self.latent_dim

    @property
    def is_image(self) -> bool:
        return len(self.sample_shape) == 3

    @property
    def n_values(self) -> int:
        return int(np.prod(self.sample_shape))

    def describe(self) -> dict[str, Any]:
        out = {"arch": self.name, "sample_shape": list(self.sample_shape), "z_c": self.n_clusters,
               "z_n": self.latent_dim, "z_n_from": self.latent_from, "sigmoid_out": self.sigmoid_out}
        if self.nearest_note:
            out["nearest_family"] = self.nearest_note
        return out


def _auto_family(shape: tuple[int, ...]) -> str:
    if len(shape) == 1:
        return "mlp"
    if len(shape) == 3 and all(s % 4 == 0 and 4 <= s <= 32 for s in shape[1:]):
        return "conv4"
    if len(shape) == 3 and shape[1:] == (128, 128):
        return "dcgan128"
    return "conv5"


def _nearest_latent(shape: tuple[int, ...], table: dict[tuple[int, ...], tuple[int, str]]) -> tuple[int, str, bool]:
    """(d_n, source, exact) for ``shape`` from ``table`` (nearest same-kind shape when absent)."""
    if shape in table:
        d, src = table[shape]
        return d, src, True
    same = [s for s in table if len(s) == len(shape)] or list(table)
    size = math.log(max(int(np.prod(shape)), 1))
    best = min(same, key=lambda s: (abs(math.log(int(np.prod(s))) - size), s))
    d, src = table[best]
    return d, f"{src}, nearest known shape {'x'.join(map(str, best))}", False


def resolve_gan_arch(sample_shape: tuple[int, ...], n_clusters: int, *,
                     latent_table: dict[tuple[int, ...], tuple[int, str]], arch: str = "auto",
                     latent_dim: int | None = None, unit_range: bool = True) -> GANSpec:
    """Choose the family and d_n for samples of ``sample_shape`` (module docstring)."""
    shape = tuple(int(s) for s in sample_shape)
    if arch not in GAN_ARCHS:
        raise ConfigError(f"arch={arch!r} is not a GAN architecture.", hint=f"Use one of {', '.join(GAN_ARCHS)}.")
    if len(shape) not in (1, 3):
        raise ConfigError(f"GAN methods take vectors (N x D) or images (N x C x H x W); got samples of shape {shape}.")
    auto = _auto_family(shape)
    name = auto if arch == "auto" else arch
    if name == "mlp" and len(shape) != 1:
        raise ConfigError(f"arch=mlp takes vectors; the data have samples of shape {shape}.", hint="Use arch=auto.")
    if name == "dcgan128" and (len(shape) != 3 or shape[1:] != (128, 128)):
        raise ConfigError(f"arch=dcgan128 takes C x 128 x 128 images; the data have samples of shape {shape}.",
                          hint="Use arch=auto.")
    if name in ("conv4", "conv5") and len(shape) != 3:
        raise ConfigError(f"arch={name} takes C x H x W images; the data have samples of shape {shape}.",
                          hint="Use arch=auto (mlp for vectors).")
    if name == "conv4" and _auto_family(shape) != "conv4":
        raise ConfigError(f"arch=conv4 needs H and W divisible by 4 and at most 32; got {shape}.",
                          hint="Use arch=auto or arch=conv5.")
    d_n, src, exact = _nearest_latent(shape, latent_table)
    if latent_dim is not None:
        if int(latent_dim) < 1:
            raise ConfigError(f"latent_dim must be >= 1, got {latent_dim}.")
        d_n, src = int(latent_dim), "config latent_dim"
    note = None
    if not (shape in ((1, 28, 28), (3, 55, 55)) or len(shape) == 1):
        ref = {"conv4": "the 28x28 MNIST/Fashion family (Table 1), maps scaled to H/4 x W/4",
               "conv5": "the 55x55x3 YTF family (Table 1), four stride-2 5x5 layers",
               "dcgan128": "our DCGAN extension to 128x128 (the papers give none; gan/nets.py docstring)",
               "mlp": "the MLP 256-256 family"}[name]
        note = f"{'x'.join(map(str, shape))} is not a shape of the papers: {ref}"
    if not exact and latent_dim is None:
        note = (note + "; " if note else "") + f"z_n size from {src}"
    return GANSpec(name, shape, int(n_clusters), d_n, bool(unit_range), src, note)


class _Unflatten(nn.Module):
    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.shape = shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.shape)


def _body(spec: GANSpec) -> tuple[nn.Sequential, int]:
    """D's (and E's) body: B x sample shape -> B x features, and the feature count."""
    if spec.name == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(spec.n_values, 256), _lrelu(), nn.Linear(256, 256), _lrelu()), 256
    c, h, w = spec.sample_shape
    if spec.name == "conv4":
        return nn.Sequential(
            nn.Conv2d(c, 64, 4, 2, 1), _lrelu(), nn.Conv2d(64, 128, 4, 2, 1), _lrelu(), nn.Flatten(),
            nn.Linear(128 * (h // 4) * (w // 4), 1024), _lrelu(),
        ), 1024
    if spec.name == "dcgan128":
        chans, strides = [c, *DCGAN128_CHANNELS], (2, 2, 2, 1, 2)
        layers = []
        for i, st in enumerate(strides):
            layers += [nn.Conv2d(chans[i], chans[i + 1], 5, st, 2), _lrelu()]
        return nn.Sequential(*layers, nn.Flatten()), chans[-1] * (h // 16) * (w // 16)
    chans = [c, 32, 64, 128, 256]
    layers: list[nn.Module] = []
    for i in range(4):
        layers += [nn.Conv2d(chans[i], chans[i + 1], 5, 2, 2), _lrelu()]
    hh, ww = _conv5_sizes(h, w)[-1]
    return nn.Sequential(*layers, nn.Flatten()), 256 * hh * ww


def build_generator(spec: GANSpec) -> nn.Module:
    """G: B x (K + d_n) -> B x sample shape (input z = (z_c, z_n))."""
    zdim = spec.n_clusters + spec.latent_dim
    out_act: list[nn.Module] = [nn.Sigmoid()] if spec.sigmoid_out else []
    if spec.name == "mlp":
        net = nn.Sequential(nn.Linear(zdim, 256), nn.BatchNorm1d(256), nn.ReLU(),
                            nn.Linear(256, 256), nn.BatchNorm1d(256), nn.ReLU(),
                            nn.Linear(256, spec.n_values), *out_act, _Unflatten(spec.sample_shape))
    elif spec.name == "conv4":
        c, h, w = spec.sample_shape
        net = nn.Sequential(
            nn.Linear(zdim, 1024), nn.BatchNorm1d(1024), nn.ReLU(),
            nn.Linear(1024, 128 * (h // 4) * (w // 4)), nn.BatchNorm1d(128 * (h // 4) * (w // 4)), nn.ReLU(),
            _Unflatten((128, h // 4, w // 4)),
            nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.ReLU(),
            nn.ConvTranspose2d(64, c, 4, 2, 1), *out_act,
        )
    elif spec.name == "dcgan128":
        c, h, w = spec.sample_shape
        ch = DCGAN128_CHANNELS
        top = (ch[4], h // 16, w // 16)
        layers = [nn.Linear(zdim, int(np.prod(top))), nn.BatchNorm1d(int(np.prod(top))), nn.ReLU(), _Unflatten(top)]
        for cin, cout in zip(ch[:0:-1], ch[-2::-1]):  # 1024 -> 512 -> 256 -> 128 -> 64, doubling the size
            layers += [nn.ConvTranspose2d(cin, cout, 5, 2, 2, output_padding=1), nn.BatchNorm2d(cout), nn.ReLU()]
        net = nn.Sequential(*layers, nn.ConvTranspose2d(ch[0], c, 5, 1, 2), *out_act)
    else:
        c, h, w = spec.sample_shape
        sizes = _conv5_sizes(h, w)
        chans = [c, 32, 64, 128, 256]
        hh, ww = sizes[-1]
        layers: list[nn.Module] = [nn.Linear(zdim, 256 * hh * ww), nn.BatchNorm1d(256 * hh * ww), nn.ReLU(),
                                   _Unflatten((256, hh, ww))]
        for i in range(4, 0, -1):  # 256 -> 128 -> 64 -> 32 -> C, sizes back up exactly
            th, tw = sizes[i - 1]
            op = (th - 2 * sizes[i][0] + 1, tw - 2 * sizes[i][1] + 1)
            layers.append(nn.ConvTranspose2d(chans[i], chans[i - 1], 5, 2, 2, output_padding=op))
            if i > 1:
                layers += [nn.BatchNorm2d(chans[i - 1]), nn.ReLU()]
        net = nn.Sequential(*layers, *out_act)
    _normal_init(net)
    return net


class Critic(nn.Module):
    """D: B x sample shape -> B x 1 (a WGAN critic: no sigmoid, no batch norm)."""

    def __init__(self, spec: GANSpec) -> None:
        super().__init__()
        self.body, feats = _body(spec)
        self.head = nn.Linear(feats, 1)
        _normal_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


class Encoder(nn.Module):
    """E: D's body with a (d_n + K) head: B x sample shape -> (z_n: B x d_n, logits: B x K)."""

    def __init__(self, spec: GANSpec) -> None:
        super().__init__()
        self.d_n, self.k = spec.latent_dim, spec.n_clusters
        self.body, feats = _body(spec)
        self.head = nn.Linear(feats, self.d_n + self.k)
        _normal_init(self)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.head(self.body(x)).float()
        return out[:, : self.d_n], out[:, self.d_n :]


__all__ = ["DCGAN128_CHANNELS", "DLS_LATENT", "GAN_ARCHS", "Critic", "Encoder", "GANSpec", "build_generator", "resolve_gan_arch"]
