"""Fetch and load figures of the data layer (prints them; not a test).

    python benchmarks/fetch_bench.py                 # both parts
    python benchmarks/fetch_bench.py --part load --size-gb 1
    python benchmarks/fetch_bench.py --part fashion --mirror /usr/share/datasets/fashion-mnist

``fashion``: ``fetch fashion-mnist --mirror DIR`` (verify the four Debian .gz files through their
payload md5, parse IDX, merge, scale, write the HDF5) in a fresh child process with an empty
CLUSTERBENCH_HOME: wall time of the fetch call and the child's peak RSS. Target: <= 20 s.

``load``: a generated float32 data set of about ``--size-gb`` GB written with ``write_dataset``,
then ``read_dataset`` (what ``clusterbench.load`` does) timed ``--repeats`` times in a child
process; prints GB/s (X and y bytes / seconds). The file was just written, so the page cache is
warm: this measures HDF5 -> memory, not the disk. Target: >= 1 GB/s.

Each part runs in its own child process so that peak RSS belongs to that part alone.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

FASHION_CHILD = r"""
import json, resource, sys, time
t0 = time.perf_counter()
from clusterbench.data.fetch import fetch
t1 = time.perf_counter()
info = fetch("fashion-mnist", mirror=sys.argv[1], progress=False)
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "fetch_s": t2 - t1, "n": info.n_samples,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

LOAD_CHILD = r"""
import json, os, resource, statistics, sys, time
import numpy as np
from clusterbench.data.hdf5 import Prepared, read_dataset, write_dataset
path, gb, repeats = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
d = 1024
n = int(gb * 2**30 / (4 * d))
rng = np.random.default_rng(0)
X = np.empty((n, d), dtype=np.float32)
for i in range(0, n, 16384):                     # fill in blocks: no float64 temporary of 2 GB
    X[i:i + 16384] = rng.random((min(16384, n - i), d), dtype=np.float32)
y = rng.integers(0, 10, n)
t0 = time.perf_counter()
write_dataset(path, Prepared(X, y, {"preprocessor": "bench"}), name="bench", n_clusters=10)
write_s = time.perf_counter() - t0
nbytes = X.nbytes + y.astype(np.int64).nbytes
del X, y
times = []
for _ in range(repeats):
    t = time.perf_counter()
    X2, y2, info = read_dataset(path)
    times.append(time.perf_counter() - t)
    del X2, y2
print(json.dumps({"n": n, "d": d, "gb": nbytes / 1e9, "write_s": write_s, "load_s": times,
                  "best_gbps": nbytes / 1e9 / min(times), "median_gbps": nbytes / 1e9 / statistics.median(times),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _child(code: str, args: list[str], home: str) -> dict:
    env = {**os.environ, "CLUSTERBENCH_HOME": home, "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, cwd=ROOT)
    if r.returncode != 0:
        raise SystemExit(f"benchmark child failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def bench_fashion(mirror: str) -> None:
    if not Path(mirror).is_dir():
        print(f"fashion-mnist: skipped, {mirror} is missing (apt-get install dataset-fashion-mnist)")
        return
    with tempfile.TemporaryDirectory() as home:
        r = _child(FASHION_CHILD, [mirror], home)
    ok = "OK" if r["fetch_s"] <= 20 else "OVER TARGET"
    print(
        f"fashion-mnist fetch+preprocess from {mirror}: {r['fetch_s']:.2f} s (target <= 20 s: {ok}), "
        f"{r['n']:,} samples, peak RSS {r['peak_rss_mb']:.0f} MB (python import {r['import_s']:.2f} s not counted)"
    )


def bench_load(size_gb: float, repeats: int) -> None:
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as tmp:
        r = _child(LOAD_CHILD, [str(Path(tmp) / "bench.h5"), str(size_gb), str(repeats)], tmp)
    ok = "OK" if r["median_gbps"] >= 1 else "UNDER TARGET"
    print(
        f"HDF5 load ({r['n']:,} x {r['d']} float32 + int64 labels = {r['gb']:.2f} GB, warm page cache): "
        f"median {r['median_gbps']:.2f} GB/s, best {r['best_gbps']:.2f} GB/s over {repeats} loads "
        f"(target >= 1 GB/s: {ok}); write_dataset {r['write_s']:.1f} s; peak RSS {r['peak_rss_mb']:.0f} MB"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=["all", "fashion", "load"], default="all")
    ap.add_argument("--mirror", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--size-gb", type=float, default=1.0)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    if a.part in ("all", "fashion"):
        bench_fashion(a.mirror)
    if a.part in ("all", "load"):
        bench_load(a.size_gb, a.repeats)


if __name__ == "__main__":
    main()
