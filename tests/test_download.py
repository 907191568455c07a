"""ensure_files over a loopback HTTP server: verify, resume, mirrors, checksums, locks, no network."""

from __future__ import annotations

import errno
import gzip
import hashlib
import json
import logging
import random
import threading
from pathlib import Path

import pytest
from loopback import LoopbackServer, closed_port_url, serve_dataset_files

from clusterbench.data import download
from clusterbench.data.download import Policy, ensure_files, verify_file
from clusterbench.data.registry import DatasetSpec, FileSpec
from clusterbench.errors import ChecksumError, DataError, DownloadError

FAST = Policy(retries=2, backoff=0.0, timeout=(2.0, 5.0))
PAYLOAD = random.Random(0).randbytes(16384)  # incompressible: the .gz is ~16 KiB
GZ = gzip.compress(PAYLOAD, compresslevel=9, mtime=0)


def sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def spec_for(urls, *, data: bytes = GZ, name: str = "toy.bin.gz", **checks) -> DatasetSpec:
    if not checks:
        checks = {"sha256": sha(data), "size": len(data)}
    fs = FileSpec(name=name, role="data", urls=tuple(urls), **checks)
    return DatasetSpec(name="toy", preprocessor="none", n_clusters=2, files=(fs,))


def fetch(spec, raw: Path, **kw):
    kw.setdefault("policy", FAST)
    return ensure_files(spec, raw, progress=False, **kw)


def test_full_download_and_verify(tmp_path):
    with LoopbackServer({"toy.bin.gz": GZ}) as srv:
        out = fetch(spec_for([srv.url("toy.bin.gz")]), tmp_path / "raw")
        assert out["data"].read_bytes() == GZ
        assert out.origins["toy.bin.gz"]["origin"] == srv.url("toy.bin.gz")
        assert out.origins["toy.bin.gz"]["verified"] == "sha256"
        assert srv.count("toy.bin.gz") == 1
        assert not list((tmp_path / "raw").glob("*.part*"))
        # cached reuse: no second request, origin remembered
        again = fetch(spec_for([srv.url("toy.bin.gz")]), tmp_path / "raw")
        assert srv.count("toy.bin.gz") == 1
        assert again.origins["toy.bin.gz"]["origin"] == srv.url("toy.bin.gz")


def test_connection_cut_is_resumed_with_range(tmp_path):
    with LoopbackServer({"toy.bin.gz": GZ}, cut_after={"toy.bin.gz": 1000}) as srv:
        out = fetch(spec_for([srv.url("toy.bin.gz")]), tmp_path / "raw")
        assert out["data"].read_bytes() == GZ
        assert srv.ranges("toy.bin.gz") == [None, "bytes=1000-"]


def test_server_ignoring_range_restarts(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="clusterbench")
    with LoopbackServer({"toy.bin.gz": GZ}, cut_after={"toy.bin.gz": 1000}, honour_range=False) as srv:
        out = fetch(spec_for([srv.url("toy.bin.gz")]), tmp_path / "raw")
        assert out["data"].read_bytes() == GZ
        assert srv.ranges("toy.bin.gz") == [None, "bytes=1000-"]
    assert "ignored the Range request" in caplog.text


def test_partial_from_previous_run_is_resumed(tmp_path):
    raw = tmp_path / "raw"
    with LoopbackServer({"toy.bin.gz": GZ}) as srv:
        raw.mkdir()
        (raw / "toy.bin.gz.part").write_bytes(GZ[:500])
        (raw / "toy.bin.gz.part.json").write_text(json.dumps({"url": srv.url("toy.bin.gz")}))
        out = fetch(spec_for([srv.url("toy.bin.gz")]), raw)
        assert out["data"].read_bytes() == GZ and srv.ranges("toy.bin.gz") == ["bytes=500-"]


def test_transient_500_is_retried(tmp_path):
    with LoopbackServer({"toy.bin.gz": GZ}, fail_first={"toy.bin.gz": 2}) as srv:
        out = fetch(spec_for([srv.url("toy.bin.gz")]), tmp_path / "raw")
        assert out["data"].read_bytes() == GZ and srv.count("toy.bin.gz") == 3


def test_persistent_500_gives_up_after_the_policy_retries(tmp_path):
    """urllib3's Retry on the session adapter: retries + 1 requests, then the source fails."""
    with LoopbackServer({"toy.bin.gz": GZ}, fail_first={"toy.bin.gz": 10}) as srv:
        with pytest.raises(DownloadError) as ei:
            fetch(spec_for([srv.url("toy.bin.gz")]), tmp_path / "raw")
        assert srv.count("toy.bin.gz") == FAST.retries + 1 and "500" in str(ei.value)


def test_checksum_mismatch_sets_file_aside(tmp_path):
    bad = b"not the file" * 100
    with LoopbackServer({"toy.bin.gz": bad}) as srv:
        with pytest.raises(ChecksumError) as ei:
            fetch(spec_for([srv.url("toy.bin.gz")]), tmp_path / "raw")
    msg = str(ei.value)
    assert f"expected {sha(GZ)}, got {sha(bad)}" in msg
    assert "toy.bin.gz.bad" in msg
    assert (tmp_path / "raw" / "toy.bin.gz.bad").read_bytes() == bad
    assert not (tmp_path / "raw" / "toy.bin.gz").exists()


def test_mirror_fallback_after_404(tmp_path):
    with LoopbackServer({"b/toy.bin.gz": GZ}) as srv:
        out = fetch(spec_for([srv.url("a/toy.bin.gz"), srv.url("b/toy.bin.gz")]), tmp_path / "raw")
        assert out["data"].read_bytes() == GZ
        assert out.origins["toy.bin.gz"]["origin"] == srv.url("b/toy.bin.gz")
        assert srv.count("a/toy.bin.gz") == 1  # a 404 is not retried


def test_bad_first_url_then_good_second(tmp_path):
    with LoopbackServer({"a/toy.bin.gz": b"junk", "b/toy.bin.gz": GZ}) as srv:
        out = fetch(spec_for([srv.url("a/toy.bin.gz"), srv.url("b/toy.bin.gz")]), tmp_path / "raw")
        assert out["data"].read_bytes() == GZ
        assert (tmp_path / "raw" / "toy.bin.gz.bad").read_bytes() == b"junk"


def test_recompressed_mirror_accepted_by_payload(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="clusterbench")
    recompressed = gzip.compress(PAYLOAD, compresslevel=1, mtime=12345)
    assert recompressed != GZ
    checks = {"sha256": sha(GZ), "size": len(GZ), "payload_md5": hashlib.md5(PAYLOAD).hexdigest()}
    with LoopbackServer({"toy.bin.gz": recompressed}) as srv:
        out = fetch(spec_for([srv.url("toy.bin.gz")], **checks), tmp_path / "raw")
    assert out["data"].read_bytes() == recompressed
    assert "payload_md5" in out.origins["toy.bin.gz"]["verified"]
    assert "recompressed" in caplog.text
    # a different payload is still rejected, with expected vs got
    other = gzip.compress(PAYLOAD[::-1])
    with LoopbackServer({"toy.bin.gz": other}) as srv:
        with pytest.raises(ChecksumError, match=f"payload_md5: expected {hashlib.md5(PAYLOAD).hexdigest()}"):
            fetch(spec_for([srv.url("toy.bin.gz")], **checks), tmp_path / "raw2")


def test_local_directory_mirror(tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "toy.bin.gz").write_bytes(GZ)
    out = fetch(spec_for([closed_port_url("toy.bin.gz")]), tmp_path / "raw", mirror=str(mirror))
    assert out["data"].read_bytes() == GZ
    assert out.origins["toy.bin.gz"]["origin"] == str(mirror / "toy.bin.gz")


def test_url_mirror_tried_first(tmp_path):
    with LoopbackServer({"m/toy.bin.gz": GZ, "toy.bin.gz": GZ}) as srv:
        fetch(spec_for([srv.url("toy.bin.gz")]), tmp_path / "raw", mirror=srv.url("m/"))
        assert srv.count("m/toy.bin.gz") == 1 and srv.count("toy.bin.gz") == 0


def test_no_network_lists_urls_and_alternatives(tmp_path):
    urls = [closed_port_url("a/toy.bin.gz"), closed_port_url("b/toy.bin.gz")]
    with pytest.raises(DownloadError) as ei:
        fetch(spec_for(urls), tmp_path / "raw")
    msg = str(ei.value)
    for u in urls:
        assert u in msg
    assert "connection refused" in msg and "--mirror" in msg and "--from" in msg


def test_force_refetches_and_keeps_cache_when_that_fails(tmp_path):
    raw = tmp_path / "raw"
    with LoopbackServer({"toy.bin.gz": GZ}) as srv:
        fetch(spec_for([srv.url("toy.bin.gz")]), raw)
        fetch(spec_for([srv.url("toy.bin.gz")]), raw, force=True)
        assert srv.count("toy.bin.gz") == 2
    with pytest.raises(DownloadError, match="cached copy .* was kept"):
        fetch(spec_for([closed_port_url("toy.bin.gz")]), raw, force=True)
    assert (raw / "toy.bin.gz").read_bytes() == GZ


def test_corrupted_cache_is_set_aside_and_refetched(tmp_path, caplog):
    raw = tmp_path / "raw"
    with LoopbackServer({"toy.bin.gz": GZ}) as srv:
        fetch(spec_for([srv.url("toy.bin.gz")]), raw)
        (raw / "toy.bin.gz").write_bytes(GZ[:100])
        out = fetch(spec_for([srv.url("toy.bin.gz")]), raw)
        assert out["data"].read_bytes() == GZ and srv.count("toy.bin.gz") == 2
    assert (raw / "toy.bin.gz.bad").read_bytes() == GZ[:100]


def test_unverified_file_records_first_sha256(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="clusterbench")
    raw = tmp_path / "raw"
    with LoopbackServer({"toy.bin.gz": GZ}) as srv:
        spec = spec_for([srv.url("toy.bin.gz")], md5=None)  # no pinned checksum
        assert not spec.files[0].has_checksum
        fetch(spec, raw)
        assert json.loads((raw / "checksums.json").read_text()) == {"toy.bin.gz": sha(GZ)}
        assert "UNVERIFIED" in caplog.text and "recorded in" in caplog.text
        out = fetch(spec, raw)  # later reads are checked against the record
        assert out.origins["toy.bin.gz"]["verified"] == "sha256 recorded on first download"
        srv.files["toy.bin.gz"] = b"changed upstream"
        with pytest.raises(ChecksumError, match="recorded on first download"):
            fetch(spec, raw, force=True)
    assert (raw / "toy.bin.gz").read_bytes() == GZ  # the good copy is kept


def test_git_blob_and_md5_verification(tmp_path):
    p = tmp_path / "hello"
    p.write_bytes(b"hello\n")
    assert download.git_blob_sha1(p) == "ce013625030ba8dba906f756967f9e9ca394464a"  # git hash-object
    fs = FileSpec(name="hello", git_blob="ce013625030ba8dba906f756967f9e9ca394464a", md5="b1946ac92492d2347c6235b4d2611184")
    assert verify_file(p, fs).ok
    v = verify_file(p, FileSpec(name="hello", git_blob="0" * 40))
    assert not v.ok and "git_blob: expected 0000" in v.mismatches[0]


def test_two_concurrent_fetches_one_download(tmp_path):
    big = gzip.compress(random.Random(1).randbytes(1 << 20), mtime=0)  # ~1 MB archive
    raw = tmp_path / "raw"
    with LoopbackServer({"toy.bin.gz": big}) as srv:
        spec = spec_for([srv.url("toy.bin.gz")], data=big)
        results, errors = [], []

        def work():
            try:
                results.append(fetch(spec, raw)["data"])
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        assert srv.count("toy.bin.gz") == 1  # the second waited for the lock, then reused the file
    assert [p.read_bytes() == big for p in results] == [True, True]
    assert sorted(p.name for p in raw.iterdir() if not p.name.startswith(".")) == ["provenance.json", "toy.bin.gz"]


def test_disk_full_is_clean(tmp_path, monkeypatch):
    class Full:
        def __init__(self, path, mode):
            self.fh = open(path, mode)

        def write(self, b):
            raise OSError(errno.ENOSPC, "No space left on device")

        def __getattr__(self, k):
            return getattr(self.fh, k)

        def __enter__(self):
            return self

        def __exit__(self, *a):
            self.fh.close()

    monkeypatch.setattr(download, "_open_for_write", Full)
    with LoopbackServer({"toy.bin.gz": GZ}) as srv:
        with pytest.raises(DataError, match="disk is full"):
            fetch(spec_for([srv.url("toy.bin.gz")]), tmp_path / "raw")
    assert not list((tmp_path / "raw").glob("toy.bin.gz*"))


def test_user_source_without_file_explains_how_to_get_it(tmp_path):
    fs = FileSpec(name="secret.h5", role="data")
    spec = DatasetSpec(name="secret", preprocessor="none", n_clusters=2, source="user", files=(fs,),
                       obtain="Ask the authors for secret.h5 (see their README).")
    with pytest.raises(DownloadError) as ei:
        fetch(spec, tmp_path / "raw")
    assert "Ask the authors for secret.h5" in str(ei.value) and "--from FILE" in str(ei.value)
    mine = tmp_path / "my-copy.h5"
    mine.write_bytes(b"whatever")
    out = fetch(spec, tmp_path / "raw", from_file=mine)
    assert out["data"].read_bytes() == b"whatever" and out["data"].name == "secret.h5"
    assert json.loads((tmp_path / "raw" / "checksums.json").read_text()) == {"secret.h5": sha(b"whatever")}
    assert fetch(spec, tmp_path / "raw")["data"].read_bytes() == b"whatever"  # cached now


def test_from_file_checked_against_pinned_checksum(tmp_path):
    fs = FileSpec(name="secret.h5", role="data", sha256=sha(b"right"))
    spec = DatasetSpec(name="secret", preprocessor="none", n_clusters=2, source="user", files=(fs,))
    wrong = tmp_path / "wrong.h5"
    wrong.write_bytes(b"wrong")
    with pytest.raises(ChecksumError, match=f"expected {sha(b'right')}, got {sha(b'wrong')}"):
        fetch(spec, tmp_path / "raw", from_file=wrong)
    assert wrong.exists() and not (tmp_path / "raw" / "secret.h5").exists()


def test_serve_dataset_files_helper(tmp_path):
    fs1 = FileSpec(name="a.gz", role="train", urls=("https://example.invalid/a.gz",), md5="0" * 32)
    fs2 = FileSpec(name="b.gz", urls=("https://example.invalid/b.gz",))
    spec = DatasetSpec(name="x", preprocessor="none", n_clusters=2, source="user", files=(fs1, fs2))
    srv, patched = serve_dataset_files(spec, {"train": b"A", "b.gz": b"B"})
    with srv:
        assert patched.source == "download" and patched.files[0].md5 is None
        out = fetch(patched, tmp_path / "raw")
        assert out["train"].read_bytes() == b"A" and out["b.gz"].read_bytes() == b"B"


def test_plain_http_unpinned_file_is_announced_as_trusted_on_first_use(tmp_path, caplog):
    """Issue 15 class 3: a file with no pinned checksum fetched over plain HTTP (the Reuters token
    files, Pendigits) is accepted only with a WARNING on screen that says so; a pinned file is not."""
    caplog.set_level(logging.INFO, logger="clusterbench")
    with LoopbackServer({"toy.bin.gz": GZ}) as srv:
        assert srv.url("toy.bin.gz").startswith("http://")
        fetch(spec_for([srv.url("toy.bin.gz")], md5=None), tmp_path / "raw")
        warned = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(warned) == 1 and "TRUSTED ON FIRST USE" in warned[0].getMessage()
        assert "plain HTTP" in warned[0].getMessage() and sha(GZ) in warned[0].getMessage()
        caplog.clear()
        fetch(spec_for([srv.url("toy.bin.gz")]), tmp_path / "raw2")  # pinned: nothing to warn about
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_plain_http_registry_files_have_a_checksum_or_are_marked_unverified():
    """Every plain-HTTP-only file of the registry either pins a checksum or its data set's notes
    say UNVERIFIED (so it goes through trust on first use, announced above)."""
    from clusterbench.data.registry import load_registry

    for name, spec in load_registry().items():
        for fs in spec.files:
            if fs.urls and all(u.startswith("http://") for u in fs.urls) and not fs.has_checksum:
                assert "UNVERIFIED" in spec.notes, (name, fs.name)
