"""The DeepModel and Method glue shared by the GAN methods (ClusterGAN, WGAN-GP, DLS; DC3-GAN).

:class:`GANModel` holds G, the critic D and (optionally) the encoder E built from a
:class:`~clusterbench.nn.gan.GANSpec`, their Adam optimisers ("d" for D, "ge" for G and
E together: the reference code minimises one G+E loss with one optimiser), the M-critic-steps
schedule, and the generative interface (``sample``, ``prior``/``generate`` for the generation
artifacts and mode counting). A subclass implements :meth:`GANModel.generator_step` (and
``predict`` when it clusters); :meth:`GANModel.training_step` does one WGAN-GP critic step per
batch and the generator step every M-th batch (``wgan.CriticSchedule``).

:class:`GANMethod` (with :class:`GANConfig`) counts the training length in generator iterations
(``iterations``; the reference code's ``num_batches``) and resolves the networks with the method's
latent-size table.

Samples (issue 28 item 10, kept): :meth:`GANModel.sample` (FID, SSIM, mode counts, the PNGs) runs
G in eval mode, so its batch norms use their running statistics; both TensorFlow references
(``sudiptodip15/ClusterGAN``, ``ifding/DLS-Clustering``) build G with ``tcl.batch_norm`` left in
training mode and so always sample with the batch's own statistics. Kept: eval-mode sampling is
the usual convention and makes a sample independent of the others in its batch (the running
statistics are those of G's training inputs); the FID and SSIM tables' notes (DC3 Tables 1, 2
and 7) say so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from clusterbench.errors import ConfigError
from clusterbench.methods.gan.prior import PRIOR_SIGMA, PriorSample, sample_prior
from clusterbench.methods.gan.wgan import CRITIC_ITERS, GP_WEIGHT, CriticSchedule, critic_loss
from clusterbench.nn.gan import GAN_ARCHS, Critic, Encoder, GANSpec, build_generator, resolve_gan_arch
from clusterbench.training.contract import DeepConfig, DeepModel
from clusterbench.training.data import _unit_range, batch_indices
from clusterbench.training.method import DeepMethod


@dataclass
class GANConfig(DeepConfig):
    """Options every GAN method shares. Defaults: ClusterGAN/DLS reference code (metrics-reference
    §9; DLS §4.2): Adam lr 1e-4, betas (0.5, 0.9), batch 64, M = 5 critic iterations per generator
    iteration, gradient penalty lambda = 10 with one eps per batch, prior sigma 0.10
    (Adam's betas are ``adam_beta1``/``adam_beta2``: DLS's beta1-beta4 are loss weights).

    iterations: training length in generator iterations (each takes M real batches: one per critic
        step; the generator step reuses the last, as Algorithm 1). None: ``epochs`` decides.
    epochs: a cap in epochs (None: as many as ``iterations`` needs); training stops at whichever
        comes first, and at least one of them must be set.
    arch: "auto", "conv4", "conv5", "mlp" (nn/gan.py). latent_dim: d_n (None: the method's
        table by sample shape, nearest known shape otherwise).
    weight_decay: L2 weight decay on G's weights (0: none).
    traversal_dims: z_n dimensions traversed in the PNG artifacts (Fig. 4), the first ones.
    style_dim / noise_dim / pretrain_epochs of DeepConfig are unused (must stay None / 0).
    monitor_every / checkpoint_every: in GENERATOR ITERATIONS here (not epochs; rounded to whole
        epochs of M-critic-step batches, at least one; 0: never / only at the end). Defaults 10,000
        and 50,000: 50 ACC/NMI evaluations and 10 checkpoints in a 500,000-iteration ClusterGAN run
        (a monitor per 1,093-batch MNIST epoch was 2,288 full predictions; issue 23).
    """

    iterations: int | None = field(
        default=150_000, metadata={"help": "training length in generator iterations (None: epochs decides)"})
    epochs: int | None = field(
        default=None, metadata={"help": "cap in epochs (None: as many as iterations needs)"})  # type: ignore[assignment]
    batch_size: int = field(default=64, metadata={"help": "samples per critic step"})
    latent_dim: int | None = field(
        default=None, metadata={"help": "size d_n of the continuous latent (None: the paper's value for the data)"})
    lr: float = field(default=1e-4, metadata={"help": "Adam learning rate"})
    adam_beta1: float = field(default=0.5, metadata={"help": "Adam's beta1"})
    adam_beta2: float = field(default=0.9, metadata={"help": "Adam's beta2"})
    critic_iters: int = field(default=CRITIC_ITERS, metadata={"help": "critic steps M per generator iteration"})
    gp_weight: float = field(default=GP_WEIGHT, metadata={"help": "gradient-penalty weight lambda of WGAN-GP"})
    per_sample_eps: bool = field(
        default=False, metadata={"help": "one interpolation eps per sample in the penalty (False: one per batch)"})
    sigma: float = field(default=PRIOR_SIGMA, metadata={"help": "standard deviation of the Gaussian part of the prior"})
    weight_decay: float = field(default=0.0, metadata={"help": "L2 weight decay on G's weights (0: none)"})
    traversal_dims: int = field(default=5, metadata={"help": "z_n dimensions traversed in the PNG artifacts (Fig. 4)"})
    monitor_every: int = field(
        default=10_000, metadata={"help": "ACC/NMI monitor cadence in generator iterations (0: never)"})
    checkpoint_every: int = field(
        default=50_000, metadata={"help": "checkpoint cadence in generator iterations (0: only at the end)"})

    @classmethod
    def known_archs(cls) -> tuple[str, ...]:
        return GAN_ARCHS


class GANModel(DeepModel):
    """G, D (and E) with the WGAN-GP critic schedule; see the module docstring."""

    has_encoder: ClassVar[bool] = True

    def __init__(self, device: torch.device, spec: GANSpec, cfg: GANConfig) -> None:
        super().__init__(device)
        self.cfg, self.spec = cfg, spec
        self.K, self.d_n = spec.n_clusters, spec.latent_dim
        self.G = build_generator(spec).to(device)
        self.D = Critic(spec).to(device)
        self.nets.update(G=self.G, D=self.D)
        betas = (cfg.adam_beta1, cfg.adam_beta2)
        self.optims["d"] = torch.optim.Adam(self.D.parameters(), lr=cfg.lr, betas=betas)
        g_weights = [m.weight for m in self.G.modules() if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d))]
        ids = {id(p) for p in g_weights}
        groups: list[dict[str, Any]] = [
            {"params": g_weights, "weight_decay": cfg.weight_decay},
            {"params": [p for p in self.G.parameters() if id(p) not in ids], "weight_decay": 0.0},
        ]
        if self.has_encoder:
            self.E = Encoder(spec).to(device)
            self.nets["E"] = self.E
            groups.append({"params": list(self.E.parameters()), "weight_decay": 0.0})
        self.optims["ge"] = torch.optim.Adam(groups, lr=cfg.lr, betas=betas)
        self.schedule = CriticSchedule(cfg.critic_iters)

    # the prior ------------------------------------------------------------------------------
    def draw(self, n: int, cluster: int | None = None) -> PriorSample:
        return sample_prior(n, self.K, self.d_n, sigma=self.cfg.sigma, device=self.device, cluster=cluster)

    # one batch = one critic step (+ one generator step every M-th batch) -------------------------
    def training_step(self, x: torch.Tensor, step: int) -> dict[str, torch.Tensor | float]:
        z = self.draw(x.shape[0])
        with self.optimizing("d") as opt:
            with torch.no_grad():
                fake = self.G(z.z)
            parts = critic_loss(self.D, x, fake, gp_weight=self.cfg.gp_weight, per_sample_eps=self.cfg.per_sample_eps)
            opt.backward(parts.total)
        out: dict[str, torch.Tensor | float] = {"d": parts.total.detach(), "wasserstein": parts.wasserstein,
                                                "gp": parts.penalty}
        if self.schedule.critic_step_done():
            out.update(self.generator_step(x))
            self.schedule.generator_step_done()
        return out

    # whole-step capture: two control paths, critic only and critic + generator ------------------
    def capture_key(self, phase: str, step: int) -> bool:
        return self.schedule.generator_due_next()

    def after_replay(self, phase: str, step: int) -> None:
        if self.schedule.critic_step_done():
            self.schedule.generator_step_done()

    def generator_step(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """One generator (and encoder) iteration on the real batch ``x``; returns its losses."""
        raise NotImplementedError

    def history_extras(self) -> dict[str, float]:
        return {"g_iterations": self.schedule.generator_steps, "critic_iterations": self.schedule.critic_steps}

    # checkpoints carry the schedule's counts ----------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "schedule": self.schedule.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.schedule.load_state_dict(state["schedule"])

    # the generative interface -----------------------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int, cluster: int | None = None) -> torch.Tensor:
        """n samples from the prior (of one cluster's z_c when given): n x sample shape, in the
        data's value range, in eval mode, no grad (float32, on the model's device)."""
        was = {k: m.training for k, m in self.nets.items()}
        self.train_mode(False)
        try:
            out = torch.cat([self.G(self.draw(min(512, n - i), cluster).z).float() for i in range(0, n, 512)]) \
                if n > 0 else torch.empty(0, *self.spec.sample_shape, device=self.device)
        finally:
            for k, m in self.nets.items():
                m.train(was[k])
        return out

    def prior(self, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(labels, z_c, h, z_n) with an empty style h: the (y, h, z) layout of the mode counter."""
        z = self.draw(n)
        return z.labels, z.z_c, z.z_n[:, :0], z.z_n

    @torch.no_grad()
    def generate(self, y: torch.Tensor, h: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """G on (z_c = y, z_n = z); ``h`` is empty (no style code)."""
        return self.G(torch.cat([y, z], 1))

    # clustering: argmax of E's softmax -----------------------------------------------------------
    @torch.no_grad()
    def predict(self, x: torch.Tensor):
        """(B x K softmax of E's logits, B x d_n z_n): the embedding is the continuous code alone,
        so the report's t-SNE of the stored embedding is DLS Fig. 2(2)."""
        z_n, logits = self.E(x)
        return logits.softmax(1), z_n


class GANMethod(DeepMethod):
    """Method glue of the GAN methods: training length in generator iterations, the GAN networks
    with the method's latent table (``latent_table``), PNGs with the prior's scale and DLS Fig. 4's
    traversal span [-0.5, 0.5]."""

    latent_table: ClassVar[dict[tuple[int, ...], tuple[int, str]]] = {}
    config: GANConfig

    def resolve_spec(self, X: Any, n_clusters: int) -> GANSpec:
        cfg = self.config
        if cfg.style_dim is not None or cfg.noise_dim is not None:
            raise ConfigError(f"{self.name} has no style/noise code: set latent_dim (the size of z_n) instead.")
        for k in ("iterations", "epochs"):
            v = getattr(cfg, k)
            if v is not None and v < 1:
                raise ConfigError(f"{k} must be >= 1 (or none), got {v}.")
        if cfg.iterations is None and cfg.epochs is None:
            raise ConfigError(f"{self.name} needs a training length: set iterations (generator iterations) or epochs.")
        if cfg.critic_iters < 1:
            raise ConfigError(f"critic_iters must be >= 1, got {cfg.critic_iters}.")
        return resolve_gan_arch(tuple(X.shape[1:]), n_clusters, latent_table=self.latent_table, arch=cfg.arch,
                                latent_dim=cfg.latent_dim, unit_range=_unit_range(X))

    def loop_length(self, n_samples: int) -> tuple[int, int | None]:
        """(epochs, max_steps): ``iterations`` generator iterations = iterations x M batches."""
        cfg = self.config
        if cfg.iterations is None:
            return int(cfg.epochs), None
        steps = int(cfg.iterations) * int(cfg.critic_iters)
        per_epoch = len(batch_indices(n_samples, cfg.batch_size, seed=0, epoch=1, drop_last=True))
        need = math.ceil(steps / per_epoch)
        return (need if cfg.epochs is None else int(cfg.epochs)), steps

    def cadence(self, n_samples: int) -> tuple[int, int]:
        """(checkpoint_every, monitor_every) in epochs from the config's generator iterations."""
        cfg = self.config
        per_epoch = len(batch_indices(n_samples, cfg.batch_size, seed=0, epoch=1, drop_last=True))

        def epochs(iters: int) -> int:
            return 0 if not iters else max(1, round(int(iters) * int(cfg.critic_iters) / per_epoch))

        return epochs(cfg.checkpoint_every), epochs(cfg.monitor_every)

    def generation_options(self) -> dict[str, Any]:
        return {"noise_std": self.config.sigma, "span": (-0.5, 0.5), "max_traversals": self.config.traversal_dims}


__all__ = ["GANConfig", "GANMethod", "GANModel"]
