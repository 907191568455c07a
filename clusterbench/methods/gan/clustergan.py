"""ClusterGAN (Mukherjee, Asnani, Lin, Kannan, AAAI 2019): a WGAN-GP whose generator draws from
the discrete-continuous prior z = (one-hot z_c, z_n ~ N(0, sigma^2 I)), with an encoder E trained
with G to invert it. Not the CVPR'19 "ClusterGAN" of paper 004 (Ghasedi et al.): that one has its
own id. It is the ClusterGAN row of DLS Tables 3-4 and DC3 Tables 4-5.

Per generator iteration (after M = 5 critic steps, ``gan.wgan``):
    L_GE = -E D(G(z)) + beta_n * MSE(z_n, E_n(G(z))) + beta_c * CE(E_c(G(z)), z_c)
with one Adam over G and E (metrics-reference §9, ``sudiptodip15/ClusterGAN:Image_ClusterGAN.py``).
Cluster assignment (``assign``), on the real data:
    "kmeans" (default: the reference's ``recon_enc`` / ``_eval_cluster``): k-means with K clusters
        on E's [z_n, softmax z_c] of every sample, or on softmax z_c alone when beta_n = 0 (its
        Fashion-MNIST setting); scikit-learn KMeans with n_init = 10 (the reference's scikit-learn
        default) and random_state = the run's seed (the reference fixes 0: seed 0 is its run);
    "argmax": argmax of E_c's softmax (how DLS and DC3-GAN assign with their own encoders).
The record's ``extras.assignment`` says which rule and on what; the per-epoch monitor (history
ACC/NMI) always reads the argmax rule (k-means at every epoch would cost more than training).
The reference scores its held-out split (validation 5k to select, test 10k); the suite scores
the data set it trained on, as every other method.

Defaults are the TF original's (metrics-reference §9): sigma 0.10, beta_n = beta_c = 10, M = 5,
one gradient-penalty eps per batch, lambda 10, Adam 1e-4 (0.5, 0.9), batch 64, L2 2.5e-5 on G's
weights, 500,000 generator iterations (``num_batches``), d_n 30 on MNIST (README; Fashion-MNIST
40 with beta_n = 0, Pendigits 5, 10x_73k 100,000 iterations: ``methods/dataset_settings.toml``,
written into the run's config at plan time; the shape table below elsewhere). The PyTorch port ``zhampel/clusterGAN`` differs; its values are
options: ``--set sigma=0.75 per_sample_eps=true critic_iters=1 iterations=none epochs=200``
(it also uses LeakyReLU in G and weight decay on E, which are not exposed).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from sklearn.cluster import KMeans

from clusterbench.methods.base import Method, MethodOutput
from clusterbench.methods.gan.model import GANConfig, GANMethod, GANModel
from clusterbench.methods.gan.wgan import generator_loss
from clusterbench.nn.gan import GANSpec
from clusterbench.training.contract import Monitor

#: d_n by sample shape (ClusterGAN README): MNIST 30 (Fashion-MNIST 40 with beta_n = 0), Pendigits 5.
CLUSTERGAN_LATENT: dict[tuple[int, ...], tuple[int, str]] = {
    (1, 28, 28): (30, "ClusterGAN README: MNIST (Fashion-MNIST: 40 with beta_n=0)"),
    (16,): (5, "ClusterGAN README: Pendigits"),
    (3, 128, 128): (100, "COIL-100: DC3 Table 9 / the DLS reference README (DC3 Table 5's ClusterGAN row; ClusterGAN gives none)"),
}


class ClusterGANModel(GANModel):
    def generator_step(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        cfg = self.cfg
        z = self.draw(x.shape[0])
        with self.optimizing("ge") as opt:
            fake = self.G(z.z)
            adv = generator_loss(self.D, fake)
            zn_hat, logits = self.E(fake)
            mse = ((zn_hat - z.z_n) ** 2).mean()
            ce = torch.nn.functional.cross_entropy(logits, z.labels)
            loss = opt.backward(adv + cfg.beta_n * mse + cfg.beta_c * ce)
        return {"g": loss.detach(), "g_adv": adv.detach(), "zn_mse": mse.detach(), "zc_ce": ce.detach()}


class ClusterGAN(GANMethod, Method):
    """ClusterGAN (Mukherjee et al., AAAI 2019); module docstring."""

    name = "clustergan"
    deep = True
    generative = True
    latent_table: ClassVar[dict[tuple[int, ...], tuple[int, str]]] = CLUSTERGAN_LATENT

    @dataclass
    class Config(GANConfig):
        """Defaults: the TF original (metrics-reference §9; module docstring): 500,000 generator
        iterations, beta_n = beta_c = 10, L2 2.5e-5 on G, the shared GAN defaults otherwise;
        ``assign`` "kmeans" (the reference's evaluation) or "argmax" (module docstring)."""

        iterations: int | None = 500_000
        beta_n: float = 10.0
        beta_c: float = 10.0
        weight_decay: float = 2.5e-5
        assign: Literal["kmeans", "argmax"] = "kmeans"

    def make_model(self, device: torch.device, spec: GANSpec) -> ClusterGANModel:
        return ClusterGANModel(device, spec, self.config)

    def fit(self, X: Any, n_clusters: int, *, seed: int, device: str = "cpu",
            workdir: Path | None = None, monitor: Monitor | None = None) -> MethodOutput:
        out = super().fit(X, n_clusters, seed=seed, device=device, workdir=workdir, monitor=monitor)
        if self.config.assign == "argmax":
            out.extras["assignment"] = {"rule": "argmax", "on": "softmax z_c"}
            return out
        labels, on = kmeans_assignment(out.proba, out.embedding, int(n_clusters), seed=seed,
                                       beta_n=self.config.beta_n)
        out.proba = np.eye(int(n_clusters))[labels]
        hist = np.bincount(labels, minlength=int(n_clusters))
        out.extras.update(assignment={"rule": "kmeans", "on": on, "n_init": 10, "random_state": int(seed)},
                          cluster_histogram=hist.tolist(), clusters_used=int((hist > 0).sum()))
        return out


def kmeans_assignment(softmax_zc: np.ndarray, z_n: np.ndarray, k: int, *, seed: int,
                      beta_n: float) -> tuple[np.ndarray, str]:
    """ClusterGAN's reference rule: k-means (K clusters, n_init 10, random_state ``seed``) on
    [z_n, softmax z_c] (N x (d_n + K)), or on softmax z_c (N x K) alone when ``beta_n`` is 0.
    Returns (N labels in 0..K-1, what it clustered)."""
    if beta_n == 0:
        feats, on = softmax_zc, "softmax z_c (beta_n = 0)"
    else:
        feats, on = np.hstack([z_n, softmax_zc]), "[z_n, softmax z_c]"
    km = KMeans(n_clusters=k, n_init=10, random_state=int(seed)).fit(np.asarray(feats, dtype=np.float64))
    return km.labels_.astype(np.int64), on


__all__ = ["CLUSTERGAN_LATENT", "ClusterGAN", "ClusterGANModel", "kmeans_assignment"]
