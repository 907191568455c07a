"""Shared GAN pieces (clusterbench.methods.gan) on hand-made tensors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from clusterbench.errors import ConfigError
from clusterbench.methods.gan.mmd import mmd_rbf
from clusterbench.methods.gan.prior import sample_prior
from clusterbench.methods.gan.wgan import CriticSchedule, critic_loss, gradient_penalty
from clusterbench.nn.gan import DLS_LATENT, Critic, Encoder, build_generator, resolve_gan_arch

torch.set_num_threads(1)


def _linear_critic(w: torch.Tensor):
    return lambda x: x.flatten(1) @ w[:, None]


@pytest.mark.parametrize("per_sample", [False, True])
def test_gradient_penalty_zero_for_unit_slope_linear_critic(per_sample):
    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(32, 1, 4, 4, generator=g), torch.randn(32, 1, 4, 4, generator=g)
    w = torch.randn(16, generator=g)
    gp1 = gradient_penalty(_linear_critic(w / w.norm()), real, fake, per_sample_eps=per_sample)
    assert gp1.item() == pytest.approx(0.0, abs=1e-10)
    gp3 = gradient_penalty(_linear_critic(3 * w / w.norm()), real, fake, per_sample_eps=per_sample)
    assert gp3.item() == pytest.approx(4.0, rel=1e-5)  # (3 - 1)^2
    gp_half = gradient_penalty(_linear_critic(0.5 * w / w.norm()), real, fake, per_sample_eps=per_sample)
    assert gp_half.item() == pytest.approx(0.25, rel=1e-5)


def test_gradient_penalty_trains_the_critic_and_eps_modes_differ():
    torch.manual_seed(0)
    critic = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.Tanh(), nn.Linear(8, 1))
    real, fake = torch.randn(8, 1, 4, 4), torch.randn(8, 1, 4, 4) + 2
    loss = critic_loss(critic, real, fake, gp_weight=10.0)
    loss.total.backward()
    assert loss.penalty.item() > 0
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in critic.parameters())
    torch.manual_seed(1)
    a = gradient_penalty(critic, real, fake, per_sample_eps=False)
    torch.manual_seed(1)
    b = gradient_penalty(critic, real, fake, per_sample_eps=True)
    assert a.item() != pytest.approx(b.item())


def test_critic_loss_sign_and_parts():
    real, fake = torch.ones(4, 3), torch.zeros(4, 3)
    w = torch.ones(3) / 3 ** 0.5
    out = critic_loss(_linear_critic(w), real, fake, gp_weight=10.0)
    # E D(real) - E D(fake) = sqrt(3); GP = 0 for a unit-slope linear critic
    assert out.wasserstein.item() == pytest.approx(3 ** 0.5, rel=1e-6)
    assert out.total.item() == pytest.approx(-(3 ** 0.5), rel=1e-5)


def test_mmd_near_zero_for_one_gaussian_and_large_for_shifted():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(256, 5, generator=g) * 0.1, torch.randn(256, 5, generator=g) * 0.1
    same = mmd_rbf(a, b).item()
    shifted = mmd_rbf(a, b + 0.5).item()
    assert abs(same) < 0.01
    assert shifted > 0.3
    assert shifted > 30 * abs(same)
    # the estimate is unbiased: over many pairs of one Gaussian it averages ~0
    vals = [mmd_rbf(torch.randn(64, 5, generator=g), torch.randn(64, 5, generator=g)).item() for _ in range(50)]
    assert abs(sum(vals) / len(vals)) < 0.005
    with pytest.raises(ValueError):
        mmd_rbf(a, b[:10])


def test_mmd_gradient_pulls_samples_together():
    g = torch.Generator().manual_seed(0)
    q = (torch.randn(64, 3, generator=g) + 1.0).requires_grad_(True)
    p = torch.randn(64, 3, generator=g)
    mmd_rbf(q, p).backward()
    # moving q against the gradient lowers the MMD
    with torch.no_grad():
        q2 = q - 0.5 * q.grad / q.grad.norm() * 8
    assert mmd_rbf(q2, p).item() < mmd_rbf(q.detach(), p).item()


def test_prior_one_hot_balanced_and_scaled():
    torch.manual_seed(0)
    s = sample_prior(100_000, 10, 30, sigma=0.1)
    assert s.z_c.shape == (100_000, 10) and s.z_n.shape == (100_000, 30) and s.z.shape == (100_000, 40)
    assert torch.equal(s.z_c.sum(1), torch.ones(100_000)) and set(s.z_c.unique().tolist()) == {0.0, 1.0}
    counts = s.z_c.sum(0)
    assert (counts / 100_000 - 0.1).abs().max() < 0.005
    assert torch.equal(s.z_c.argmax(1), s.labels)
    assert s.z_n.std().item() == pytest.approx(0.1, rel=0.02) and abs(s.z_n.mean().item()) < 0.002
    one = sample_prior(7, 10, 3, cluster=4)
    assert (one.labels == 4).all() and (one.z_c.argmax(1) == 4).all()
    with pytest.raises(ValueError):
        sample_prior(3, 10, 3, cluster=10)


def test_critic_schedule_counts_m_critic_steps_per_generator_step():
    s = CriticSchedule(5)
    due = [s.critic_step_done() for _ in range(12)]
    assert due == [False] * 4 + [True] + [False] * 4 + [True] + [False] * 2
    s2 = CriticSchedule(1)
    s2.load_state_dict(s.state_dict())
    assert s2.m == 5 and s2.critic_steps == 12


@pytest.mark.parametrize("shape,family,d_n", [
    ((1, 28, 28), "conv4", 25), ((3, 55, 55), "conv5", 60), ((16,), "mlp", 5), ((720,), "mlp", 30),
    ((1, 8, 8), "conv4", 25), ((3, 12, 16), "conv4", 25), ((1, 7, 7), "conv5", 25), ((3, 128, 128), "dcgan128", 100),
])
def test_networks_from_the_data_shape(shape, family, d_n):
    torch.manual_seed(0)
    spec = resolve_gan_arch(shape, 4, latent_table=DLS_LATENT)
    assert spec.name == family and spec.latent_dim == d_n
    G, D, E = build_generator(spec), Critic(spec), Encoder(spec)
    x = G(torch.randn(3, 4 + d_n))
    assert x.shape == (3, *shape) and 0 <= x.min() and x.max() <= 1
    assert D(x).shape == (3, 1)
    zn, logits = E(x)
    assert zn.shape == (3, d_n) and logits.shape == (3, 4)
    w = next(m.weight for m in D.modules() if isinstance(m, (nn.Linear, nn.Conv2d)))
    assert abs(w.std().item() - 0.02) < 0.01  # N(0, 0.02) init
    unseen = shape not in ((1, 28, 28), (3, 55, 55)) and len(shape) == 3
    assert ("nearest_family" in spec.describe()) == (unseen or shape == (64,))


def test_unknown_shapes_say_nearest_and_overrides_are_checked():
    spec = resolve_gan_arch((64,), 10, latent_table=DLS_LATENT)
    assert spec.latent_dim == 5 and "Pendigits" in spec.describe()["nearest_family"]
    assert resolve_gan_arch((1, 28, 28), 10, latent_table=DLS_LATENT, latent_dim=40).latent_dim == 40
    with pytest.raises(ConfigError):
        resolve_gan_arch((16,), 10, latent_table=DLS_LATENT, arch="conv4")
    with pytest.raises(ConfigError):
        resolve_gan_arch((1, 7, 7), 10, latent_table=DLS_LATENT, arch="conv4")
    with pytest.raises(ConfigError):
        resolve_gan_arch((2, 3), 10, latent_table=DLS_LATENT)
