"""Time and peak memory of ``ncuts`` (normalised cuts on a sparse k-NN graph).

Cases (each runs in a fresh subprocess so that its peak RSS is its own):
  images   N x 784 images: the real Fashion-MNIST 70k when available (``clusterbench.load``, else
           the Debian ``dataset-fashion-mnist`` files in /usr/share/datasets/fashion-mnist), else a
           synthetic 70k x 784 stand-in; with pca_dims=None (raw pixels, the default) and
           pca_dims=50. Prints ACC/NMI when the data are real.
  reuters  a reuters10k-like 10k x 2000 sparse tf-idf matrix (real ``reuters10k`` if fetched,
           else synthetic), and the synthetic one at 2-3 larger sizes to fit t = a N^b per phase
           and extrapolate the 685,071-document Reuters run.

Usage:  python benchmarks/ncuts_bench.py [--cases images,reuters] [--threads 2] [--n-images 70000]
Prints where the time goes (reduce / k-NN search / graph / eigensolver / k-means) and the peak RSS.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's clusterbench, not an installed one
REUTERS_FULL = 685_071
DEBIAN_FMNIST = Path("/usr/share/datasets/fashion-mnist")


# --- data -------------------------------------------------------------------------------------


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load_images(n: int) -> tuple[np.ndarray, np.ndarray | None, str]:
    """(X (n, 784) float32 in [0, 1], y or None, description)."""
    try:
        import clusterbench

        X, y, _ = clusterbench.load("fashion-mnist")
        X = np.asarray(X, dtype=np.float32).reshape(len(X), -1)
        return X[:n], y[:n], "real Fashion-MNIST via clusterbench.load"
    except Exception as exc:  # noqa: BLE001 - benchmark falls back and says so
        reason = f"{type(exc).__name__}"
    if (DEBIAN_FMNIST / "train-images-idx3-ubyte.gz").exists():
        parts = [("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
                 ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")]
        X = np.concatenate([_read_idx(DEBIAN_FMNIST / a).reshape(-1, 784) for a, _ in parts])
        y = np.concatenate([_read_idx(DEBIAN_FMNIST / b) for _, b in parts]).astype(np.int64)
        return (X[:n].astype(np.float32) / 255.0, y[:n],
                f"real Fashion-MNIST (train+test) from {DEBIAN_FMNIST} (clusterbench.load: {reason})")
    rng = np.random.default_rng(0)
    centres = rng.random((10, 784)).astype(np.float32)
    y = rng.integers(0, 10, n)
    X = np.clip(centres[y] + 0.3 * rng.standard_normal((n, 784), dtype=np.float32), 0, 1)
    return X, None, "SYNTHETIC 10-centre stand-in (no Fashion-MNIST available)"


def synthetic_tfidf(n: int, *, d: int = 2000, topics: int = 4, seed: int = 0):
    """A reuters-like tf-idf CSR matrix: Zipfian vocabulary, 4 topics, ~60 distinct words/doc."""
    import scipy.sparse as sp
    from sklearn.feature_extraction.text import TfidfTransformer

    rng = np.random.default_rng(seed)
    y = rng.integers(0, topics, n)
    base = 1.0 / np.arange(1, d + 1) ** 1.1
    topic_p = []
    for t in range(topics):
        boost = np.ones(d)
        boost[rng.choice(d, 300, replace=False)] = 2.5
        p = base * boost
        topic_p.append(p / p.sum())
    lengths = rng.poisson(90, n) + 10
    rows, cols = [], []
    for t in range(topics):
        ids = np.flatnonzero(y == t)
        words = rng.choice(d, size=int(lengths[ids].sum()), p=topic_p[t])
        rows.append(np.repeat(ids, lengths[ids]))
        cols.append(words)
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    counts = sp.csr_matrix((np.ones(rows.size, np.float32), (rows, cols)), shape=(n, d))
    counts.sum_duplicates()
    X = TfidfTransformer(norm="l2", sublinear_tf=True).fit_transform(counts) * np.sqrt(d)
    return sp.csr_matrix(X, dtype=np.float32), y


def load_reuters(n: int):
    try:
        import clusterbench

        X, y, _ = clusterbench.load("reuters10k")
        if n <= X.shape[0]:
            return X[:n], y[:n], "real reuters10k via clusterbench.load"
    except Exception:  # noqa: BLE001
        pass
    X, y = synthetic_tfidf(n)
    return X, y, "SYNTHETIC reuters-like tf-idf (4 topics, Zipf vocabulary, 2000 words)"


# --- one case (child process) -------------------------------------------------------------


def run_case(kind: str, n: int, pca: int | None, threads: int) -> dict:
    import torch

    torch.set_num_threads(threads)
    from clusterbench.methods import METHODS, make_config
    from clusterbench.metrics import evaluate

    t0 = time.perf_counter()
    if kind in ("images", "spectral"):
        X, y, desc = load_images(n)
        k = 10
    else:
        X, y, desc = load_reuters(n)
        k = 4
    load_s = time.perf_counter() - t0
    method = "spectral" if kind == "spectral" else "ncuts"
    overrides = {"max_samples": n} if kind == "spectral" else {"pca_dims" if kind == "images" else "svd_dims": pca}
    cfg = make_config(METHODS[method].Config, overrides, method=method)
    t0 = time.perf_counter()
    out = METHODS[method](cfg).fit(X, k, seed=0)
    total = time.perf_counter() - t0
    if kind == "spectral":
        out.extras.update({p: float("nan") for p in PHASES}, n_components=-1)
    res = {
        "kind": kind, "n": int(X.shape[0]), "d": int(X.shape[1]), "pca_dims": pca, "data": desc,
        "load_s": round(load_s, 1), "fit_s": round(total, 1),
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2, 2),
        "loadavg_1min": round(os.getloadavg()[0], 2),
        **{key: out.extras[key] for key in ("reduce_s", "knn_s", "graph_s", "eigen_s", "kmeans_s", "n_components")},
    }
    if y is not None:  # the data line says whether the labels are real or synthetic
        m = evaluate(y, out.proba)
        res.update({"acc": round(m["acc"], 4), "nmi": round(m["nmi"], 4), "nmi_geometric": round(m["nmi_geometric"], 4)})
    return res


def child(kind: str, n: int, pca: int | None, threads: int) -> dict:
    cmd = [sys.executable, __file__, "--one", kind, "--n", str(n), "--pca", str(pca), "--threads", str(threads)]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)
    if r.returncode != 0:
        raise SystemExit(f"case {kind} n={n} pca={pca} failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


PHASES = ("reduce_s", "knn_s", "graph_s", "eigen_s", "kmeans_s")


def show(r: dict) -> None:
    phases = "  ".join(f"{p[:-2]} {r[p]:7.1f}s" for p in PHASES)
    metrics = f"  ACC {r['acc']:.4f}  NMI {r['nmi']:.4f} (geometric {r['nmi_geometric']:.4f})" if "acc" in r else ""
    print(f"  {r['kind']:7s} N={r['n']:>7,d} d={r['d']:4d} dims={str(r['pca_dims']):4s} fit {r['fit_s']:7.1f}s "
          f"(load {r['load_s']:.1f}s)  peak RSS {r['peak_rss_gb']:.2f} GB  load-avg {r['loadavg_1min']:.1f}"
          f"  components {r['n_components']}{metrics}", flush=True)
    if r["kind"] != "spectral":
        print(f"      {phases}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", default="images,reuters")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--n-images", type=int, default=70_000)
    ap.add_argument("--image-pca", default="None,50", help="pca_dims values for the images case")
    ap.add_argument("--reuters-sizes", default="10000,40000,100000")
    ap.add_argument("--spectral-sizes", default="5000,10000,20000",
                    help="sizes for the optional 'spectral' case (sklearn SpectralClustering on the images)")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--pca", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        pca = None if a.pca in (None, "None") else int(a.pca)
        print(json.dumps(run_case(a.one, a.n, pca, a.threads)))
        return

    print(f"ncuts benchmark: {a.threads} torch/BLAS threads, {os.cpu_count()} CPUs visible, "
          f"load average at start {os.getloadavg()[0]:.1f} (the machine is shared: timings are upper bounds)")
    cases = a.cases.split(",")
    if "images" in cases:
        print("\n(a) images", flush=True)
        for p in a.image_pca.split(","):
            r = child("images", a.n_images, None if p == "None" else int(p), a.threads)
            if p == a.image_pca.split(",")[0]:
                print(f"  data: {r['data']}")
            show(r)
    if "reuters" in cases:
        print("\n(b) reuters-like sparse tf-idf, svd_dims=50 (TruncatedSVD-50, the default)", flush=True)
        sizes = [int(s) for s in a.reuters_sizes.split(",")]
        rs = []
        for n in sizes:
            r = child("reuters", n, 50, a.threads)
            if n == sizes[0]:
                print(f"  data: {r['data']}")
            show(r)
            rs.append(r)
        if len(rs) >= 2:
            print(f"\n  extrapolation to Reuters N={REUTERS_FULL:,d} (least-squares fit t = a N^b per phase):")
            ns = np.log([r["n"] for r in rs])
            total = 0.0
            for p in PHASES + ("peak_rss_gb",):
                v = np.array([max(r[p], 1e-3) for r in rs])
                b, loga = np.polyfit(ns, np.log(v), 1)
                if p == "peak_rss_gb":  # memory: linear in N on top of the interpreter baseline
                    slope, icpt = np.polyfit([r["n"] for r in rs], v, 1)
                    est = icpt + slope * REUTERS_FULL
                    print(f"    peak RSS       ~ {est:6.2f} GB (linear fit)")
                else:
                    est = float(np.exp(loga) * REUTERS_FULL**b)
                    total += est
                    print(f"    {p[:-2]:14s} ~ {est:8.0f} s   (exponent b = {b:.2f})")
            print(f"    total          ~ {total:8.0f} s = {total / 60:.0f} min on {a.threads} threads")
    if "spectral" in cases:
        print("\n(c) sklearn SpectralClustering (method 'spectral') on the images, for its max_samples limit", flush=True)
        for n in [int(s) for s in a.spectral_sizes.split(",")]:
            show(child("spectral", n, None, a.threads))


if __name__ == "__main__":
    main()
