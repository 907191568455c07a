"""Bring your own data set: ``clusterbench fetch --from FILE --name NAME``.

``register_local`` reads a ``.npz`` (arrays ``X`` and ``y``), a ``.csv`` (one label column, every
other column a numeric feature) or an ``.h5`` (a clusterbench HDF5 file, or datasets ``X``/``y``
or ``data``/``labels``), writes the HDF5 of the data set into the data home and adds an entry
(``source = "local"``, ``preprocessor = "local"``) to the user registry
(``$CLUSTERBENCH_HOME/registry.toml``). From then on every command and ``clusterbench.load(NAME)``
treat it like a built-in data set; ``clusterbench fetch NAME --force`` rebuilds it from the
recorded file path.

Choices: images keep N x C x H x W; N x H x W becomes N x 1 x H x W; a 4-D array must already be
channels-first (it is not transposed). Labels are remapped to 0..K-1 in sorted order of the
original values, which are kept in the HDF5 attribute ``label_values`` (JSON list).
"""

from __future__ import annotations

import json
import logging
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from clusterbench import paths
from clusterbench.data.hdf5 import DatasetInfo, Prepared, write_dataset
from clusterbench.errors import ConfigError, DataError
from clusterbench.fsutil import write_text_atomic

log = logging.getLogger("clusterbench.byod")

VERSION = 1
SUFFIXES = (".npz", ".csv", ".h5", ".hdf5")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


# --------------------------------------------------------------------------------------------
# reading the user's file


def _read_npz(path: Path) -> tuple[Any, Any]:
    try:
        with np.load(path, allow_pickle=False) as z:
            keys = list(z.keys())
            if "X" not in keys or "y" not in keys:
                raise DataError(
                    f"{path} holds the arrays {keys}; an .npz data set needs arrays named 'X' and 'y'.",
                    hint="Save it with numpy.savez(FILE, X=features, y=labels).",
                )
            return z["X"], z["y"]
    except DataError:
        raise
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"{path} is not a readable .npz file ({exc}).", hint="Check the file; save it with numpy.savez(FILE, X=..., y=...).") from None


def _read_csv(path: Path, label_column: str) -> tuple[Any, Any]:
    import pandas as pd

    try:
        df = pd.read_csv(path)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"{path} is not a readable CSV file ({exc}).", hint="Give a comma-separated file with a header row.") from None
    if label_column not in df.columns:
        cols = ", ".join(map(str, df.columns[:30])) + (" ..." if len(df.columns) > 30 else "")
        raise ConfigError(
            f"{path} has no column {label_column!r}; its columns are: {cols}.",
            hint="Name the label column with --label-column COLUMN.",
        )
    y = df[label_column].to_numpy()
    feats = df.drop(columns=[label_column])
    bad = [c for c in feats.columns if not pd.api.types.is_numeric_dtype(feats[c])]
    if bad:
        raise DataError(
            f"{path}: the feature columns must be numeric; not numeric: {', '.join(map(str, bad[:10]))}.",
            hint="Drop or encode those columns, or name the label column with --label-column.",
        )
    return feats.to_numpy(dtype=np.float32), y


def _read_h5(path: Path) -> tuple[Any, Any]:
    import h5py

    from clusterbench.data.hdf5 import read_dataset

    try:
        with h5py.File(path, "r") as f:
            ours = "format_version" in f.attrs and "checksum" in f.attrs
            keys = list(f.keys())
            if not ours:
                for xk, yk in (("X", "y"), ("data", "labels")):
                    if xk in f and yk in f and isinstance(f[xk], h5py.Dataset):
                        if not isinstance(f[yk], h5py.Dataset):
                            raise DataError(f"{path}: '{yk}' is an HDF5 group, not an array of labels.",
                                            hint=f"Store '{yk}' as a dataset with one label per sample.")
                        return f[xk][()], f[yk][()]
    except OSError as exc:
        raise DataError(f"{path} is not a readable HDF5 file ({exc}).", hint="Check the file.") from None
    if ours:
        X, y, _ = read_dataset(path)
        return X, y
    raise DataError(
        f"{path} holds {keys}; an HDF5 data set needs datasets 'X' and 'y' (or 'data' and 'labels'), or the clusterbench format.",
        hint="Rename the datasets in the file, or save it as .npz with X and y.",
    )


_F32_MAX = float(np.finfo(np.float32).max)


def _check_faithful(path: Path, X: Any, y: Any) -> None:
    """Refuse what float32 features and integer labels cannot represent faithfully, naming the
    file and the problem: complex numbers, NaN/inf, values beyond float32's range, and labels that
    are not an array of numbers, booleans or strings."""
    if not isinstance(y, np.ndarray) or y.ndim == 0:
        what = f"a single value ({y!r})" if np.ndim(y) == 0 else f"a {type(y).__name__}"
        raise DataError(f"{path}: the labels y are {what}, not an array.",
                        hint="Store y as an array with one label per sample.")
    strings = y.dtype.kind == "O" and all(isinstance(v, str) for v in y.reshape(-1))  # CSV text labels
    if y.dtype.kind not in "biufUS" and not strings:
        raise DataError(f"{path}: the labels y have dtype {y.dtype} (kind {y.dtype.kind!r}); labels must be integers, "
                        "floats, booleans or strings (not complex numbers or objects).", hint="Convert the labels.")
    vals = X.data if sp.issparse(X) else np.asarray(X)
    if np.iscomplexobj(vals):
        raise DataError(f"{path}: X holds complex numbers (dtype {vals.dtype}); clusterbench stores real float32 features.",
                        hint="Split real and imaginary parts into separate features, or take the magnitude.")
    if vals.dtype.kind in "iuf" and vals.size:
        finite = np.isfinite(vals) if vals.dtype.kind == "f" else np.ones(vals.shape, bool)
        if not finite.all():
            raise DataError(f"{path}: X holds {int((~finite).sum())} NaN or infinite value(s).",
                            hint="Clean or impute the data before registering it.")
        big = float(np.abs(vals).max())
        if big > _F32_MAX:
            raise DataError(f"{path}: X holds values up to {big:.3g}, beyond float32's range (±{_F32_MAX:.3g}); "
                            "they would become infinite.", hint="Rescale the features (e.g. standardise) before registering them.")


def read_local(path: str | Path, *, label_column: str = "label") -> tuple[np.ndarray | sp.csr_matrix, np.ndarray, list]:
    """Read a user file: ``(X, y, label_values)``.

    X: float32 (N x D, or N x C x H x W for images; N x H x W gets C = 1) or CSR; y: int64 in
    0..K-1; label_values: the original label of each class index.
    """
    path = Path(path).expanduser().resolve()
    try:
        if not path.is_file():
            raise ConfigError(f"--from {path}: no such file.", hint="Check the path.")
        with open(path, "rb"):
            pass
    except PermissionError:  # the file, or a folder on the way, this user may not read
        raise DataError(f"--from {path}: the file cannot be read (permission denied on it or on a folder above it).",
                        hint="Give a file you can read (check its permissions and its folders'), or copy it somewhere readable.") from None
    suffix = path.suffix.lower()
    if suffix == ".npz" and not zipfile.is_zipfile(path):
        with open(path, "rb") as fh:
            head = fh.read(512)
        text = bool(head) and all(32 <= b < 127 or b in (9, 10, 13) for b in head)
        raise DataError(f"{path} is not a readable .npz file: it is not an .npz archive (a zip of .npy arrays, as "
                        "numpy.savez writes it)" + ("; it looks like text, perhaps a CSV with the wrong suffix" if text else "") + ".",
                        hint="Rename a CSV file to .csv, or save the arrays with numpy.savez(FILE, X=features, y=labels).")
    if suffix == ".npz":
        X, y = _read_npz(path)
    elif suffix == ".csv":
        X, y = _read_csv(path, label_column)
    elif suffix in (".h5", ".hdf5"):
        X, y = _read_h5(path)
    else:
        raise ConfigError(
            f"--from {path}: unsupported file type {suffix or '(none)'!r} for --name.",
            hint=f"Give one of {', '.join(SUFFIXES)}.",
        )
    _check_faithful(path, X, y)
    if not sp.issparse(X):
        X = np.asarray(X)
        if X.dtype == object or not (np.issubdtype(X.dtype, np.number) or X.dtype == bool):
            raise DataError(f"{path}: X must be numeric, got dtype {X.dtype}.", hint="Convert the features to numbers.")
        if X.ndim == 1:
            X = X[:, None]
        elif X.ndim == 3:
            X = X[:, None, :, :]
        elif X.ndim > 4:
            raise DataError(f"{path}: X has {X.ndim} dimensions {X.shape}; expected N x D or images N x C x H x W.")
        X = X.astype(np.float32)
    y = np.asarray(y)
    if y.ndim == 2 and 1 in y.shape:
        y = y.reshape(-1)
    if y.ndim != 1:
        raise DataError(f"{path}: labels must be a vector, got shape {y.shape}.", hint="Give one integer (or string) label per sample.")
    if y.shape[0] != X.shape[0]:
        raise DataError(f"{path}: {X.shape[0]} samples but {y.shape[0]} labels.", hint="Give one label per sample.")
    if X.shape[0] == 0:
        raise DataError(f"{path}: the data set is empty.")
    if y.dtype.kind == "f" and np.isnan(y).any():
        raise DataError(f"{path}: some labels are missing (NaN).", hint="Drop those rows or give them a label.")
    values, codes = np.unique(y, return_inverse=True)
    label_values = [v.item() if hasattr(v, "item") else v for v in values]
    return X, codes.astype(np.int64).reshape(-1), label_values


# --------------------------------------------------------------------------------------------
# the user registry (TOML written by hand: strings, numbers, lists, one sub-table)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)  # a JSON string is a valid TOML basic string
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def _toml_key(k: str) -> str:
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else json.dumps(k)


def dump_registry(entries: dict[str, dict[str, Any]]) -> str:
    """Serialise ``{name: entry}`` (flat values, plus an ``options`` sub-table) as TOML."""
    out = ["# Data sets registered with `clusterbench fetch --from FILE --name NAME` (written by clusterbench).\n"]
    for name, entry in entries.items():
        out.append(f"\n[{_toml_key(name)}]\n")
        for k, v in entry.items():
            if k in ("options", "files"):
                continue
            out.append(f"{_toml_key(k)} = {_toml_value(v)}\n")
        if entry.get("options"):
            out.append(f"\n[{_toml_key(name)}.options]\n")
            for k, v in entry["options"].items():
                out.append(f"{_toml_key(k)} = {_toml_value(v)}\n")
    return "".join(out)


def _read_user_registry() -> dict[str, dict[str, Any]]:
    import tomllib

    f = paths.user_registry_file()
    if not f.exists():
        return {}
    try:
        with open(f, "rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"Your data set registry {f} is not valid TOML ({exc}).",
            hint="Fix or delete that file; it only lists data sets you registered with `fetch --from`.",
        ) from None


# --------------------------------------------------------------------------------------------
# register / rebuild


def _prepare(path: Path, *, label_column: str) -> tuple[Prepared, str]:
    X, y, label_values = read_local(path, label_column=label_column)
    from clusterbench.data.download import sha256_file

    return Prepared(
        X=X,
        y=y,
        recipe={
            "preprocessor": "local",
            "version": VERSION,
            "options": {"path": str(path), "label_column": label_column},
        },
        attrs={"label_values": json.dumps(label_values)},
    ), sha256_file(path)


def register_local(
    file: str | Path,
    *,
    name: str,
    label_column: str = "label",
    n_clusters: int | None = None,
    force: bool = False,
) -> DatasetInfo:
    """Register the user's ``file`` as data set ``name`` and write its HDF5.

    file: .npz (X, y), .csv (``label_column`` plus numeric feature columns) or .h5.
    n_clusters: the number of clusters methods are asked for (default: the distinct labels).
    force: replace a data set already registered under ``name``.
    """
    from filelock import FileLock

    from clusterbench.data.registry import builtin_registry_file, load_registry

    if not _NAME.match(name):
        raise ConfigError(
            f"--name {name!r} is not a valid data set name.",
            hint="Use letters, digits, '.', '_' or '-' (at most 64 characters, starting with a letter or digit).",
        )
    import tomllib

    with open(builtin_registry_file(), "rb") as fh:
        builtin = tomllib.load(fh)
    if name in builtin:
        raise ConfigError(f"--name {name!r} is a built-in data set.", hint="Choose another name for your data set.")
    # data/<name>.h5 must not collide with another data set's file on a case-insensitive file system
    others = [n for n in [*builtin, *_read_user_registry()] if n != name and n.lower() == name.lower()]
    if others:
        raise ConfigError(
            f"--name {name!r} differs from the data set {others[0]!r} only in letter case; their files "
            f"({name}.h5 and {others[0]}.h5) would be one file on a case-insensitive file system (macOS, Windows).",
            hint="Choose a name that differs in more than letter case.",
        )
    path = Path(file).expanduser().resolve()
    prepared, sha = _prepare(path, label_column=label_column)
    k = int(np.unique(prepared.y).size)
    if n_clusters is None:
        n_clusters = k
    if n_clusters < 1:
        raise ConfigError(f"--n-clusters must be at least 1, got {n_clusters}.")
    with FileLock(str(paths.user_registry_file()) + ".lock"):
        entries = _read_user_registry()
        if name in entries and not force:
            raise ConfigError(
                f"A data set named {name!r} is already registered (from {entries[name].get('options', {}).get('path', '?')}).",
                hint="Add --force to replace it, or choose another --name.",
            )
        X = prepared.X
        try:
            info = write_dataset(
                paths.dataset_file(name),
                prepared,
                name=name,
                n_clusters=n_clusters,
                sources={path.name: {"role": "file", "sha256": sha, "origin": str(path), "verified": "local file"}},
            )
        except OSError as exc:
            from clusterbench.data.download import disk_full_error, is_disk_full

            if is_disk_full(exc):
                raise disk_full_error(paths.dataset_file(name)) from None
            raise
        entries[name] = {
            "title": f"{name} (your file {path.name})",
            "used_by": ["registered with `clusterbench fetch --from FILE --name NAME`"],
            "n_clusters": int(n_clusters),
            "n_samples": int(X.shape[0]),
            "sample_shape": [int(s) for s in X.shape[1:]],
            "preprocessor": "local",
            "source": "local",
            "notes": f"{k} distinct labels, remapped to 0..{k - 1}; sha256 of the file when registered: {sha}.",
            "options": {"path": str(path), "label_column": label_column, "sha256": sha},
        }
        write_text_atomic(paths.user_registry_file(), dump_registry(entries))
    if name not in load_registry():  # the entry must round-trip through the registry parser
        raise ConfigError(f"Registering {name!r} failed: the user registry does not list it.")
    log.info("Registered %s from %s (%d samples, %d clusters).", name, path, info.n_samples, info.n_clusters)
    return info


def local(files: dict[str, Path], *, spec, path: str, label_column: str = "label", sha256: str | None = None) -> Prepared:
    """The ``local`` preprocessor: rebuild a registered data set from its recorded file.

    X, y as :func:`read_local`. A file that changed since registration is used, with a warning.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(
            f"The file {p} that data set {spec.name!r} was registered from is gone.",
            hint=f"Register it again: `clusterbench fetch --from FILE --name {spec.name} --force`.",
        )
    prepared, sha = _prepare(p, label_column=label_column)
    if sha256 and sha != sha256:
        log.warning("%s: %s changed since it was registered (sha256 %s, now %s); using it as it is now.", spec.name, p, sha256, sha)
    return prepared
