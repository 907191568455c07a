"""Method plug-ins end to end: a user's package, found through its entry point (group
``clusterbench.methods``) with no edit to clusterbench, is run by ``run`` (in this process and in
pool workers), listed by ``runs`` and checked by ``check`` (a new method: "new, no reference").

The package is "installed" the way pip lays it out: the module and a ``*.dist-info`` folder with
``METADATA`` and ``entry_points.txt`` in a directory on the path (PYTHONPATH for the subprocesses,
which pool workers inherit). Each command runs in a fresh interpreter, as a user would run it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

PLUGIN = '''
"""A user's own clustering method, outside clusterbench."""
from dataclasses import dataclass

import numpy as np

from clusterbench.methods.base import Method, MethodOutput, one_hot


@dataclass
class ToyConfig:
    """n_iter: Lloyd iterations (a toy: the plug-in's own choice)."""
    n_iter: int = 10


class ToyMethod(Method):
    name = "toyname"
    Config = ToyConfig

    def fit(self, X, n_clusters, *, seed, device="cpu", workdir=None, monitor=None):
        X = np.asarray(X, dtype=np.float64).reshape(X.shape[0], -1)
        C = X[np.random.default_rng(seed).choice(X.shape[0], n_clusters, replace=False)]
        for _ in range(self.config.n_iter):
            lab = ((X[:, None] - C[None]) ** 2).sum(-1).argmin(1)
            C = np.stack([X[lab == k].mean(0) if (lab == k).any() else C[k] for k in range(n_clusters)])
        return MethodOutput(proba=one_hot(lab, n_clusters), extras={"pid": __import__("os").getpid()})
'''


@pytest.fixture
def plugin_env(tmp_path, cb_home):
    site = tmp_path / "site"
    (site / "toyplug").mkdir(parents=True)
    (site / "toyplug" / "__init__.py").write_text(PLUGIN)
    dist = site / "toyplug-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: toyplug\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[clusterbench.methods]\ntoyname = toyplug:ToyMethod\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLUSTERBENCH")}
    env.update(PYTHONPATH=os.pathsep.join([str(site), str(REPO)]), CLUSTERBENCH_HOME=str(cb_home),
               OMP_NUM_THREADS="1")
    return env


def cb(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "clusterbench", *args], env=env, capture_output=True, text=True,
                          timeout=600, cwd=REPO)


def test_plugin_method_runs_lists_and_checks_without_editing_clusterbench(plugin_env, tmp_path):
    res = tmp_path / "res"
    # run, in this process (-j 1) ...
    p = cb(plugin_env, "run", "toyname", "-d", "digits", "--subset", "300", "--results", str(res))
    assert p.returncode == 0, p.stdout + p.stderr
    assert "toyname" in p.stdout and "ok toyname / digits / seed 0" in p.stderr
    # ... and in spawned pool workers (they find the plug-in through the spec's method_ref / entry point)
    p = cb(plugin_env, "run", "toyname", "-d", "digits", "--subset", "300", "--seed-start", "1", "--seeds", "2",
           "--jobs", "2", "--results", str(res))
    assert p.returncode == 0, p.stdout + p.stderr
    # runs
    p = cb(plugin_env, "runs", "--method", "toyname", "--json", "--results", str(res))
    assert p.returncode == 0, p.stderr
    recs = json.loads(p.stdout)
    assert sorted(r["seed"] for r in recs) == [0, 1, 2] and {r["status"] for r in recs} == {"ok"}
    assert all(0 < r["metrics"]["acc"] <= 1 for r in recs)
    assert len({r["extras"]["pid"] for r in recs}) >= 2          # the -j 2 runs ran in other processes
    # check --method: the new method is checked, and reported as new (no reference yet)
    grid = tmp_path / "grid.toml"
    grid.write_text('seeds = 1\njobs = 1\ndevice = "cpu"\n[[datasets]]\nname = "digits"\nsubset = 300\n')
    p = cb(plugin_env, "check", "--method", "toyname", "--grid", str(grid), "--reference", str(tmp_path / "ref"))
    assert p.returncode == 0, p.stdout + p.stderr
    assert "New, no reference" in p.stdout and "toyname" in p.stdout and "0 failed run(s)" in p.stdout

    # without the plug-in on the path the name is unknown (the test is not passing by accident)
    env = dict(plugin_env, PYTHONPATH=str(REPO))
    p = cb(env, "run", "toyname", "-d", "digits", "--subset", "300", "--results", str(res))
    assert p.returncode == 1 and "toyname" in p.stderr and "Traceback" not in p.stderr
