"""fetch -> HDF5 end to end for EVERY registered data set, over a loopback HTTP server.

Each data set's raw files are generated in their real raw format (tests/fakes_*.py), served on
127.0.0.1, and fetched through the real download -> verify -> preprocess -> HDF5 path. The test
spec differs from the registry entry only in its URLs and checksums (those of the generated files)
and in the expected sample count.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import clusterbench
from clusterbench.errors import ChecksumError, ClusterbenchError
from clusterbench.data import fetch as fetch_mod
from clusterbench.data.registry import load_registry

from fakes_images import FAKE_IMAGES
from fakes_text import FAKE_TEXT
from loopback import serve_dataset_files

FAKES = {**FAKE_IMAGES, **FAKE_TEXT}
REGISTRY = load_registry()
FETCHABLE = sorted(n for n, s in REGISTRY.items() if s.source in ("download", "user"))


def test_every_fetchable_data_set_has_a_fake():
    assert sorted(set(FETCHABLE) - set(FAKES)) == []


@pytest.mark.parametrize("name", FETCHABLE)
def test_fetch_to_hdf5(name, tmp_path, monkeypatch):
    spec = REGISTRY[name]
    files = FAKES[name](tmp_path / "raw")
    if spec.source == "user":
        # No public copy: a plain fetch explains what to obtain; --from takes the user's file.
        test_spec = dataclasses.replace(spec, n_samples=None)
        monkeypatch.setattr(fetch_mod, "get_spec", lambda n: test_spec)
        with pytest.raises(ClusterbenchError, match="--from"):
            fetch_mod.fetch(name, progress=False)
        assert len(files) == 1, "a user-source data set is given as one file"
        user_file = next(iter(files.values()))
        if any(f.has_checksum for f in spec.files):
            # The generated file is not the documented one: its pinned checksum must reject it.
            with pytest.raises(ChecksumError):
                fetch_mod.fetch(name, from_file=user_file, progress=False)
        unpinned = tuple(
            dataclasses.replace(f, size=None, sha256=None, md5=None, payload_md5=None, payload_sha256=None, git_blob=None)
            for f in spec.files
        )
        test_spec = dataclasses.replace(test_spec, files=unpinned)
        info = fetch_mod.fetch(name, from_file=user_file, progress=False)
    else:
        if any(f.role == "weights" for f in spec.files):
            # Pretrained weights cannot be downloaded here: the feature path runs with seeded
            # random weights (the pinned-weights loading path is tested in test_preprocess_images).
            spec = dataclasses.replace(
                spec,
                files=tuple(f for f in spec.files if f.role != "weights"),
                options={**spec.options, "weights": "random"},
            )
        payload = {role: p.read_bytes() for role, p in files.items()}
        server, served_spec = serve_dataset_files(spec, payload)
        with server:
            test_spec = dataclasses.replace(served_spec, n_samples=None)
            monkeypatch.setattr(fetch_mod, "get_spec", lambda n: test_spec)
            info = fetch_mod.fetch(name, progress=False)
    monkeypatch.setattr("clusterbench.data.get_spec", lambda n: test_spec)
    X, y, info2 = clusterbench.load(name)
    assert info2.checksum == info.checksum
    assert X.shape[0] == y.shape[0] > 0
    if spec.sample_shape:
        assert tuple(X.shape[1:]) == tuple(spec.sample_shape), (X.shape, spec.sample_shape)
    assert y.min() >= 0 and y.max() < spec.n_clusters
    dense = X.toarray() if hasattr(X, "toarray") else X
    assert np.isfinite(dense).all()
    assert info.recipe.get("preprocessor") == spec.preprocessor
