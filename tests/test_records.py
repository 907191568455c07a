"""Run records: outputs sidecar, recomputing metrics without retraining, merging results homes."""

from __future__ import annotations

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
    write_record(a, _rec("k1", "ok", "2026-01-01T00:00:00+00:00"))
    write_record(b, _rec("k1", "failed", "2026-02-01T00:00:00+00:00", error="X: y"))
    # k2: both ok -> the newer wins
    write_record(a, _rec("k2", "ok", "2026-01-01T00:00:00+00:00", acc=0.1))
    write_record(b, _rec("k2", "ok", "2026-03-01T00:00:00+00:00", acc=0.9))
    # k3: only in b, with outputs and an artifact folder
    p3 = write_record(b, _rec("k3"))
    write_outputs(p3, proba=np.eye(3), y=np.arange(3))
    (p3.with_suffix("") / "samples.png").parent.mkdir()
    (p3.with_suffix("") / "samples.png").write_bytes(b"png")
    rep = merge_homes([a, b], into)
    assert (rep.added, rep.replaced, rep.kept, rep.sources) == (3, 1, 1, 2)
    got = {r.key: r for _, r in iter_records(into)}
    assert got["k1"].status == "ok" and got["k2"].metrics["acc"] == 0.9
    assert (into / "m" / "d" / "k3.h5").exists() and (into / "m" / "d" / "k3" / "samples.png").read_bytes() == b"png"
    # merging again changes nothing
    rep = merge_homes([a, b], into)
    assert (rep.added, rep.replaced, rep.kept) == (0, 0, 5)
    assert len(list(iter_records(into))) == 3


def test_merge_cli(tmp_path, capsys):
    from clusterbench.cli import main

    write_record(tmp_path / "a", _rec("k1"))
    write_record(tmp_path / "b", _rec("k2"))
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
