"""Large image data sets on a small machine: dSprites preprocessing memory, streaming vs in-memory epochs.

Cases (each measured in a fresh subprocess, so its peak RSS is its own):
  dsprites  generate a dSprites-like npz (the real keys and layout, square sprites on the real
            latent grid; ``--n`` images, default the full 737,280), then time the raw file's
            sha256 (what fetch's verification reads), the ``dsprites-npz`` preprocessor and
            ``write_dataset`` (uint8 storage), with the peak RSS of that process. (The real
            archive cannot be downloaded here; ``clusterbench fetch`` adds only the download and
            its bookkeeping to these steps.)
  epoch     one training epoch (``clusterbench.training.loop.train``) on a ``--subset`` of the
            file written by the dsprites case: X in memory (float32, as ``load(mmap=False)`` gives)
            vs streamed per batch from the HDF5 file (``StoredArray``); samples/s of each and the
            ratio. ``--model linear`` (a soft-max regression on the 4,096 pixels: I/O-bound, the
            worst case for streaming) or ``dual-aae`` (the Dual-AAE conv nets: a real workload).

Usage:  python benchmarks/storage_bench.py [--cases dsprites,epoch] [--n 737280] [--subset 100000]
            [--model linear] [--workdir DIR] [--threads 1]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
FULL = 737_280
SIZES = (1, 3, 6, 40, 32, 32)  # colour, shape, scale, orientation, posX, posY


def RssNow() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024**2


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def generate(path: Path, n: int, chunk: int = 16384) -> None:
    """A dSprites-like npz: imgs (n, 64, 64) uint8 0/1 streamed into the zip member, the latents."""
    classes = np.ascontiguousarray(np.indices(SIZES).reshape(len(SIZES), -1).T[:n], dtype=np.int64)
    values = classes.astype(np.float64)
    grid = np.arange(64)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        with zf.open("imgs.npy", "w", force_zip64=True) as fh:
            np.lib.format.write_array_header_1_0(fh, {"descr": "|u1", "fortran_order": False, "shape": (n, 64, 64)})
            for s in range(0, n, chunk):
                c = classes[s : s + chunk]
                half = 3 + c[:, 2, None]  # scale -> half side 3..8 px
                cols = np.abs(grid - (8 + c[:, 4, None] * 48 // 31)) < half  # (k, 64) per image
                rows = np.abs(grid - (8 + c[:, 5, None] * 48 // 31)) < half
                fh.write((rows[:, :, None] & cols[:, None, :]).view(np.uint8).tobytes())
        for key, arr in (("latents_values", values), ("latents_classes", classes)):
            with zf.open(f"{key}.npy", "w") as fh:
                np.lib.format.write_array(fh, arr)


def case_dsprites(workdir: Path, n: int) -> dict:
    from clusterbench.data.hdf5 import write_dataset
    from clusterbench.data.preprocessors import PREPROCESSORS
    from clusterbench.data.registry import get_spec

    raw = workdir / "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
    out = workdir / "dsprites.h5"
    res: dict = {"n": n, "loadavg_1min": round(os.getloadavg()[0], 1)}
    t0 = time.perf_counter()
    h = hashlib.sha256()
    with open(raw, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    res["sha256_s"] = round(time.perf_counter() - t0, 1)
    spec = get_spec("dsprites")
    res["rss_before_gb"] = round(RssNow(), 2)
    t0 = time.perf_counter()
    p = PREPROCESSORS[spec.preprocessor]({"archive": raw}, spec=spec, **spec.options)
    res["preprocess_s"] = round(time.perf_counter() - t0, 1)
    res["rss_after_preprocess_gb"] = round(peak_rss_gb(), 2)
    res["X"] = f"{p.X.dtype} {p.X.shape} divisor {p.x_divisor}"
    t0 = time.perf_counter()
    info = write_dataset(out, p, name="dsprites", n_clusters=spec.n_clusters)
    res["write_s"] = round(time.perf_counter() - t0, 1)
    res["checksum"] = info.checksum[:12]
    res["raw_mb"] = round(raw.stat().st_size / 1024**2)
    res["h5_gb"] = round(out.stat().st_size / 1024**3, 2)
    res["float32_gb"] = round(p.X.size * 4 / 1024**3, 2)
    res["peak_rss_gb"] = round(peak_rss_gb(), 2)
    return res


class _Linear:
    """Builds a soft-max regression DeepModel on flattened images (the I/O-bound case)."""

    def __init__(self, d: int, k: int = 3) -> None:
        self.d, self.k = d, k

    def __call__(self, device):
        import torch

        from clusterbench.training.contract import DeepModel

        d, k = self.d, self.k

        class M(DeepModel):
            def __init__(self, device):
                super().__init__(device)
                self.lin = torch.nn.Linear(d, k)
                self.nets["lin"] = self.lin
                self.optims["sgd"] = torch.optim.SGD(self.lin.parameters(), lr=0.01)

            def training_step(self, x, step):
                with self.optimizing("sgd") as opt:
                    loss = -torch.log_softmax(self.lin(x.flatten(1)), 1).mean()
                    opt.backward(loss)
                return {"loss": loss.detach()}

            @torch.no_grad()
            def predict(self, x):
                return self.lin(x.flatten(1)).softmax(1), None

        return M(device)


def case_epoch(workdir: Path, subset: int, model: str, source: str) -> dict:
    from clusterbench.data.hdf5 import StoredArray
    from clusterbench.training.loop import LoopOptions, train

    S = StoredArray(workdir / "dsprites.h5")
    rows = np.sort(np.random.default_rng(0).choice(S.shape[0], size=min(subset, S.shape[0]), replace=False))
    t0 = time.perf_counter()
    X = S.take(rows) if source == "stored" else S[rows]  # in memory: the float32 subset
    load_s = time.perf_counter() - t0
    res: dict = {"source": source, "model": model, "n": int(rows.size), "load_s": round(load_s, 1),
                 "loadavg_1min": round(os.getloadavg()[0], 1)}
    if model == "linear":
        build, opts = _Linear(int(np.prod(S.shape[1:]))), LoopOptions(epochs=1, batch_size=100, monitor_every=0,
                                                                      progress=False)
        r = train(build, X, options=opts, seed=0)
    else:
        from clusterbench.methods import METHODS, make_config

        cfg = make_config(METHODS[model].Config, {"epochs": 1, "pretrain_epochs": 0, "save_samples": False,
                                                   "monitor_every": 0}, method=model)
        r = METHODS[model](cfg).fit(X, 3, seed=0)
    epoch_s = [h["seconds"] for h in r.history if h.get("phase") == "train"][0]
    res["epoch_s"] = round(epoch_s, 1)
    res["samples_per_s"] = round(rows.size / epoch_s, 1)
    res["peak_rss_gb"] = round(peak_rss_gb(), 2)
    return res


def child(args: list[str], threads: int) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads))
    r = subprocess.run([sys.executable, __file__, *args, "--threads", str(threads)], capture_output=True, text=True,
                       cwd=ROOT, env=env)
    if r.returncode != 0:
        raise SystemExit(f"{args} failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", default="dsprites,epoch")
    ap.add_argument("--n", type=int, default=FULL)
    ap.add_argument("--subset", type=int, default=100_000)
    ap.add_argument("--model", default="linear", help="linear or a deep method id (e.g. dual-aae)")
    ap.add_argument("--workdir", default=None, help="where the archive and the HDF5 file go (default: a temp dir)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--source", help=argparse.SUPPRESS)
    a = ap.parse_args()
    import tempfile

    if a.one:
        import torch

        torch.set_num_threads(a.threads)
        wd = Path(a.workdir)
        r = case_dsprites(wd, a.n) if a.one == "dsprites" else case_epoch(wd, a.subset, a.model, a.source)
        print(json.dumps(r))
        return
    tmp = None
    if a.workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="storage_bench_")
        a.workdir = tmp.name
    wd = Path(a.workdir)
    print(f"storage benchmark: {a.threads} thread(s), load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs "
          "(shared machine: times are upper bounds); workdir", wd, flush=True)
    cases = a.cases.split(",")
    if "dsprites" in cases:
        t0 = time.perf_counter()
        generate(wd / "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz", a.n)
        print(f"\n(a) dSprites-like archive of {a.n:,d} images generated in {time.perf_counter() - t0:.0f} s", flush=True)
        r = child(["--one", "dsprites", "--n", str(a.n), "--workdir", str(wd)], a.threads)
        print(f"  raw npz {r['raw_mb']} MB: sha256 {r['sha256_s']} s, preprocess {r['preprocess_s']} s "
              f"(X {r['X']}; float32 would be {r['float32_gb']} GB), write HDF5 {r['write_s']} s -> {r['h5_gb']} GB; "
              f"peak RSS {r['peak_rss_gb']} GB (before preprocessing {r['rss_before_gb']} GB, imports; after it "
              f"{r['rss_after_preprocess_gb']} GB); "
              f"load-avg {r['loadavg_1min']}; checksum {r['checksum']}", flush=True)
    if "epoch" in cases:
        print(f"\n(b) one training epoch, model {a.model}, {a.subset:,d}-image subset: memory vs streamed from HDF5",
              flush=True)
        rs = {}
        for source in ("memory", "stored"):
            rs[source] = r = child(["--one", "epoch", "--source", source, "--subset", str(a.subset), "--model", a.model,
                                    "--workdir", str(wd)], a.threads)
            print(f"  {source:6s} N={r['n']:,d}: subset read {r['load_s']} s, epoch {r['epoch_s']} s = "
                  f"{r['samples_per_s']} samples/s, peak RSS {r['peak_rss_gb']} GB, load-avg {r['loadavg_1min']}",
                  flush=True)
        print(f"  streamed / in-memory throughput: {rs['stored']['samples_per_s'] / rs['memory']['samples_per_s']:.2f}")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
