"""FID cost: N real vs N generated MNIST-shaped images (1 x 28 x 28), each feature network.

Times the feature extraction of the 2N images and the Fréchet distance (mean, covariance, sqrtm)
separately, with the suite's own functions (``clusterbench.evaluate.fid``). The images are uniform
random pixels (the cost does not depend on their content). The mnist-cnn network is the suite's
classifier architecture with random weights (the cost of trained weights is the same); the
Inception network is pytorch-fid's with random weights unless --weights names the fetched file.

    python benchmarks/fid_bench.py                           # both networks, N = 10,000
    python benchmarks/fid_bench.py --network inception --n 200 --extrapolate 10000
    python benchmarks/fid_bench.py --device cuda

``--extrapolate M``: also print the time for M vs M images, scaling the measured feature time
linearly in the number of images (the distance does not depend on N beyond the covariance, which
is included as measured).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's clusterbench

import numpy as np
import torch

from clusterbench.evaluate import fid as F
from clusterbench.evaluate.mnist_classifier import mnist_cnn, penultimate_features


def extractor(network: str, device: str, weights: str):
    if network == "mnist-cnn":
        torch.manual_seed(0)
        net = mnist_cnn().eval()
        return lambda x: penultimate_features(net, x, device=device)
    net, _ = F.inception_network(weights)
    return lambda x: F.inception_features(net, x, device=device)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--network", choices=["mnist-cnn", "inception", "both"], default="both")
    ap.add_argument("--n", type=int, default=10000, help="real and generated images, each")
    ap.add_argument("--extrapolate", type=int, default=None, help="also print the time for this N (linear in images)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--weights", default="random", help="random | inception-fid | a path")
    args = ap.parse_args()
    print(f"torch threads {torch.get_num_threads()}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, "
          f"cpus {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}, device {args.device}")
    rng = np.random.default_rng(0)
    real = rng.random((args.n, 1, 28, 28), dtype=np.float32)
    fake = rng.random((args.n, 1, 28, 28), dtype=np.float32)
    for network in (["mnist-cnn", "inception"] if args.network == "both" else [args.network]):
        extract = extractor(network, args.device, args.weights)
        extract(real[:2])  # warm-up (allocation, lazy init)
        t0 = time.perf_counter()
        fr, fg = extract(real), extract(fake)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        t_feat = time.perf_counter() - t0
        t0 = time.perf_counter()
        value = F.fid_from_features(fr, fg)
        t_dist = time.perf_counter() - t0
        line = (f"{network:10s} N={args.n} vs {args.n}: features {t_feat:.2f} s "
                f"({2 * args.n / t_feat:.0f} img/s), distance (d={fr.shape[1]}) {t_dist:.2f} s, "
                f"total {t_feat + t_dist:.2f} s, FID {value:.4g}")
        if args.extrapolate:
            est = t_feat * args.extrapolate / args.n + t_dist
            line += f"; extrapolated to {args.extrapolate} vs {args.extrapolate}: {est:.0f} s"
        print(line, flush=True)


if __name__ == "__main__":
    main()
