"""``clusterbench check``: a tiny grid (digits subset x real kmeans), references written by
``--update`` from a real run, then tampered with to make the check fail."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from clusterbench.errors import ConfigError
from clusterbench.methods.base import Method
from clusterbench.runner.check import load_grid, method_plan, parse_grid
from cli_helper import run_cli as cli

TINY = """
seeds = 2
jobs = 1
device = "cpu"

[[datasets]]
name = "digits"
subset = 400

[[datasets]]
name = "fashion-mnist"
subset = 200
mirror = "{mirror}"

[deep.set]
"epochs" = 2
"*_epochs" = 1

[methods.kmeans]
set = {{ n_init = 1 }}

[tolerances]
acc = 0.02
nmi = 0.02
ari = 0.03
"""


@pytest.fixture
def only_kmeans(monkeypatch):
    """METHODS reduced to the real kmeans baseline (the check runs every registered method)."""
    from clusterbench.methods import METHODS

    for name in list(METHODS):
        if name != "kmeans":
            monkeypatch.delitem(METHODS, name)


@pytest.fixture
def grid(tmp_path):
    p = tmp_path / "grid.toml"
    p.write_text(TINY.format(mirror=tmp_path / "no-such-mirror"))  # fashion-mnist: skipped with a note
    return p




def refs(ref: Path) -> list[Path]:
    return sorted(ref.glob("*/*/*.json"))


def test_update_writes_references_then_clean_run_passes(capsys, grid, tmp_path, only_kmeans):
    ref = tmp_path / "ref"
    rc, out, err = cli(capsys, "check", "--grid", str(grid), "--reference", str(ref), "--update")
    assert rc == 0, out + err
    assert "fashion-mnist" in err and "skipped" in err          # absent mirror: a note, not a failure
    files = refs(ref)
    assert len(files) == 2 and {f.parent.name for f in files} == {"digits"}
    recs = [json.loads(f.read_text()) for f in files]
    assert {r["seed"] for r in recs} == {0, 1} and all(r["status"] == "ok" and r["subset"] == 400 for r in recs)
    assert all(r["config"]["n_init"] == 1 and 0.3 < r["metrics"]["acc"] <= 1 for r in recs)
    assert not list(tmp_path.glob(".ref.*"))                     # staging folders cleaned up

    rc, out, err = cli(capsys, "check", "--grid", str(grid), "--reference", str(ref))
    assert rc == 0, out + err
    assert "Check passed" in out and "0 regressed" in out

    # references of a data set skipped here (no mirror) are neither compared nor dropped by --update
    other = ref / "kmeans" / "fashion-mnist" / files[0].name
    other.parent.mkdir()
    d = json.loads(files[0].read_text())
    d.update(dataset="fashion-mnist", subset=200)
    other.write_text(json.dumps(d))
    assert cli(capsys, "check", "--grid", str(grid), "--reference", str(ref))[0] == 0
    assert cli(capsys, "check", "--grid", str(grid), "--reference", str(ref), "--update")[0] == 0
    assert other.exists() and len(refs(ref)) == 3


def test_tampered_reference_is_a_regression(capsys, grid, tmp_path, only_kmeans):
    ref = tmp_path / "ref"
    assert cli(capsys, "check", "--grid", str(grid), "--reference", str(ref), "--update")[0] == 0
    for f in refs(ref):  # the reference claims 0.05 more ACC than the code reaches (band 0.02)
        d = json.loads(f.read_text())
        d["metrics"]["acc"] += 0.05
        f.write_text(json.dumps(d))
    rc, out, err = cli(capsys, "check", "--grid", str(grid), "--reference", str(ref))
    assert rc == 1
    line = next(ln for ln in out.splitlines() if "REGRESSED" in ln)
    assert "kmeans" in line and "acc" in line and "-0.0500" in line
    assert "nmi" not in " ".join(ln for ln in out.splitlines() if "REGRESSED" in ln)  # only acc moved
    assert "Regression" in out

    # a shift in the good direction beyond the band is "improved": reported, not a failure
    for f in refs(ref):
        d = json.loads(f.read_text())
        d["metrics"]["acc"] -= 0.10
        f.write_text(json.dumps(d))
    rc, out, err = cli(capsys, "check", "--grid", str(grid), "--reference", str(ref))
    assert rc == 0 and "improved" in out and "stale" in out


def test_missing_reference_is_new_and_missing_run_fails(capsys, grid, tmp_path, only_kmeans):
    ref = tmp_path / "ref"
    rc, out, err = cli(capsys, "check", "--grid", str(grid), "--reference", str(ref))
    assert rc == 0, out + err                                    # no reference at all: new, not a failure
    assert "New, no reference" in out and "kmeans" in out and "--update" in out

    # a reference whose run no longer exists (method gone / config changed) must fail
    assert cli(capsys, "check", "--grid", str(grid), "--reference", str(ref), "--update")[0] == 0
    f = refs(ref)[0]
    d = json.loads(f.read_text())
    d["method"] = "oldmethod"
    (ref / "oldmethod" / "digits").mkdir(parents=True)
    (ref / "oldmethod" / "digits" / f.name).write_text(json.dumps(d))
    rc, out, err = cli(capsys, "check", "--grid", str(grid), "--reference", str(ref))
    assert rc == 1 and "MISSING" in out and "oldmethod" in out


def test_failed_run_fails_and_update_refuses(capsys, grid, tmp_path, only_kmeans, monkeypatch):
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from runner_methods import Crashes

    from clusterbench.methods import METHODS

    ref = tmp_path / "ref"
    assert cli(capsys, "check", "--grid", str(grid), "--reference", str(ref), "--update")[0] == 0
    before = {f.name for f in refs(ref)}
    monkeypatch.setitem(METHODS, "crashes", Crashes)
    rc, out, err = cli(capsys, "check", "--grid", str(grid), "--reference", str(ref))
    assert rc == 1 and "Failed runs" in out and "boom" in out
    rc, out, err = cli(capsys, "check", "--grid", str(grid), "--reference", str(ref), "--update")
    assert rc == 1 and "--update refused" in err
    assert {f.name for f in refs(ref)} == before                 # references untouched


def test_deep_rule_reaches_every_deep_method():
    @dataclass
    class Cfg:
        epochs: int = 300
        pretrain_epochs: int = 10
        warmup_epochs: int = 0
        lr: float = 1e-3

    class FakeDeep(Method):
        name = "fakedeep"
        Config = Cfg
        deep = True

    g = load_grid()  # the packaged grid
    mp = method_plan(g, "fakedeep", FakeDeep)
    assert mp.overrides == {"epochs": 2, "pretrain_epochs": 1, "warmup_epochs": 0}  # a cap: 0 stays 0
    assert mp.tolerances["acc"] == g.deep.tolerances["acc"] > g.tolerances["acc"]
    assert mp.datasets == g.deep.datasets and mp.seeds == g.deep.seeds
    kp = method_plan(g, "kmeans", __import__("clusterbench.methods", fromlist=["METHODS"]).METHODS["kmeans"])
    assert set(kp.datasets) == {"digits", "fashion-mnist"} and kp.tolerances["acc"] == g.tolerances["acc"]
    from clusterbench.methods import METHODS

    for name, cls in METHODS.items():  # every registered method gets a valid config from the grid
        from clusterbench.methods.base import make_config

        make_config(cls.Config, method_plan(g, name, cls).overrides, method=name)


def test_bad_grid_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="unknown key"):
        parse_grid({"seed": 2, "datasets": [{"name": "digits"}]})
    with pytest.raises(ConfigError, match="not in the grid"):
        parse_grid({"datasets": [{"name": "digits"}], "methods": {"kmeans": {"datasets": ["mnist"]}}})
    bad = tmp_path / "g.toml"
    bad.write_text("seeds = [")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_grid(bad)
