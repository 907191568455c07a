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
