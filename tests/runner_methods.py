"""TEST-ONLY methods for the runner tests (registered into METHODS with monkeypatch).

They live in an importable module (not inside a test function) so that spawned pool workers and
Slurm jobs can import them through the spec's ``method_ref``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from clusterbench.methods.base import Method, MethodOutput, one_hot


@dataclass
class TinyKMeansConfig:
    """n_iter: Lloyd iterations; init: 'random' (seeded sample of points) or 'first' (first K)."""

    n_iter: int = 15
    init: str = "random"
    scale: float = 1.0


class TinyKMeans(Method):
    """Deterministic Lloyd's k-means in numpy (same seed -> same labels on any machine)."""

    name = "tinykmeans"
    Config = TinyKMeansConfig

    def fit(self, X, n_clusters, *, seed, device="cpu", workdir=None, monitor=None):
        X = np.asarray(X, dtype=np.float64).reshape(X.shape[0], -1) * self.config.scale
        rng = np.random.default_rng(seed)
        idx = rng.choice(X.shape[0], n_clusters, replace=False) if self.config.init == "random" else np.arange(n_clusters)
        C = X[idx].copy()
        history = []
        for it in range(self.config.n_iter):
            t0 = time.perf_counter()
            d = ((X[:, None, :] - C[None]) ** 2).sum(-1)
            lab = d.argmin(1)
            for k in range(n_clusters):
                if (lab == k).any():
                    C[k] = X[lab == k].mean(0)
            h = {"epoch": it, "inertia": float(d.min(1).sum()), "seconds": time.perf_counter() - t0}
            if monitor is not None and it % 5 == 0:
                h.update({f"monitor_{k}": v for k, v in monitor(one_hot(lab, n_clusters)).items() if k in ("acc", "nmi")})
            history.append(h)
        return MethodOutput(proba=one_hot(lab, n_clusters), embedding=X[:, :2].astype(np.float32), history=history,
                            extras={"sizes": np.bincount(lab, minlength=n_clusters).tolist()})


@dataclass
class SteppedConfig:
    """A deep method's schedule with a known cost: every step sleeps ``step_s``."""

    epochs: int = 4
    pretrain_epochs: int = 1
    batch_size: int = 100
    step_s: float = 0.01


class Stepped(Method):
    """A stand-in deep method whose steps take a fixed time (``reproduce``'s estimate is checked
    against it on a loaded machine): epochs x (N // batch) sleeping steps, one history row per
    epoch with its ``seconds``, a monitor pass per epoch, the labels ``i % K``."""

    name = "stepped"
    deep = True
    Config = SteppedConfig

    def fit(self, X, n_clusters, *, seed, device="cpu", workdir=None, monitor=None):
        cfg = self.config
        n = X.shape[0]
        proba = one_hot(np.arange(n) % n_clusters, n_clusters)
        per = 1 if n <= cfg.batch_size else n // cfg.batch_size
        history = []
        for phase, epochs in (("pretrain", cfg.pretrain_epochs), ("train", cfg.epochs)):
            for e in range(1, epochs + 1):
                t0 = time.perf_counter()
                for _ in range(per):
                    time.sleep(cfg.step_s)
                row = {"phase": phase, "epoch": e, "seconds": time.perf_counter() - t0}
                if monitor is not None:
                    t0 = time.perf_counter()
                    row.update(monitor(proba))
                    row["monitor_seconds"] = time.perf_counter() - t0
                history.append(row)
        return MethodOutput(proba=proba, history=history)


@dataclass
class EmptyConfig:
    pass


class Crashes(Method):
    name = "crashes"
    Config = EmptyConfig

    def fit(self, X, n_clusters, *, seed, device="cpu", workdir=None, monitor=None):
        raise RuntimeError("boom: the method crashed")


class Diverges(Method):
    name = "diverges"
    Config = EmptyConfig

    def fit(self, X, n_clusters, *, seed, device="cpu", workdir=None, monitor=None):
        return MethodOutput(proba=np.full((X.shape[0], n_clusters), np.nan))


class Interrupts(Method):
    """Simulates Ctrl-C in the middle of a run."""

    name = "interrupts"
    Config = EmptyConfig

    def fit(self, X, n_clusters, *, seed, device="cpu", workdir=None, monitor=None):
        raise KeyboardInterrupt


class Dies(Method):
    """The process dies without a Python exception (like an OOM kill): only for Slurm/pool tests."""

    name = "dies"
    Config = EmptyConfig

    def fit(self, X, n_clusters, *, seed, device="cpu", workdir=None, monitor=None):
        import os

        os._exit(3)


class RandomGlobal(Method):
    """Uses the *global* numpy/torch RNGs: deterministic only because the runner seeds them."""

    name = "randomglobal"
    Config = EmptyConfig

    def fit(self, X, n_clusters, *, seed, device="cpu", workdir=None, monitor=None):
        import random

        import torch

        lab = np.random.randint(0, n_clusters, size=X.shape[0])
        return MethodOutput(proba=one_hot(lab, n_clusters),
                            extras={"torch": float(torch.rand(1).item()), "py": random.random()})


class Flaky(Method):
    """Writes an artifact and succeeds, unless the file named by $CB_TEST_FAIL_IF exists."""

    name = "flaky"
    Config = EmptyConfig

    def fit(self, X, n_clusters, *, seed, device="cpu", workdir=None, monitor=None):
        import os
        from pathlib import Path

        flag = os.environ.get("CB_TEST_FAIL_IF")
        if flag and Path(flag).exists():
            raise RuntimeError("flaky: failed this time")
        out = MethodOutput(proba=one_hot(np.arange(X.shape[0]) % n_clusters, n_clusters))
        if workdir is not None:
            art = Path(workdir) / "art.txt"
            art.write_text(f"seed {seed}")
            out.artifacts["art"] = art
        return out


class KillsItself(Method):
    """SIGKILLs its own process (an OOM kill) when $CB_TEST_KILL_SEED equals its seed."""

    name = "killsitself"
    Config = EmptyConfig

    def fit(self, X, n_clusters, *, seed, device="cpu", workdir=None, monitor=None):
        import os
        import signal

        if os.environ.get("CB_TEST_KILL_SEED") == str(seed):
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(0.5)
        return MethodOutput(proba=one_hot(np.arange(X.shape[0]) % n_clusters, n_clusters))


class Sleeps(Method):
    """Seeds > 0 sleep $CB_TEST_SLEEP seconds (default 0); touches $CB_TEST_STARTED_DIR/<seed> first."""

    name = "sleeps"
    Config = EmptyConfig

    def fit(self, X, n_clusters, *, seed, device="cpu", workdir=None, monitor=None):
        import os
        from pathlib import Path

        d = os.environ.get("CB_TEST_STARTED_DIR")
        if d:
            Path(d, str(seed)).touch()
        if seed > 0:  # seed 0 finishes at once
            time.sleep(float(os.environ.get("CB_TEST_SLEEP", "0")))
        return MethodOutput(proba=one_hot(np.arange(X.shape[0]) % n_clusters, n_clusters))


class FillsDisk(Method):
    """Makes every later fsync of its process fail with ENOSPC (a disk that just filled up), so
    the runner's writes of this run's outputs fail; works in pool workers too."""

    name = "fillsdisk"
    Config = EmptyConfig

    def fit(self, X, n_clusters, *, seed, device="cpu", workdir=None, monitor=None):
        import errno
        import os

        def full(fd):
            raise OSError(errno.ENOSPC, "No space left on device")

        os.fsync = full
        return MethodOutput(proba=one_hot(np.arange(X.shape[0]) % n_clusters, n_clusters))


TEST_METHODS = {c.name: c for c in (TinyKMeans, Stepped, Crashes, Diverges, Interrupts, RandomGlobal, Dies, Flaky, KillsItself,
                                    Sleeps, FillsDisk)}
