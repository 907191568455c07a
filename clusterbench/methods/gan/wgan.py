"""WGAN-GP (Gulrajani et al., 2017), as ClusterGAN's and DLS-Clustering's reference code uses it.

Critic loss  L_D = E D(G(z)) - E D(x) + lambda * E[(||grad_x^ D(x^)||_2 - 1)^2],
x^ = eps * x + (1 - eps) * G(z), lambda = 10 (DLS §4.2: "lambda = 10").

The interpolation weight: the reference code (``sudiptodip15/ClusterGAN``, ``ifding/DLS-Clustering``)
draws ONE scalar eps per batch (``tf.random_uniform([])``); this is the default here
(``per_sample_eps=False``). Gulrajani et al. and the PyTorch port ``zhampel/clusterGAN`` draw one
eps per sample (``per_sample_eps=True``).

Generator's adversarial term  L_G = -E D(G(z))  (DLS Algorithm 1 line 14: -D_psi(G_theta(z))).
M = 5 critic iterations per generator iteration (DLS Algorithm 1 lines 2-8; reference ``d_iters``):
:class:`CriticSchedule` counts them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from clusterbench.precision import float32

#: DLS §4.2 / ClusterGAN code: gradient-penalty weight.
GP_WEIGHT = 10.0
#: DLS Algorithm 1 (M) / reference code (5 critic steps per generator step).
CRITIC_ITERS = 5


@torch._disable_dynamo  # never traced by torch.compile (capture=compile): aot_autograd has no double backward
@float32  # the critic's input gradient norms (and the critic pass on x^): float32 under any autocast
def gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor,
                     *, per_sample_eps: bool = False, generator: torch.Generator | None = None) -> torch.Tensor:
    """E[(||grad D(x^)||_2 - 1)^2] on x^ = eps x + (1 - eps) fake (B x sample shape each).

    ``per_sample_eps``: one eps per sample (Gulrajani) instead of one per batch (reference code).
    The gradient is taken with ``create_graph=True`` so the penalty trains the critic.
    """
    shape = (real.shape[0],) + (1,) * (real.ndim - 1) if per_sample_eps else (1,) * real.ndim
    eps = torch.rand(shape, device=real.device, generator=generator, dtype=real.dtype)
    x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    out = eager(critic)(x_hat)  # differentiated twice: aot_autograd (torch.compile) has no double backward
    (grad,) = torch.autograd.grad(out.sum(), x_hat, create_graph=True)
    norms = grad.flatten(1).float().norm(2, dim=1)
    return ((norms - 1.0) ** 2).mean()


def eager(fn: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[torch.Tensor], torch.Tensor]:
    """``fn`` without compilation: the plain forward of a module compiled in place
    (``module.compile()``, the loop's ``compile`` option) or wrapped (``torch.compile(module)``);
    ``fn`` itself otherwise. The gradient penalty runs through it (issue 23: compiling crashed every
    gradient-penalty method with "aot_autograd does not currently support double backward")."""
    fn = getattr(fn, "_orig_mod", fn)
    if isinstance(fn, torch.nn.Module) and getattr(fn, "_compiled_call_impl", None) is not None:
        return fn._call_impl
    return fn


@dataclass
class CriticLoss:
    """The parts of one critic loss (scalars): total, Wasserstein estimate E D(x) - E D(G(z)), GP."""

    total: torch.Tensor
    wasserstein: torch.Tensor
    penalty: torch.Tensor


def critic_loss(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor, *,
                gp_weight: float = GP_WEIGHT, per_sample_eps: bool = False) -> CriticLoss:
    """WGAN-GP critic loss E D(fake) - E D(real) + gp_weight * GP (module docstring); ``fake`` is
    detached (the critic step never trains G)."""
    d_real = critic(real).float().mean()
    d_fake = critic(fake.detach()).float().mean()
    gp = gradient_penalty(critic, real, fake, per_sample_eps=per_sample_eps) if gp_weight else \
        torch.zeros((), device=real.device)
    w = d_real - d_fake
    return CriticLoss(total=-w + gp_weight * gp, wasserstein=w.detach(), penalty=gp.detach())


def generator_loss(critic: Callable[[torch.Tensor], torch.Tensor], fake: torch.Tensor) -> torch.Tensor:
    """-E D(G(z)) (DLS Algorithm 1 line 14): the generator's adversarial term."""
    return -critic(fake).float().mean()


class CriticSchedule:
    """M critic iterations per generator iteration, over the loop's batches: each batch is one
    critic iteration (one fresh real batch each, as Algorithm 1 line 7 samples x_r per critic
    step), and every M-th batch is followed by one generator iteration on that batch. The counts
    are part of the training state (checkpointed with it)."""

    def __init__(self, critic_iters: int = CRITIC_ITERS) -> None:
        if critic_iters < 1:
            raise ValueError(f"critic_iters must be >= 1, got {critic_iters}")
        self.m = int(critic_iters)
        self.critic_steps = 0
        self.generator_steps = 0

    def critic_step_done(self) -> bool:
        """Count one critic step; True when a generator step is due now."""
        self.critic_steps += 1
        return self.critic_steps % self.m == 0

    def generator_due_next(self) -> bool:
        """Whether the next critic step will be followed by a generator step (changes nothing)."""
        return (self.critic_steps + 1) % self.m == 0

    def generator_step_done(self) -> None:
        self.generator_steps += 1

    def state_dict(self) -> dict[str, int]:
        return {"m": self.m, "critic_steps": self.critic_steps, "generator_steps": self.generator_steps}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.m, self.critic_steps, self.generator_steps = int(state["m"]), int(state["critic_steps"]), \
            int(state["generator_steps"])


__all__ = ["CRITIC_ITERS", "GP_WEIGHT", "CriticLoss", "CriticSchedule", "critic_loss", "eager", "generator_loss",
           "gradient_penalty"]
