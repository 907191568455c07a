"""fsutil: atomic files and folders follow the umask; stale temporary files of dead writers go."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from clusterbench.fsutil import atomic_path, clean_stale_parts, staged_dir, write_json_atomic, write_text_atomic


@pytest.fixture
def umask():
    old = os.umask(0o022)
    yield lambda m: os.umask(m)
    os.umask(old)


def _mode(p):
    return stat.S_IMODE(os.stat(p).st_mode)


@pytest.mark.parametrize("mask, file_mode, dir_mode", [(0o022, 0o644, 0o755), (0o002, 0o664, 0o775), (0o077, 0o600, 0o700)])
def test_files_and_folders_follow_the_umask(tmp_path, umask, mask, file_mode, dir_mode):
    """Issue 15 class 12: mkstemp/mkdtemp make 0600/0700; what the suite writes must be readable
    as the umask allows (group-shared results homes, Slurm)."""
    umask(mask)
    write_json_atomic(tmp_path / "r.json", {"a": 1})
    with atomic_path(tmp_path / "d.h5") as tmp:
        tmp.write_bytes(b"x")
    with staged_dir(tmp_path / "report") as d:
        (d / "sub").mkdir()
        write_text_atomic(d / "sub" / "t.md", "x")
    assert _mode(tmp_path / "r.json") == file_mode and _mode(tmp_path / "d.h5") == file_mode
    assert _mode(tmp_path / "report" / "sub" / "t.md") == file_mode
    assert _mode(tmp_path / "report") == dir_mode and _mode(tmp_path / "report" / "sub") == dir_mode


def test_records_and_data_sets_follow_the_umask(tmp_path, umask):
    from clusterbench.data import load
    from clusterbench import paths

    umask(0o022)
    load("digits")
    assert _mode(paths.dataset_file("digits")) == 0o644


def test_stale_parts_of_dead_processes_are_removed(tmp_path):
    """Issue 15 class 9: a writer killed with kill -9 leaves its temporary file; the next fetch
    removes it (this host, pid gone), but never a live writer's."""
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    from clusterbench.fsutil import _tag

    host = _tag().rsplit("-", 1)[0]
    dead = tmp_path / f".mnist.h5.{host}-{p.pid}.abc123.part"
    dead.write_bytes(b"x" * 1000)
    live = tmp_path / f".mnist.h5.{host}-{os.getppid()}.def456.part"
    live.write_bytes(b"x")
    other_host = tmp_path / f".mnist.h5.elsewhere-{p.pid}.ghi789.part"
    other_host.write_bytes(b"x")
    user = tmp_path / "notes.part"
    user.write_bytes(b"x")
    assert clean_stale_parts(tmp_path) == [dead]
    assert live.exists() and other_host.exists() and user.exists()


def test_fetch_cleans_stale_parts(tmp_path):
    from clusterbench import paths
    from clusterbench.data.fetch import fetch
    from clusterbench.fsutil import _tag

    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    host = _tag().rsplit("-", 1)[0]
    stale = paths.data_dir() / f".mnist.h5.{host}-{p.pid}.zz.part"
    stale.write_bytes(b"x" * 10000)
    fetch("digits", progress=False)
    assert not stale.exists()
