"""The Slurm executor against a real one-node Slurm cluster started by the test session.

The session fixture starts munged + slurmctld + slurmd from a private config in a temp dir
(tests/slurm_cluster.py; nothing under /etc is changed) and stops them by pid at teardown.
Where the cluster cannot be started the test FAILS with the reason when CI=true; locally it is
skipped only when the Slurm/munge packages are absent (or we are not root).
"""

from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest
import slurm_cluster
from runner_methods import TEST_METHODS

from clusterbench.results.records import iter_records, read_outputs
from cli_helper import run_cli as _cli

pytestmark = [pytest.mark.slurm, pytest.mark.timeout(300)]


@pytest.fixture(scope="session")
def slurm(tmp_path_factory):
    why = slurm_cluster.missing()
    if why:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI must run the Slurm test, but {why}.")
        pytest.skip(why)
    root = tmp_path_factory.mktemp("slurm")
    try:
        info = slurm_cluster.start(root)
    except slurm_cluster.ClusterError as exc:
        pytest.fail(f"could not start the one-node Slurm cluster: {exc}")
    old = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(info["conf"])
    try:
        yield info
    finally:
        slurm_cluster.stop(root)
        if old is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = old


@pytest.fixture(autouse=True)
def test_methods(monkeypatch):
    from clusterbench.methods import METHODS

    for name, cls in TEST_METHODS.items():
        monkeypatch.setitem(METHODS, name, cls)




def _records(home):
    return {r.key: (p, r) for p, r in iter_records(home)}


def test_slurm_records_equal_local_records(slurm, tmp_path, capsys):
    grid = ("run", "tinykmeans", "--dataset", "digits", "--seeds", "2", "--subset", "300")
    rc, _, err = _cli(capsys, *grid, "--results", str(tmp_path / "local"))
    assert rc == 0, err
    rc, out, err = _cli(capsys, *grid, "crashes", "--executor", "slurm", "--partition", "debug", "--time", "5",
                        "--cpus", "1", "--mem", "1G", "--results", str(tmp_path / "slurm"))
    assert rc == 1, err  # the crashing method's 2 runs failed, in their records
    assert "2 run(s) failed" in err
    local, on_slurm = _records(tmp_path / "local"), _records(tmp_path / "slurm")
    ok = {k: v for k, v in on_slurm.items() if v[1].status == "ok"}
    assert ok.keys() == local.keys() and len(ok) == 2
    for key, (lp, lr) in local.items():
        sp, sr = ok[key]
        assert sr.metrics == lr.metrics and sr.config == lr.config and sr.seed == lr.seed
        assert sr.environment["slurm_job_id"] and not lr.environment["slurm_job_id"]
        assert np.array_equal(read_outputs(sp)["proba"].argmax(1), read_outputs(lp)["proba"].argmax(1))
    failed = [r for _, r in on_slurm.values() if r.status == "failed"]
    assert len(failed) == 2 and all(r.error == "RuntimeError: boom: the method crashed" for r in failed)
    # a second submission skips the finished runs and retries only the failed ones
    rc, _, err = _cli(capsys, *grid, "--executor", "slurm", "--results", str(tmp_path / "slurm"))
    assert rc == 0 and "skipping 2 finished" in err


def test_slurm_no_wait_returns_after_submission(slurm, tmp_path, capsys):
    home = tmp_path / "nowait"
    rc, _, err = _cli(capsys, "run", "tinykmeans", "--dataset", "digits", "--subset", "200", "--seed-start", "7",
                      "--executor", "slurm", "--no-wait", "--time", "5", "--results", str(home))
    assert rc == 0 and "Submitted 1 Slurm job(s)" in err
    deadline = time.time() + 120
    while time.time() < deadline and not _records(home):
        time.sleep(1)
    recs = [r for _, r in _records(home).values()]
    assert len(recs) == 1 and recs[0].status == "ok" and recs[0].seed == 7
    while time.time() < deadline and slurm_cluster.queue(slurm["conf"]):  # let the job step end
        time.sleep(1)
    assert not slurm_cluster.queue(slurm["conf"])


def test_slurm_job_that_dies_is_recorded_failed(slurm, tmp_path, capsys):
    home = tmp_path / "dies"
    rc, _, err = _cli(capsys, "run", "dies", "--dataset", "digits", "--subset", "100", "--executor", "slurm",
                      "--time", "5", "--results", str(home))
    assert rc == 1 and "1 run(s) failed" in err
    (_, rec), = _records(home).values()
    assert rec.status == "failed" and rec.error.startswith("Slurm job ") and "failed" in rec.error


def test_reproduce_on_slurm_one_array_per_method_and_data_set(slurm, tmp_path, capsys, monkeypatch):
    """``reproduce --executor slurm --no-wait`` submits one job array per method x data set and
    returns; the same command again submits nothing new, waits for the queued runs and renders."""
    from test_reproduce import install_tiny

    from clusterbench.report import spec as S

    install_tiny(tmp_path / "site", monkeypatch)
    home = tmp_path / "repro"
    args = ["reproduce", "--paper", "tiny", "--table", "1", "--device", "cpu", "--executor", "slurm",
            "--results", str(home)]
    try:
        rc, out, err = _cli(capsys, *args, "--no-wait")
        assert rc == 0, err
        assert out.startswith("Plan: tiny Table 1") and "### " not in out
        text = " ".join(err.split())
        assert "Submitted 4 Slurm job(s) in 2 array(s)" in text
        assert "kmeans on digits: 2 job(s)" in text and "stepped on digits: 2 job(s)" in text
        assert "--time" in text and " 0 GPU(s)" in text
        jobs = json.loads((home / ".slurm" / "reproduce-jobs.json").read_text())
        assert len(jobs) == 4 and len({j.split("_")[0] for j in jobs.values()}) == 2  # two arrays
        submitted = sorted(p.name for p in (home / ".slurm").glob("*/*") if p.is_dir())
        rc, out2, err2 = _cli(capsys, *args)
        assert rc == 0, err2
        assert "Submitted" not in err2  # nothing submitted again
        assert sorted(p.name for p in (home / ".slurm").glob("*/*") if p.is_dir()) == submitted
        assert "4 of 4 cells measured" in out2
        recs = [r for _, r in _records(home).values()]
        assert len(recs) == 4 and all(r.status == "ok" and r.environment["slurm_job_id"] for r in recs)
    finally:
        S.clear_cache()
