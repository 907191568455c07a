"""Runner overhead: `clusterbench run kmeans` vs calling the method's fit, vs scikit-learn directly.

On a generated data set registered in a temporary clusterbench home (default 20,000 x 784
float32, 10 Gaussian clusters: large enough that fixed costs such as process start-up do not
dominate) and on the embedded ``digits`` (1,797 x 64, where fixed costs do), it times, as the
median of ``--repeat`` runs each:

  sklearn   ``sklearn.cluster.KMeans(...).fit_predict(X)`` on the in-memory array
  fit       ``METHODS["kmeans"](config).fit(X, K, seed=...)`` on the in-memory array
  runner    ``clusterbench.runner.execute_run`` in-process: load the HDF5, seed, fit, validate,
            metrics, write the outputs sidecar and the JSON record
  cli       ``python -m clusterbench run kmeans --dataset NAME --force`` in a fresh process
            (adds interpreter start-up and imports: numpy, sklearn, torch)

and prints runner/sklearn and cli/sklearn (target runner/sklearn <= 1.10 on the large set).
The method is the package's ``kmeans`` when it is registered; otherwise a stand-in defined here
(scikit-learn KMeans behind the Method contract, same settings), and the output says which.

    python benchmarks/runner_overhead.py [--n 20000] [--dim 784] [--repeat 3] [--n-init 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

# One OpenMP/BLAS thread unless the caller sets them: on a shared, loaded machine OpenMP's
# spin-waiting threads made the same KMeans call vary 10x between repeats (1.2 s vs 0.03 s on
# digits), which swamps the runner's overhead. Every timed path (and the CLI subprocess) inherits this.
for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from clusterbench.methods.base import Method, MethodOutput, one_hot  # noqa: E402


@dataclass
class StandInKMeansConfig:
    """scikit-learn KMeans settings (k-means++ init, Lloyd)."""

    n_init: int = 3
    max_iter: int = 300


class StandInKMeans(Method):
    """scikit-learn KMeans behind the Method contract (used only when METHODS has no kmeans)."""

    name = "kmeans"
    Config = StandInKMeansConfig

    def fit(self, X, n_clusters, *, seed, device="cpu", workdir=None, monitor=None):
        from sklearn.cluster import KMeans

        X = np.asarray(X).reshape(X.shape[0], -1)
        km = KMeans(n_clusters=n_clusters, n_init=self.config.n_init, max_iter=self.config.max_iter, random_state=seed)
        return MethodOutput(proba=one_hot(km.fit_predict(X), n_clusters))


def _ensure_kmeans() -> str:
    from clusterbench.methods import METHODS

    if "kmeans" in METHODS:
        return f"the package's kmeans ({METHODS['kmeans'].__module__})"
    METHODS["kmeans"] = StandInKMeans
    return "a stand-in kmeans (sklearn KMeans behind the Method contract, benchmarks/runner_overhead.py)"


def _register(name: str, n: int, dim: int, k: int) -> None:
    from clusterbench import paths
    from clusterbench.data.hdf5 import Prepared, write_dataset

    rng = np.random.default_rng(0)
    centers = rng.normal(0, 1.0, (k, dim)).astype(np.float32)
    y = rng.integers(0, k, n)
    X = (centers[y] + rng.normal(0, 1.5, (n, dim))).astype(np.float32)
    write_dataset(paths.dataset_file(name), Prepared(X, y, {"preprocessor": "benchmark"}), name=name, n_clusters=k)
    with open(paths.user_registry_file(), "a") as fh:
        fh.write(f'\n[{name}]\nn_clusters = {k}\npreprocessor = "benchmark"\nsource = "local"\n')


def _median_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench(name: str, *, repeat: int, n_init: int, cli: bool) -> dict[str, float]:
    from sklearn.cluster import KMeans

    import clusterbench
    from clusterbench.methods import METHODS
    from clusterbench.runner import execute_run, expand_grid

    X, y, info = clusterbench.load(name)
    Xf = X.reshape(X.shape[0], -1)
    k = info.n_clusters
    cls = METHODS["kmeans"]
    sets = [f"n_init={n_init}"] if "n_init" in {f for f in cls.Config.__dataclass_fields__} else []
    spec, = expand_grid(["kmeans"], [name], overrides=sets)
    from clusterbench.runner.execute import config_from_dict

    cfg = config_from_dict(cls, spec.config)
    home = Path(tempfile.mkdtemp(prefix="cb-bench-runs-"))
    # warm up every path once (one-time imports: torch when seeding, sklearn, h5py), then time
    KMeans(n_clusters=k, n_init=1, random_state=0).fit_predict(Xf[:200])
    rec = execute_run(spec, home)
    assert rec.status == "ok", rec.error
    paths_ = {
        "sklearn": lambda: KMeans(n_clusters=k, n_init=n_init, random_state=0).fit_predict(Xf),
        "fit": lambda: cls(config=cfg).fit(X, k, seed=0),
        "runner": lambda: execute_run(spec, home),
    }
    # interleaved repeats (sklearn, fit, runner, sklearn, ...) so load changes on a shared
    # machine hit every path alike; the median of each
    times: dict[str, list[float]] = {p: [] for p in paths_}
    for _ in range(repeat):
        for p, fn in paths_.items():
            times[p].append(_median_time(fn, 1))
    out = {p: statistics.median(t) for p, t in times.items()}
    # what the runner adds around fit, from its own record timings (immune to load changes
    # between the timed calls): total_s - fit_s = seeding, loading, metrics, sidecar, record
    extra = []
    for _ in range(repeat):
        r = execute_run(spec, home)
        extra.append(r.timings["total_s"] - r.timings["fit_s"])
    out["added"] = statistics.median(extra)
    out["added_frac"] = statistics.median(extra) / r.timings["fit_s"]
    if cli:
        code = (
            f"import sys; sys.path[:0] = [{str(ROOT)!r}, {str(Path(__file__).parent)!r}];"
            "import runner_overhead as b; b._ensure_kmeans();"
            "from clusterbench.cli import main;"
            f"main(['run', 'kmeans', '--dataset', {name!r}, '--force', '--results', {str(home)!r}] + {[a for s in sets for a in ('--set', s)]!r})"
        )
        out["cli"] = _median_time(
            lambda: subprocess.run([sys.executable, "-c", code], check=True, capture_output=True), repeat
        )
    out["acc"] = rec.metrics["acc"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--dim", type=int, default=784)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--n-init", type=int, default=3)
    ap.add_argument("--no-cli", action="store_true", help="skip the fresh-process CLI timing")
    args = ap.parse_args()
    os.environ["CLUSTERBENCH_HOME"] = tempfile.mkdtemp(prefix="cb-bench-home-")
    which = _ensure_kmeans()
    name = f"generated{args.n // 1000}k"
    _register(name, args.n, args.dim, 10)
    print(f"method: {which}; KMeans n_init={args.n_init}; median of {args.repeat} interleaved repeats; "
          f"{os.cpu_count()} CPUs, OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}")
    print(f"{'data set':<16}{'sklearn s':>10}{'fit s':>9}{'runner s':>10}{'cli s':>8}{'runner/sk':>11}{'fit/sk':>8}"
          f"{'cli/sk':>8}{'added s':>9}{'added/fit':>10}{'acc':>7}")
    for ds in (name, "digits"):
        r = bench(ds, repeat=args.repeat, n_init=args.n_init, cli=not args.no_cli)
        cli_s = r.get("cli", float("nan"))
        print(
            f"{ds:<16}{r['sklearn']:>10.3f}{r['fit']:>9.3f}{r['runner']:>10.3f}{cli_s:>8.2f}"
            f"{r['runner'] / r['sklearn']:>11.3f}{r['fit'] / r['sklearn']:>8.3f}{cli_s / r['sklearn']:>8.2f}"
            f"{r['added']:>9.3f}{r['added_frac']:>10.3f}{r['acc']:>7.3f}"
        )
    print("target: runner/sklearn <= 1.10 on the generated set (fixed costs dominate on digits).")
    print("added s = the runner's own time around fit (record total_s - fit_s, in-process, median);")
    print("cli s also pays interpreter start-up and imports (numpy, sklearn, torch: several s on this machine).")


if __name__ == "__main__":
    main()
