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
