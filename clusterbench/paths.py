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
import re
from pathlib import Path
from typing import Any

import platformdirs

from clusterbench.errors import ConfigError


#: A name that becomes one component of a path (a method, data set, raw folder, table, paper,
#: metric key or weights name): letters, digits and ``. _ + @ -``, starting with a letter or digit,
#: at most 128 characters. So never empty, ".", "..", absolute, nor holding a separator or NUL.
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+@-]{0,127}")


def name_problem(name: Any, *, file: bool = False) -> str | None:
    """Why ``name`` cannot be one path component (:data:`NAME_RE`), or None when it can.
    ``file=True`` (a downloaded file's own name, e.g. 'UCI HAR Dataset.zip'): any characters but a
    path separator or NUL, not '.' or '..', not empty."""
    if not isinstance(name, str):
        return f"a name must be a string, not {type(name).__name__}"
    if "/" in name or "\\" in name or name in (".", "..", ""):
        return "it is not a single path component (it holds a path separator or is '.' or '..')"
    if NAME_RE.fullmatch(name) or (file and "\0" not in name and name.strip() == name):
        return None
    return "only letters, digits and '. _ + @ -' are allowed, starting with a letter or digit (at most 128 characters)"


def check_name(kind: str, name: Any, *, origin: str | None = None, file: bool = False) -> str:
    """``name`` when it can be one path component, else a :class:`ConfigError` naming ``kind``
    (method, data set, ...), the name and where it came from. THE validator of every name read
    from outside the code (plug-in entry points, the user's registry.toml, table files, the
    command line) that becomes part of a path; the functions building such paths call it too."""
    problem = name_problem(name, file=file)
    if problem is None:
        return name
    where = f" (from {origin})" if origin else ""
    raise ConfigError(
        f"The {kind} name {name!r}{where} cannot be used: {problem}.",
        hint=f"Rename the {kind} to a plain name such as 'my-{kind.replace(' ', '')}'.",
    )


_HOME_HINT = "Set CLUSTERBENCH_HOME to a folder you can write to (e.g. on a scratch disk)."
_RESULTS_HINT = "Give --results (or CLUSTERBENCH_RESULTS) a folder you can write to."


def ensure_dir(path: str | os.PathLike, what: str, *, hint: str, writable: bool = False) -> Path:
    """Create the folder ``path`` if needed and return it; a place that cannot be one is a
    :class:`ConfigError` of one paragraph naming it (``what`` says which place): a file there, a
    file above it, a read-only file system, no permission; with ``writable=True`` also an
    existing folder this process cannot write to."""
    path = Path(path).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ConfigError(f"{what} {path} is a file, not a folder.", hint=hint) from None
    except NotADirectoryError:
        above = next((p for p in path.parents if p.exists() and not p.is_dir()), path.parent)
        raise ConfigError(f"{what} {path} cannot be created: {above} is a file, not a folder.", hint=hint) from None
    except OSError as exc:
        raise ConfigError(f"{what} {path} cannot be created ({exc.strerror or exc}).", hint=hint) from None
    if writable and not os.access(path, os.W_OK | os.X_OK):
        raise ConfigError(f"{what} {path} is not writable (read-only file system or no permission).", hint=hint)
    return path


def home() -> Path:
    """The clusterbench home directory (created on demand)."""
    env = os.environ.get("CLUSTERBENCH_HOME")
    root = Path(env).expanduser() if env else Path(platformdirs.user_cache_dir("clusterbench"))
    return ensure_dir(root, "The clusterbench home (CLUSTERBENCH_HOME)", hint=_HOME_HINT)


def _sub(name: str) -> Path:
    return ensure_dir(home() / name, "The clusterbench home's folder", hint=_HOME_HINT)


def raw_dir(name: str) -> Path:
    """Folder of the raw files of one data set (``raw/<name>``)."""
    check_name("raw-file folder", name)
    return ensure_dir(_sub("raw") / name, "The raw-file folder", hint=_HOME_HINT)


def data_dir() -> Path:
    return _sub("data")


def dataset_file(name: str) -> Path:
    """The preprocessed HDF5 file of data set ``name``."""
    check_name("data set", name)
    return data_dir() / f"{name}.h5"


def user_registry_file() -> Path:
    return home() / "registry.toml"


def results_home(path: str | os.PathLike | None = None, *, writable: bool = False) -> Path:
    """The results home: ``path`` (a ``--results`` option) when given, else $CLUSTERBENCH_RESULTS,
    else ``<home>/runs``; created on demand (``writable=True``: checked writable, for ``run``)."""
    env = os.environ.get("CLUSTERBENCH_RESULTS")
    if path is not None:
        p, what = Path(path), "The results home (--results)"
    elif env:
        p, what = Path(env), "The results home (CLUSTERBENCH_RESULTS)"
    else:
        p, what = home() / "runs", "The results home"
    return ensure_dir(p, what, hint=_RESULTS_HINT, writable=writable)


def models_dir() -> Path:
    return _sub("models")


def repo_root() -> Path | None:
    """The source checkout this package runs from, if any (editable install or ``python -m``)."""
    root = Path(__file__).resolve().parents[1]
    return root if (root / "pyproject.toml").exists() else None
