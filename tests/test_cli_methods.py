"""``clusterbench methods [NAME]``: every registered method, and every --set key of one."""

from __future__ import annotations

import dataclasses
import json

from cli_helper import run_cli

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
    assert "k-means" in opts["cluster_init"]["doc"]  # the docstring line that explains it


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
