"""Start-up time of the commands that do not train (issue 14 item 4), with 1,000 synthetic records.

Writes 1,000 ok run records (kmeans/dual-aae/aae on the papers' data sets, 10 seeds, acc/nmi/ari)
into a temporary results home, then times each command in a fresh interpreter (best and median
of ``--repeat`` runs, wall clock) and reports whether torch / scikit-learn / scipy were imported
(``-X importtime`` log). Prints figures; not a timed test (the import test is
tests/test_fast_start.py).

    OMP_NUM_THREADS=1 python benchmarks/startup_bench.py [--repeat 5]

Targets (idle 2-core machine): ``--help`` <= 0.3 s, ``report --table N`` <= 1 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COMMANDS = [["--help"], ["datasets"], ["runs"], ["report", "--table", "1"], ["summary"]]
HEAVY = ("torch", "sklearn", "scipy", "pandas", "h5py", "matplotlib")


def make_records(home: Path, n: int = 1000) -> None:
    from clusterbench.results.records import RunRecord, write_record

    methods, datasets = ("kmeans", "dual-aae", "aae", "gmm"), ("mnist", "hhar", "stl10", "reuters", "usps")
    i = 0
    while i < n:
        m, d = methods[i % len(methods)], datasets[(i // len(methods)) % len(datasets)]
        seed = i // (len(methods) * len(datasets))
        r = RunRecord(key=f"{m}-{d}-{seed}-{i}", method=m, dataset=d, seed=seed, status="ok",
                      config={"n_init": 10} if m == "kmeans" else {"epochs": 100},
                      metrics={"acc": 0.5 + (i % 37) / 100, "nmi": 0.4 + (i % 23) / 100, "ari": 0.3},
                      created=f"2026-01-01T00:{i // 60 % 60:02d}:{i % 60:02d}")
        write_record(home, r)
        i += 1


def run(cmd: list[str], env: dict[str, str]) -> tuple[float, set[str]]:
    t = time.perf_counter()
    p = subprocess.run([sys.executable, "-X", "importtime", "-m", "clusterbench", *cmd], env=env,
                       capture_output=True, text=True)
    wall = time.perf_counter() - t
    if p.returncode != 0:
        raise SystemExit(f"{cmd} failed: {p.stderr[-2000:]}")
    mods = {line.split("|")[-1].strip().split(".")[0] for line in p.stderr.splitlines() if line.startswith("import time:")}
    return wall, {h for h in HEAVY if h in mods}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--records", type=int, default=1000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        results = home / "runs"
        results.mkdir(parents=True)
        make_records(results, args.records)
        env = {**os.environ, "CLUSTERBENCH_HOME": str(home), "CLUSTERBENCH_RESULTS": str(results),
               "OMP_NUM_THREADS": "1"}
        print(f"{args.records} records; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; "
              f"{args.repeat} runs each (wall clock, python -X importtime)")
        for cmd in COMMANDS:
            runs = [run(cmd, env) for _ in range(args.repeat)]
            walls = [w for w, _ in runs]
            print(f"clusterbench {' '.join(cmd):22s} best {min(walls):.2f} s  median {statistics.median(walls):.2f} s  "
                  f"heavy imports: {', '.join(sorted(runs[0][1])) or 'none'}")
        print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
