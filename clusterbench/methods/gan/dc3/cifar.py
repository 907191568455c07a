"""DC3-GAN's CIFAR-10 setting (paper 003 §3.4 "CIFAR-10", Appendix A.2 last paragraph, Table 12):
``variant=cifar10`` with the paper's values (:data:`CIFAR10_SETTINGS`). The variant is never
guessed from the data's shape: it follows from the data set, through the per-data-set settings
file (``methods/dataset_settings.toml``), so ``clusterbench run dc3-gan -d cifar10-test`` (or
``cifar10`` / ``cifar10-train``) without ``--set`` is the paper's CIFAR-10 run; on other 3 x 32 x 32
data ``--set variant=cifar10`` (and the values) name it.

Networks (``nn.sn_resnet``):

* G: the SN-ResNet generator of Table 12 (compare_gan ``resnet_cifar``): z_n (128) -> Linear
  4x4x256 -> three up-sampling residual blocks -> BN, ReLU -> conv 3x3 -> sigmoid (images in
  [0, 1], as stored). z_c enters through class-conditional batch norm (Lucic et al.; "the same
  class-conditional BatchNorm in the generator", Appendix A.2), so a soft z_c (E's softmax, in the
  reconstruction x^_r = G(z^r)) scales and shifts the features linearly.
* D: the SN-ResNet discriminator of Table 12 (two down-sampling and two plain residual blocks of
  width 128, ReLU, mean pooling, Linear -> 1 logit). Spectral normalisation on every conv/linear
  layer of G and D (Appendix A.2).
* E: a frozen SimCLR ResNet-18 (``methods.pretrain.simclr``) and a trainable MLP 512 -> 512 -> 138
  (= z_n 128 + K 10; Appendix A.2: "2-layer MLP with hidden size 512 and output size 138").

Losses: DC3-GAN's Algorithm 1 as ``dc3.model.DC3GANModel`` computes it (L_AE, MMD, L_n, L_CE) with
beta1 = beta2 = beta3 = 1 (Appendix A.2). The adversarial loss (``gan_loss``): the paper's
Algorithm 1 writes the Wasserstein form, but its CIFAR-10 run is the authors' compare_gan
configuration (``ifding/compare_gan:s3gan_cifar.gin``: ``loss.fn = @non_saturating``,
``penalty.fn = @no_penalty``), so the CIFAR-10 settings use the non-saturating loss
(D: softplus(-D(x)) + softplus(D(G(z))); G: softplus(-D(G(z)))) with no gradient penalty
(``gp_weight=0``; a positive value adds WGAN-GP's penalty to D's loss). ``gan_loss=wasserstein``
runs Algorithm 1's form (with ``gp_weight``'s penalty) on the same networks. S3GAN's rotation
self-supervision (in that configuration, not in the paper) is not implemented.

Schedule (Appendix A.2): Adam lr 2e-4 for G, D and E, betas (0.5, 0.999), batch 64, 5 D steps
per G/E step (``critic_iters``: each loop batch is one D step, every 5th is followed by one G/E
step on that batch, ``gan.wgan.CriticSchedule``), z_n 128 (Table 9). The paper is silent on the
length: 500,000 generator iterations, the authors' gin file (``options.training_steps``; compare_gan
counts one G step per training step). The prior is DC3's: one-hot z_c uniform, z_n ~ N(0, sigma^2 I)
with sigma 0.10 ("Implementation Details"; the paper does not change it for CIFAR-10; compare_gan's
own default would be U[-1, 1]).

The SimCLR encoder (``simclr``): a data set id (default ``cifar10-train``: the 50,000 training
images) names the ``clusterbench simclr <id>`` result in the home's ``models/`` cache (seed 0);
``simclr-<16 hex>`` names one cache entry; a path is a user's checkpoint (a ResNet-18 state dict,
read with ``torch.load(weights_only=True)``, ``simclr.load_encoder``). The record's
``architecture.encoder`` gives the file, its sha256 and the pre-training's configuration.
Widths ``g_channels`` / ``d_channels`` (256 / 128, Table 12) exist for small tests.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from clusterbench.errors import ConfigError, DataError
from clusterbench.methods.gan.dc3.model import DC3GANModel
from clusterbench.methods.gan.wgan import CriticSchedule, gradient_penalty
from clusterbench.nn.gan import GANSpec
from clusterbench.nn.sn_resnet import ResNetDiscriminator, ResNetGenerator, SimCLREncoder
from clusterbench.training.contract import DeepModel
from clusterbench.plugins import dataset_settings

#: The paper's CIFAR-10 values that differ from dc3-gan's defaults (Appendix A.2; the loss and the
#: length from the authors' compare_gan gin file): read from the per-data-set settings file
#: (``methods/dataset_settings.toml``, ``[dc3-gan] cifar10``), which gives them at plan time to every
#: run on a CIFAR-10 split, so the Table 6/7 runs need no ``--set``.
CIFAR10_SETTINGS: dict[str, Any] = {k: v for k, v in dataset_settings("dc3-gan", "cifar10").items() if k != "latent_dim"}
#: The sample shape of the variant (Table 12: 32 x 32 x 3).
SAMPLE_SHAPE = (3, 32, 32)
#: z_n of CIFAR-10 (Table 9).
Z_N = 128


@dataclass(frozen=True)
class CIFARSpec(GANSpec):
    """GANSpec of the SN-ResNet networks plus the SimCLR weights E is built on (``encoder``:
    path, sha256, source and the pre-training's facts; recorded in ``architecture``)."""

    g_channels: int = 256
    d_channels: int = 128
    encoder: dict[str, Any] = field(default_factory=dict)
    settings_differ: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        out = {**super().describe(), "g_channels": self.g_channels, "d_channels": self.d_channels,
               "encoder": dict(self.encoder)}
        if self.settings_differ:
            out["paper_settings_differ"] = dict(self.settings_differ)
        return out


class ZcZnGenerator(nn.Module):
    """The Table 12 generator on the GAN methods' input layout: B x (K + d_n) = (z_c, z_n) ->
    B x 3 x 32 x 32; z_n feeds the linear layer, z_c the conditional batch norms."""

    def __init__(self, k: int, d_n: int, ch: int) -> None:
        super().__init__()
        self.k = k
        self.net = ResNetGenerator(z_dim=d_n, n_classes=k, ch=ch)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z[:, self.k :], z[:, : self.k])


class DC3CIFARModel(DC3GANModel):
    """DC3-GAN on the Table 12 networks (module docstring): optimisers "d" (D) and "ge" (G and
    E's MLP; the SimCLR backbone is frozen), the DC3 terms of :class:`DC3GANModel`, and D's
    non-saturating (or Wasserstein) loss."""

    def __init__(self, device: torch.device, spec: CIFARSpec, cfg: Any) -> None:
        DeepModel.__init__(self, device)  # not GANModel's: other networks, same attributes
        self.cfg, self.spec = cfg, spec
        self.K, self.d_n = spec.n_clusters, spec.latent_dim
        self.G = ZcZnGenerator(self.K, self.d_n, spec.g_channels).to(device)
        self.D = ResNetDiscriminator(ch=spec.d_channels).to(device)
        from clusterbench.methods.pretrain.simclr import load_encoder  # lazy: torchvision, only for the CIFAR encoder

        self.E = SimCLREncoder(load_encoder(spec.encoder["path"]), z_dim=self.d_n, n_classes=self.K).to(device)
        self.nets.update(G=self.G, D=self.D, E=self.E)
        betas = (cfg.adam_beta1, cfg.adam_beta2)
        self.optims["d"] = torch.optim.Adam(self.D.parameters(), lr=cfg.lr, betas=betas)
        trainable = [*self.G.parameters(), *(p for p in self.E.parameters() if p.requires_grad)]
        self.optims["ge"] = torch.optim.Adam(trainable, lr=cfg.lr, betas=betas)
        self.schedule = CriticSchedule(cfg.critic_iters)

    def adversarial_loss(self, x_g: torch.Tensor) -> torch.Tensor:
        """G's term: softplus(-D(G(z))) (non-saturating) or -D(G(z)) (Wasserstein); scalar."""
        if self.cfg.gan_loss == "wasserstein":
            return super().adversarial_loss(x_g)
        return nn.functional.softplus(-self.D(x_g).float()).mean()

    def training_step(self, x: torch.Tensor, step: int) -> dict[str, torch.Tensor | float]:
        if self.cfg.gan_loss == "wasserstein":  # WGAN(-GP) critic step, as the other data sets
            return super().training_step(x, step)
        z = self.draw(x.shape[0])
        with self.optimizing("d") as opt:
            with torch.no_grad():
                fake = self.G(z.z)
            d_real, d_fake = self.D(x).float(), self.D(fake).float()
            loss = nn.functional.softplus(-d_real).mean() + nn.functional.softplus(d_fake).mean()
            if self.cfg.gp_weight:
                loss = loss + self.cfg.gp_weight * gradient_penalty(self.D, x, fake)
            opt.backward(loss)
        out: dict[str, torch.Tensor | float] = {"d": loss.detach(), "d_real": d_real.mean().detach(),
                                                "d_fake": d_fake.mean().detach()}
        if self.schedule.critic_step_done():
            out.update(self.generator_step(x))
            self.schedule.generator_step_done()
        return out


def check_options(cfg: Any) -> None:
    """ValueError for option values no run could use (called by dc3-gan's Config)."""
    if cfg.variant not in ("table10", "cifar10"):
        raise ValueError(f"variant must be table10 (Table 10 networks) or cifar10 (Table 12 + SimCLR), got {cfg.variant!r}")
    if cfg.gan_loss not in ("wasserstein", "non-saturating"):
        raise ValueError(f"gan_loss must be wasserstein or non-saturating, got {cfg.gan_loss!r}")
    if cfg.variant == "table10" and cfg.gan_loss != "wasserstein":
        raise ValueError("gan_loss=non-saturating is the cifar10 variant's (compare_gan); the Table 10 networks use "
                         "WGAN-GP: set variant=cifar10 or leave gan_loss=wasserstein")
    if cfg.g_channels < 1 or cfg.d_channels < 1:
        raise ValueError(f"g_channels and d_channels must be >= 1, got {cfg.g_channels}, {cfg.d_channels}")


def plan_problem(config: dict[str, Any], sample_shape: tuple[int, ...]) -> str | None:
    """Why variant=cifar10 with ``config`` cannot run on samples of ``sample_shape`` (plan time)."""
    from clusterbench.methods.pretrain.simclr import checkpoint_path  # lazy, as in resolve_spec

    if tuple(sample_shape) != SAMPLE_SHAPE:
        return (f"variant=cifar10 takes 3 x 32 x 32 images (DC3 Table 12), this data set has samples of shape "
                f"{tuple(sample_shape)}; use variant=table10 (the default) for other data sets.")
    path = checkpoint_path(str(config.get("simclr", "")))
    if path is not None and not path.is_file():
        return (f"the SimCLR checkpoint simclr={path} does not exist; give the path of a ResNet-18 state dict, or "
                "pre-train one with `clusterbench simclr cifar10-train`.")
    return None


def resolve_spec(cfg: Any, X: Any, n_clusters: int, unit_range: bool) -> CIFARSpec:
    """The variant's networks for data X (N x 3 x 32 x 32 in [0, 1]) and the SimCLR weights
    (resolved now, so a missing encoder stops the run before any training)."""
    from clusterbench.methods.pretrain.simclr import resolve_weights  # lazy: torchvision, only for this variant

    shape = tuple(int(s) for s in X.shape[1:])
    if shape != SAMPLE_SHAPE:
        raise ConfigError(f"dc3-gan variant=cifar10 takes 3 x 32 x 32 images (DC3 Table 12); the data have samples "
                          f"of shape {shape}.", hint="Use variant=table10 (the default) for other data sets.")
    if not unit_range:
        raise DataError("dc3-gan variant=cifar10 needs images in [0, 1] (the SimCLR encoder's and G's sigmoid range).",
                        hint="Use the data set as stored.")
    if cfg.weight_decay:
        raise ConfigError("weight_decay is not used by dc3-gan variant=cifar10 (Appendix A.2 has none).",
                          hint="Leave weight_decay=0.")
    d_n = Z_N if cfg.latent_dim is None else int(cfg.latent_dim)
    if d_n < 1:
        raise ConfigError(f"latent_dim must be >= 1, got {d_n}.")
    encoder = resolve_weights(cfg.simclr)
    differ = settings_differ(cfg)
    if differ:  # allowed (ablations, short runs), and said: the record's warnings and architecture
        warnings.warn("dc3-gan variant=cifar10 runs with values other than the paper's CIFAR-10 settings: "
                      + ", ".join(f"{k}={v['run']} (paper {v['paper']})" for k, v in differ.items()), stacklevel=2)
    return CIFARSpec("sn-resnet", SAMPLE_SHAPE, int(n_clusters), d_n, True,
                     "CIFAR-10 (Table 9)" if cfg.latent_dim is None else "config latent_dim",
                     g_channels=int(cfg.g_channels), d_channels=int(cfg.d_channels), encoder=encoder,
                     settings_differ=differ)


def settings_differ(cfg: Any) -> dict[str, Any]:
    """The paper's CIFAR-10 values (:data:`CIFAR10_SETTINGS`) that ``cfg`` does not have: key ->
    (paper, run)."""
    out = {}
    for k, v in CIFAR10_SETTINGS.items():
        have = getattr(cfg, k)
        if (have != v) if isinstance(v, str) else not np.isclose(float(have), float(v)):
            out[k] = {"paper": v, "run": have}
    return out


__all__ = ["CIFAR10_SETTINGS", "CIFARSpec", "DC3CIFARModel", "ZcZnGenerator", "check_options", "resolve_spec",
           "settings_differ"]
