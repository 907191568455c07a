"""ClusterGAN with balanced self-paced learning (Ghasedi Dizaji, Wang, Deng, Huang, CVPR 2019;
``../shared/papers/004_f8ec0fdc5ec79ab4.txt``; method id ``clustergan-bspl``, not Mukherjee's
``clustergan``). No public code exists: the paper is the specification; every choice where it is
silent is marked *(ours)*.

Players (Fig. 1, Sec. 3): a clusterer C: x -> ẑ ∈ (0, 1)^m (Triple-GAN's classifier with a sigmoid
output of length m), a generator G: z -> x̂ and a discriminator D on joint pairs (z, x).

Prior (Sec. 3.1, 4): z = a binary vector with the ones on the block of its cluster (drawn uniformly
from the c clusters) with uniform noise u ~ U[0, a], a shrinking linearly from 0.5 to 0.1 over
training. The noise moves each unit towards the other value, z = |bits − u| *(ours)*: added to the
ones, it would put z above 1, where the clusterer's sigmoid outputs can never be, and D would tell
the two kinds of pairs apart by that alone (we measured a collapse of C's outputs to 0 with that
reading); this way z stays in [0, 1], the clusterer's range.
The m units are split into c contiguous blocks of sizes m // c or m // c + 1 (the first m mod c
blocks are one longer) *(ours: the paper assumes c divides m, which 32 and 64 bits with c = 10 do
not)*. m = ``hash_bits``; None = 5c *(ours: the paper does not give m for clustering)*.

Per batch (Algorithm 1), all steps through ``DeepModel.optimizing``:

1. D: BCE(D(C(x), x), 1) + BCE(D(z, G(z)), 0) — Eq. (2): clusterer pairs are its first term,
   generator pairs the second (C and G fixed);
2. G: BCE(D(z, G(z)), 1) — the non-saturating form of min log(1 − D(z, G(z))) *(ours, as
   Triple-GAN's code)*;
3. ν: with C fixed, per-sample losses l_i of the batch, groups = the current assignment of each
   sample = argmax over the c blocks of the block mean of C(x) (the block its code is nearest to,
   recomputed from the clusterer's outputs at every iteration *(ours: the paper says "clusters",
   not how they are obtained during training)*), ν = Theorem 1 (``methods/gan/bspl.py``; computed on the device by ``methods/gan/bspl_device.py``) with λν(t),
   γ from the pace schedule calibrated on the first batch (≈ 1% of it selected; all samples from
   3/4 of the epochs on);
4. C: BCE(D(C(x), x), 0) (non-saturating form of min log D(C(x), x)) + ``lam_ent`` · mean_i ν_i l_i
   + ``lam_cons`` · mean_i ‖C(x_i) − C(x̃_i)‖² (Eq. 7). l_i = mean over j ≠ i of the binary entropy
   of a_ij, a_ij = cos(ẑ_i, ẑ_j) within the batch (Eq. 3-4; the mean rather than the sum over j so
   the scale does not depend on the batch size, clamped to [1e-6, 1 − 1e-6]) *(ours)*. Weights 1
   (Algorithm 1 adds the terms unweighted).

Augmentation x̃ (Sec. 4.2: "we only use noise ... on MNIST", "translations and horizontal flipping
on CIFAR-10"): Gaussian noise of std ``aug_noise`` (0.1 of the [0, 1] range *(ours: the level is not
given)*) on every data set; for colour images also a random translation of up to 2 pixels (zero
padding) and a horizontal flip with probability 1/2 *(the magnitudes are ours)*.

Optimisation (Sec. 4): Adam β = (0.5, 0.999), ε 1e-8, learning rate 1e-4 decreasing linearly to
1e-5 over the epochs (set each step from the progress), for D, G and C. Epochs 100, batch 100
*(ours: the paper gives neither)*.

Networks (option ``net``: ``tg-mnist``, ``tg-cifar``, ``mlp``, ``auto``): the Triple-GAN family of
:mod:`clusterbench.nn.triple_gan` (its docstring gives the layers).

Scaling (Sec. 4): images in [0, 1]; with ``scale = "tanh"`` they are mapped to [−1, 1] inside the
method and G ends with tanh. ``auto`` = tanh for 3×32×32 and 3×96×96 (CIFAR-10, STL-10; FRGC is also
3×32×32 and the paper used [0, 1] for it: pass scale=unit there). ``sample`` returns [0, 1].

Clustering output (Sec. 4): K-means (``n_init`` 10, seeded) on the clusterer outputs of all
samples -> labels; the posterior is p_ik ∝ exp(−(d²_ik − min_k d²_ik) / T) with d the distance to
centroid k and T the median over samples of the squared distance to their nearest centroid *(ours)*;
its argmax is the K-means label. The per-epoch monitor uses the block assignment (step 3), the
final record the K-means labels. Embedding = the clusterer outputs (N × m); hash codes
1(output > 0.5) (``hash_codes``; Table 3 uses m = 32 and 64).

Short CPU schedules (measured on digits, 20-150 epochs of 17 batches; see the bspl2 note): the
clusterer's outputs lose their dependence on x. Term by term: (1) the game: D separates the pairs
by x alone (G is still poor: D(z, G(z)) ≈ 0.01-0.1, D(C(x), x) ≈ 0.97 and D(prior z, real x) ≈ 0.9,
so D does not read z), and C only receives a sample-independent drift that matches the prior's
per-unit mean 0.1 + 0.4a(t) (C's mean output follows it from 0.50 to 0.17 while its spread over
samples falls to 0.001), which is below 0.5 for every unit: all-zero hash codes; (2) the entropy
loss: sigmoid outputs start nearly parallel (cosines ≈ 0.99), and Eq. (3) pushes them to cosine 1,
the one-block solution (with net=mlp, outputs that kept their spread collapse onto one block within
15 epochs once the entropy term is active); (3) the consistency loss is also met by a constant C;
(4) the tg-mnist clusterer at initialisation depends little on x (logit spread over samples 0.13
in training mode, 0.006 in eval mode, where BN's running variance was collected with dropout on).
No bug or sign error was found in the losses; the paper's schedule (Titan X, hundreds of epochs)
cannot be run here.

Option ``mi`` (not in the paper; default 0 = the paper's losses): adds ``mi`` · (mean_i H(q_i) −
H(mean_i q_i)) to C's loss, q_i = softmax over the c blocks of the block means of C's logits
(:func:`block_information`: minus IMSAT's mutual information between x and the block, Hu et al.
2017, which the paper cites for conditional-entropy clustering). Why: every term of the paper is met
by a constant clusterer (above), and in the paper only the GAN's prior matching (C(x) must look like
block codes spread over c blocks) rules that out; at CPU schedules D reads x, not z, so nothing does.
The mutual information is 0 for any constant output and −log c only for sharp codes spread evenly
over the blocks: it supplies, without waiting for G, the pressure the prior matching is meant to
give. Measured (bspl3 note; diagnostic driver, seed 0): full method with net=mlp on digits (20
epochs) K-means ACC 0.283 (mi 0, bit balance 0.002) and 0.295 (mi 1: one block, spread of the outputs across
samples 0.04) -> 0.566 (mi 4: 8 blocks, spread 0.22, bit balance 0.10 = the prior's 1/c); on Fashion-MNIST 5k (10 epochs) 0.453
with mi 4. Through the CLI (``run clustergan-bspl --set net=mlp --set mi=4 --set
save_samples=false``, 3 seeds; bspl3 note): digits 20 epochs ACC 0.630 ± 0.059, NMI 0.645 (mi 0:
0.253 ± 0.051, bit balance 0.00; kmeans 0.791), Fashion-MNIST 5k 10 epochs 0.430 ± 0.021, NMI 0.462
(mi 0: 0.307; kmeans 0.484), bit balance 0.10 on every seed. Diagnostic driver, digits seed 0: 50 epochs 0.638 (NMI 0.72), and
D then reads z (D on matched (C(x), x) 0.77 vs 0.69 on shuffled pairs; within 0.01 without mi or with mi 1); mi 10 is
worse (0.52 at 20 epochs). It does **not** rescue the default tg-mnist clusterer at CPU schedules: on digits
(8×8: dropout .5 twice on 4×4 and 2×2 maps) the block information stays 0 (ACC 0.27; 0.33 with the
dropout removed); on Fashion-MNIST 5k (4 epochs) it rises to 0.47 nats in training mode but the
eval-mode outputs fall into 2 blocks (ACC 0.23). Collecting BN's running statistics from a
dropout-free pass (the dropout/BN variance shift) did not change that (ACC 0.22), nor did a latent
discriminator on C(x) vs prior z alone (weight 1: D_z wins, C's outputs fall into one block,
digits ACC 0.27 tg-mnist / 0.46 mlp), nor Adam lr 1e-3 -> 1e-4 (tg-mnist, digits: 0.33 without mi, 0.26 with mi 1). None of these
three is kept as an option.

Ablations of Fig. 2 (options): ``gan = false`` (BSPL+Lcons: no G, no D), ``self_paced = "off"``
(GAN+Lcons: no entropy loss; ``"all"`` keeps it with every ν = 1), ``consistency = false``
(GAN+BSPL), ``self_paced = "spl"`` (GAN+SPL+Lcons: γ = 0, Eq. 4).

Length: with no public code, this docstring is the method's specification and the record of its
CPU measurements (a fifth of the file); the code is one model and one method (networks in
:mod:`clusterbench.nn.triple_gan`, the self-paced weights in :mod:`clusterbench.methods.gan.bspl`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from clusterbench.errors import ConfigError
from clusterbench.methods.base import Method
from clusterbench.methods.gan.bspl_device import DevicePace
from clusterbench.nn.triple_gan import (
    NET_FAMILIES,
    build_clusterer,
    build_discriminator,
    build_generator,
    resolve_family,
)
from clusterbench.training.artifacts import save_grid_png
from clusterbench.training.contract import DeepConfig, DeepModel
from clusterbench.training.method import DeepMethod
from clusterbench.precision import float32

_bce = nn.functional.binary_cross_entropy_with_logits


def code_blocks(m: int, c: int) -> list[tuple[int, int]]:
    """The c contiguous blocks (start, stop) of the m code units (sizes differ by at most 1)."""
    sizes = [len(b) for b in np.array_split(np.arange(m), c)]
    starts = np.cumsum([0] + sizes[:-1])
    return [(int(s), int(s + n)) for s, n in zip(starts, sizes)]


@float32  # 1 - 1e-6 is 1.0 in bf16: log(1 - a) would be -inf (issue 28 defect 3)
def entropy_losses(z_hat: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Per-sample l_i of Eq. (4) on the batch's cosine-similarity adjacency: B x m -> (B,), the mean
    over j != i of the binary entropy of a_ij (natural log)."""
    zn = nn.functional.normalize(z_hat, dim=1, eps=1e-8)
    a = (zn @ zn.T).clamp(eps, 1 - eps)
    h = -(a * a.log() + (1 - a) * (1 - a).log())
    b = z_hat.shape[0]
    off = 1.0 - torch.eye(b, device=z_hat.device, dtype=h.dtype)
    return (h * off).sum(1) / max(b - 1, 1)


@float32  # logs of probabilities: float32 under any autocast
def block_information(logits: torch.Tensor, member: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Option ``mi`` (not in the paper): − I(x; block) of the batch, IMSAT's mutual information
    (Hu et al. 2017) on the block assignment q_i = softmax over the c blocks of the block means of
    C's logits: mean_i H(q_i) − H(mean_i q_i) (natural log). B x m logits, m x c membership ->
    scalar in [−log c, 0]; −log c for sharp one-block codes spread evenly over the c blocks, 0 for
    a constant output (any constant)."""
    q = torch.softmax(logits @ member, dim=1)
    cond = -(q * q.clamp_min(eps).log()).sum(1).mean()
    pbar = q.mean(0)
    marg = -(pbar * pbar.clamp_min(eps).log()).sum()
    return cond - marg


# --- the model ------------------------------------------------------------------------------------


class ClusterGANBSPLModel(DeepModel):
    def __init__(self, device: torch.device, shape: tuple[int, ...], n_clusters: int,
                 cfg: ClusterGANBSPL.Config, *, tanh: bool, family: str) -> None:
        super().__init__(device)
        self.cfg, self.shape, self.c, self.family, self.tanh = cfg, shape, int(n_clusters), family, tanh
        self.m = int(cfg.hash_bits) if cfg.hash_bits is not None else 5 * self.c
        if self.m < self.c:
            raise ConfigError(f"hash_bits={self.m} must be at least n_clusters={self.c} (one unit per cluster block).")
        self.blocks = code_blocks(self.m, self.c)
        self.C = build_clusterer(family, shape, self.m).to(device)
        self.nets["C"] = self.C
        betas = (cfg.beta1, 0.999)
        self.optims["c"] = torch.optim.Adam(self.C.parameters(), lr=cfg.lr, betas=betas, eps=1e-8)
        if cfg.gan:
            self.G = build_generator(family, shape, self.m, nn.Tanh() if tanh else nn.Sigmoid()).to(device)
            self.D = build_discriminator(family, shape, self.m).to(device)
            self.nets.update(G=self.G, D=self.D)
            self.optims["g"] = torch.optim.Adam(self.G.parameters(), lr=cfg.lr, betas=betas, eps=1e-8)
            self.optims["d"] = torch.optim.Adam(self.D.parameters(), lr=cfg.lr, betas=betas, eps=1e-8)
        gamma_scale = {"bspl": cfg.gamma_scale, "spl": 0.0}.get(cfg.self_paced, 0.0)
        self.pace = DevicePace(start_fraction=cfg.start_fraction, full_at=cfg.full_at, gamma_scale=gamma_scale,
                               calibrate_on=cfg.pace_calibration)
        self.n_samples = 0
        self.step_count = 0
        # block membership matrix m x c (float) for block means
        member = torch.zeros(self.m, self.c)
        for k, (s, e) in enumerate(self.blocks):
            member[s:e, k] = 1.0 / (e - s)
        self.member = member.to(device)

    # whole-step capture (clusterbench.training.capture): progress t, the learning rate and the
    # prior's noise range change every step (device tensors under capture); the control paths are
    # "pace calibrated yet" and "t past full_at" (every weight 1 from there on)
    def capture_key(self, phase: str, step: int) -> tuple[bool, bool]:
        return self.pace.ready, self.progress() >= self.cfg.full_at

    def step_values(self, phase: str, step: int) -> dict[str, float]:
        t = self.progress()
        return {"t": t, "lr": self.cfg.lr + (self.cfg.lr_end - self.cfg.lr) * t, "noise": self.noise_range(t)}

    def after_replay(self, phase: str, step: int) -> None:
        self.step_count += 1

    # schedule ------------------------------------------------------------------------------------
    def steps_per_epoch(self) -> int:
        b = self.cfg.batch_size
        return 1 if self.n_samples <= b else self.n_samples // b

    def progress(self) -> float:
        total = max(self.cfg.epochs * self.steps_per_epoch(), 1)
        return min(self.step_count / total, 1.0)

    def noise_range(self, t: float) -> float:
        return self.cfg.noise_start + (self.cfg.noise_end - self.cfg.noise_start) * t

    def start_training(self, batches, seed: int) -> dict[str, float]:
        self.n_samples = sum(int(x.shape[0]) for x in batches())
        return {}

    # pieces --------------------------------------------------------------------------------------
    def to_model_range(self, x: torch.Tensor) -> torch.Tensor:
        return x * 2 - 1 if self.tanh else x

    def prior(self, n: int, *, noise: float | torch.Tensor, cluster: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(labels (n,), codes n x m): |block bits − U[0, noise]| (module docstring)."""
        if cluster is None:
            labels = torch.randint(0, self.c, (n,), device=self.device)
        else:
            labels = torch.full((n,), int(cluster), device=self.device, dtype=torch.long)
        onehot = nn.functional.one_hot(labels, self.c).float()
        bits = onehot @ (self.member > 0).float().T
        z = (bits - noise * torch.rand(n, self.m, device=self.device)).abs()
        return labels, z

    def cluster_of(self, z_hat: torch.Tensor) -> torch.Tensor:
        """B x m outputs -> B x c block means."""
        return z_hat @ self.member

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        xt = x + self.cfg.aug_noise * (2.0 if self.tanh else 1.0) * torch.randn_like(x)
        if x.ndim == 4 and x.shape[1] == 3 and self.cfg.aug_shift > 0:
            s = self.cfg.aug_shift
            b, _, h, w = x.shape
            padded = nn.functional.pad(xt, (s, s, s, s))
            dx = torch.randint(0, 2 * s + 1, (b,), device=x.device)
            dy = torch.randint(0, 2 * s + 1, (b,), device=x.device)
            rows = (dy[:, None] + torch.arange(h, device=x.device)[None, :])  # b x h
            cols = (dx[:, None] + torch.arange(w, device=x.device)[None, :])  # b x w
            idx_b = torch.arange(b, device=x.device)[:, None, None]
            xt = padded.permute(0, 2, 3, 1)[idx_b, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)
            flip = torch.rand(b, device=x.device) < 0.5
            xt = torch.where(flip[:, None, None, None], xt.flip(3), xt)
        return xt

    # one batch -----------------------------------------------------------------------------------
    def training_step(self, x: torch.Tensor, step: int) -> dict[str, torch.Tensor | float]:
        cfg = self.cfg
        if self.n_samples == 0:  # start_training not run (cannot happen through train())
            self.n_samples = int(x.shape[0])
        t = self.progress()
        lr = self.value("lr", cfg.lr + (cfg.lr_end - cfg.lr) * t)  # a device tensor under capture=graph
        for o in self.optims.values():
            for g in o.param_groups:
                g["lr"] = lr
        x = self.to_model_range(x)
        n = x.shape[0]
        out: dict[str, torch.Tensor | float] = {"lr": lr}
        if cfg.gan:
            _, z = self.prior(n, noise=self.value("noise", self.noise_range(t)))
            ones = torch.ones(n, 1, device=self.device)
            zeros = torch.zeros(n, 1, device=self.device)
            with self.optimizing("d") as opt:
                with torch.no_grad():
                    z_hat = torch.sigmoid(self.C(x).float())
                    fake = self.G(z)
                d_loss = opt.backward(_bce(self.D(z_hat, x).float(), ones) + _bce(self.D(z, fake).float(), zeros))
            with self.optimizing("g") as opt:
                g_loss = opt.backward(_bce(self.D(z, self.G(z)).float(), ones))
            out.update(d=d_loss.detach(), g=g_loss.detach())
        with self.optimizing("c") as opt:
            logits = self.C(x).float()
            z_hat = torch.sigmoid(logits)
            loss = torch.zeros((), device=self.device)
            if cfg.gan:
                adv = _bce(self.D(z_hat, x).float(), zeros)
                loss = loss + adv
                out["c_adv"] = adv.detach()
            if cfg.self_paced != "off":
                l = entropy_losses(z_hat)
                nu = self.self_paced_weights(l.detach(), z_hat.detach(), t)
                ent = (nu * l).mean()
                loss = loss + cfg.lam_ent * ent
                out.update(ent=ent.detach(), ent_all=l.detach().mean(), selected=(nu > 0).float().mean())
            if cfg.mi > 0:
                info = block_information(logits, self.member)
                loss = loss + cfg.mi * info
                out["mi"] = -info.detach()
            if cfg.consistency:
                cons = ((z_hat - torch.sigmoid(self.C(self.augment(x)).float())) ** 2).sum(1).mean()
                loss = loss + cfg.lam_cons * cons
                out["cons"] = cons.detach()
            opt.backward(loss)
        out["c"] = loss.detach()
        self.step_count += 1
        return out

    def self_paced_weights(self, l: torch.Tensor, z_hat: torch.Tensor, t: float) -> torch.Tensor:
        """ν of the batch (B,) from its losses and current block assignments (Theorem 1)."""
        if self.cfg.self_paced == "all":
            return torch.ones_like(l)
        groups = self.cluster_of(z_hat).argmax(1)  # on the device (bspl_device): no host sync
        if not self.pace.ready:
            self.pace.calibrate(l, groups, self.c)
        return self.pace.weights(l, groups, t, self.c, t_value=self.value("t", t)).to(l.dtype)

    # outputs -------------------------------------------------------------------------------------
    @torch.no_grad()
    def outputs(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.C(self.to_model_range(x)).float())

    @torch.no_grad()
    def predict(self, x: torch.Tensor):
        z_hat = self.outputs(x)
        means = self.cluster_of(z_hat)
        return means / means.sum(1, keepdim=True).clamp_min(1e-12), z_hat

    @torch.no_grad()
    def sample(self, n: int, cluster: int | None = None) -> torch.Tensor:
        """n samples of G from the prior (of one cluster's block when given), the final noise range,
        in [0, 1], eval mode."""
        if not self.cfg.gan:
            raise ConfigError("clustergan-bspl with gan=false has no generator to sample from.")
        was = self.G.training
        self.G.eval()
        _, z = self.prior(int(n), noise=self.cfg.noise_end, cluster=cluster)
        x = self.G(z).float()
        self.G.train(was)
        return (x + 1) / 2 if self.tanh else x

    # state (the schedule's counters travel with the checkpoint) -----------------------------------
    def state_dict(self) -> dict[str, Any]:
        st = super().state_dict()
        st["bspl"] = {"n_samples": self.n_samples, "step_count": self.step_count, "pace": self.pace.state()}
        return st

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        b = state["bspl"]
        self.n_samples, self.step_count = int(b["n_samples"]), int(b["step_count"])
        self.pace.load(b["pace"], self.device)


# --- the method -----------------------------------------------------------------------------------


def kmeans_posterior(emb: np.ndarray, k: int, *, seed: int, n_init: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """K-means on N x m outputs -> (labels (N,), posterior N x k; module docstring)."""
    from sklearn.cluster import KMeans

    km = KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit(emb.astype(np.float64))
    d2 = ((emb[:, None, :].astype(np.float64) - km.cluster_centers_[None]) ** 2).sum(-1)
    rel = d2 - d2.min(1, keepdims=True)
    temp = float(np.median(d2.min(1)))
    temp = max(1e-12, temp)
    p = np.exp(-rel / temp)
    p /= p.sum(1, keepdims=True)
    return km.labels_.astype(np.int64), p


class ClusterGANBSPL(DeepMethod, Method):
    """ClusterGAN with balanced self-paced learning (module docstring)."""

    name = "clustergan-bspl"
    deep = True
    generative = True
    hashes = True
    accepts_sparse = False

    @dataclass
    class Config(DeepConfig):
        """Defaults: Sec. 4 (Adam β1 0.5, lr 1e-4 -> 1e-5 linear; noise U[0, 0.5] -> U[0, 0.1];
        1% of samples at the first iteration, all by 3/4 of the epochs; K-means on the outputs).
        Ours (the paper is silent): epochs 100, batch 100, hash_bits None = 5c for clustering
        (Table 3 sets 32 / 64), lam_ent = lam_cons = 1 (Algorithm 1 adds the terms unweighted),
        gamma_scale 1 (bspl.PaceSchedule), pace_calibration "batch" (λν, γ from each batch's losses; "first" =
        fixed on the first batch; bspl.py says why), aug_noise 0.1, aug_shift 2 (colour images), K-means
        n_init 10. ``net``: auto | tg-mnist | tg-cifar | mlp (``arch`` of DeepConfig stays auto); ``scale``: auto | unit | tanh.
        Ablations: gan, self_paced (bspl | spl | all | off), consistency. ``mi`` (0 = the paper): weight of
        the block mutual-information term against the constant-clusterer collapse (module docstring)."""

        net: str = field(default="auto", metadata={"help": "networks: auto, tg-mnist, tg-cifar or mlp"})
        epochs: int = field(default=100, metadata={"help": "training epochs"})
        batch_size: int = field(default=100, metadata={"help": "samples per step"})
        pretrain_epochs: int = field(default=0, metadata={"help": "unused (keep 0)"})
        hash_bits: int | None = field(
            default=None, metadata={"help": "output bits (None: 5 x clusters for clustering; Table 3: 32 or 64)"})
        lr: float = field(
            default=1e-4, metadata={"help": "Adam learning rate at the start (decays linearly to lr_end)"})
        lr_end: float = field(default=1e-5, metadata={"help": "Adam learning rate at the end"})
        beta1: float = field(default=0.5, metadata={"help": "Adam's beta1"})
        noise_start: float = field(
            default=0.5, metadata={"help": "upper bound of the U[0, a] input noise at the start"})
        noise_end: float = field(default=0.1, metadata={"help": "upper bound of the U[0, a] input noise at the end"})
        self_paced: Literal["bspl", "spl", "all", "off"] = field(
            default="bspl", metadata={"help": "sample selection: bspl (balanced), spl, all or off (Fig. 2 ablations)"})
        gan: bool = field(default=True, metadata={"help": "keep the GAN part (false: ablation)"})
        consistency: bool = field(default=True, metadata={"help": "keep the consistency loss (false: ablation)"})
        lam_ent: float = field(default=1.0, metadata={"help": "weight of the entropy term"})
        lam_cons: float = field(default=1.0, metadata={"help": "weight of the consistency term"})
        start_fraction: float = field(
            default=0.01, metadata={"help": "fraction of samples selected at the first iteration"})
        full_at: float = field(
            default=0.75, metadata={"help": "fraction of the epochs after which every sample is selected"})
        gamma_scale: float = field(default=1.0, metadata={"help": "scale of the balancing gamma of BSPL's pace"})
        pace_calibration: Literal["batch", "first"] = field(
            default="batch", metadata={"help": "pace thresholds from each batch's losses (batch) or the first (first)"})
        mi: float = field(
            default=0.0, metadata={"help": "weight of the block mutual-information term (0: the paper; prevents collapse)"})
        aug_noise: float = field(
            default=0.1, metadata={"help": "std of the Gaussian noise augmentation (fraction of the value range)"})
        aug_shift: int = field(default=2, metadata={"help": "random shift in pixels of colour images (augmentation)"})
        scale: Literal["auto", "unit", "tanh"] = field(
            default="auto", metadata={"help": "input scaling: auto, unit ([0, 1]) or tanh ([-1, 1])"})
        kmeans_n_init: int = field(default=10, metadata={"help": "restarts of the final k-means on the outputs"})

        def __post_init__(self) -> None:
            if self.self_paced not in ("bspl", "spl", "all", "off"):
                raise ValueError(f"self_paced must be bspl, spl, all or off, got {self.self_paced!r}")
            if self.pace_calibration not in ("batch", "first"):
                raise ValueError(f"pace_calibration must be batch or first, got {self.pace_calibration!r}")
            if self.scale not in ("auto", "unit", "tanh"):
                raise ValueError(f"scale must be auto, unit or tanh, got {self.scale!r}")
            if self.mi < 0:
                raise ValueError(f"mi must be >= 0, got {self.mi}")
            if not self.gan and self.self_paced == "off" and not self.consistency:
                raise ValueError("gan=false, self_paced=off and consistency=false leave no loss to train")

    def __init__(self, config: Any | None = None) -> None:
        super().__init__(config)
        self.model: ClusterGANBSPLModel | None = None

    def make_model(self, device: torch.device, spec: Any) -> ClusterGANBSPLModel:
        shape = tuple(spec.sample_shape)
        family = resolve_family(shape, self.config.net)
        self.model = ClusterGANBSPLModel(device, shape, spec.n_clusters, self.config,
                                         tanh=self._tanh(shape), family=family)
        return self.model

    def _tanh(self, shape: tuple[int, ...]) -> bool:
        if self.config.scale == "auto":
            return tuple(shape) in ((3, 32, 32), (3, 96, 96))
        return self.config.scale == "tanh"

    def fit(self, X: Any, n_clusters: int, *, seed: int, device: str = "cpu",
            workdir: Path | None = None, monitor=None):
        cfg = self.config
        if cfg.count_modes:
            raise ConfigError("count_modes is not available for clustergan-bspl (it has no Dual-AAE style prior).",
                              hint="Set count_modes=false; generation is evaluated through the generator.")
        if cfg.arch != "auto":
            raise ConfigError("clustergan-bspl chooses its networks with the option `net`, not `arch`.",
                              hint=f"Use --set net=... (one of {', '.join(NET_FAMILIES)}).")
        shape = tuple(int(s) for s in X.shape[1:])
        family = resolve_family(shape, cfg.net)  # fail before training
        tanh = self._tanh(shape)
        if tanh and X.shape[0] and (float(np.min(X)) < 0 or float(np.max(X)) > 1):
            raise ConfigError("scale=tanh expects images stored in [0, 1].", hint="Use scale=unit.")
        # the shared loop (DeepMethod.fit); its Dual-AAE ArchSpec only passes the sample shape and K
        # (this model has no ``generate``/``prior`` hooks, so the Dual-AAE PNGs are not written)
        out = super().fit(X, n_clusters, seed=seed, device=device, workdir=workdir, monitor=monitor)
        emb = out.embedding
        labels, proba = kmeans_posterior(emb, int(n_clusters), seed=seed, n_init=cfg.kmeans_n_init)
        out.proba = proba
        hist = np.bincount(labels, minlength=int(n_clusters))
        m = self.model
        out.extras.update({
            "cluster_histogram": hist.tolist(), "clusters_used": int((hist > 0).sum()),
            "architecture": {"family": family, "sample_shape": list(shape), "hash_bits": m.m,
                             "blocks": [list(b) for b in m.blocks], "tanh": tanh,
                             "players": sorted(m.nets)},
            "hash_bits": m.m, "bit_balance": float((emb > 0.5).mean()),
            "bspl": {"gamma": m.pace.gamma, "lam0": m.pace.lam0, "lam_end": m.pace.lam_end},
        })
        if cfg.save_samples and workdir is not None and len(shape) == 3 and cfg.gan:
            out.artifacts.update(self._pngs(Path(workdir), seed))
        return out

    def _pngs(self, workdir: Path, seed: int) -> dict[str, Path]:
        """samples_per_cluster.png (10 per cluster, final noise range) and noise_sweep.png (per
        cluster, the prior's noise range from 0 to 0.5 in 10 steps, one noise draw)."""
        m = self.model
        torch.manual_seed(seed)
        imgs = torch.cat([m.sample(10, cluster=k) for k in range(m.c)]).cpu().numpy()
        up = max(1, 56 // m.shape[1])
        rows_ = [f"cluster {k}" for k in range(m.c)]
        out = {"samples_per_cluster": save_grid_png(
            workdir / "samples_per_cluster.png", imgs, m.c, 10, row_labels=rows_, scale=up,
            title="Samples per cluster: row k = cluster k (z's ones in block k)",
            xlabel="columns: 10 draws of the prior's noise (final range)")}
        was = m.G.training
        m.G.eval()
        with torch.no_grad():
            u = torch.rand(1, m.m, device=m.device)
            rows = []
            for k in range(m.c):
                _, base = m.prior(1, noise=0.0, cluster=k)
                z = base + torch.linspace(0, 0.5, 10, device=m.device)[:, None] * u
                x = m.G(z).float()
                rows.append((x + 1) / 2 if m.tanh else x)
        m.G.train(was)
        steps = [f"{v:.2f}" for v in torch.linspace(0, 0.5, 10).tolist()]
        out["noise_sweep"] = save_grid_png(
            workdir / "noise_sweep.png", torch.cat(rows).cpu().numpy(), m.c, 10, row_labels=rows_, scale=up,
            col_labels=steps, title="Noise sweep: row k = cluster k, one noise direction",
            xlabel="columns: noise scale from 0 to 0.5")
        return out

    def hash_codes(self, X: Any, batch_size: int = 500) -> np.ndarray:
        """N x m bits 1(C(x) > 0.5) of the fitted clusterer (Sec. 4), eval mode."""
        if self.model is None:
            raise RuntimeError("hash_codes() needs a fitted model: call fit() first")
        m = self.model
        m.train_mode(False)
        outs = []
        try:
            for i in range(0, X.shape[0], batch_size):
                xb = torch.from_numpy(np.ascontiguousarray(X[i:i + batch_size], dtype=np.float32)).to(m.device)
                outs.append(m.outputs(xb).cpu().numpy())
        finally:
            m.train_mode(True)
        return (np.concatenate(outs) > 0.5).astype(np.uint8)


__all__ = ["ClusterGANBSPL", "ClusterGANBSPLModel", "code_blocks", "entropy_losses", "kmeans_posterior"]
