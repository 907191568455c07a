"""Run records: outputs sidecar, recomputing metrics without retraining, merging results homes."""

from __future__ import annotations

import hashlib
import json
import warnings

import numpy as np
import pytest
from runner_methods import TEST_METHODS

from clusterbench.errors import DataError
from clusterbench.fsutil import write_json_atomic
from clusterbench.metrics import record_metrics
from clusterbench.results.records import (
    RunRecord,
    iter_records,
    merge_homes,
    read_outputs,
    read_record,
    recompute_metrics,
    record_path,
    records_frame,
    write_outputs,
    write_record,
)


@pytest.fixture(autouse=True)
def test_methods(monkeypatch):
    from clusterbench.methods import METHODS

    for name, cls in TEST_METHODS.items():
        monkeypatch.setitem(METHODS, name, cls)


#: 64-hex run keys (merge refuses anything else)
K = {n: hashlib.sha256(n.encode()).hexdigest() for n in ("k1", "k2", "k3")}


def _rec(key="k1", status="ok", created="2026-01-01T00:00:00+00:00", acc=0.5, **kw):
    return RunRecord(key=key, method="m", dataset="d", seed=0, status=status, config={},
                     metrics={"acc": acc} if status == "ok" else {}, created=created, **kw)


def test_recompute_metrics_from_stored_outputs(tmp_path):
    from clusterbench.runner import execute_run, expand_grid

    spec, = expand_grid(["tinykmeans"], ["digits"], subset=300)
    rec = execute_run(spec, tmp_path)
    path = record_path(tmp_path, rec.method, rec.dataset, rec.key)
    assert recompute_metrics(path) == pytest.approx(rec.metrics)
    # tamper with the stored metrics: recompute restores them from the posteriors alone
    d = json.loads(path.read_text())
    d["metrics"] = {"acc": 0.0}
    write_json_atomic(path, d)
    recompute_metrics(path, update=True)
    assert read_record(path).metrics == pytest.approx(rec.metrics)


def test_outputs_round_trip_and_missing(tmp_path):
    rng = np.random.default_rng(0)
    proba = rng.dirichlet(np.ones(4), size=50)
    y = rng.integers(0, 4, 50)
    f = tmp_path / "m" / "d" / "k.json"
    write_record(tmp_path, _rec(key="k"))
    write_outputs(f, proba=proba, y=y, embedding=proba[:, :2])
    out = read_outputs(f)
    assert np.allclose(out["proba"], proba, atol=1e-6) and np.array_equal(out["y"], y) and out["embedding"].shape == (50, 2)
    assert record_metrics(out["y"], out["proba"]) == recompute_metrics(f)
    assert not [p for p in f.parent.iterdir() if p.name.startswith(".")]  # no temp files left
    write_record(tmp_path, _rec(key="nope"))
    with pytest.raises(DataError, match="no stored outputs"):
        recompute_metrics(tmp_path / "m" / "d" / "nope.json")


def test_merge_without_duplicates(tmp_path):
    a, b, into = tmp_path / "a", tmp_path / "b", tmp_path / "into"
    # k1: ok in a, failed (newer) in b -> ok wins
    write_record(a, _rec(K["k1"], "ok", "2026-01-01T00:00:00+00:00"))
    write_record(b, _rec(K["k1"], "failed", "2026-02-01T00:00:00+00:00", error="X: y"))
    # k2: both ok -> the newer wins
    write_record(a, _rec(K["k2"], "ok", "2026-01-01T00:00:00+00:00", acc=0.1))
    write_record(b, _rec(K["k2"], "ok", "2026-03-01T00:00:00+00:00", acc=0.9))
    # k3: only in b, with outputs and an artifact folder
    p3 = write_record(b, _rec(K["k3"]))
    write_outputs(p3, proba=np.eye(3), y=np.arange(3))
    (p3.with_suffix("") / "samples.png").parent.mkdir()
    (p3.with_suffix("") / "samples.png").write_bytes(b"png")
    rep = merge_homes([a, b], into)
    assert (rep.added, rep.replaced, rep.kept, rep.sources) == (3, 1, 1, 2)
    got = {r.key: r for _, r in iter_records(into)}
    assert got[K["k1"]].status == "ok" and got[K["k2"]].metrics["acc"] == 0.9
    assert (into / "m" / "d" / f"{K['k3']}.h5").exists() and (into / "m" / "d" / K["k3"] / "samples.png").read_bytes() == b"png"
    # merging again changes nothing
    rep = merge_homes([a, b], into)
    assert (rep.added, rep.replaced, rep.kept) == (0, 0, 5)
    assert len(list(iter_records(into))) == 3


def test_merge_cli(tmp_path, capsys):
    from clusterbench.cli import main

    write_record(tmp_path / "a", _rec(K["k1"]))
    write_record(tmp_path / "b", _rec(K["k2"]))
    main(["merge", str(tmp_path / "a"), str(tmp_path / "b"), "--into", str(tmp_path / "c")])
    out = capsys.readouterr().out
    assert "2 added" in out and len(list(iter_records(tmp_path / "c"))) == 2
    with pytest.raises(SystemExit) as e:
        main(["merge", str(tmp_path / "missing"), "--into", str(tmp_path / "c")])
    assert e.value.code == 1 and "not a directory" in capsys.readouterr().err


def test_frame_counts_failed_runs_without_values(tmp_path):
    write_record(tmp_path, _rec("k1", acc=0.7))
    write_record(tmp_path, _rec("k2", "failed", error="E: x"))
    (tmp_path / "m" / "d" / "bad.json").write_text("{not json")
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        df = records_frame(tmp_path)
    assert any("bad.json" in str(x.message) for x in w)
    assert df[df.status == "ok"].value.tolist() == [0.7]
    assert df[df.status == "failed"].value.isna().all()


# --- issue 15 class 1: merge never writes or deletes outside --into -------------------------


def _evil_record(src, *, key, method="m", dataset="d", folder=("m", "d", "x")):
    """A record file at ``src/<folder>.json`` whose own fields say ``key``/``method``/``dataset``,
    with an artifact folder beside it (what _copy_run used to rmtree at the destination)."""
    f = src.joinpath(*folder).with_suffix(".json")
    f.parent.mkdir(parents=True, exist_ok=True)
    d = _rec(key=K["k1"]).to_dict()
    d.update(key=key, method=method, dataset=dataset)
    f.write_text(json.dumps(d))
    art = f.with_suffix("")
    art.mkdir()
    (art / "a.png").write_bytes(b"x")
    return f


@pytest.mark.parametrize("fields", [
    {"key": "../../../victim"},                                   # traversal through the key
    {"method": "..", "folder": ("m", "d", K["k1"]), "key": K["k1"]},  # through the method name
    {"method": "m/../..", "folder": ("m", "d", K["k1"]), "key": K["k1"]},
    {"dataset": "../../victim", "folder": ("m", "d", K["k1"]), "key": K["k1"]},
    {"key": K["k2"], "folder": ("m", "d", K["k1"])},               # fields disagree with the layout
])
def test_merge_refuses_paths_outside_the_target(tmp_path, fields):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious.txt").write_text("keep me")
    (tmp_path / "victim.json").write_text("keep me too")
    evil, into = tmp_path / "evil", tmp_path / "t" / "into"
    into.parent.mkdir()
    _evil_record(evil, **fields)
    write_record(evil, _rec(K["k3"]))  # a sane record beside it still merges
    before = sorted(str(p) for p in tmp_path.rglob("*") if not str(p).startswith(str(evil)))
    # refused by merge, or (a method/data set name that is not one path component) skipped as
    # corrupt by the record schema before merge sees it (issue 27)
    with pytest.warns(UserWarning, match="not merging the run record|skipping corrupt run record"):
        rep = merge_homes([evil], into)
    assert rep.added == 1 and rep.refused in (0, 1)
    assert (victim / "precious.txt").read_text() == "keep me"
    assert (tmp_path / "victim.json").read_text() == "keep me too"
    after = sorted(str(p) for p in tmp_path.rglob("*") if not str(p).startswith(str(evil)))
    new = [p for p in after if p not in before]
    assert all(p.startswith(str(into)) for p in new), new


def test_merge_refuses_symlinks(tmp_path):
    """A symlinked destination folder (into/m -> elsewhere) or a symlinked artifact folder in the
    source is refused; the symlink's target is neither written nor deleted."""
    outside = tmp_path / "outside"
    (outside / "d").mkdir(parents=True)
    into = tmp_path / "into"
    into.mkdir()
    (into / "m").symlink_to(outside)
    src = tmp_path / "src"
    p = write_record(src, _rec(K["k1"]))
    (p.with_suffix("")).mkdir()
    with pytest.warns(UserWarning, match="outside"):
        rep = merge_homes([src], into)
    assert rep.refused == 1 and list((outside / "d").iterdir()) == []
    # a source artifact folder that is a link to a private folder
    src2, into2 = tmp_path / "src2", tmp_path / "into2"
    p2 = write_record(src2, _rec(K["k2"]))
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "id_rsa").write_text("s")
    p2.with_suffix("").symlink_to(secret)
    with pytest.warns(UserWarning, match="symbolic link"):
        rep = merge_homes([src2], into2)
    assert rep.refused == 1 and not (into2 / "m" / "d" / K["k2"]).exists()


def test_merge_cli_names_refused(tmp_path, capsys):
    from clusterbench.cli import main

    _evil_record(tmp_path / "evil", key="../../../victim")
    with pytest.warns(UserWarning):
        main(["merge", str(tmp_path / "evil"), "--into", str(tmp_path / "c")])
    assert "1 refused" in " ".join(capsys.readouterr().out.split())


# --- issue 15 class 4: one bad record never takes down the results home -----------------------


BAD_RECORDS = {
    "null": "null",
    "list": "[]",
    "metrics_string": {"metrics": "0.9"},
    "acc_null": {"metrics": {"acc": None}},
    "seed_string": {"seed": "0"},
    "status_other": {"status": "done"},
    "history_dict": {"history": {"a": 1}},
    "not_json": "{not json",
}


def _write_bad(home, name, content):
    f = home / "m" / "d" / f"{K['k2']}.json"
    f.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, dict):
        d = _rec(K["k2"]).to_dict()
        d.update(content)
        content = json.dumps(d)
    f.write_text(content)
    return f


@pytest.mark.parametrize("name", list(BAD_RECORDS))
def test_invalid_record_is_skipped_with_a_warning_naming_file_and_problem(tmp_path, name):
    write_record(tmp_path, _rec(K["k1"]))
    bad = _write_bad(tmp_path, name, BAD_RECORDS[name])
    with pytest.warns(UserWarning) as w:
        recs = list(iter_records(tmp_path))
        frame = records_frame(tmp_path)
    assert [r.key for _, r in recs] == [K["k1"]] and set(frame["key"]) == {K["k1"]}
    msg = str(w[0].message)
    assert str(bad) in msg and "corrupt run record" in msg
    assert any(word in msg for word in ("field", "null", "list", "JSON")), msg


@pytest.mark.parametrize("name", ["null", "acc_null", "metrics_string"])
def test_runs_cli_lists_the_rest_and_warns(tmp_path, capsys, name):
    from clusterbench.cli import main

    write_record(tmp_path, _rec(K["k1"]))
    bad = _write_bad(tmp_path, name, BAD_RECORDS[name])
    main(["runs", "--results", str(tmp_path)])
    cap = capsys.readouterr()
    assert "1 run record(s)" in cap.out and bad.name in " ".join(cap.err.split()).replace(" ", "")
    assert "Traceback" not in cap.err


@pytest.mark.parametrize("name", ["null", "list", "acc_null"])
def test_run_treats_an_invalid_record_as_not_done(tmp_path, capsys, name):
    """``run`` reruns a run whose record is invalid and overwrites it with a valid one."""
    from clusterbench.cli import main
    from clusterbench.runner import expand_grid

    spec, = expand_grid(["tinykmeans"], ["digits"], subset=100)
    f = record_path(tmp_path, spec.method, spec.dataset, spec.key)
    f.parent.mkdir(parents=True)
    content = BAD_RECORDS[name]
    if isinstance(content, dict):  # an "ok" record of this very run, with acc null
        d = RunRecord(key=spec.key, method=spec.method, dataset=spec.dataset, seed=0, status="ok", config={}).to_dict()
        content = json.dumps({**d, **content})
    f.write_text(content)
    main(["run", "tinykmeans", "--subset", "100", "--results", str(tmp_path)])
    assert read_record(f).status == "ok" and isinstance(read_record(f).metrics["acc"], float)
    assert "skipping" not in capsys.readouterr().out


def test_recompute_on_invalid_record_is_a_one_paragraph_error(tmp_path):
    bad = _write_bad(tmp_path, "null", "null")
    with pytest.raises(DataError, match="not a record object"):
        recompute_metrics(bad)
