"""The package skeleton: registry, HDF5 round trip, load, CLI error handling."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp

import clusterbench
from clusterbench.data.hdf5 import Prepared, read_dataset, write_dataset
from clusterbench.data.registry import load_registry
from clusterbench.errors import DataError


def test_digits_loads_offline():
    X, y, info = clusterbench.load("digits")
    assert X.shape == (1797, 1, 8, 8) and X.dtype == np.float32
    assert 0.0 <= X.min() and X.max() <= 1.0
    assert sorted(np.unique(y)) == list(range(10)) and info.n_clusters == 10


def test_hdf5_round_trip_dense_and_sparse(tmp_path):
    X = np.random.default_rng(0).random((5, 1, 2, 2)).astype(np.float32)
    y = np.array([0, 1, 0, 1, 2])
    info = write_dataset(tmp_path / "d.h5", Prepared(X, y, {"preprocessor": "t"}, extras={"z": np.arange(5)}), name="d", n_clusters=3)
    X2, y2, info2, ext = read_dataset(tmp_path / "d.h5", extras=True)
    assert np.array_equal(X, X2) and np.array_equal(y, y2) and info2.checksum == info.checksum
    assert np.array_equal(ext["z"], np.arange(5))
    S = sp.random(6, 4, density=0.5, format="csr", random_state=0)
    write_dataset(tmp_path / "s.h5", Prepared(S, np.zeros(6), {}), name="s", n_clusters=1)
    S2, _, i = read_dataset(tmp_path / "s.h5")
    assert i.sparse and (abs(S2 - S.astype(np.float32)) > 0).nnz == 0


def test_truncated_hdf5_is_a_data_error(tmp_path):
    p = tmp_path / "d.h5"
    write_dataset(p, Prepared(np.ones((100, 3)), np.zeros(100), {}), name="d", n_clusters=1)
    p.write_bytes(p.read_bytes()[:600])
    with pytest.raises(DataError, match="corrupt or truncated"):
        read_dataset(p)


def test_registry_entries_are_complete():
    reg = load_registry()
    assert "digits" in reg
    for name, spec in reg.items():
        assert spec.n_clusters > 0, name
        assert spec.source in ("download", "user", "embedded", "local"), name


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "clusterbench", *args], capture_output=True, text=True)


def test_cli_unknown_dataset_is_a_clean_error():
    r = _cli("fetch", "digitz")
    assert r.returncode == 1
    assert "Did you mean 'digits'" in r.stderr and "Traceback" not in r.stderr


def _tamper(path, row=0):
    """Overwrite one row of X in place, leaving the checksum attribute as it was."""
    import h5py

    with h5py.File(path, "r+") as f:
        x = f["X"][row]
        f["X"][row] = 1.0 - x


def test_changed_data_is_refused_at_plan_time_and_at_load(capsys):
    """Issue 15 class 8: overwriting part of X in digits.h5 used to give an ok record under the
    clean run key; now the payload checksum is recomputed when the file changed and a mismatch
    is a one-paragraph error, before anything runs."""
    from clusterbench import paths
    from clusterbench.cli import main
    from clusterbench.data.hdf5 import VERIFIED_CACHE
    from clusterbench.runner import expand_grid

    clusterbench.load("digits")
    path = paths.dataset_file("digits")
    assert (path.parent / VERIFIED_CACHE).exists()  # verified once, cached by (size, mtime, ctime, inode, device)
    _tamper(path)
    with pytest.raises(DataError, match="was changed after clusterbench wrote it"):
        clusterbench.load("digits")
    with pytest.raises(DataError, match="was changed after clusterbench wrote it"):
        expand_grid(["kmeans"], ["digits"])
    with pytest.raises(SystemExit) as e:
        main(["run", "kmeans", "--subset", "100"])
    err = capsys.readouterr().err
    assert e.value.code == 1 and "changed after clusterbench wrote it" in err and "Traceback" not in err
    assert not list(paths.results_home().rglob("*.json"))


def test_unchanged_data_is_hashed_once(monkeypatch):
    from clusterbench.data import hdf5

    clusterbench.load("digits")
    calls = []
    real = hdf5.content_checksum
    monkeypatch.setattr(hdf5, "content_checksum", lambda *a: calls.append(1) or real(*a))
    clusterbench.load("digits")
    assert calls == []
    import os

    from clusterbench import paths

    os.utime(paths.dataset_file("digits"))  # touched: verified again (and still fine)
    clusterbench.load("digits")
    assert calls == [1]


def test_sparse_data_verifies(tmp_path):
    from clusterbench.data.hdf5 import verify_content

    S = sp.random(20, 7, density=0.3, format="csr", random_state=1)
    write_dataset(tmp_path / "s.h5", Prepared(S, np.arange(20) % 2, {}), name="s", n_clusters=2)
    (tmp_path / ".verified.json").unlink()
    verify_content(tmp_path / "s.h5")
