"""Acceptance on real data: deep methods vs k-means on scikit-learn ``digits`` (1797 x 1x8x8).

Runs each method for several seeds directly through ``Method.fit`` and scores it with
``clusterbench.metrics.evaluate`` (the runner is not needed), then k-means (n_init=10) on the
flattened pixels with the same seeds. Prints ACC/NMI mean ± std per method and writes a JSON with
every run under --out.

    python benchmarks/digits_acceptance.py --methods dual-aae aae --seeds 0 1 2 --epochs 50
    python benchmarks/digits_acceptance.py --methods dual-aae --set arch=mlp --epochs 50
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's clusterbench

import numpy as np
import torch
from sklearn.cluster import KMeans

import clusterbench
from clusterbench.fsutil import write_json_atomic
from clusterbench.methods import METHODS, make_config
from clusterbench.metrics.clustering import evaluate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--methods", nargs="+", default=["dual-aae", "aae"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=50)
    ap.add_argument("--set", nargs="*", default=[], help="key=value config overrides for every method")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-kmeans", action="store_true")
    ap.add_argument("--out", type=Path, default=Path("digits_acceptance.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    X, y, info = clusterbench.load("digits")
    k = info.n_clusters
    overrides = dict(s.split("=", 1) for s in args.set)
    rows = []
    if not args.no_kmeans:
        for seed in args.seeds:
            km = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(X.reshape(len(X), -1))
            rows.append({"method": "kmeans", "seed": seed, **evaluate(y, km.labels_)})
    for name in args.methods:
        cfg = make_config(METHODS[name].Config, {"epochs": str(args.epochs), **overrides}, method=name)
        for seed in args.seeds:
            t0 = time.perf_counter()
            out = METHODS[name](cfg).fit(X, k, seed=seed, monitor=lambda p: {m: v for m, v in evaluate(y, p).items()
                                                                               if m in ("acc", "nmi")},
                                         device="cpu")
            m = evaluate(y, out.proba)
            rows.append({"method": name, "seed": seed, **m, "seconds": time.perf_counter() - t0,
                         "histogram": out.extras["cluster_histogram"], "overrides": overrides,
                         "epochs": args.epochs, "acc_curve": [r.get("acc") for r in out.history]})
            print(f"{name} seed {seed}: acc {m['acc']:.4f} nmi {m['nmi']:.4f} ({rows[-1]['seconds']:.0f} s)", flush=True)
            write_json_atomic(args.out, rows)
    write_json_atomic(args.out, rows)
    print(f"\n{'method':<16} {'ACC mean ± std':>18} {'NMI mean ± std':>18}  seeds")
    for name in dict.fromkeys(r["method"] for r in rows):
        a = np.array([r["acc"] for r in rows if r["method"] == name])
        n = np.array([r["nmi"] for r in rows if r["method"] == name])
        print(f"{name:<16} {a.mean():.4f} ± {a.std():.4f}   {n.mean():.4f} ± {n.std():.4f}  {len(a)}")


if __name__ == "__main__":
    main()
