"""Time and peak memory of ``ncuts`` (normalised cuts on a sparse k-NN graph).

Cases (each runs in a fresh subprocess so that its peak RSS is its own):
  images   N x 784 images: the real Fashion-MNIST 70k when available (``clusterbench.load``, else
           the Debian ``dataset-fashion-mnist`` files in /usr/share/datasets/fashion-mnist), else a
           synthetic 70k x 784 stand-in; with pca_dims=None (raw pixels, the default) and
           pca_dims=50. Prints ACC/NMI when the data are real.
  reuters  a reuters10k-like 10k x 2000 sparse tf-idf matrix (real ``reuters10k`` if fetched,
           else synthetic), and the synthetic one at 2-3 larger sizes to fit t = a N^b per phase
           and extrapolate the 685,071-document Reuters run.

  recall   reuters-like tf-idf at ``--recall-n`` (100k) reduced by TruncatedSVD-50: the exact
           k-NN lists vs faiss HNSW (M=16, M=32) and pynndescent (if installed; its numba
           compilation timed apart): time and recall@10 (the share of the exact 10 neighbours found).
  fashion-knn  the real Fashion-MNIST 70k: exact vs approximate graph, each searched once, then
           steps 3-5 (graph, eigsh, k-means) for ``--seeds`` seeds: ACC/NMI mean and spread.

``--knn exact|approx|auto`` and ``--knn-backend faiss|pynndescent`` set ncuts' options for the
images and reuters cases
(``--reuters-sizes 685071`` runs all of Reuters' size).

Usage:  python benchmarks/ncuts_bench.py [--cases images,reuters] [--threads 2] [--n-images 70000]
Prints where the time goes (reduce / k-NN search / graph / eigensolver / k-means) and the peak RSS
of the whole process and of each phase (sampled every 0.1 s from /proc/self/status).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import subprocess
import sys
import threading
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


class RssSampler:
    """Samples this process's resident set size every ``period`` s in a daemon thread."""

    def __init__(self, period: float = 0.1) -> None:
        self.samples: list[tuple[float, float]] = []  # (perf_counter, GB)
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, args=(period,), daemon=True)
        self._t.start()

    @staticmethod
    def rss_gb() -> float:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024**2
        return float("nan")

    def _run(self, period: float) -> None:
        while not self._stop.is_set():
            self.samples.append((time.perf_counter(), self.rss_gb()))
            self._stop.wait(period)

    def peak(self, t0: float, t1: float) -> float:
        vals = [g for t, g in self.samples if t0 <= t <= t1]
        return round(max(vals), 2) if vals else float("nan")

    def stop(self) -> None:
        self._stop.set()
        self._t.join()


def phase_peaks(sampler: RssSampler, start: float, extras: dict) -> dict:
    """Peak RSS (GB) within each phase; the phases run back to back from ``start`` in PHASES order."""
    out, t = {}, start
    for p in PHASES:
        d = extras.get(p)
        if d is None or d != d:  # absent or NaN
            continue
        out[p[:-2]] = sampler.peak(t, t + d + 0.1)
        t += d
    return out


def run_case(kind: str, n: int, pca: int | None, threads: int, knn: str = "auto", backend: str = "faiss") -> dict:
    import torch

    torch.set_num_threads(threads)
    if kind == "recall":
        return recall_case(n, threads)
    if kind == "fashion-knn":
        return fashion_knn_case(n, threads, seeds=int(pca or 3))
    sampler = RssSampler()
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
    overrides = ({"max_samples": n} if kind == "spectral"
                 else {"pca_dims" if kind == "images" else "svd_dims": pca, "knn": knn, "knn_backend": backend})
    cfg = make_config(METHODS[method].Config, overrides, method=method)
    jit_s = 0.0
    if kind != "spectral" and backend == "pynndescent":  # numba compiles once per process: time it apart
        from clusterbench.methods.baselines.ncuts import nndescent_knn_search

        t0 = time.perf_counter()
        nndescent_knn_search(np.random.default_rng(0).random((2000, 50), dtype=np.float32), 10)
        jit_s = time.perf_counter() - t0
    rss_before = RssSampler.rss_gb()
    t0 = time.perf_counter()
    out = METHODS[method](cfg).fit(X, k, seed=0)
    total = time.perf_counter() - t0
    sampler.stop()
    if kind == "spectral":
        out.extras.update({p: float("nan") for p in PHASES}, n_components=-1)
    res = {
        "kind": kind, "n": int(X.shape[0]), "d": int(X.shape[1]), "pca_dims": pca, "data": desc,
        "load_s": round(load_s, 1), "fit_s": round(total, 1),
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2, 2),
        "loadavg_1min": round(os.getloadavg()[0], 2),
        **{key: out.extras[key] for key in ("reduce_s", "knn_s", "graph_s", "eigen_s", "kmeans_s", "n_components")},
        "knn_graph": out.extras.get("knn_graph", "-"), "rss_before_fit_gb": round(rss_before, 2),
        "jit_s": round(jit_s, 1),
        "phase_peak_rss_gb": phase_peaks(sampler, t0, out.extras) if kind != "spectral" else {},
    }
    if y is not None:  # the data line says whether the labels are real or synthetic
        m = evaluate(y, out.proba)
        res.update({"acc": round(m["acc"], 4), "nmi": round(m["nmi"], 4), "nmi_geometric": round(m["nmi_geometric"], 4)})
    return res


def recall_case(n: int, threads: int) -> dict:
    """Exact vs approximate k-NN lists on SVD-50 reuters-like tf-idf: seconds and recall@10."""
    from sklearn.decomposition import TruncatedSVD

    from clusterbench.methods.baselines.ncuts import approx_knn_search, knn_search

    X, _ = synthetic_tfidf(n)
    Z = np.ascontiguousarray(TruncatedSVD(50, random_state=0).fit_transform(X), dtype=np.float32)
    k = 10
    res: dict = {"kind": "recall", "n": n, "d": 50, "loadavg_1min": round(os.getloadavg()[0], 2), "rows": []}

    def recall(a: np.ndarray) -> float:
        return round(float(np.mean([np.intersect1d(a[i], ie[i]).size for i in range(n)]) / k), 4)

    t0 = time.perf_counter()
    ie, _ = knn_search(Z, k)
    res["rows"].append({"graph": "exact (torch chunks)", "s": round(time.perf_counter() - t0, 1), "recall": 1.0})
    import importlib.util

    for m in (16, 32) if importlib.util.find_spec("faiss") else ():  # optional: clusterbench[faiss]
        t0 = time.perf_counter()
        ia, _ = approx_knn_search(Z, k, m=m, threads=threads)
        res["rows"].append({"graph": f"faiss HNSW M={m} efC=128 efS=64", "s": round(time.perf_counter() - t0, 1),
                            "recall": recall(ia)})
    try:
        import pynndescent
    except ImportError:
        res["rows"].append({"graph": "pynndescent", "s": float("nan"), "recall": float("nan"), "note": "not installed"})
    else:
        t0 = time.perf_counter()
        pynndescent.NNDescent(Z[:2000], n_neighbors=k + 1, random_state=0, n_jobs=1)
        jit = round(time.perf_counter() - t0, 1)
        for nn in (11, 30):
            t0 = time.perf_counter()
            I, _ = pynndescent.NNDescent(Z, n_neighbors=nn, random_state=0, n_jobs=threads).neighbor_graph
            I = np.array([row[row != i][:k] for i, row in enumerate(I)])
            res["rows"].append({"graph": f"pynndescent n_neighbors={nn}", "s": round(time.perf_counter() - t0, 1),
                                "recall": recall(I), "note": f"+ {jit} s numba compilation per process"})
    res["peak_rss_gb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2, 2)
    return res


def fashion_knn_case(n: int, threads: int, seeds: int) -> dict:
    """Real Fashion-MNIST: exact vs approximate graph (searched once each), steps 3-5 per seed."""
    from clusterbench.methods import METHODS, make_config
    from clusterbench.methods.baselines.classical import prepare_input
    from clusterbench.metrics import evaluate

    X, y, desc = load_images(n)
    if y is None:
        raise SystemExit("fashion-knn needs the real Fashion-MNIST (clusterbench fetch fashion-mnist ...)")
    res: dict = {"kind": "fashion-knn", "n": int(len(X)), "data": desc, "loadavg_1min": round(os.getloadavg()[0], 2),
                 "rows": []}
    graphs = {}
    for mode in ("exact", "approx"):
        m = METHODS["ncuts"](make_config(METHODS["ncuts"].Config, {"knn": mode}, method="ncuts"))
        A = prepare_input(X, 10, method="ncuts", sparse="keep")
        idx, dist, info = m.neighbours(A, seed=0)  # raw pixels: the graph does not depend on the seed
        graphs[mode] = idx
        scores = []
        for s in range(seeds):
            out = m.cut(idx, dist, 10, seed=s, info=dict(info))
            ev = evaluate(y, out.proba)
            scores.append((ev["acc"], ev["nmi"]))
        a = np.array(scores)
        res["rows"].append({"graph": mode, "knn_s": round(info["knn_s"], 1), "acc": a[:, 0].round(4).tolist(),
                            "nmi": a[:, 1].round(4).tolist(), "acc_mean": round(a[:, 0].mean(), 4),
                            "nmi_mean": round(a[:, 1].mean(), 4)})
    ie, ia = graphs["exact"], graphs["approx"]
    res["recall_at_10"] = round(float(np.mean([np.intersect1d(ie[i], ia[i]).size for i in range(len(ie))]) / 10), 4)
    res["peak_rss_gb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2, 2)
    return res


def child(kind: str, n: int, pca: int | None, threads: int, knn: str = "auto", backend: str = "faiss") -> dict:
    cmd = [sys.executable, __file__, "--one", kind, "--n", str(n), "--pca", str(pca), "--threads", str(threads),
           "--knn", knn, "--knn-backend", backend]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
               NUMBA_NUM_THREADS=str(threads))
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)
    if r.returncode != 0:
        raise SystemExit(f"case {kind} n={n} pca={pca} failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


PHASES = ("reduce_s", "knn_s", "graph_s", "eigen_s", "kmeans_s")


def show(r: dict) -> None:
    if "rows" in r:
        print(f"  N={r['n']:,d}  load-avg {r['loadavg_1min']:.1f}  peak RSS {r['peak_rss_gb']:.2f} GB"
              + (f"  recall@10 approx vs exact {r['recall_at_10']:.4f}" if "recall_at_10" in r else ""), flush=True)
        for row in r["rows"]:
            print("    " + "  ".join(f"{k} {v}" for k, v in row.items()), flush=True)
        return
    phases = "  ".join(f"{p[:-2]} {r[p]:7.1f}s" for p in PHASES)
    metrics = f"  ACC {r['acc']:.4f}  NMI {r['nmi']:.4f} (geometric {r['nmi_geometric']:.4f})" if "acc" in r else ""
    print(f"  {r['kind']:7s} N={r['n']:>7,d} d={r['d']:4d} dims={str(r['pca_dims']):4s} fit {r['fit_s']:7.1f}s "
          f"(load {r['load_s']:.1f}s)  peak RSS {r['peak_rss_gb']:.2f} GB  load-avg {r['loadavg_1min']:.1f}"
          f"  components {r['n_components']}  graph {r['knn_graph']}{metrics}", flush=True)
    if r["kind"] != "spectral":
        print(f"      {phases}" + (f"  (+ numba compilation {r['jit_s']:.0f}s before fit)" if r.get("jit_s") else ""),
              flush=True)
        peaks = "  ".join(f"{p} {g:5.2f}" for p, g in r["phase_peak_rss_gb"].items())
        print(f"      peak RSS per phase (GB; {r['rss_before_fit_gb']:.2f} before fit): {peaks}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", default="images,reuters")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--n-images", type=int, default=70_000)
    ap.add_argument("--image-pca", default="None,50", help="pca_dims values for the images case")
    ap.add_argument("--reuters-sizes", default="10000,40000,100000")
    ap.add_argument("--spectral-sizes", default="5000,10000,20000",
                    help="sizes for the optional 'spectral' case (sklearn SpectralClustering on the images)")
    ap.add_argument("--knn", default="auto", choices=["exact", "approx", "auto"], help="ncuts' knn option")
    ap.add_argument("--knn-backend", default="faiss", choices=["faiss", "pynndescent"], help="ncuts' knn_backend")
    ap.add_argument("--recall-n", type=int, default=100_000, help="size of the 'recall' case")
    ap.add_argument("--seeds", type=int, default=3, help="seeds of the 'fashion-knn' case")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--pca", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        pca = None if a.pca in (None, "None") else int(a.pca)
        print(json.dumps(run_case(a.one, a.n, pca, a.threads, a.knn, a.knn_backend)))
        return

    print(f"ncuts benchmark: {a.threads} torch/BLAS threads, {os.cpu_count()} CPUs visible, "
          f"load average at start {os.getloadavg()[0]:.1f} (the machine is shared: timings are upper bounds)")
    cases = a.cases.split(",")
    if "images" in cases:
        print("\n(a) images", flush=True)
        for p in a.image_pca.split(","):
            r = child("images", a.n_images, None if p == "None" else int(p), a.threads, a.knn, a.knn_backend)
            if p == a.image_pca.split(",")[0]:
                print(f"  data: {r['data']}")
            show(r)
    if "reuters" in cases:
        print(f"\n(b) reuters-like sparse tf-idf, svd_dims=50 (TruncatedSVD-50, the default), knn={a.knn} ({a.knn_backend})", flush=True)
        sizes = [int(s) for s in a.reuters_sizes.split(",")]
        rs = []
        for n in sizes:
            r = child("reuters", n, 50, a.threads, a.knn, a.knn_backend)
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
    if "recall" in cases:
        print("\n(d) k-NN recall@10 vs the exact lists, reuters-like tf-idf reduced by TruncatedSVD-50", flush=True)
        show(child("recall", a.recall_n, None, a.threads))
    if "fashion-knn" in cases:
        print(f"\n(e) Fashion-MNIST, exact vs approximate graph, {a.seeds} seeds", flush=True)
        r = child("fashion-knn", a.n_images, a.seeds, a.threads)
        print(f"  data: {r['data']}")
        show(r)
    if "spectral" in cases:
        print("\n(c) sklearn SpectralClustering (method 'spectral') on the images, for its max_samples limit", flush=True)
        for n in [int(s) for s in a.spectral_sizes.split(",")]:
            show(child("spectral", n, None, a.threads))


if __name__ == "__main__":
    main()
