"""Generator iterations per second of the GAN methods (issue 10, "Performance"): clusterbench's
loop (``Method.fit`` -> ``training.loop.train``: seeded batching, ``DeepModel.optimizing``, the M-critic
schedule, loss bookkeeping, NaN check, history) against a bare PyTorch loop with the same networks
and optimisers (built by the method's ``make_model``), the same batch size and M = 5 critic steps
per generator step, the same loss functions, and hand-written zero_grad/backward/step.

The clusterbench time is the sum of the history's epoch ``seconds`` (training only: no final
prediction, no monitor: ``monitor_every=0``, no checkpoint); the bare loop is timed the same way.
Repeats alternate the order and the minimum of each is compared. Target ratio <= 1.10.

    python benchmarks/gan_iterations.py --method dls --iterations 20 --repeats 2          # CPU
    python benchmarks/gan_iterations.py --method clustergan --device cuda --iterations 500

On CUDA it also prints the projected time of the reference code's 150,000 (DLS) / 500,000
(ClusterGAN) generator iterations. Data: N x 1 x 28 x 28 uniform pixels (MNIST-shaped), or
``--shape 1x8x8`` (the scikit-learn digits' shape), ``--shape 16`` (Pendigits), ...
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
from clusterbench.methods.gan.wgan import critic_loss, generator_loss
from clusterbench.runtime import seed_everything, torch_device


def bare_loop(name: str, X: np.ndarray, k: int, iterations: int, device: torch.device) -> float:
    """Seconds for ``iterations`` generator iterations with hand-written optimisation steps."""
    cls = METHODS[name]
    method = cls(make_config(cls.Config, {"epochs": None, "iterations": iterations}))
    seed_everything(0)
    model = method.make_model(device, method.resolve_spec(X, k))
    model.train_mode(True)
    cfg = model.cfg
    data = torch.from_numpy(X).to(device)
    n, bs, m = data.shape[0], cfg.batch_size, cfg.critic_iters
    opt_d, opt_ge = model.optims["d"], model.optims["ge"]
    rng = np.random.default_rng(0)
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(iterations):
        for _ in range(m):
            x = data[torch.from_numpy(rng.choice(n, bs, replace=False)).to(device)]
            z = model.draw(bs)
            opt_d.zero_grad(set_to_none=True)
            with torch.no_grad():
                fake = model.G(z.z)
            loss = critic_loss(model.D, x, fake, gp_weight=cfg.gp_weight, per_sample_eps=cfg.per_sample_eps).total
            loss.backward()
            opt_d.step()
        z = model.draw(bs)
        opt_ge.zero_grad(set_to_none=True)
        if name == "dls":
            w = model.term_weights()
            g_loss = sum(w[key] * v for key, v in model.loss_terms(x, z).items())
        elif name == "clustergan":
            fake = model.G(z.z)
            zn_hat, logits = model.E(fake)
            g_loss = generator_loss(model.D, fake) + cfg.beta_n * ((zn_hat - z.z_n) ** 2).mean() \
                + cfg.beta_c * torch.nn.functional.cross_entropy(logits, z.labels)
        else:
            g_loss = generator_loss(model.D, model.G(z.z))
        g_loss.backward()
        opt_ge.step()
        float(g_loss.detach())  # the same host sync the loop's bookkeeping does once per epoch at most
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def clusterbench_loop(name: str, X: np.ndarray, k: int, iterations: int, device: str, batch: int) -> float:
    cls = METHODS[name]
    cfg = make_config(cls.Config, {"epochs": None, "iterations": iterations, "monitor_every": 0,
                                   "save_samples": False, "batch_size": batch})
    out = cls(cfg).fit(X, k, seed=0, device=device)
    assert out.history[-1]["g_iterations"] == iterations
    return float(sum(r["seconds"] for r in out.history))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--method", default="dls", choices=["dls", "clustergan", "wgan-gp"])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--iterations", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--shape", default="1x28x28", help="sample shape, e.g. 1x28x28, 1x8x8, 16")
    args = ap.parse_args()
    shape = tuple(int(s) for s in args.shape.split("x"))
    torch.set_num_threads(args.threads)
    dev = torch_device(args.device)
    X = np.random.default_rng(0).random((args.n, *shape), dtype=np.float32)
    k = 10
    batch = METHODS[args.method].Config().batch_size
    bare, ours = [], []
    for r in range(args.repeats):
        order = ("bare", "ours") if r % 2 == 0 else ("ours", "bare")
        for which in order:
            if which == "bare":
                bare.append(bare_loop(args.method, X, k, args.iterations, dev))
            else:
                ours.append(clusterbench_loop(args.method, X, k, args.iterations, str(dev), batch))
    b, o = min(bare), min(ours)
    print(f"{args.method} on {args.n} x {args.shape}, batch {batch}, M = 5, {args.iterations} generator iterations, "
          f"device {dev}, {args.threads} thread(s)")
    print(f"  bare PyTorch loop : {args.iterations / b:8.3f} it/s  ({b:.2f} s; all: {', '.join(f'{t:.2f}' for t in bare)})")
    print(f"  clusterbench loop : {args.iterations / o:8.3f} it/s  ({o:.2f} s; all: {', '.join(f'{t:.2f}' for t in ours)})")
    print(f"  ratio clusterbench / bare = {o / b:.3f}  (target <= 1.10)")
    ref = {"dls": 150_000, "clustergan": 500_000, "wgan-gp": 150_000}[args.method]
    print(f"  projected {ref:,} iterations (reference num_batches): {ref * o / args.iterations / 3600:.1f} h")


if __name__ == "__main__":
    main()
