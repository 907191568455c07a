"""Dual-AAE (Ge, Ren, Feng, Yan: "Dual Adversarial Auto-Encoders for Clustering", IEEE TNNLS 2020)
and its ablation without the clustering regularisation ("Dual-AAE (without CR)", Eq. 8).

Model (§III-B, Eq. 10). Encoder Q: x -> (y = softmax over K, style h, noise z); decoder P.
Per batch:

1. critic step (WGAN, Eq. 7): D maximises E_prior D(h, z) - E_x D(Q_hz(x)); h, z ~ N(0, I).
2. Q, P step on  recon + lambda1 * D-AE + adv + CR  where
   * recon (O-AE): squared error of P(y, h, z) against x, with y the soft posterior (the paper's
     -log p(x|y,h,z); its code uses MSE);
   * D-AE: sample y ~ Cat(1/K) (one-hot), h, z ~ N(0, I); x~ = P(y, h, z); recover c = [y, h]
     with Q: cross-entropy on y + squared error on h;
   * adv = -E_x D(Q_hz(x));
   * CR (Eq. 9) = -H[q(y)] + lambda2 * E_x H[q(y|x)], q(y) estimated by the batch mean.
   ``dual-aae-nocr`` drops CR and lets the critic see (y, h, z) against (one-hot y, h, z) from the
   priors instead (Eq. 8).

Pre-training and the start of y (``AEConfig``, shared with ``dual-aae-nocr`` and ``aae``):
Appendix A says only "a stacked Auto-Encoder to initialise the encoder and decoder"; the authors'
code loads an AE checkpoint of the same conv Q/P (``mnist_pretrain.pkl``) whose training script is
not published. We train the same Q/P end to end (not greedily layer by layer) as a *denoising*
auto-encoder, input dropout 0.2 as in DEC's stacked auto-encoder (``pretrain_corruption``), for
``pretrain_epochs`` = 50, Adam 1e-3. The paper does not say how y starts; as DEC, IDEC and VaDE do
with their cluster parameters, ``cluster_init="kmeans"`` then runs k-means on the pre-trained
encoder's penultimate features and sets the y rows of its last layer to the nearest-centroid rule,
so q(y|x) starts from that partition and Eq. (10) refines it. Measured on scikit-learn digits
(seeds 0-2, 50 epochs; ``benchmarks/digits_acceptance.py``): with the earlier plain AE for 10 epochs
and y left as pre-trained, ACC 0.60-0.80 varying with the seed and below k-means (0.79), the
partition fixed by CR in the first epochs; with the denoising pre-training and k-means start
0.84-0.91. ``pretrain_corruption=0 cluster_init=none pretrain_epochs=10`` gives the earlier setup.

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
  One critic step per batch (``n_critic`` = 1), as in the code.
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
  number of pixels, and on digits it clustered worse (ACC 0.53-0.59 vs 0.72-0.76, plain AE setup).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from clusterbench.methods.base import Method
from clusterbench.methods.nets import (
    ArchSpec,
    build_critic,
    build_decoder,
    build_encoder,
    clustering_regularizer,
    dual_ae_loss,
    entropy_terms,
    sample_categorical,
)
from clusterbench.methods.training import DeepConfig, DeepMethod, DeepModel


@dataclass
class AEConfig(DeepConfig):
    """Pre-training and cluster initialisation shared by the auto-encoder methods (Dual-AAE, its
    no-CR ablation, AAE), so that their comparison differs only in the losses.

    pretrain_epochs: epochs of O-AE pre-training of Q and P (paper: "a stacked Auto-Encoder to
    initialise the encoder and decoder", no length given; ours 50). lr_pretrain: its Adam rate.
    pretrain_corruption: dropout corruption of the input during pre-training, i.e. a denoising
    auto-encoder as DEC's stacked auto-encoder (dropout 0.2); 0 = a plain auto-encoder.
    cluster_init: "kmeans" = after pre-training, k-means on the encoder's penultimate features
    initialises the y rows of its last layer (DEC/VaDE/IDEC initialise their clusters from the
    pre-trained embedding the same way; the paper does not say how y starts); "none" = y starts
    from the pre-trained auto-encoder as is (also what happens with pretrain_epochs = 0).
    """

    pretrain_epochs: int = 50
    lr_pretrain: float = 1e-3
    pretrain_corruption: float = 0.2
    cluster_init: Literal["none", "kmeans"] = "kmeans"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.cluster_init not in ("none", "kmeans"):
            raise ValueError(f"cluster_init must be 'none' or 'kmeans', got {self.cluster_init!r}")
        if not 0.0 <= self.pretrain_corruption < 1.0:
            raise ValueError(f"pretrain_corruption must be in [0, 1), got {self.pretrain_corruption}")


class LatentAutoEncoder(DeepModel):
    """Shared part of the auto-encoder models (Dual-AAE, its no-CR variant, AAE): Q, P, the
    split of Q's output into (y logits, h, z), O-AE pre-training, prediction and generation."""

    def __init__(self, device: torch.device, spec: ArchSpec, cfg: "AEConfig") -> None:
        super().__init__(device)
        self.spec = spec
        self.K, self.dh, self.dz = spec.n_clusters, spec.style_dim, spec.noise_dim
        self.Q = build_encoder(spec, spec.latent_dim).to(device)
        self.P = build_decoder(spec, spec.latent_dim).to(device)
        self.nets.update(Q=self.Q, P=self.P)
        self.pretrain_epochs = int(cfg.pretrain_epochs)
        self.pretrain_corruption = float(cfg.pretrain_corruption)
        self.cluster_init = cfg.cluster_init
        if self.pretrain_epochs:
            self.optims["pretrain"] = torch.optim.Adam(self.qp_params(), lr=cfg.lr_pretrain)

    def qp_params(self):
        return list(itertools.chain(self.Q.parameters(), self.P.parameters()))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x -> (y logits B x K, h B x dh, z B x dz)."""
        out = self.Q(x).float()
        return out[:, : self.K], out[:, self.K : self.K + self.dh], out[:, self.K + self.dh :]

    def decode(self, y: torch.Tensor, h: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.P(torch.cat([y, h, z], 1))

    #: how the O-AE squared error is reduced over a sample's dimensions: "mean" (per pixel) or
    #: "sum" (per sample, the Gaussian -log p(x|y,h,z) up to a constant); batches are averaged.
    recon_reduction: str = "mean"

    def recon_loss(self, x: torch.Tensor, x_in: torch.Tensor | None = None
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """O-AE: (squared error of P(softmax y, h, z) vs x, y posterior, h, z); the encoder sees
        ``x_in`` (a corrupted x) when given."""
        logits, h, z = self.encode(x if x_in is None else x_in)
        y = logits.softmax(1)
        rec = self.decode(y, h, z).float()
        sq = (rec - x.float()) ** 2
        loss = sq.flatten(1).sum(1).mean() if self.recon_reduction == "sum" else sq.mean()
        return loss, y, h, z

    def pretrain_step(self, x: torch.Tensor, step: int) -> dict[str, torch.Tensor]:
        x_in = nn.functional.dropout(x, self.pretrain_corruption) if self.pretrain_corruption > 0 else None
        with self.optimizing("pretrain") as opt:
            loss = opt.backward(self.recon_loss(x, x_in)[0])
        return {"pretrain_recon": loss.detach()}

    @torch.no_grad()
    def start_training(self, batches, seed: int) -> dict[str, float]:
        """``cluster_init="kmeans"``: k-means (k-means++, n_init 10, seeded) on the pre-trained
        encoder's penultimate features f, then the y rows of Q's last layer set to the nearest-
        centroid rule as logits: W_k = beta * mu_k, b_k = -beta * |mu_k|^2 / 2, so that
        softmax(y) = softmax(-beta |f - mu_k|^2 / 2); beta = 1 / mean |f - mu_assigned|^2."""
        if self.cluster_init == "none" or self.pretrain_epochs == 0:
            return {}
        from sklearn.cluster import KMeans

        last = [m for m in self.Q.modules() if isinstance(m, nn.Linear)][-1]
        feats: list[torch.Tensor] = []
        hook = last.register_forward_hook(lambda mod, inp, out: feats.append(inp[0].detach().float().cpu()))
        try:
            for x in batches():
                self.Q(x)
        finally:
            hook.remove()
        f = torch.cat(feats).double().numpy()
        km = KMeans(self.K, n_init=10, random_state=int(seed) % (2**32)).fit(f)
        mu = torch.from_numpy(km.cluster_centers_)
        beta = 1.0 / max(km.inertia_ / len(f), 1e-12)
        last.weight[: self.K] = (beta * mu).to(last.weight)
        last.bias[: self.K] = (-0.5 * beta * (mu**2).sum(1)).to(last.bias)
        return {"init_inertia": float(km.inertia_), "init_beta": float(beta)}

    def prior(self, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(labels (n,), one-hot y n x K, h n x dh, z n x dz) from p(y) p(h) p(z)."""
        labels, y = sample_categorical(n, self.K, self.device)
        return labels, y, torch.randn(n, self.dh, device=self.device), torch.randn(n, self.dz, device=self.device)

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits, h, z = self.encode(x)
        y = logits.float().softmax(1)
        return y, torch.cat([y, h, z], 1)

    @torch.no_grad()
    def generate(self, y: torch.Tensor, h: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.decode(y, h, z)


class DualAAEModel(LatentAutoEncoder):
    """Networks, optimizers and the per-batch procedure of Dual-AAE (``cr=True``) or its no-CR
    ablation (``cr=False``: the critic sees (y, h, z), Eq. 8)."""

    def __init__(self, device: torch.device, spec: ArchSpec, cfg: "DualAAE.Config", *, cr: bool) -> None:
        super().__init__(device, spec, cfg)
        self.cfg, self.cr = cfg, cr
        self.recon_reduction = cfg.recon_reduction
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

    def critic_step(self, x: torch.Tensor) -> torch.Tensor:
        with self.optimizing("critic", autocast=False) as opt:  # float32: a small MLP on codes
            with torch.no_grad(), self.autocast():
                logits, h, z = self.encode(x)
                fake = self.critic_codes(logits.softmax(1), h, z).float()
            _, y_p, h_p, z_p = self.prior(x.shape[0])
            real = self.critic_codes(y_p, h_p, z_p)
            loss = opt.backward(self.D(fake).mean() - self.D(real).mean())
            if self.cfg.critic_clip is not None:
                opt.after_step.append(self._clip_critic)
        return loss.detach()

    @torch.no_grad()
    def _clip_critic(self) -> None:
        for p in self.D.parameters():
            p.clamp_(-self.cfg.critic_clip, self.cfg.critic_clip)

    # the step ----------------------------------------------------------------------------------
    def training_step(self, x: torch.Tensor, step: int) -> dict[str, torch.Tensor]:
        cfg = self.cfg
        # 1. critic (n_critic steps)
        for _ in range(cfg.n_critic):
            critic = self.critic_step(x)
        if cfg.optim == "paper":
            return {"critic": critic, **self._joint_step(x)}
        return {"critic": critic, **self._code_steps(x)}

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
        """Defaults: lam1 = 0.1, lam2 = 0.5 (§IV-A); architecture per Appendix A (nets.py);
        epochs 300, batch 100, learning rates: the authors' code (paper silent); pre-training and
        cluster initialisation: see AEConfig; critic_clip 0.01 (WGAN [29]; code: none)."""

        epochs: int = 300
        batch_size: int = 100
        lam1: float = 0.1
        lam2: float = 0.5
        adv_weight: float = 1.0
        cr_weight: float = 1.0
        optim: Literal["paper", "code"] = "paper"
        recon_reduction: Literal["sum", "mean"] = "mean"
        lr: float = 1e-4
        lr_critic: float = 5e-5
        lr_adv: float = 5e-5
        lr_cr: float = 5e-5
        lr_recon: float = 1e-4
        lr_dae: float = 1e-5
        critic_clip: float | None = 0.01
        critic_dropout: float = 0.2
        n_critic: int = 1

        def __post_init__(self) -> None:
            if self.optim not in ("paper", "code"):
                raise ValueError(f"optim must be 'paper' or 'code', got {self.optim!r}")
            super().__post_init__()
            if self.recon_reduction not in ("sum", "mean"):
                raise ValueError(f"recon_reduction must be 'sum' or 'mean', got {self.recon_reduction!r}")
            if self.n_critic < 1:
                raise ValueError(f"n_critic must be >= 1, got {self.n_critic}")

    def make_model(self, device: torch.device, spec: ArchSpec) -> DualAAEModel:
        return DualAAEModel(device, spec, self.config, cr=self.use_cr)


class DualAAENoCR(DualAAE):
    """Dual-AAE without CR: y is matched to its categorical prior by the critic (Eq. 8)."""

    name = "dual-aae-nocr"
    use_cr = False


__all__ = ["AEConfig", "DualAAE", "DualAAENoCR", "DualAAEModel", "LatentAutoEncoder"]
