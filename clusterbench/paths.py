"""Where clusterbench keeps its files.

The *home* defaults to the per-user cache directory (``platformdirs.user_cache_dir``) and is
overridden by the ``CLUSTERBENCH_HOME`` environment variable::

    $CLUSTERBENCH_HOME/
      raw/<raw-dir>/...      downloaded raw files, verified, reused while intact
      data/<name>.h5         preprocessed data sets (the HDF5 contract, see data/hdf5.py)
      registry.toml          data sets registered by the user (``fetch --from FILE --name NAME``)
      runs/                  the results home: one JSON record per run (overridable, see below)
      models/                cached helper models and downloaded weights

``CLUSTERBENCH_RESULTS`` overrides the results home alone.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs


def home() -> Path:
    """The clusterbench home directory (created on demand)."""
    env = os.environ.get("CLUSTERBENCH_HOME")
    root = Path(env).expanduser() if env else Path(platformdirs.user_cache_dir("clusterbench"))
    root.mkdir(parents=True, exist_ok=True)
    return root


def _sub(name: str) -> Path:
    p = home() / name
    p.mkdir(parents=True, exist_ok=True)
    return p


def raw_dir(name: str) -> Path:
    """Folder of the raw files of one data set (``raw/<name>``)."""
    p = _sub("raw") / name
    p.mkdir(parents=True, exist_ok=True)
    return p


def data_dir() -> Path:
    return _sub("data")


def dataset_file(name: str) -> Path:
    """The preprocessed HDF5 file of data set ``name``."""
    return data_dir() / f"{name}.h5"


def user_registry_file() -> Path:
    return home() / "registry.toml"


def results_home() -> Path:
    env = os.environ.get("CLUSTERBENCH_RESULTS")
    p = Path(env).expanduser() if env else home() / "runs"
    p.mkdir(parents=True, exist_ok=True)
    return p


def models_dir() -> Path:
    return _sub("models")


def repo_root() -> Path | None:
    """The source checkout this package runs from, if any (editable install or ``python -m``)."""
    root = Path(__file__).resolve().parents[1]
    return root if (root / "pyproject.toml").exists() else None
