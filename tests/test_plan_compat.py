"""Plan-time compatibility (``Method.incompatibility``): an impossible method x data set pair is
refused before anything runs, with every reason, from the data set's attributes (X is not read);
``check`` leaves such pairs out with a note."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from clusterbench import paths
from clusterbench.data.hdf5 import Prepared, write_dataset
from clusterbench.errors import ConfigError
from clusterbench.methods.base import Method, MethodOutput, one_hot
from clusterbench.results.records import iter_records
from clusterbench.runner import GridRequest, run_grid
from clusterbench.runner.spec import data_kind, expand_grid, incompatible_pairs
from cli_helper import run_cli as cli


@dataclass
class _Cfg:
    pass


class ImagesOnly(Method):
    """Takes N x C x H x W images only (a convolutional net would)."""

    name = "imagesonly"
    Config = _Cfg
    inputs = frozenset({"image"})

    def fit(self, X, n_clusters, *, seed, device="cpu", workdir=None, monitor=None):  # pragma: no cover - never run
        raise AssertionError("an incompatible pair must not run")


class DenseOnly(Method):
    name = "denseonly"
    Config = _Cfg
    accepts_sparse = False

    def fit(self, X, n_clusters, *, seed, device="cpu", workdir=None, monitor=None):
        return MethodOutput(proba=one_hot(np.arange(X.shape[0]) % n_clusters, n_clusters))


@pytest.fixture(autouse=True)
def toy_methods(monkeypatch):
    from clusterbench.methods import METHODS

    monkeypatch.setitem(METHODS, "imagesonly", ImagesOnly)
    monkeypatch.setitem(METHODS, "denseonly", DenseOnly)


@pytest.fixture
def vectors():
    """A registered 60 x 16 vector data set (3 clusters)."""
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 20)
    X = (rng.normal(size=(60, 16)) + 4 * y[:, None]).astype(np.float32)
    write_dataset(paths.dataset_file("vec"), Prepared(X, y, {"preprocessor": "test"}), name="vec", n_clusters=3)
    paths.user_registry_file().parent.mkdir(parents=True, exist_ok=True)
    with open(paths.user_registry_file(), "a") as fh:
        fh.write('\n[vec]\nn_clusters = 3\npreprocessor = "test"\nsource = "local"\n')
    return "vec"


def test_kind_comes_from_attributes_not_x(vectors, monkeypatch):
    import clusterbench.data.hdf5 as h5

    monkeypatch.setattr(h5, "read_dataset", lambda *a, **k: pytest.fail("X was read"))
    assert data_kind(vectors) == ((16,), False, 3)
    assert data_kind("digits") == ((1, 8, 8), False, 10)  # not prepared yet: the registry entry says
    pairs = incompatible_pairs({"imagesonly": ImagesOnly, "kmeans": Method}, [vectors, "digits"])
    assert [(m, d) for m, d, _ in pairs] == [("imagesonly", "vec")]


def test_impossible_pair_is_refused_with_every_reason_before_anything_runs(vectors, capsys):
    rc, out, err = cli(capsys, "run", "denseonly", "imagesonly", "-d", vectors, "-d", "digits")
    assert rc == 1 and "Traceback" not in err
    assert "imagesonly on vec" in err and "takes image data" in err and "(16,)" in err
    assert "imagesonly on digits" not in err                      # digits is images: that pair is fine
    assert not list(iter_records(paths.results_home()))            # nothing ran, nothing recorded

    # every reason at once: a second impossible pair is named in the same error
    class VectorsOnly(ImagesOnly):
        name = "vectorsonly"
        inputs = frozenset({"vector"})

    from clusterbench.methods import METHODS

    METHODS["vectorsonly"] = VectorsOnly
    try:
        with pytest.raises(ConfigError) as exc:
            expand_grid(["imagesonly", "vectorsonly"], [vectors, "digits"])
    finally:
        del METHODS["vectorsonly"]
    msg = str(exc.value)
    assert "imagesonly on vec" in msg and "vectorsonly on digits" in msg and "(1, 8, 8)" in msg


def test_skip_incompatible_leaves_the_pair_out(vectors, tmp_path):
    g = run_grid(GridRequest(("denseonly", "imagesonly"), (vectors,)), tmp_path / "res", skip_incompatible=True)
    assert [(m, d) for m, d, _ in g.incompatible] == [("imagesonly", "vec")]
    assert [s.method for s in g.specs] == ["denseonly"] and g.cells[0].ok == 1
    assert {r.method for _, r in iter_records(tmp_path / "res")} == {"denseonly"}


def test_check_skips_impossible_pairs_with_a_note(vectors, tmp_path, capsys, monkeypatch):
    from clusterbench.methods import METHODS

    for name in list(METHODS):
        if name not in ("denseonly", "imagesonly"):
            monkeypatch.delitem(METHODS, name)
    grid = tmp_path / "grid.toml"
    grid.write_text('seeds = 1\njobs = 1\ndevice = "cpu"\n[[datasets]]\nname = "vec"\n')
    rc, out, err = cli(capsys, "check", "--grid", str(grid), "--reference", str(tmp_path / "ref"))
    assert rc == 0, out + err
    assert "imagesonly on vec: skipped" in err and "takes image data" in err
    assert "Failed runs" not in out and "denseonly" in out       # new, no reference
