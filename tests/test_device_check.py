"""benchmarks/device_check.py runs on the CPU with --quick (so it cannot rot before a GPU runs it)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import device_check


def test_quick_device_check_writes_its_report(tmp_path, monkeypatch):
    monkeypatch.delenv("CLUSTERBENCH_QUIET", raising=False)
    threads = torch.get_num_threads()
    try:
        rc = device_check.main(["--quick", "--only", "wgan-gp,dual-aae", "--steps", "1", "--minutes", "0.02",
                                "--out", str(tmp_path)])
    finally:
        torch.set_num_threads(threads)
    # in-process: it silences the loop while it runs and leaves the environment as it was (a leaked
    # CLUSTERBENCH_QUIET silenced later tests' progress lines in the same pytest worker)
    assert "CLUSTERBENCH_QUIET" not in os.environ
    report = json.loads((tmp_path / "device_check.json").read_text())
    assert rc == 0
    assert [r["case"] for r in report["methods"]] == ["wgan-gp", "dual-aae"]  # the order --only asks for
    for r in report["methods"]:
        assert r["ok"] and r["finite"] and r["max_rel_diff"] == 0.0
        assert r["syncs_per_step"] == 0.0 and r["projected_paper_minutes"] > 0
        assert all(s and s > 0 for s in r["steps_per_second"].values())
        cap = r["captured"]  # capture=graph timed after every control path was captured (the CPU's tape)
        assert "skipped" not in cap and all(s and s > 0 for s in cap["steps_per_second"].values())
        assert cap["projected_paper_minutes"] > 0
    d = report["dual_aae"]
    assert d["data"] == "digits" and d["pretrain_epochs"] >= 1 and 0 <= d["final_acc"] <= 1
    assert any(h["acc"] is not None for h in d["history"])
    assert "| dual-aae |" in (tmp_path / "device_check.md").read_text()


def test_cpu_random_gives_the_same_draws_on_any_device():
    """The first-step comparison rests on this: draws come from the CPU generator."""
    outs = []
    for _ in range(2):
        torch.manual_seed(3)
        with device_check.CPURandom():
            x = torch.empty(4).uniform_(0, 1)
            outs.append(torch.cat([torch.randn(3, device="cpu"), torch.rand_like(x), x,
                                   torch.nn.functional.dropout(torch.ones(5), 0.5)]))
    assert torch.equal(outs[0], outs[1])
