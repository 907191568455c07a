"""DC3-GAN (Double Cycle-Consistent GAN; paper 003, Appendix A.1 Algorithm 1, Eq. 7): a WGAN-GP
generator G, critic D and encoder E on the discrete-continuous prior, with two cycles: the
generator-encoder pair (z -> G -> E recovers z_c and z_n) and the encoder-generator pair (a
deterministic auto-encoder x -> E -> G under an MMD prior on z_n).

Per generator iteration (after M = 5 WGAN-GP critic steps, lines 1-7, ``gan.wgan``), on the last
critic step's real batch x_r (lines 8-15):
    z = (z_c, z_n) ~ prior;  x_g = G(z);  (z^_c, z^_n) = E(x_g);  (z^r_c, z^r_n) = E(x_r)
    x^_r = G(softmax z^r_c, z^r_n)
    L_theta = -D(G(z)) + L_AE + b1 MMD(z^r_n, z_n) + b2 L_n + b3 L_CE        (line 14)
    L_phi   =            L_AE + b1 MMD(z^r_n, z_n) + b2 L_n + b3 L_CE        (line 15)
with L_AE = mean |x_r - x^_r| (Eq. 6, mean ABSOLUTE error; DLS uses the squared error),
L_n = ||z_n - z^_n||^2 on the generated samples (line 14; mean over the batch and the d_n
dimensions, as DLS's reference code reduces its L_n), L_CE = H(z_c, z^_c) (Eq. 3, cross-entropy of
E's logits on G(z) against the drawn cluster), MMD = RBF-MMD with WAE's median bandwidth (Eq. 5,
``gan.mmd``). No L_c term (DLS's second cycle through x'_g is not in DC3's Algorithm 1). As in DLS
(same authors, same code base), the adversarial term does not depend on phi, so one backward of
L_theta and one Adam step over theta and phi perform lines 14 and 15 at the same parameters; x^_r
uses the softmax of E's logits (DLS reference code: ``G(E_n(x), softmax E_c(x))``; the paper writes
z^r = (z^r_c, z^r_n) without saying).

Defaults: lambda = 10, beta1 = beta2 = 0.1, beta3 = 10 ("Implementation Details", Section 3);
sigma 0.10 (ibid.); d_n from Table 9 per data set (``methods/dataset_settings.toml``, written into
the run's config at plan time: MNIST 25, Fashion-MNIST 40, YTF 60, Pendigits 5, 10x_73k 30,
COIL-100 100, CIFAR-10 128; by sample shape for other data sets) and the
networks of Table 10 (``gan.nets``: conv4 for MNIST/Fashion, conv5 for YTF, MLP 256-256 for
vectors). The paper is silent on the optimiser, batch size, M and the training length: the DLS
reference code's values are used (Adam 1e-4, betas (0.5, 0.9), batch 64, M = 5, one
gradient-penalty eps per batch, 150,000 generator iterations; Pendigits 500,000 and 10x_73k
100,000, the DLS reference's per-data-set scripts, from the settings file).

Ablations (Table 8) are the switches the report's table spec names (``report/tables/dc3.toml``):
``--set loss_ce=false`` / ``loss_n=false`` / ``loss_mmd=false`` / ``loss_ae=false`` (one command
per row); a switched-off term's weight is 0 and it is left out of the sum; everything else is
unchanged.

CIFAR-10 (Tables 6-7, Appendix A.2, Table 12): ``variant=cifar10`` with the paper's values
(``cifar.CIFAR10_SETTINGS``), given at plan time to every run on a CIFAR-10 split by the
per-data-set settings file (``methods/dataset_settings.toml``), so ``clusterbench run dc3-gan -d
cifar10-test`` needs no ``--set``: SN-ResNet G/D, a frozen SimCLR encoder with a trainable MLP,
non-saturating loss (``methods.gan.dc3.cifar``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch

from clusterbench.methods.base import Method
from clusterbench.methods.gan.dc3 import cifar as dc3_gan_cifar
from clusterbench.methods.gan.dc3.model import ABLATIONS, DC3_LATENT, DC3GANModel
from clusterbench.methods.gan.model import GANConfig, GANMethod
from clusterbench.nn.gan import GANSpec
from clusterbench.training.data import _unit_range


class DC3GAN(GANMethod, Method):
    """DC3-GAN (module docstring)."""

    name = "dc3-gan"
    deep = True
    generative = True
    latent_table: ClassVar[dict[tuple[int, ...], tuple[int, str]]] = DC3_LATENT

    @dataclass
    class Config(GANConfig):
        """Defaults: DC3 Section 3 "Implementation Details" (lambda = gp_weight = 10, beta1 = beta2
        = 0.1, beta3 = 10, sigma 0.10), Tables 9-10 (d_n, networks); where the paper is silent, the
        DLS reference code (150,000 generator iterations, batch 64, M = 5, Adam 1e-4 (0.5, 0.9)).
        loss_ce / loss_n / loss_mmd / loss_ae: False removes that term (Table 8's ablations).
        variant: "table10" (Table 10 networks, WGAN-GP) or "cifar10" (Table 12 SN-ResNet + SimCLR
        encoder, ``methods.gan.dc3.cifar``); gan_loss ("wasserstein" or, cifar10 only,
        "non-saturating"), simclr (the encoder's weights: a data set id whose ``clusterbench simclr``
        result to use, ``simclr-<key>`` or a checkpoint path), g_channels / d_channels (Table 12
        widths) are the cifar10 variant's."""

        iterations: int | None = field(
            default=150_000, metadata={"help": "generator iterations (DLS reference code: 150,000)"})
        beta1: float = field(default=0.1, metadata={"help": "weight beta1 (DC3 Sec. 3: 0.1)"})
        beta2: float = field(default=0.1, metadata={"help": "weight beta2 (DC3 Sec. 3: 0.1)"})
        beta3: float = field(default=10.0, metadata={"help": "weight beta3 (DC3 Sec. 3: 10)"})
        loss_ce: bool = field(default=True, metadata={"help": "keep the cross-entropy term (false: Table 8 ablation)"})
        loss_n: bool = field(default=True, metadata={"help": "keep the z_n term (false: Table 8 ablation)"})
        loss_mmd: bool = field(default=True, metadata={"help": "keep the MMD term (false: Table 8 ablation)"})
        loss_ae: bool = field(default=True, metadata={"help": "keep the auto-encoder term (false: Table 8 ablation)"})
        variant: str = field(
            default="table10", metadata={"help": "table10 (Table 10 networks, WGAN-GP) or cifar10 (SN-ResNet + SimCLR encoder)"})
        gan_loss: str = field(
            default="wasserstein", metadata={"help": "wasserstein, or non-saturating (cifar10 variant only)"})
        simclr: str = field(
            default="cifar10-train", metadata={"help": "cifar10 variant: the SimCLR encoder (a data set id, simclr-<key> or a path)"})
        g_channels: int = field(default=256, metadata={"help": "cifar10 variant: generator width (Table 12)"})
        d_channels: int = field(default=128, metadata={"help": "cifar10 variant: discriminator width (Table 12)"})

        def __post_init__(self) -> None:
            super().__post_init__()
            dc3_gan_cifar.check_options(self)
            for k in ("beta1", "beta2", "beta3"):
                if getattr(self, k) < 0:
                    raise ValueError(f"{k} must be >= 0, got {getattr(self, k)}")

    @classmethod
    def config_incompatibility(cls, config: dict[str, Any], *, sample_shape: tuple[int, ...], sparse: bool,
                               n_clusters: int) -> str | None:
        if config.get("variant") == "cifar10":
            return dc3_gan_cifar.plan_problem(config, sample_shape)
        return None

    def resolve_spec(self, X: Any, n_clusters: int) -> GANSpec:
        if self.config.variant == "cifar10":
            return dc3_gan_cifar.resolve_spec(self.config, X, n_clusters, _unit_range(X))
        return super().resolve_spec(X, n_clusters)

    def make_model(self, device: torch.device, spec: GANSpec) -> DC3GANModel:
        if self.config.variant == "cifar10":
            return dc3_gan_cifar.DC3CIFARModel(device, spec, self.config)
        return DC3GANModel(device, spec, self.config)


__all__ = ["ABLATIONS", "DC3GAN", "DC3GANModel", "DC3_LATENT"]
