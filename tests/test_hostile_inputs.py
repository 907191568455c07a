"""Issue 27, "nothing lost, nothing let in", second pass: hostile names, records and data, full
disks and error texts. Each test failed on d707f52 (see /work/notes/issue-27.md for the table)."""

from __future__ import annotations

import errno
import inspect
import os
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from cli_helper import run_cli

from clusterbench.errors import DataError

# --------------------------------------------------------------------------- 1. changed data


def test_in_place_change_with_mtime_restored_is_not_trusted(tmp_path):
    """rsync --inplace --times / touch -r: same size, mtime and inode, other bytes. The
    verification cache keys on the ctime too, which utime cannot restore."""
    import h5py

    from clusterbench.data.hdf5 import Prepared, verify_content, write_dataset

    path = tmp_path / "d.h5"
    write_dataset(path, Prepared(np.arange(40, dtype=np.float32).reshape(10, 4), np.arange(10) % 2, {}),
                  name="d", n_clusters=2)
    verify_content(path)  # verified and cached
    st = path.stat()
    time.sleep(0.05)  # past the kernel's clock tick
    with h5py.File(path, "r+") as f:  # in place: same size, same inode
        f["X"][0] = 99.0
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (st.st_size, st.st_mtime_ns, st.st_ino)
    with pytest.raises(DataError, match="was changed after clusterbench wrote it"):
        verify_content(path)


# --------------------------------------------------------------------------- 2. names as paths


@pytest.fixture
def entry_points_of(monkeypatch):
    """Pretend these entry points are installed: {group kind: {name: "module:attr"}}."""
    from importlib.metadata import EntryPoint

    from clusterbench import plugins
    from clusterbench.metrics import catalog
    from clusterbench.report import spec

    def install(eps: dict[str, dict[str, str]]) -> None:
        def fake(kind: str):
            return {n: EntryPoint(name=n, value=v, group=plugins.GROUPS[kind]) for n, v in eps.get(kind, {}).items()}

        for mod in (plugins, catalog, spec):
            monkeypatch.setattr(mod, "plugin_entry_points", fake)
        catalog._catalogue.cache_clear()
        spec._plugin_papers.cache_clear()

    yield install
    catalog._catalogue.cache_clear()
    spec._plugin_papers.cache_clear()


def test_plugin_method_named_like_a_path_is_left_out(entry_points_of, capsys, tmp_path, monkeypatch):
    from clusterbench.methods import METHODS
    from clusterbench.plugins import load_methods

    entry_points_of({"methods": {"../../escape": "runner_methods:TinyKMeans"}})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = load_methods()  # what the registry holds once this plug-in is installed
    for name, cls in loaded.items():
        monkeypatch.setitem(METHODS, name, cls)
    assert "../../escape" not in METHODS
    assert any("../../escape" in str(w.message) and "left out" in str(w.message) for w in caught)
    res = tmp_path / "a" / "b" / "res"
    rc, out, err = run_cli(capsys, "run", "../../escape", "-d", "digits", "--subset", "100", "--results", str(res))
    assert rc == 1 and "Traceback" not in err, err
    assert not list(tmp_path.rglob("*.json")), list(tmp_path.rglob("*.json"))


def test_registry_entry_named_like_a_path_is_refused(capsys, cb_home, tmp_path):
    """A registry.toml entry ["../../regescape"] (a user's entry renamed by hand)."""
    np.savez(tmp_path / "x.npz", X=np.random.default_rng(0).random((40, 3)).astype(np.float32), y=np.arange(40) % 2)
    rc, _, err = run_cli(capsys, "fetch", "--from", str(tmp_path / "x.npz"), "--name", "okname")
    assert rc == 0, err
    reg = cb_home / "registry.toml"
    reg.write_text(reg.read_text().replace("[okname", '["../../regescape"'))
    for args in (["fetch", "../../regescape"], ["run", "kmeans", "-d", "../../regescape"], ["datasets"]):
        rc, out, err = run_cli(capsys, *args)
        assert rc == 1 and "Traceback" not in err, err
        assert "'../../regescape'" in err and "cannot be used" in err, err
    assert "registry.toml" in err  # `datasets` reads the registry: the error says which file
    assert not list(tmp_path.rglob("regescape*"))


def test_record_path_refuses_path_names(tmp_path):
    from clusterbench.errors import ConfigError
    from clusterbench.results.records import record_path

    for method, dataset in (("../x", "digits"), ("kmeans", "/abs"), ("kmeans", "..")):
        with pytest.raises(ConfigError, match="cannot be used"):
            record_path(tmp_path, method, dataset, "0" * 64)


def test_plugin_table_with_a_path_paper_id_is_left_out(entry_points_of, tmp_path, monkeypatch):
    pkg = tmp_path / "site" / "evilplug"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "t.toml").write_text('[paper]\nid = "../../evil"\ntitle = "x"\n')
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    entry_points_of({"tables": {"evil": "evilplug"}})
    from clusterbench.report.spec import load_papers

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        papers = load_papers()
    assert "../../evil" not in papers
    assert any("evil" in str(w.message) and "left out" in str(w.message) for w in caught)


# --------------------------------------------------------------------------- 3. artifacts of records


def _ok_record(home: Path, *, artifacts: dict[str, str], key: str = "a" * 64) -> Path:
    from clusterbench.results.records import RunRecord, write_record

    rec = RunRecord(key=key, method="kmeans", dataset="digits", seed=0, status="ok", config={},
                    metrics={"acc": 0.5}, artifacts=artifacts, created="2026-01-01T00:00:00+00:00")
    return write_record(home, rec)


def _png(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n secret")
    return path


def test_report_all_copies_only_artifacts_inside_the_runs_folder(tmp_path, capsys):
    res = tmp_path / "res"
    secret = _png(tmp_path / "secret.png")
    rec = _ok_record(res, artifacts={"up": "../../../secret.png", "abs": str(secret), "own": "a" * 64 + "/grid.png"})
    _png(rec.with_suffix("") / "grid.png")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rc, out, err = run_cli(capsys, "report", "--all", "--out", str(tmp_path / "rep"), "--results", str(res))
    assert rc == 0, err
    copied = sorted(p.name for p in (tmp_path / "rep" / "figures" / "samples").glob("*.png"))
    assert copied == ["kmeans_digits_s0_own.png"], copied
    msgs = [str(w.message) for w in caught]
    for name in ("'up'", "'abs'"):
        assert any(str(rec) in m and name in m for m in msgs), msgs


def test_merge_refuses_records_whose_artifacts_leave_the_run_folder(tmp_path):
    from clusterbench.results.records import merge_homes

    src, into = tmp_path / "src", tmp_path / "into"
    _png(tmp_path / "secret.png")
    bad = _ok_record(src, artifacts={"up": "../../../secret.png"}, key="b" * 64)
    bad2 = _ok_record(src, artifacts={"abs": str(tmp_path / "secret.png")}, key="c" * 64)
    good = _ok_record(src, artifacts={"grid": f"{'d' * 64}/grid.png"}, key="d" * 64)
    _png(good.with_suffix("") / "grid.png")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rep = merge_homes([src], into)
    assert (rep.added, rep.refused) == (1, 2)
    msgs = [str(w.message) for w in caught]
    assert any(str(bad) in m and "outside the run's folder" in m for m in msgs), msgs
    assert any(str(bad2) in m and "absolute" in m for m in msgs), msgs
    assert (into / "kmeans" / "digits" / f"{'d' * 64}.json").exists()


# --------------------------------------------------------------------------- 4. deeply nested records


@pytest.mark.parametrize("body", ["[" * 100_000 + "]" * 100_000,
                                  '{"key": "x", "config": ' + '{"a": ' * 990 + "1" + "}" * 990 + "}"])
def test_deeply_nested_record_is_skipped_with_a_warning(tmp_path, capsys, body):
    res = tmp_path / "res"
    _ok_record(res, artifacts={})
    deep = res / "kmeans" / "digits" / f"{'e' * 64}.json"
    deep.write_text(body)
    commands = [["runs"], ["summary"], ["report", "-t", "1"], ["report", "--all", "--out", str(tmp_path / "rep")],
                ["merge", str(res), "--into", str(tmp_path / "into")]]
    for args in commands:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            rc, out, err = run_cli(capsys, *args, *(["--results", str(res)] if args[0] != "merge" else []))
        said = err + " ".join(str(w.message) for w in caught)
        assert rc == 0 and "Traceback" not in err and "RecursionError" not in said, (args, err)
        assert str(deep) in said or deep.name in said, (args, said)


# --------------------------------------------------------------------------- 6. Rich markup


def test_error_and_hint_texts_are_not_rich_markup(capsys, tmp_path, monkeypatch):
    grid = tmp_path / "grid.toml"
    grid.write_text('[[datasets]]\nname = "digits"\n[methods.kmeans]\nfoo = 1\n')
    rc, _, err = run_cli(capsys, "check", "--grid", str(grid))
    assert rc == 1 and "[methods.kmeans]" in err, err  # section names were swallowed as markup tags

    monkeypatch.setitem(__import__("sys").modules, "submitit", None)  # not installed
    rc, _, err = run_cli(capsys, "run", "kmeans", "--subset", "100", "--executor", "slurm",
                         "--results", str(tmp_path / "r"))
    assert rc == 1 and "clusterbench[slurm]" in err, err

    rc, _, err = run_cli(capsys, "run", "kmeans", "-d", "[/x]")
    assert rc == 1 and "Unknown data set '[/x]'" in err and "MarkupError" not in err, err


def test_paths_with_brackets_print_as_given(capsys, tmp_path):
    odd = tmp_path / "no[/such]"
    rc, out, err = run_cli(capsys, "runs", "--results", str(odd))
    assert rc == 0 and "MarkupError" not in err, err
    assert "no[/such]" in out.replace("\n", ""), out


# --------------------------------------------------------------------------- 5. full disk


@pytest.fixture
def full_disk_for(monkeypatch):
    """Writes of temporary files whose name starts with ``.<name>.`` go to /dev/full (ENOSPC from
    the kernel, so torch's C++ writer fails too), as on a disk that fills while writing them."""
    import tempfile

    if not os.path.exists("/dev/full"):
        pytest.skip("needs /dev/full (Linux)")
    real = tempfile.mkstemp

    def install(name: str) -> None:
        def mkstemp(suffix=None, prefix=None, dir=None, text=False):
            fd, path = real(suffix=suffix, prefix=prefix, dir=dir, text=text)
            if prefix and prefix.startswith(f".{name}."):
                os.close(fd)
                os.unlink(path)
                os.symlink("/dev/full", path)
                fd = os.open(path, os.O_RDWR)
            return fd, path

        monkeypatch.setattr(tempfile, "mkstemp", mkstemp)

    return install


def test_full_disk_while_saving_model_pt_stops_the_run_naming_the_file(capsys, tmp_path, full_disk_for):
    full_disk_for("model.pt")
    res = tmp_path / "res"
    rc, out, err = run_cli(capsys, "run", "infogan", "--subset", "100", "--set", "epochs=1", "--set", "batch_size=50",
                           "--set", "save_samples=false", "--results", str(res))
    assert rc == 1 and "Traceback" not in err and "unexpected pos" not in err, err
    assert "disk is full" in err and "model.pt" in err, err
    assert not list(res.rglob("*.json")) and not list(res.rglob("*.h5")), list(res.rglob("*"))
    assert not [p for p in res.rglob("*") if p.is_file() and p.stat().st_size == 0]


def test_full_disk_during_merge_leaves_nothing_half_written(capsys, tmp_path, monkeypatch):
    import shutil

    src, into = tmp_path / "src", tmp_path / "into"
    rec = _ok_record(src, artifacts={"grid": f"{'a' * 64}/grid.png"})
    _png(rec.with_suffix("") / "grid.png")
    rec.with_suffix(".h5").write_bytes(b"outputs")
    real = shutil.copyfile

    def copyfile(s, d, *a, **k):
        if str(s).endswith(".png"):  # the disk fills while copying the artifact
            Path(d).write_bytes(b"")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(s, d, *a, **k)

    monkeypatch.setattr(shutil, "copyfile", copyfile)
    rc, out, err = run_cli(capsys, "merge", str(src), "--into", str(into))
    assert rc == 1 and "Traceback" not in err and "shutil.Error" not in err, err
    assert "disk is full" in err and "grid.png" in err, err
    left = [p for p in into.rglob("*")] if into.exists() else []
    assert not [p for p in left if p.is_file()], left  # no sidecar without record, no 0-byte files


def test_full_disk_during_report_all_names_the_file(capsys, tmp_path, monkeypatch):
    res = tmp_path / "res"
    _ok_record(res, artifacts={})
    out_dir = tmp_path / "rep"
    real = Path.write_bytes

    def write_bytes(self, data):
        if self.name.startswith(".table-1.md."):
            real(self, b"")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", write_bytes)
    rc, out, err = run_cli(capsys, "report", "--all", "--out", str(out_dir), "--results", str(res))
    assert rc == 1 and "Traceback" not in err, err
    assert "disk is full" in err and "table-1.md" in err, err
    assert not out_dir.exists() and not list(tmp_path.glob(".rep.*"))


# --------------------------------------------------------------------------- 7. clear errors


@pytest.mark.parametrize("args, said", [
    (["--queries", "0"], "--queries must be at least 1"),
    (["--queries", "-5"], "--queries must be at least 1"),
    (["--split-seed", "-1"], "--split-seed must be >= 0"),
    (["--seeds", "0"], "--seeds must be at least 1"),
    (["--seeds", "-2"], "--seeds must be at least 1"),
    (["--seed-start", "4294967296"], "Seeds must be at most 4294967295"),
])
def test_retrieval_options_are_checked_before_anything_runs(capsys, tmp_path, monkeypatch, args, said):
    from clusterbench import data

    monkeypatch.setattr(data, "load", lambda *a, **k: pytest.fail("data loaded before the options were checked"))
    rc, out, err = run_cli(capsys, "retrieval", "lsh", "--subset", "200", "--bits", "8", *args,
                           "--results", str(tmp_path / "res"))
    assert rc == 1 and said in err and "Traceback" not in err, err
    assert not list(tmp_path.rglob("*.json"))


def test_simclr_options_are_checked_before_the_data_loads(capsys, cb_home, monkeypatch):
    from clusterbench import data

    monkeypatch.setattr(data, "load", lambda *a, **k: pytest.fail("data loaded before the options were checked"))
    for args, said in ((["--set", "batch_size=0"], "batch_size must be at least 1"),
                       (["--seed", "-1"], "--seed must be >= 0"),
                       (["--seed", "4294967296"], "Seeds must be at most")):
        rc, out, err = run_cli(capsys, "simclr", "digits", *args)
        assert rc == 1 and said in err and "Traceback" not in err, (args, err)
    monkeypatch.setitem(__import__("sys").modules, "torchvision", None)  # not installed
    rc, out, err = run_cli(capsys, "simclr", "digits")
    assert rc == 1 and "clusterbench[vision]" in err, err
    assert not list((cb_home / "models").glob("simclr-*")) if (cb_home / "models").exists() else True


def test_simclr_leaves_no_empty_cache_folder(tmp_path, monkeypatch):
    from clusterbench.methods.pretrain import simclr

    def broken(*a, **k):
        raise RuntimeError("the loop failed before its first checkpoint")

    monkeypatch.setattr(simclr, "train", broken)
    X = np.random.default_rng(0).random((8, 3, 32, 32)).astype(np.float32)
    with pytest.raises(RuntimeError):
        simclr.pretrain(X, simclr.SimCLRConfig(epochs=1, batch_size=4), directory=tmp_path)
    assert not list(tmp_path.glob("simclr-*"))


def test_huge_seed_counts_are_refused_in_run_and_check_grids(capsys, tmp_path):
    rc, out, err = run_cli(capsys, "run", "kmeans", "--seeds", "100000000", "--results", str(tmp_path / "r"))
    assert rc == 1 and "--seeds 100000000 is more seeds" in err and "Traceback" not in err, err
    grid = tmp_path / "grid.toml"
    grid.write_text('seeds = 100000000\n[[datasets]]\nname = "digits"\n')
    rc, out, err = run_cli(capsys, "check", "--grid", str(grid), "--results", str(tmp_path / "c"))
    assert rc == 1 and "more seeds" in err and "Traceback" not in err, err


# --------------------------------------------------------------------------- 8. refused at plan time


@pytest.mark.parametrize("sets, said", [
    (["--set", "variant=cifar10"], "takes 3 x 32 x 32 images"),
])
def test_dc3_gan_options_that_cannot_work_are_refused_at_plan_time(capsys, tmp_path, sets, said):
    res = tmp_path / "res"
    rc, out, err = run_cli(capsys, "run", "dc3-gan", "--subset", "100", *sets, "--results", str(res))
    assert rc == 1 and said in err and "Traceback" not in err, err
    assert not list(res.rglob("*.json"))  # no failed record: nothing ran


def test_missing_simclr_checkpoint_is_refused_at_plan_time(capsys, tmp_path):
    from clusterbench.runner.spec import data_kind  # noqa: F401  (the plan reads the kind only)

    res = tmp_path / "res"
    # cifar10-shaped data of the user's own: 3 x 32 x 32 images
    X = np.random.default_rng(0).random((40, 3, 32, 32)).astype(np.float32)
    np.savez(tmp_path / "c.npz", X=X, y=np.arange(40) % 2)
    assert run_cli(capsys, "fetch", "--from", str(tmp_path / "c.npz"), "--name", "tiny32")[0] == 0
    rc, out, err = run_cli(capsys, "run", "dc3-gan", "-d", "tiny32", "--set", "variant=cifar10",
                           "--set", f"simclr={tmp_path / 'missing.pt'}", "--set", "weight_decay=0",
                           "--results", str(res))
    assert rc == 1 and "missing.pt does not exist" in err and "Traceback" not in err, err
    assert not list(res.rglob("*.json"))


def test_check_grid_with_an_unknown_method_is_refused(capsys, tmp_path):
    grid = tmp_path / "grid.toml"
    grid.write_text('[[datasets]]\nname = "digits"\n[methods.kmeens]\nseeds = 1\n')
    rc, out, err = run_cli(capsys, "check", "--grid", str(grid), "--results", str(tmp_path / "c"))
    assert rc == 1 and "[methods.kmeens] names no method" in err and "kmeans" in err, err


# --------------------------------------------------------------------------- 9. plug-ins that are no method


def test_plugin_that_is_not_a_method_is_left_out_with_a_warning(entry_points_of, capsys, tmp_path):
    from clusterbench.methods.base import Method
    from clusterbench.plugins import load_methods

    entry_points_of({"methods": {"notamethod": "clusterbench.errors:suggest", "alsonot": "clusterbench.errors"}})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # as clusterbench.methods builds METHODS (d707f52's load_methods took no argument)
        methods = load_methods(Method) if "base" in inspect.signature(load_methods).parameters else load_methods()
    assert "notamethod" not in methods and "alsonot" not in methods and "kmeans" in methods
    assert any("'notamethod'" in str(w.message) and "left out" in str(w.message) for w in caught)
    assert any("'alsonot'" in str(w.message) and "left out" in str(w.message) for w in caught)


# --------------------------------------------------------------------------- 10. small ones


@pytest.fixture
def locked_folder(tmp_path, monkeypatch):
    """A folder this user may not enter (simulated: the tests may run as root, who may)."""
    locked = tmp_path / "locked"
    locked.mkdir()
    for meth in ("exists", "is_file", "is_dir", "stat"):
        real = getattr(Path, meth)

        def fake(self, *a, _real=real, **k):
            if str(self).startswith(str(locked) + os.sep):
                raise PermissionError(errno.EACCES, "Permission denied", str(self))
            return _real(self, *a, **k)

        monkeypatch.setattr(Path, meth, fake)
    return locked


@pytest.mark.parametrize("args", [["--name", "mine"], ["usps"]])
def test_fetch_from_an_unreadable_folder_says_it_cannot_be_read(capsys, locked_folder, args):
    rc, out, err = run_cli(capsys, "fetch", *(["--from", str(locked_folder / "x.npz")] + args
                                               if args[0] == "--name" else [*args, "--from", str(locked_folder / "usps.bz2")]))
    assert rc == 1 and "Traceback" not in err, err
    assert "cannot be read" in err and "Cannot write" not in err, err


def test_csv_renamed_npz_is_not_called_pickled_data(capsys, tmp_path):
    f = tmp_path / "data.npz"
    f.write_text("label,a,b\n0,1,2\n1,3,4\n0,2,2\n1,5,5\n")
    rc, out, err = run_cli(capsys, "fetch", "--from", str(f), "--name", "mine")
    assert rc == 1 and "not an .npz archive" in err and "CSV" in err, err
    assert "allow_pickle" not in err and "pickled" not in err, err


def test_fetch_weights_hints_name_fetch_weights_and_plural_is_right(capsys, tmp_path, monkeypatch):
    import dataclasses

    from clusterbench.evaluate import weights

    fs = weights.WEIGHTS["inception-fid"]  # no network: a loopback port that refuses
    monkeypatch.setitem(weights.WEIGHTS, "inception-fid", dataclasses.replace(fs, urls=("http://127.0.0.1:9/" + fs.name,)))
    monkeypatch.setenv("CLUSTERBENCH_DOWNLOAD_RETRIES", "0")
    rc, out, err = run_cli(capsys, "fetch-weights", "inception-fid", "--mirror", str(tmp_path))
    assert rc == 1 and "clusterbench fetch-weights inception-fid" in err, err
    assert "clusterbench fetch inception-fid" not in err, err
    rc, out, err = run_cli(capsys, "fetch-weights", "inceptoin-fid")
    assert rc == 1 and "Valid weights:" in err and "weightss" not in err, err
