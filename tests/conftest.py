"""Shared fixtures: every test runs with its own clusterbench home (no network, no user state)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def cb_home(tmp_path, monkeypatch):
    """An empty CLUSTERBENCH_HOME per test."""
    home = tmp_path / "cbhome"
    monkeypatch.setenv("CLUSTERBENCH_HOME", str(home))
    monkeypatch.delenv("CLUSTERBENCH_RESULTS", raising=False)
    return home


def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist (``-n 2 --dist loadgroup``) every Slurm test runs on one worker, so one
    private cluster serves them all; other tests are spread over the workers."""
    if not config.pluginmanager.hasplugin("xdist"):
        return
    for item in items:
        if item.get_closest_marker("slurm") is not None:
            item.add_marker(pytest.mark.xdist_group("slurm"))
