"""A record and a ``model.pt`` written by the code before issue 22 (methods by family, networks in
``clusterbench/nn``, the loop in ``clusterbench/training``) still load and give the same result.

The files (``tests/golden/pre-house/``, see its README) are a finished ClusterGAN run. Reading the
record checks the record schema; rerunning the method on the run's copied workdir must find the
old ``model.pt`` (same fingerprint), only predict (``resumed_from_epoch`` = the epochs done) and
reproduce the stored posterior. A spec naming the method by its old ``module:Class`` (a Slurm job
queued before the move) still resolves to the method.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from clusterbench.results.records import read_outputs, read_record

GOLDEN = Path(__file__).parent / "golden" / "pre-house"
KEY = "0151d3f73b6519acd0767114c492235800d2937def66f56ed689fa26a008e67d"


@pytest.fixture
def run_copy(tmp_path):
    for name in (f"{KEY}.json", f"{KEY}.h5"):
        shutil.copy(GOLDEN / name, tmp_path / name)
    shutil.copytree(GOLDEN / KEY, tmp_path / KEY)
    return tmp_path / f"{KEY}.json"


def test_old_record_and_model_pt_load_and_predict_the_same(run_copy):
    from clusterbench.methods import get_method
    from clusterbench.runner.execute import config_from_dict

    rec = read_record(run_copy)
    assert (rec.method, rec.status, rec.seed) == ("clustergan", "ok", 0)
    stored = read_outputs(run_copy)["proba"]
    data = np.load(GOLDEN / "golden-vec.npz")
    cls = get_method(rec.method)
    method = cls(config=config_from_dict(cls, rec.config, method=rec.method))
    workdir = run_copy.parent / KEY
    before = (workdir / "model.pt").read_bytes()
    out = method.fit(data["X"], 3, seed=rec.seed, device="cpu", workdir=workdir)
    assert out.extras["resumed_from_epoch"] == rec.config["epochs"]  # loaded, not retrained
    assert (workdir / "model.pt").read_bytes() == before
    np.testing.assert_allclose(out.proba, stored, atol=1e-6)
    assert out.history == rec.history


def test_old_method_ref_of_a_queued_job_still_resolves():
    from clusterbench.methods import get_method
    from clusterbench.runner.execute import resolve_method
    from clusterbench.runner.spec import RunSpec

    for name, old in (("clustergan", "clusterbench.methods.clustergan:ClusterGAN"),
                      ("kmeans", "clusterbench.methods.baselines:KMeansMethod"),
                      ("dc3-gan", "clusterbench.methods.dc3_gan:DC3GAN")):
        spec = RunSpec(method=name, config={}, dataset="digits", dataset_checksum="x", seed=0, method_ref=old)
        assert resolve_method(spec) is get_method(name)


def test_every_moved_module_maps_to_an_existing_one():
    import importlib.util

    from clusterbench.plugins import BUILTIN_METHODS, MOVED_MODULES

    for old, new in MOVED_MODULES.items():
        assert importlib.util.find_spec(new) is not None, new
        assert importlib.util.find_spec(old) is None or old == "clusterbench.methods.baselines", old  # now a package
    assert {ref.partition(":")[0] for ref in BUILTIN_METHODS.values()} <= set(MOVED_MODULES.values())
