"""Commands that do not train start without torch, scikit-learn and scipy (issue 14 item 4).

Each command runs in a fresh interpreter (this test process has torch loaded already) against a
results home with a few records, and prints the heavy modules it ended up importing. Timings are
measured by ``benchmarks/startup_bench.py`` (not a timed test).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from clusterbench.results.records import RunRecord, write_record

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "sklearn", "scipy")
PROBE = """
import sys
from clusterbench.cli import main
try:
    main(sys.argv[1:])
except SystemExit as e:
    assert e.code in (0, None), e.code
print("HEAVY=" + ",".join(sorted({m.split(".")[0] for m in sys.modules} & set(%r))))
""" % (HEAVY,)


def _heavy_imports(args: list[str], home: Path) -> list[str]:
    env = {**os.environ, "CLUSTERBENCH_HOME": str(home), "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    env.pop("CLUSTERBENCH_RESULTS", None)
    p = subprocess.run([sys.executable, "-c", PROBE, *args], env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    line = [x for x in p.stdout.splitlines() if x.startswith("HEAVY=")][-1]
    return [m for m in line[len("HEAVY="):].split(",") if m]


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("fast") / "cbhome"
    for seed in range(3):
        for method in ("kmeans", "dual-aae"):
            write_record(home / "runs", RunRecord(
                key=f"{method}-mnist-{seed}", method=method, dataset="mnist", seed=seed, status="ok",
                config={}, metrics={"acc": 0.5 + seed / 10, "nmi": 0.4}, created="2026-01-01T00:00:00"))
    return home


@pytest.mark.parametrize("args", [["--help"], ["datasets"], ["runs"], ["report", "--table", "1"], ["summary"],
                                  ["report", "--table", "1", "--format", "latex"], ["run", "--help"],
                                  ["check", "--help"]], ids=" ".join)
def test_command_imports_neither_torch_nor_sklearn(args, home):
    assert _heavy_imports(args, home) == []


def test_probe_sees_heavy_imports(home):
    """The check can fail: a command that loads a method module (and with it torch) is caught."""
    heavy = _heavy_imports(["methods", "kmeans"], home)  # describing a method's options imports it
    assert "torch" in heavy, heavy
