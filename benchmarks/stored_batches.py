"""Per-batch host time of the three ways a StoredArray's batches reach the step (issue 23 item 5,
``clusterbench.training.resident``), on a synthetic uint8 file of dSprites' shape (N x 1 x 64 x 64,
0/1 pixels, divisor 1, written by ``write_dataset``; in the page cache after writing, as a data
set read every epoch is).

  off       ``_Data.batch(host indices)``: rows gathered from the memory map and decoded to float32
            on the host, serial with the step (the path before issue 23 item 5).
  prefetch  the consumer's time per batch (``next(feed)`` + ``batch``) while a thread reads ahead;
            with ``--step-ms`` > 0 a step of that length (a sleep: the host waiting for the GPU)
            runs between batches, so the read overlaps it and the consumer's wait shrinks.
  device    the stored rows resident (here in CPU memory; on CUDA in device memory), each batch
            gathered and decoded by torch (``index_select`` + float32 division); on CUDA this is
            device work of a few microseconds, here it is the host's cost of the same ops. The
            one-time copy of the stored rows is printed apart.

Every path's batches are checked equal to ``off``'s. The load average is printed beside the
figures (the machine may be shared).

    python benchmarks/stored_batches.py [--n 20000] [--batch 64] [--step-ms 0,2] [--threads 1] [--repeats 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's clusterbench

import numpy as np
import torch


def _loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def _epoch(data, S, batches, step_s: float) -> tuple[float, bool]:
    """(mean seconds per batch the consumer spends getting its batch, not counting the step or the
    check; whether every batch equals ``torch.from_numpy(S[idx])``, the host path)."""
    host, same = 0.0, True
    with data.epoch(batches) as feed:
        it = iter(feed)
        for idx in batches:
            t0 = time.perf_counter()
            x = data.batch(next(it))
            host += time.perf_counter() - t0
            same = same and torch.equal(x, torch.from_numpy(S[idx]))
            if step_s:
                time.sleep(step_s)
    return host / len(batches), same


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--batch", type=int, default=64, help="DC3-GAN / InfoGAN-CR dSprites batch")
    ap.add_argument("--step-ms", default="0,2", help="comma-separated simulated step lengths (ms)")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    ap.add_argument("--repeats", type=int, default=3, help="epochs per path (the median is printed)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from clusterbench.data.hdf5 import Prepared, StoredArray, write_dataset
    from clusterbench.training.data import _Data, batch_indices

    with tempfile.TemporaryDirectory() as d:
        raw = np.random.default_rng(0).integers(0, 2, (args.n, 1, 64, 64), dtype=np.uint8)
        info = write_dataset(Path(d) / "sprites.h5", Prepared(X=raw, y=np.zeros(args.n, np.int64), recipe={},
                                                              x_divisor=1.0), name="sprites", n_clusters=3)
        del raw
        S = StoredArray(info.path)
        batches = batch_indices(args.n, args.batch, seed=0, epoch=1, drop_last=True)
        print(f"{S!r}: {len(batches)} batches of {args.batch}, torch threads {args.threads}, load {_loadavg()}")
        cpu = torch.device("cpu")
        _epoch(_Data(S, cpu, False, resident="off"), S, batches, 0.0)  # warm the page cache
        for step_ms in [float(x) for x in args.step_ms.split(",")]:
            for mode in ("off", "prefetch", "device"):
                runs = []
                for _ in range(args.repeats):
                    t0 = time.perf_counter()
                    data = _Data(S, cpu, False, resident=mode)
                    setup = time.perf_counter() - t0
                    runs.append((*_epoch(data, S, batches, step_ms / 1000), setup))
                per = sorted(r[0] for r in runs)[len(runs) // 2]
                same = all(r[1] for r in runs)
                extra = f", one-time copy {min(r[2] for r in runs):.2f} s" if mode == "device" else ""
                print(f"step {step_ms:4.1f} ms  {mode:8s}  {per * 1e3:7.3f} ms/batch host, median of {args.repeats} "
                      f"epochs  (same batches as the host path: {same}{extra})  load {_loadavg()}")

if __name__ == "__main__":
    main()
