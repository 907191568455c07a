"""Real Fashion-MNIST, offline: Debian's dataset-fashion-mnist package as a local --mirror.

Debian recompressed the .gz files (archive md5/sha256 differ from the canonical ones); the
registry's payload_md5 of the decompressed files accepts them. CI installs the package
(`apt-get install dataset-fashion-mnist`); the test skips only where that directory is missing.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import clusterbench
from clusterbench import paths
from clusterbench.cli import main

DEBIAN = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.skipif(not DEBIAN.is_dir(), reason="apt-get install dataset-fashion-mnist (CI installs it)")
def test_fetch_fashion_mnist_from_debian_mirror(capsys):
    try:
        main(["fetch", "fashion-mnist", "--mirror", str(DEBIAN), "--no-progress"])
    except SystemExit as exc:
        pytest.fail(f"fetch exited with {exc.code}: {capsys.readouterr().err}")
    X, y, info = clusterbench.load("fashion-mnist")
    assert X.shape == (70000, 1, 28, 28) and X.dtype == np.float32
    assert 0.0 <= X.min() and X.max() <= 1.0 and X.max() > 0.99
    assert np.bincount(y, minlength=10).tolist() == [7000] * 10
    assert info.n_clusters == 10
    # accepted through the payload checksum, and the origin is recorded
    for name, src in info.sources.items():
        assert src["origin"] == str(DEBIAN / name)
        assert "payload_md5" in src["verified"]
    prov = json.loads((paths.raw_dir(clusterbench.data.get_spec("fashion-mnist").raw_name) / "provenance.json").read_text())
    assert set(prov) == set(info.sources)
