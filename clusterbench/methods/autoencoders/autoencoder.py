"""The auto-encoder base shared by Dual-AAE, its no-CR ablation and AAE: Q, P, the split of Q's
output into (y logits, style h, noise z), O-AE pre-training, the k-means start of y, prediction
and generation (``AEConfig`` + ``LatentAutoEncoder``), so that their comparison differs only in
the losses (``dual_aae.py``, ``aae.py``).

Pre-training and the start of y (``AEConfig``):
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
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from clusterbench.nn.dual_aae import ArchSpec, build_decoder, build_encoder, sample_categorical
from clusterbench.training.contract import DeepConfig, DeepModel


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
    pre-trained embedding the same way; the paper does not say how y starts); "kmeans-code" = the
    same on the encoder's standardised output code (DEC clusters its bottleneck code; on 5,000
    MNIST digits after 20 pre-training epochs k-means finds ACC 0.68 there against 0.54 on the
    penultimate features, on scikit-learn digits 0.67 against 0.77 (50 epochs) and 0.58 against
    0.83 (10 epochs), hence not the default);
    "none" = y starts from the pre-trained auto-encoder as is (also with pretrain_epochs = 0).
    code_standardise: whether "kmeans-code" z-scores each code dimension first (True, as
    measured above). False = k-means on the raw code: on the 10,000 MNIST digits of issue 17 with
    short pre-training the raw code clustered better in 9 of 10 measurements (conv, 2-8 epochs:
    0.51-0.58 raw vs 0.44-0.53 z-scored; arch=mlp, batch 256, 5-30 epochs: 0.49-0.58 vs 0.48-0.51;
    z-scoring lifts the low-variance style and noise dimensions to the weight of the y logits).
    """

    pretrain_epochs: int = 50
    lr_pretrain: float = 1e-3
    pretrain_corruption: float = 0.2
    cluster_init: Literal["none", "kmeans", "kmeans-code"] = "kmeans"
    code_standardise: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.cluster_init not in ("none", "kmeans", "kmeans-code"):
            raise ValueError(f"cluster_init must be 'none', 'kmeans' or 'kmeans-code', got {self.cluster_init!r}")
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
        self.code_standardise = bool(cfg.code_standardise)
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
    #: what the decoder gets for y in the O-AE term of training (pre-training always uses "soft"):
    #: "soft" = the posterior q(y|x) itself (the authors' code); "expect" = the expectation over
    #: y ~ q(y|x) that Eq. (10) writes, computed exactly: sum_k q(k|x) * error(P(e_k, h, z), x)
    #: (K decoder passes); "gumbel" = one straight-through Gumbel-softmax sample of y (one pass).
    recon_y: str = "soft"

    def recon_loss(self, x: torch.Tensor, x_in: torch.Tensor | None = None, *, recon_y: str | None = None
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """O-AE: (squared error of P(y, h, z) vs x, y posterior B x K, h, z); the encoder sees
        ``x_in`` (a corrupted x) when given; y as ``recon_y`` (default: ``self.recon_y``) says."""
        logits, h, z = self.encode(x if x_in is None else x_in)
        y = logits.softmax(1)
        mode = recon_y or self.recon_y
        if mode == "expect":
            B, K = y.shape
            eye = torch.eye(K, device=y.device, dtype=y.dtype)
            rec = self.decode(eye.repeat(B, 1), h.repeat_interleave(K, 0), z.repeat_interleave(K, 0)).float()
            err = self._reduce((rec.reshape(B, K, *x.shape[1:]) - x.float()[:, None]) ** 2, start=2)
            return (y * err).sum(1).mean(), y, h, z
        y_dec = nn.functional.gumbel_softmax(logits, hard=True) if mode == "gumbel" else y
        sq = (self.decode(y_dec, h, z).float() - x.float()) ** 2
        loss = sq.flatten(1).sum(1).mean() if self.recon_reduction == "sum" else sq.mean()
        return loss, y, h, z

    def _reduce(self, sq: torch.Tensor, start: int) -> torch.Tensor:
        """Squared errors reduced over the dimensions from ``start`` on (``recon_reduction``)."""
        sq = sq.flatten(start)
        return sq.sum(-1) if self.recon_reduction == "sum" else sq.mean(-1)

    def pretrain_step(self, x: torch.Tensor, step: int) -> dict[str, torch.Tensor]:
        x_in = nn.functional.dropout(x, self.pretrain_corruption) if self.pretrain_corruption > 0 else None
        with self.optimizing("pretrain") as opt:
            loss = opt.backward(self.recon_loss(x, x_in, recon_y="soft")[0])
        return {"pretrain_recon": loss.detach()}

    @torch.no_grad()
    def start_training(self, batches, seed: int) -> dict[str, float]:
        """``cluster_init="kmeans"``: k-means (k-means++, n_init 10, seeded) on the pre-trained
        encoder's penultimate features f, then the y rows of Q's last layer set to the nearest-
        centroid rule as logits: W_k = beta * mu_k, b_k = -beta * |mu_k|^2 / 2, so that
        softmax(y) = softmax(-beta |f - mu_k|^2 / 2); beta = 1 / mean |f - mu_assigned|^2.
        ``"kmeans-code"``: the same in the space of Q's standardised output u = (W f + b - m) / sd
        (the pre-trained code [y logits, h, z], each dimension z-scored; m = 0, sd = 1 when
        ``code_standardise`` is False), an affine map of f, so
        the rule stays exact: W_k = beta * mu_k A, b_k = beta * (mu_k . c - |mu_k|^2 / 2)."""
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
        f = torch.cat(feats).double()
        if self.cluster_init == "kmeans":
            km = KMeans(self.K, n_init=10, random_state=int(seed) % (2**32)).fit(f.numpy())
            mu = torch.from_numpy(km.cluster_centers_)
            beta = 1.0 / max(km.inertia_ / len(f), 1e-12)
            last.weight[: self.K] = (beta * mu).to(last.weight)
            last.bias[: self.K] = (-0.5 * beta * (mu**2).sum(1)).to(last.bias)
        else:  # "kmeans-code": in u = A f + c, Q's standardised output
            W, b = last.weight.detach().double().cpu(), last.bias.detach().double().cpu()
            code = f @ W.T + b
            m, sd = code.mean(0), code.std(0).clamp_min(1e-12)
            if not self.code_standardise:
                m, sd = torch.zeros_like(m), torch.ones_like(sd)
            A, c = W / sd[:, None], (b - m) / sd
            km = KMeans(self.K, n_init=10, random_state=int(seed) % (2**32)).fit((f @ A.T + c).numpy())
            mu = torch.from_numpy(km.cluster_centers_)
            beta = 1.0 / max(km.inertia_ / len(f), 1e-12)
            # -beta |u - mu_k|^2 / 2 = beta mu_k.(A f + c) - beta |mu_k|^2 / 2 + (same for every k)
            last.weight[: self.K] = (beta * mu @ A).to(last.weight)
            last.bias[: self.K] = (beta * (mu @ c - 0.5 * (mu**2).sum(1))).to(last.bias)
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


__all__ = ["AEConfig", "LatentAutoEncoder"]
