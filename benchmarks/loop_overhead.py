"""Training-loop overhead and epoch times (Dual-AAE paper Table III).

Default mode: one Dual-AAE epoch through clusterbench's loop (``training.loop.train``: seeded shuffle,
batching, loss bookkeeping, NaN check, history) against a bare PyTorch loop that runs the same
networks, the same ``training_step`` and the same batches on the same data. Prints both times and
their ratio (target <= 1.10). Repeats alternate the order and the minimum of each is compared.

    python benchmarks/loop_overhead.py --n 2000 --repeats 3            # CPU, MNIST-shaped synthetic
    python benchmarks/loop_overhead.py --device cuda --n 70000

``--epoch-time``: seconds per training epoch of aae, infogan and dual-aae on N x 1 x 28 x 28 data
(synthetic uniform pixels unless --mnist loads the fetched ``mnist`` data set), with the time
extrapolated to 70,000 samples and the ratios to AAE (paper, TITAN Xp: 40.55 / 46.23 / 75.24 s);
"dual-aae (code)" is Dual-AAE with ``optim=code`` (the authors' one optimizer, forward and backward
pass per loss), the setup the paper timed.

    python benchmarks/loop_overhead.py --epoch-time --n 2000
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's clusterbench

import numpy as np
import torch

from clusterbench.methods import METHODS, make_config
from clusterbench.nn.dual_aae import resolve_arch
from clusterbench.runtime import seed_everything, torch_device
from clusterbench.training.loop import LoopOptions, train


def data(n: int, use_mnist: bool) -> np.ndarray:
    if use_mnist:
        import clusterbench

        X, _, _ = clusterbench.load("mnist")
        return np.asarray(X[:n], dtype=np.float32)
    return np.random.default_rng(0).random((n, 1, 28, 28), dtype=np.float32)


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize()


def bare_epoch(X: np.ndarray, dev: torch.device, batch: int, seed: int) -> float:
    """Same networks, same step, plain indexing loop; returns seconds for one epoch."""
    method = METHODS["dual-aae"](make_config(METHODS["dual-aae"].Config, {"pretrain_epochs": 0}))
    seed_everything(seed)
    model = method.make_model(dev, resolve_arch(X.shape[1:], 10))
    Xt = torch.from_numpy(X).to(dev)
    perm = torch.from_numpy(np.random.default_rng(seed).permutation(len(X))).to(dev)
    _sync(dev)
    t0 = time.perf_counter()
    for step, i in enumerate(range(0, (len(X) // batch) * batch, batch)):
        model.training_step(Xt[perm[i : i + batch]], step)
    _sync(dev)
    return time.perf_counter() - t0


def loop_epoch(X: np.ndarray, dev: torch.device, batch: int, seed: int) -> float:
    method = METHODS["dual-aae"](make_config(METHODS["dual-aae"].Config, {"pretrain_epochs": 0}))
    spec = resolve_arch(X.shape[1:], 10)
    opts = LoopOptions(epochs=1, batch_size=batch, monitor_every=0, amp=False, channels_last=False,
                       progress=False)
    res = train(lambda d: method.make_model(d, spec), X, options=opts, seed=seed, device=dev)
    return float(res.history[0]["seconds"])


def overhead(args: argparse.Namespace) -> None:
    dev = torch_device(args.device)
    X = data(args.n, args.mnist)
    bare, loop = [], []
    for r in range(args.repeats):
        order = [("bare", bare_epoch), ("loop", loop_epoch)]
        for name, fn in order if r % 2 == 0 else order[::-1]:
            (bare if name == "bare" else loop).append(fn(X, dev, args.batch, r))
    b, c = min(bare), min(loop)
    print(f"device {dev}, data {X.shape}, batch {args.batch}, {args.repeats} repeats (min)")
    print(f"bare PyTorch loop : {b:.3f} s/epoch   (all: {', '.join(f'{v:.3f}' for v in bare)})")
    print(f"clusterbench loop : {c:.3f} s/epoch   (all: {', '.join(f'{v:.3f}' for v in loop)})")
    print(f"ratio             : {c / b:.3f}  (target <= 1.10)")


def epoch_time(args: argparse.Namespace) -> None:
    dev = torch_device(args.device)
    X = data(args.n, args.mnist)
    times = {}
    # "dual-aae (code)": the authors' five optimizers, each loss with its own forward/backward pass
    for row, name, extra in (("aae", "aae", {}), ("infogan", "infogan", {}), ("dual-aae", "dual-aae", {}),
                             ("dual-aae (code)", "dual-aae", {"optim": "code"})):
        over = {"epochs": 1, "monitor_every": 0, "save_samples": False, "compile": args.compile, **extra}
        if name != "infogan":
            over["pretrain_epochs"] = 0
        cfg = make_config(METHODS[name].Config, over, method=name)
        best = min(float(METHODS[name](cfg).fit(X, 10, seed=r, device=str(dev)).history[-1]["seconds"])
                   for r in range(args.repeats))
        times[row] = best
    print(f"device {dev}, data {X.shape} ({'mnist' if args.mnist else 'synthetic'}), batch 100")
    print(f"{'method':<16} {'s/epoch':>9} {'x70k/N':>9} {'ratio to aae':>13}")
    for name, t in times.items():
        print(f"{name:<16} {t:9.3f} {t * 70000 / len(X):9.1f} {t / times['aae']:13.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epoch-time", action="store_true")
    ap.add_argument("--n", type=int, default=2000, help="samples (70000 = all of MNIST)")
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--mnist", action="store_true", help="use the fetched mnist data set")
    ap.add_argument("--compile", action="store_true", help="torch.compile (CUDA only)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    (epoch_time if args.epoch_time else overhead)(args)


if __name__ == "__main__":
    main()
