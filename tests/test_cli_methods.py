"""``clusterbench methods [NAME]``: every registered method, and every --set key of one."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from cli_helper import run_cli

from clusterbench.cli.methods import catalog, field_help, option_rows
from clusterbench.methods import METHODS


def test_methods_lists_every_registered_method_with_capabilities(capsys):
    rc, out, _ = run_cli(capsys, "methods", "--json")
    assert rc == 0
    rows = {r["method"]: r for r in json.loads(out)}
    assert set(rows) == set(METHODS)
    assert rows["kmeans"]["kind"] == "classical" and rows["dual-aae"]["kind"] == "deep"
    assert rows["dual-aae"]["generative"] is True
    assert any(t.startswith("dual-aae Table") for t in rows["dual-aae"]["tables"])


def test_methods_name_shows_every_set_key_with_type_default_and_doc(capsys):
    rc, out, _ = run_cli(capsys, "methods", "dual-aae", "--json")
    assert rc == 0
    opts = {o["key"]: o for o in json.loads(out)["options"]}
    assert set(opts) == {f.name for f in dataclasses.fields(METHODS["dual-aae"].Config)}
    assert opts["epochs"]["type"] == "int" and opts["epochs"]["default"] == 300
    assert "kmeans" in opts["cluster_init"]["type"]
    assert opts["cluster_init"]["doc"] == field_help(METHODS["dual-aae"].Config, "cluster_init")  # declared beside it
    assert "kmeans-code" in opts["cluster_init"]["doc"]


def test_every_set_key_of_every_method_has_its_own_one_line_help():
    missing, long_ = [], []
    for name, cls in METHODS.items():
        for r in option_rows(cls):
            if not r["doc"].strip():
                missing.append(f"{name}.{r['key']}")
            elif "\n" in r["doc"] or len(r["doc"]) > 100:
                long_.append(f"{name}.{r['key']}")
    assert not missing, f"--set keys without help metadata: {missing}"
    assert not long_, f"help that is not one short line: {long_}"


def test_a_redeclared_field_inherits_its_bases_help():
    assert field_help(METHODS["aae"].Config, "pretrain_epochs")  # declared in AEConfig, not AAE.Config
    assert field_help(METHODS["aae"].Config, "epochs") == "training epochs after the pre-training"


def test_methods_lists_without_importing_torch_once_described(tmp_path, cb_home):
    """The listing reads the cached description (written by the first listing or by `run`):
    no method module, torch or scikit-learn is imported."""
    catalog()  # in this process (methods imported already): writes the cache of this code version
    assert list((cb_home / "cache").glob("methods-*.json"))
    code = ("import sys, time; from clusterbench.cli import main\n"
            "for args in (['methods'], ['methods', 'dual-aae'], ['methods', '--json']):\n"
            "    try:\n        main(args)\n    except SystemExit as e:\n        assert e.code in (0, None), e\n"
            "bad = [m for m in ('torch', 'sklearn', 'clusterbench.methods') if m in sys.modules]\n"
            "assert not bad, bad\n")
    env = {**os.environ, "CLUSTERBENCH_HOME": str(cb_home), "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    wall = time.perf_counter() - t0
    assert p.returncode == 0, p.stderr[-2000:]
    assert "dual-aae" in p.stdout and "cluster_init" in p.stdout
    print(f"3 listings without torch in {wall:.2f} s")  # the figure; not asserted (shared CI cores)


def test_a_changed_source_describes_the_methods_afresh(cb_home, monkeypatch):
    import clusterbench.cli.methods as M

    monkeypatch.setattr(M, "_digest", lambda: "aaaa")
    catalog()
    (cb_home / "cache" / "methods-aaaa.json").write_text("{not json", encoding="utf-8")  # torn file: rebuilt
    assert catalog()["kmeans"]["options"][0]["key"] == "n_init"
    monkeypatch.setattr(M, "_digest", lambda: "bbbb")
    catalog()
    assert [p.name for p in (cb_home / "cache").glob("methods-*.json")] == ["methods-bbbb.json"]


def test_methods_unknown_name_is_one_paragraph_error(capsys):
    rc, out, err = run_cli(capsys, "methods", "dual-aee")
    assert rc == 1 and "dual-aae" in err and "Traceback" not in err


def test_help_shows_flags_as_flags_defaults_examples_and_environment(capsys):
    rc, out, _ = run_cli(capsys, "--help")
    assert rc == 0 and "CLUSTERBENCH_HOME" in out and "CLUSTERBENCH_RESULTS" in out and "Examples:" in out
    rc, out, _ = run_cli(capsys, "runs", "--help")
    assert "--json " in out and "<bool>" not in out  # a flag, not an option taking a value
    rc, out, _ = run_cli(capsys, "run", "--help")
    assert "[default:" in out and "digits" in out  # not swallowed as markup
    rc, _, err = run_cli(capsys, "runs", "--json", "true")
    assert rc == 2  # flags take no value
