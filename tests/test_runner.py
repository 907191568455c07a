"""The run grid: keys, subsets, overrides, execution, records, skipping, executors, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from runner_methods import TEST_METHODS

from clusterbench import paths
from clusterbench.data.hdf5 import Prepared, write_dataset
from clusterbench.errors import ConfigError, UnknownNameError
from clusterbench.metrics import record_metrics
from clusterbench.results.records import iter_records, read_outputs, read_record
from clusterbench.runner import LocalExecutor, assign_gpus, execute_run, expand_grid, plan, run_key, stratified_subset
from clusterbench.runner.executors import parse_mem_gb, parse_time_minutes, visible_gpus
from clusterbench.runner.spec import parse_overrides
from cli_helper import run_cli as cli


@pytest.fixture(autouse=True)
def test_methods(monkeypatch):
    """Register the TEST-ONLY methods (real baselines live in another module)."""
    from clusterbench.methods import METHODS

    for name, cls in TEST_METHODS.items():
        monkeypatch.setitem(METHODS, name, cls)




def records(home=None, **flt):
    home = home or paths.results_home()
    return [r for _, r in iter_records(home) if all(getattr(r, k) == v for k, v in flt.items())]


def register_local(name, X, y, n_clusters, *, source="local", write=True):
    """A tiny data set in the user registry (and its HDF5 unless write=False)."""
    if write:
        write_dataset(paths.dataset_file(name), Prepared(np.asarray(X, np.float32), np.asarray(y), {"preprocessor": "test"}),
                      name=name, n_clusters=n_clusters)
    with open(paths.user_registry_file(), "a") as fh:
        fh.write(f'\n[{name}]\nn_clusters = {n_clusters}\npreprocessor = "test"\nsource = "{source}"\n')


# --- pure pieces ----------------------------------------------------------------------------


def test_run_key_is_canonical_and_sensitive():
    base = {"method": "m", "config": {"a": 1, "b": [1, 2]}, "dataset": "d", "seed": 0}
    assert run_key(base) == run_key({"seed": 0, "dataset": "d", "config": {"b": [1, 2], "a": 1}, "method": "m"})
    assert len(run_key(base)) == 64
    for change in ({"seed": 1}, {"config": {"a": 2, "b": [1, 2]}}, {"dataset": "e"}):
        assert run_key({**base, **change}) != run_key(base)


def test_grid_keys_depend_on_config_seed_subset():
    a = expand_grid(["tinykmeans"], ["digits"], seeds=2)
    assert [s.seed for s in a] == [0, 1] and len({s.key for s in a}) == 2
    b = expand_grid(["tinykmeans"], ["digits"], seeds=2, overrides=["n_iter=3"])
    c = expand_grid(["tinykmeans"], ["digits"], seeds=2, subset=500)
    d = expand_grid(["tinykmeans"], ["digits"], seeds=1, seed_start=1)
    assert not {s.key for s in a} & {s.key for s in b} and not {s.key for s in a} & {s.key for s in c}
    assert d[0].key == a[1].key  # same (config, data, seed) -> same key
    assert b[0].config["n_iter"] == 3 and a[0].dataset_checksum and a[0].code_version.startswith("0.")
    assert expand_grid(["tinykmeans"], ["digits"], seeds=1, device="cpu")[0].key == a[0].key  # device not in key


def test_stratified_subset():
    y = np.repeat([0, 1, 2], [600, 300, 100])
    idx = stratified_subset(y, 100, seed=0)
    assert idx.size == 100 and np.all(np.diff(idx) > 0)
    assert np.bincount(y[idx]).tolist() == [60, 30, 10]
    assert np.array_equal(idx, stratified_subset(y, 100, seed=0))
    assert not np.array_equal(idx, stratified_subset(y, 100, seed=1))
    odd = stratified_subset(y, 7, seed=0)  # largest remainder keeps the total exact
    assert odd.size == 7 and np.bincount(y[odd], minlength=3).tolist() == [4, 2, 1]
    with pytest.raises(ConfigError):
        stratified_subset(y, 1001)


def test_parse_overrides():
    per = parse_overrides(["n_iter=3", "tinykmeans.init=first"], ["tinykmeans", "crashes"])
    assert per == {"tinykmeans": {"n_iter": "3", "init": "first"}, "crashes": {"n_iter": "3"}}
    with pytest.raises(ConfigError, match="not in this run"):
        parse_overrides(["dec.lr=1"], ["tinykmeans"])
    with pytest.raises(ConfigError, match="key=value"):
        parse_overrides(["n_iter"], ["tinykmeans"])


def test_assign_gpus_one_per_worker():
    assert assign_gpus(2, ["0", "1"]) == ["0", "1"]
    assert assign_gpus(4, ["2", "5"]) == ["2", "5", "2", "5"]
    assert assign_gpus(1, ["0", "1", "2"]) == ["0"]
    assert assign_gpus(3, []) == [None, None, None]
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "3,4"}) == ["3", "4"]
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": ""}) == []
    assert visible_gpus({}, device_count=2) == ["0", "1"]


def test_threads_per_worker():
    from clusterbench.runner.executors import threads_per_worker

    assert threads_per_worker(2, 16, {}) == 8 and threads_per_worker(4, 2, {}) == 1
    assert threads_per_worker(2, 16, {"OMP_NUM_THREADS": "3"}) is None


def test_slurm_option_parsing():
    assert parse_time_minutes("90") == 90 and parse_time_minutes("1:30:00") == 90
    assert parse_time_minutes("2h") == 120 and parse_time_minutes("1-00:00:00") == 1440
    assert parse_mem_gb("16G") == 16 and parse_mem_gb("2048M") == 2 and parse_mem_gb(8) == 8
    with pytest.raises(ConfigError):
        parse_time_minutes("soon")
    with pytest.raises(ConfigError):
        parse_mem_gb("lots")


# --- execution and records ------------------------------------------------------------------


def test_run_writes_complete_records(capsys):
    rc, out, err = cli(capsys, "run", "tinykmeans", "--dataset", "digits", "--seeds", "2", "--subset", "300")
    assert rc == 0, err
    assert "Summary" in out and "tinykmeans" in out
    recs = records()
    assert len(recs) == 2 and {r.status for r in recs} == {"ok"}
    home = paths.results_home()
    for r in recs:
        path = home / r.method / r.dataset / f"{r.key}.json"
        stored = read_outputs(path)
        assert stored["proba"].shape == (300, 10) and stored["indices"].shape == (300,)
        assert record_metrics(stored["y"], stored["proba"], extras=r.extras) == pytest.approx(r.metrics)
        assert 0 < r.metrics["acc"] <= 1 and r.subset == 300
        assert len(r.history) == 15 and "monitor_acc" in r.history[0]  # monitor built from labels
        assert len(r.timings["epoch_s"]) == 15 and r.timings["fit_s"] <= r.timings["total_s"]
        assert r.peak_memory_mb > 10
        env = r.environment
        assert {"python", "numpy", "torch", "sklearn", "hostname", "device", "git_commit"} <= set(env)
        assert r.extras["sizes"] and sum(r.extras["sizes"]) == 300
    # the subset is the same for every seed (fixed subset seed)
    a, b = (read_outputs(paths.results_home() / "tinykmeans" / "digits" / f"{r.key}.json") for r in recs)
    assert np.array_equal(a["indices"], b["indices"])


def test_rerun_skips_finished_and_force_reruns(capsys):
    args = ("run", "tinykmeans", "--dataset", "digits", "--seeds", "2", "--subset", "200")
    assert cli(capsys, *args)[0] == 0
    created = {r.key: r.created + str(r.timings["total_s"]) for r in records()}
    rc, out, err = cli(capsys, *args)
    assert rc == 0 and "skipping 2 finished" in err
    assert {r.key: r.created + str(r.timings["total_s"]) for r in records()} == created
    rc, out, err = cli(capsys, *args, "--force")
    assert rc == 0 and "skipping" not in err
    assert {r.key: r.created + str(r.timings["total_s"]) for r in records()} != created
    assert len(records()) == 2


def test_failed_and_diverged_runs_are_recorded_never_averaged(capsys):
    rc, out, err = cli(capsys, "run", "tinykmeans", "crashes", "diverges", "--dataset", "digits", "--subset", "200")
    assert rc == 1
    assert "2 run(s) failed" in err and "clusterbench runs --status failed" in err
    crashed, = records(method="crashes")
    diverged, = records(method="diverges")
    assert crashed.status == "failed" and crashed.error == "RuntimeError: boom: the method crashed"
    assert "Traceback" in crashed.traceback and "runner_methods.py" in crashed.traceback
    assert diverged.status == "failed" and diverged.error.startswith("FloatingPointError")
    assert not crashed.metrics and not diverged.metrics
    home = paths.results_home()
    assert not (home / "diverges" / "digits" / f"{diverged.key}.h5").exists()
    # the summary averages the ok run only
    assert "0 " in out and "crashes" in out
    # retried on the next invocation; the ok one is skipped
    rc, out, err = cli(capsys, "run", "tinykmeans", "crashes", "diverges", "--dataset", "digits", "--subset", "200")
    assert rc == 1 and "skipping 1 finished" in err and "retrying 2 failed" in err


def test_set_overrides_reach_the_config(capsys):
    rc, out, err = cli(capsys, "run", "tinykmeans", "--dataset", "digits", "--subset", "100",
                       "--set", "n_iter=3", "--set", "tinykmeans.init=first")
    assert rc == 0, err
    r, = records()
    assert r.config == {"n_iter": 3, "init": "first", "scale": 1.0} and len(r.history) == 3


def test_same_seed_same_labels_and_global_rngs_seeded(tmp_path):
    spec0, spec1 = expand_grid(["tinykmeans"], ["digits"], seeds=2, subset=400)
    a = execute_run(spec0, tmp_path / "a")
    b = execute_run(spec0, tmp_path / "b")
    c = execute_run(spec1, tmp_path / "c")
    pa = read_outputs(tmp_path / "a" / "tinykmeans" / "digits" / f"{a.key}.json")["proba"]
    pb = read_outputs(tmp_path / "b" / "tinykmeans" / "digits" / f"{b.key}.json")["proba"]
    pc = read_outputs(tmp_path / "c" / "tinykmeans" / "digits" / f"{c.key}.json")["proba"]
    assert np.array_equal(pa, pb) and a.metrics == b.metrics
    assert not np.array_equal(pa, pc)
    # a method using the global numpy / torch / random generators is deterministic per seed too
    g0, g1 = expand_grid(["randomglobal"], ["digits"], seeds=2)
    x, y_, z = execute_run(g0, tmp_path / "x"), execute_run(g0, tmp_path / "y"), execute_run(g1, tmp_path / "z")
    assert x.status == "ok" and x.extras == y_.extras and x.metrics == y_.metrics
    assert x.extras != z.extras


def test_ctrl_c_keeps_finished_runs(capsys):
    rc, out, err = cli(capsys, "run", "tinykmeans", "interrupts", "--dataset", "digits", "--subset", "100")
    assert rc == 130 and "Interrupted" in err
    assert [r.method for r in records()] == ["tinykmeans"]
    assert not list((paths.results_home()).rglob("*.part"))


def test_process_pool_gives_the_sequential_records(tmp_path, capsys):
    args = ("run", "tinykmeans", "--dataset", "digits", "--seeds", "2", "--subset", "300")
    assert cli(capsys, *args, "--results", str(tmp_path / "seq"))[0] == 0
    rc, out, err = cli(capsys, *args, "--jobs", "2", "--results", str(tmp_path / "pool"))
    assert rc == 0, err
    seq = {r.key: r for r in records(tmp_path / "seq")}
    pool = {r.key: r for r in records(tmp_path / "pool")}
    assert seq.keys() == pool.keys() and len(seq) == 2
    for k in seq:
        assert seq[k].metrics == pool[k].metrics
        p1 = read_outputs(tmp_path / "seq" / "tinykmeans" / "digits" / f"{k}.json")["proba"]
        p2 = read_outputs(tmp_path / "pool" / "tinykmeans" / "digits" / f"{k}.json")["proba"]
        assert np.array_equal(p1, p2)


def test_runs_lists_and_filters(capsys):
    cli(capsys, "run", "tinykmeans", "crashes", "--dataset", "digits", "--subset", "100", "--seeds", "2")
    rc, out, _ = cli(capsys, "runs", "--json", "--status", "failed")
    rows = json.loads(out)
    assert rc == 0 and len(rows) == 2 and {r["method"] for r in rows} == {"crashes"}
    rc, out, _ = cli(capsys, "runs", "--json", "--method", "tinykmeans", "--dataset", "digits")
    assert len(json.loads(out)) == 2 and all(r["status"] == "ok" for r in json.loads(out))
    rc, out, _ = cli(capsys, "runs")
    assert rc == 0 and "4 run record(s)" in out and "boom" in out


def test_plan_retries_failed_and_skips_ok(tmp_path):
    specs = expand_grid(["tinykmeans", "crashes"], ["digits"], subset=100)
    for s in specs:
        execute_run(s, tmp_path)
    p = plan(specs, tmp_path)
    assert [s.method for s in p.skipped] == ["tinykmeans"] and [s.method for s in p.to_run] == ["crashes"] and p.retried == 1
    forced = plan(specs, tmp_path, force=True)
    assert len(forced.to_run) == 2 and [s.method for s in forced.forced] == ["tinykmeans"]
    # --force keeps the ok run's artifact folder (until the rerun succeeds) and clears only a
    # stale staging folder of an earlier rerun; failed runs keep theirs (deep runs resume)
    from clusterbench.results.records import artifacts_dir, record_path, rerun_dir
    from clusterbench.runner.grid import clear_forced

    dirs = [artifacts_dir(record_path(tmp_path, s.method, s.dataset, s.key)) for s in specs]
    stale = rerun_dir(record_path(tmp_path, specs[0].method, specs[0].dataset, specs[0].key))
    for d in [*dirs, stale]:
        d.mkdir()
        (d / "ckpt.pt").write_bytes(b"x")
    clear_forced(forced, tmp_path)
    assert (dirs[0] / "ckpt.pt").exists() and (dirs[1] / "ckpt.pt").exists() and not stale.exists()


def test_local_executor_reports_each_run(tmp_path):
    done, epochs = [], []
    specs = expand_grid(["tinykmeans"], ["digits"], seeds=2, subset=100)
    LocalExecutor(jobs=1).run(specs, tmp_path, on_done=done.append, on_epoch=lambda s, m: epochs.append(m["acc"]))
    assert [d["status"] for d in done] == ["ok", "ok"] and len(epochs) == 6  # monitor every 5 of 15 iterations


# --- bad input: one paragraph on stderr, exit 1, no traceback -------------------------------


def _clean_error(rc, err):
    assert rc == 1
    assert "Traceback" not in err
    # Log lines (e.g. the embedded data set being prepared) may precede the one error paragraph.
    msg = err[err.index("Error:"):]
    assert "\n\n" not in msg.strip()


def test_unknown_method_suggests_closest(capsys):
    rc, _, err = cli(capsys, "run", "tinykmean", "--dataset", "digits")
    _clean_error(rc, err)
    assert "Unknown method 'tinykmean'" in err and "'tinykmeans'" in err


def test_unknown_dataset_suggests_closest(capsys):
    rc, _, err = cli(capsys, "run", "tinykmeans", "--dataset", "digit")
    _clean_error(rc, err)
    assert "Unknown data set 'digit'" in err and "'digits'" in err


def test_bad_set_lists_valid_keys(capsys):
    rc, _, err = cli(capsys, "run", "tinykmeans", "--dataset", "digits", "--set", "n_iters=3")
    _clean_error(rc, err)
    assert "n_iters" in err and "Valid keys: n_iter (int), init (str), scale (float)" in err
    rc, _, err = cli(capsys, "run", "tinykmeans", "--dataset", "digits", "--set", "n_iter=many")
    _clean_error(rc, err)
    assert "n_iter=many" in err and "int" in err
    # a key valid for one method but not for another of the grid is refused for that one
    rc, _, err = cli(capsys, "run", "tinykmeans", "crashes", "--dataset", "digits", "--set", "n_iter=3")
    _clean_error(rc, err)
    assert "method crashes" in err
    assert not records()


def test_subset_larger_than_data(capsys):
    rc, _, err = cli(capsys, "run", "tinykmeans", "--dataset", "digits", "--subset", "5000")
    _clean_error(rc, err)
    assert "--subset 5000 is larger than data set 'digits' (1,797 samples)" in err


def test_more_clusters_than_samples(capsys):
    rc, _, err = cli(capsys, "run", "tinykmeans", "--dataset", "digits", "--subset", "5")
    _clean_error(rc, err)
    assert "10 clusters" in err and "5 samples" in err
    register_local("tiny3", np.eye(3), [0, 1, 2], 5)
    rc, _, err = cli(capsys, "run", "tinykmeans", "--dataset", "tiny3")
    _clean_error(rc, err)
    assert "'tiny3' has 5 clusters but the run would see only 3 samples" in err


def test_corrupt_hdf5(capsys):
    import clusterbench

    clusterbench.load("digits")
    f = paths.dataset_file("digits")
    f.write_bytes(f.read_bytes()[:700])
    rc, _, err = cli(capsys, "run", "tinykmeans", "--dataset", "digits")
    _clean_error(rc, err)
    assert "corrupt or truncated" in err and "fetch" in err


def test_not_fetched_dataset_says_fetch(capsys):
    register_local("notyet", None, None, 3, source="download", write=False)
    rc, _, err = cli(capsys, "run", "tinykmeans", "--dataset", "notyet")
    _clean_error(rc, err)
    assert "has not been fetched yet" in err and "clusterbench fetch notyet" in err


def test_cuda_unavailable_is_a_clear_error(capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU; the error path needs one without")
    rc, _, err = cli(capsys, "run", "tinykmeans", "--dataset", "digits", "--device", "cuda")
    _clean_error(rc, err)
    assert "--device cuda" in err and "no CUDA GPU" in err


def test_bad_options(capsys):
    for args, text in (
        (("--seeds", "0"), "--seeds must be at least 1"),
        (("--jobs", "0"), "--jobs must be at least 1"),
        (("--executor", "cloud"), "--executor must be local or slurm"),
        (("--device", "tpu"), "--device must be auto, cpu or cuda"),
    ):
        rc, _, err = cli(capsys, "run", "tinykmeans", "--dataset", "digits", *args)
        _clean_error(rc, err)
        assert text in err


def test_unknown_name_error_type():
    with pytest.raises(UnknownNameError):
        expand_grid(["nope"], ["digits"])


def test_every_cpu_method_same_seed_same_labels(tmp_path):
    """Contract over METHODS (the real baselines once registered, plus the test methods):
    a CPU method run twice with one seed gives the same labels."""
    from clusterbench.methods import METHODS

    names = [n for n, c in METHODS.items() if not getattr(c, "deep", False) and n not in ("crashes", "diverges", "interrupts", "dies", "fillsdisk")]
    assert "tinykmeans" in names
    for name in names:
        spec, = expand_grid([name], ["digits"], subset=200, seed_start=3)
        a, b = execute_run(spec, tmp_path / "a"), execute_run(spec, tmp_path / "b")
        assert a.status == b.status == "ok", (name, a.error)
        la = read_outputs(tmp_path / "a" / name / "digits" / f"{a.key}.json")["proba"].argmax(1)
        lb = read_outputs(tmp_path / "b" / name / "digits" / f"{b.key}.json")["proba"].argmax(1)
        assert np.array_equal(la, lb), name


def test_subset_missing_a_class_warns():
    y = np.r_[np.zeros(95, int), np.ones(3, int), np.full(2, 2)]
    register_local("skewed", np.random.default_rng(0).random((100, 2)), y, 3)
    with pytest.warns(UserWarning, match="without a sample"):
        expand_grid(["tinykmeans"], ["skewed"], subset=10)


def test_warnings_raised_in_fit_go_into_the_record_not_the_terminal(tmp_path, capsys):
    """scikit-learn's ConvergenceWarning (NMF, max_iter tiny) is captured and summarised."""
    from cli_helper import run_cli

    from clusterbench.results.records import iter_records

    rc, out, err = run_cli(capsys, "run", "nmf", "--set", "max_iter=2", "--results", str(tmp_path))
    assert rc == 0, err
    [(_, rec)] = list(iter_records(tmp_path))
    assert rec.status == "ok"
    assert any(w["category"] == "ConvergenceWarning" and w["count"] >= 1 for w in rec.warnings)
    assert "ConvergenceWarning" not in err and "warning(s) recorded" in err

# --- issue 15 classes 5, 6, 7: pool workers, Ctrl-C with --jobs, --force that fails -------------


def test_killed_worker_fails_only_its_own_run(tmp_path, capsys, monkeypatch):
    """Class 5: one worker SIGKILLed (an OOM kill) fails only the run it was running; the pool
    is refilled and every other run of the grid, started or not, finishes ok."""
    monkeypatch.setenv("CB_TEST_KILL_SEED", "1")
    rc, out, err = cli(capsys, "run", "killsitself", "--subset", "100", "--seeds", "4", "--jobs", "2",
                       "--results", str(tmp_path))
    got = {r.seed: r for r in records(tmp_path)}
    assert rc == 1 and sorted(got) == [0, 1, 2, 3]
    assert [got[s].status for s in (0, 2, 3)] == ["ok"] * 3, [got[s].error for s in got]
    assert got[1].status == "failed" and "SIGKILL" in got[1].error


def test_failure_never_overwrites_an_ok_record(tmp_path):
    from clusterbench.results.records import failure_beside_ok_path, record_path
    from clusterbench.runner.executors import write_failed

    spec, = expand_grid(["tinykmeans"], ["digits"], subset=100)
    ok = execute_run(spec, tmp_path)
    write_failed(spec, tmp_path, "the worker process running it died (killed by SIGKILL)")
    f = record_path(tmp_path, spec.method, spec.dataset, spec.key)
    assert read_record(f).status == "ok" and read_record(f).metrics == ok.metrics
    assert f.with_suffix(".h5").exists()
    assert "SIGKILL" in read_record(failure_beside_ok_path(f)).error


def test_force_rerun_that_fails_keeps_the_ok_record_and_outputs(tmp_path, capsys, monkeypatch):
    """Class 7: the ok record, its sidecar and artifacts stay until a rerun succeeds; the failed
    rerun is kept beside them (``<key>/failed-rerun.json``), named on screen, and exit code 1."""
    from clusterbench.results.records import failure_beside_ok_path, record_path

    flag = tmp_path / "fail-now"
    monkeypatch.setenv("CB_TEST_FAIL_IF", str(flag))
    args = ("run", "flaky", "--subset", "100", "--results", str(tmp_path / "res"))
    assert cli(capsys, *args)[0] == 0
    spec, = expand_grid(["flaky"], ["digits"], subset=100)
    f = record_path(tmp_path / "res", spec.method, spec.dataset, spec.key)
    before = (f.read_bytes(), f.with_suffix(".h5").read_bytes(), (f.with_suffix("") / "art.txt").read_text())
    flag.touch()
    rc, out, err = cli(capsys, *args, "--force")
    assert rc == 1 and "previous ok record" in " ".join(err.split())
    assert (f.read_bytes(), f.with_suffix(".h5").read_bytes(), (f.with_suffix("") / "art.txt").read_text()) == before
    assert "flaky: failed this time" in read_record(failure_beside_ok_path(f)).error
    assert not [p for p in f.parent.iterdir() if p.name.startswith(".")]  # no staging folder left
    flag.unlink()
    assert cli(capsys, *args, "--force")[0] == 0  # a successful rerun replaces all of it
    assert read_record(f).created >= json.loads(before[0])["created"] and not failure_beside_ok_path(f).exists()
    assert (f.with_suffix("") / "art.txt").exists() and read_record(f).artifacts == {"art": f"{spec.key}/art.txt"}


def test_ctrl_c_with_jobs_stops_workers_promptly_and_reports_what_was_kept(tmp_path):
    """Class 6: Ctrl-C (SIGINT to the terminal's process group) with --jobs 2 stops the runs in
    progress within seconds (not after they finish) and says exactly which runs were kept."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    started = tmp_path / "started"
    started.mkdir()
    tests = Path(__file__).parent
    boot = ("import sys; sys.path.insert(0, %r); from runner_methods import TEST_METHODS; "
            "from clusterbench.methods import METHODS; METHODS.update(TEST_METHODS); "
            "from clusterbench.cli import main; main(sys.argv[1:])") % str(tests)
    env = dict(os.environ, CB_TEST_SLEEP="60", CB_TEST_STARTED_DIR=str(started), OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(tests.parent), os.environ.get("PYTHONPATH", "")]))
    p = subprocess.Popen([sys.executable, "-c", boot, "run", "sleeps", "--subset", "100", "--seeds", "4", "--jobs", "2",
                          "--results", str(tmp_path / "res")], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and not ((started / "1").exists() and (started / "2").exists()):
        time.sleep(0.2)
    assert (started / "2").exists(), p.communicate(timeout=60)
    time.sleep(0.5)
    t0 = time.time()
    os.killpg(p.pid, signal.SIGINT)
    _, err = p.communicate(timeout=60)
    stopped_in = time.time() - t0
    err = " ".join(err.split())
    assert p.returncode == 130 and stopped_in < 15, (stopped_in, err)
    kept = records(tmp_path / "res")
    assert [r.seed for r in kept] == [0] and "1 run(s) of this grid finished and were kept" in err
    assert "sleeps / digits / seed 0" in err
    assert not (started / "3").exists()  # the queued run never started
    left = []
    for _ in range(50):  # no worker left behind (multiprocessing's resource tracker exits just after)
        left = [ln for ln in subprocess.run(["ps", "-o", "pid=,pgid=,args=", "-e"], capture_output=True, text=True).stdout.splitlines()
                if ln.split()[1] == str(p.pid)]
        if not left:
            break
        time.sleep(0.1)
    assert not left, left
    assert not list((tmp_path / "res").rglob("*.part"))


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_disk_full_during_run_is_one_paragraph_and_keeps_earlier_records(tmp_path, capsys, monkeypatch, jobs):
    """Class 9: the disk fills up while a run writes its outputs (every fsync fails with ENOSPC
    from then on): one paragraph, exit 1, partial files removed, no record for the run, earlier
    records intact; in-process and in a pool worker."""
    import os

    home = tmp_path / "res"
    assert cli(capsys, "run", "tinykmeans", "--subset", "100", "--results", str(home))[0] == 0
    earlier = {p: p.read_bytes() for p in home.rglob("*") if p.is_file()}
    monkeypatch.setattr(os, "fsync", os.fsync)  # restored after the test (fillsdisk replaces it in-process)
    rc, out, err = cli(capsys, "run", "fillsdisk", "--subset", "100", "--seeds", "2", "--jobs", jobs, "--results", str(home))
    err1 = " ".join(err.split())
    assert rc == 1 and "The disk is full" in err1 and "earlier records are intact" in err1, err
    assert "Traceback" not in err
    assert {p: p.read_bytes() for p in home.rglob("*") if p.is_file()} == earlier
    assert not [p for p in home.rglob("*") if p.name.startswith(".")]
