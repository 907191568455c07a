"""`clusterbench fetch` end to end on a test-only registry entry served over loopback.

The entry lives in the test's own CLUSTERBENCH_HOME/registry.toml; its preprocessor is a tiny
test function registered with monkeypatch (datasets.toml is not touched).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import random

import h5py
import numpy as np
import pytest
from loopback import LoopbackServer, closed_port_url

import clusterbench
from clusterbench import paths
from clusterbench.cli import main
from clusterbench.data.fetch import fetch_spec
from clusterbench.data.hdf5 import Prepared, read_info
from clusterbench.data.preprocessors import PREPROCESSORS
from clusterbench.data.registry import get_spec
from clusterbench.errors import DataError

PAYLOAD = random.Random(0).randbytes(4096)
GZ = gzip.compress(PAYLOAD, mtime=0)


def toy_preprocessor(files, *, spec, **options):
    """4096 bytes -> 1024 samples x 4 features in [0, 1]; label = first byte parity."""
    with gzip.open(files["data"], "rb") as fh:
        raw = fh.read()
    a = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 4)
    return Prepared(a.astype(np.float32) / 255, (a[:, 0] % 2).astype(np.int64), {"preprocessor": "test-gz", "version": 1})


@pytest.fixture(autouse=True)
def _fast(monkeypatch):
    monkeypatch.setitem(PREPROCESSORS, "test-gz", toy_preprocessor)
    monkeypatch.setenv("CLUSTERBENCH_DOWNLOAD_BACKOFF", "0")
    monkeypatch.setenv("CLUSTERBENCH_DOWNLOAD_RETRIES", "1")


def register(name: str, urls: list[str], *, sha256: str | None = None, source: str = "download", obtain: str = "") -> None:
    lines = [f"[{name}]", "n_clusters = 2", 'preprocessor = "test-gz"', f'source = "{source}"']
    if obtain:
        lines.append(f"obtain = {json.dumps(obtain)}")
    lines += ["", f"[[{name}.files]]", 'name = "toy.bin.gz"', 'role = "data"', f"urls = {json.dumps(urls)}"]
    if sha256:
        lines.append(f'sha256 = "{sha256}"')
    f = paths.user_registry_file()
    f.write_text((f.read_text() if f.exists() else "") + "\n".join(lines) + "\n\n")


def cli(capsys, *args: str) -> tuple[int, str, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_fetch_to_hdf5_records_sources(capsys):
    with LoopbackServer({"toy.bin.gz": GZ}) as srv:
        register("toy", [closed_port_url("x/toy.bin.gz"), srv.url("toy.bin.gz")], sha256=hashlib.sha256(GZ).hexdigest())
        code, out, err = cli(capsys, "fetch", "toy", "--no-progress")
    assert code == 0, err
    assert "1,024 samples" in out
    X, y, info = clusterbench.load("toy")
    assert X.shape == (1024, 4) and set(np.unique(y)) == {0, 1}
    src = info.sources["toy.bin.gz"]
    assert src["origin"] == srv.url("toy.bin.gz") and src["sha256"] == hashlib.sha256(GZ).hexdigest()
    assert src["verified"] == "sha256" and src["role"] == "data"
    # a second fetch is a no-op; `datasets --json` lists it as fetched
    assert cli(capsys, "fetch", "toy")[1].count("cached") == 1
    code, out, _ = cli(capsys, "datasets", "--json")
    assert code == 0 and any(r["name"] == "toy" and r["fetched"] for r in json.loads(out))


def test_checksum_mismatch_cli_is_clean(capsys):
    with LoopbackServer({"toy.bin.gz": b"garbage" * 50}) as srv:
        register("toy", [srv.url("toy.bin.gz")], sha256=hashlib.sha256(GZ).hexdigest())
        code, out, err = cli(capsys, "fetch", "toy")
    assert code == 1 and "Traceback" not in err
    assert f"expected {hashlib.sha256(GZ).hexdigest()}" in err and "got " in err
    assert (paths.raw_dir("toy") / "toy.bin.gz.bad").exists()
    assert not paths.dataset_file("toy").exists()


def test_no_network_cli_message(capsys):
    urls = [closed_port_url("a/toy.bin.gz"), closed_port_url("b/toy.bin.gz")]
    register("toy", urls, sha256="0" * 64)
    code, _, err = cli(capsys, "fetch", "toy")
    flat = " ".join(err.split())
    assert code == 1 and "Traceback" not in err
    assert all(u in flat for u in urls) and "--mirror DIR_OR_URL" in flat and "--from FILE" in flat


def test_several_names_with_summary(capsys):
    with LoopbackServer({"toy.bin.gz": GZ}) as srv:
        register("toy", [srv.url("toy.bin.gz")], sha256=hashlib.sha256(GZ).hexdigest())
        register("broken", [closed_port_url("toy.bin.gz")], sha256="0" * 64)
        code, out, err = cli(capsys, "fetch", "toy", "digits", "broken")
    assert code == 1
    assert "fetch summary" in out and "failed" in out and "1,797" in out
    assert "Error (broken)" in err and "1 of 3 data sets could not be fetched: broken" in " ".join(err.split())
    assert paths.dataset_file("toy").exists() and paths.dataset_file("digits").exists()


def test_user_source_error_and_from_file(capsys, tmp_path):
    register("usertoy", [], source="user", obtain="Email the authors for toy.bin.gz, then keep it as is.")
    code, _, err = cli(capsys, "fetch", "usertoy")
    flat = " ".join(err.split())
    assert code == 1 and "Email the authors for toy.bin.gz" in flat and "--from FILE" in flat
    good = tmp_path / "toy.bin.gz"
    good.write_bytes(GZ)
    code, out, err = cli(capsys, "fetch", "usertoy", "--from", str(good))
    assert code == 0, err
    info0 = read_info(paths.dataset_file("usertoy"))
    assert info0.sources["toy.bin.gz"]["origin"] == f"--from {good}"
    # a truncated copy: DataError naming the file, previous HDF5 and raw file kept, bad copy set aside
    trunc = tmp_path / "trunc.bin.gz"
    trunc.write_bytes(GZ[: len(GZ) // 2])
    code, _, err = cli(capsys, "fetch", "usertoy", "--from", str(trunc))
    flat = " ".join(err.split())
    assert code == 1 and "Traceback" not in err and "corrupt or truncated" in flat and "toy.bin.gz" in flat
    assert read_info(paths.dataset_file("usertoy")).checksum == info0.checksum
    raw = paths.raw_dir("usertoy")
    assert (raw / "toy.bin.gz").read_bytes() == GZ and (raw / "toy.bin.gz.bad").read_bytes() == trunc.read_bytes()
    assert json.loads((raw / "checksums.json").read_text())["toy.bin.gz"] == hashlib.sha256(GZ).hexdigest()
    assert not [p for p in paths.data_dir().iterdir() if p.name not in ("usertoy.h5", ".verified.json")]  # no temp files


def test_truncated_gzip_in_cache_is_a_data_error(capsys):
    register("usertoy", [], source="user", obtain="Ask.")
    spec = get_spec("usertoy")
    raw = paths.raw_dir("usertoy")
    (raw / "toy.bin.gz").write_bytes(GZ)
    info0 = fetch_spec(spec, progress=False)
    (raw / "toy.bin.gz").write_bytes(GZ[:-30])  # damaged in place (no record to catch it)
    (raw / "checksums.json").unlink()
    with pytest.raises(DataError, match="corrupt or truncated archive") as ei:
        fetch_spec(spec, force=True, progress=False)
    assert "set aside" in str(ei.value)
    assert read_info(paths.dataset_file("usertoy")).checksum == info0.checksum
    assert not (raw / "toy.bin.gz").exists() and (raw / "toy.bin.gz.bad").exists()


def test_preprocessor_bug_keeps_traceback(monkeypatch):
    register("usertoy", [], source="user")
    (paths.raw_dir("usertoy") / "toy.bin.gz").write_bytes(GZ)

    def buggy(files, *, spec):
        raise ZeroDivisionError("a bug")

    monkeypatch.setitem(PREPROCESSORS, "test-gz", buggy)
    with pytest.raises(ZeroDivisionError):
        fetch_spec(get_spec("usertoy"), progress=False)
    assert (paths.raw_dir("usertoy") / "toy.bin.gz").exists()  # an intact file is not set aside


def test_hdf5_disk_full_is_clean(monkeypatch):
    import errno

    from clusterbench.data import fetch as fetch_mod

    register("usertoy", [], source="user")
    (paths.raw_dir("usertoy") / "toy.bin.gz").write_bytes(GZ)

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(fetch_mod, "write_dataset", full)
    with pytest.raises(DataError, match="disk is full"):
        fetch_spec(get_spec("usertoy"), progress=False)


def test_hdf5_sources_attribute_is_json():
    register("usertoy", [], source="user")
    (paths.raw_dir("usertoy") / "toy.bin.gz").write_bytes(GZ)
    fetch_spec(get_spec("usertoy"), progress=False)
    with h5py.File(paths.dataset_file("usertoy"), "r") as f:
        src = json.loads(f.attrs["sources"])
    assert src["toy.bin.gz"]["origin"] == "cache" and src["toy.bin.gz"]["verified"].startswith("unverified")
