"""Issue 15 class 10: unwritable places are one paragraph and exit 1, never a traceback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cli_helper import run_cli as cli


@pytest.fixture
def unwritable(tmp_path) -> Path:
    """A folder path that cannot be created or written: /sys refuses even root (EPERM); as a
    normal user, a read-only (0555) folder."""
    if os.geteuid() == 0:
        assert Path("/sys").is_dir()
        return Path("/sys/clusterbench-test-unwritable")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    return ro / "sub"


def _one_paragraph(rc, err, *needles):
    flat = " ".join(err.split())
    assert rc == 1 and "Traceback" not in err and flat.startswith("Error:"), err
    for n in needles:
        assert n in flat.replace(" ", "") or n in flat, (n, err)


def test_home_pointing_at_a_file(tmp_path, capsys, monkeypatch):
    f = tmp_path / "afile"
    f.write_text("x")
    monkeypatch.setenv("CLUSTERBENCH_HOME", str(f))
    rc, out, err = cli(capsys, "run", "kmeans", "--subset", "100")
    _one_paragraph(rc, err, "CLUSTERBENCH_HOME", "is a file")


def test_home_under_a_file(tmp_path, capsys, monkeypatch):
    f = tmp_path / "afile"
    f.write_text("x")
    monkeypatch.setenv("CLUSTERBENCH_HOME", str(f / "sub"))
    rc, out, err = cli(capsys, "datasets")
    _one_paragraph(rc, err, "CLUSTERBENCH_HOME", "is a file")


def test_home_not_writable(capsys, monkeypatch, unwritable):
    monkeypatch.setenv("CLUSTERBENCH_HOME", str(unwritable))
    rc, out, err = cli(capsys, "run", "kmeans", "--subset", "100")
    _one_paragraph(rc, err, "CLUSTERBENCH_HOME", "cannot be created")


def test_home_on_a_read_only_file_system(tmp_path, capsys, monkeypatch):
    """EROFS, simulated (no read-only mount here): the same one paragraph."""
    import errno

    real = Path.mkdir

    def ro(self, *a, **k):
        if str(self).startswith(str(tmp_path / "ro-home")):
            raise OSError(errno.EROFS, "Read-only file system", str(self))
        return real(self, *a, **k)

    monkeypatch.setattr(Path, "mkdir", ro)
    monkeypatch.setenv("CLUSTERBENCH_HOME", str(tmp_path / "ro-home"))
    rc, out, err = cli(capsys, "fetch", "digits")
    _one_paragraph(rc, err, "CLUSTERBENCH_HOME", "Read-only file system")


@pytest.mark.parametrize("where", ["file", "under-file", "unwritable"])
def test_results_unwritable(tmp_path, capsys, where, unwritable):
    f = tmp_path / "afile"
    f.write_text("x")
    target = {"file": f, "under-file": f / "runs", "unwritable": unwritable}[where]
    rc, out, err = cli(capsys, "run", "kmeans", "--subset", "100", "--results", str(target))
    _one_paragraph(rc, err, "--results")


@pytest.mark.parametrize("where", ["file", "under-file", "unwritable"])
def test_report_out_unwritable(tmp_path, capsys, where, unwritable):
    f = tmp_path / "afile"
    f.write_text("x")
    results = tmp_path / "res"
    results.mkdir()
    target = {"file": f, "under-file": f / "rep", "unwritable": unwritable}[where]
    rc, out, err = cli(capsys, "report", "--all", "--out", str(target), "--results", str(results))
    _one_paragraph(rc, err, "Cannot write")
    rc, out, err = cli(capsys, "report", "--table", "1", "--out", str(target / "t.md"), "--results", str(results))
    _one_paragraph(rc, err, "Cannot write")
