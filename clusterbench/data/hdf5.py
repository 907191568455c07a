"""The HDF5 contract: one file per data set.

Datasets in the file:
  ``X``      float32, samples first; images N x C x H x W. Sparse data (Reuters) is stored as a
             group ``X`` with ``data``, ``indices``, ``indptr`` and attribute ``shape`` (CSR).
  ``y``      int64 labels 0..K-1.
  ``extra/<name>``  optional extra arrays (e.g. dSprites ``latents_classes``).
Attributes: ``name``, ``n_clusters``, ``sample_shape``, ``n_samples``, ``recipe`` (the
preprocessing recipe as JSON: preprocessor, options, version), ``sources`` (JSON: raw file name ->
{role, sha256, origin (URL, mirror or --from file), verified (how)}), ``checksum`` (sha256 over X and y, the data set's identity in run keys),
``format_version``.

Files are written to a temporary file and renamed (``fsutil.atomic_path``).

The ``checksum`` attribute is not trusted blindly: :func:`verify_content` recomputes it from the
arrays when a data set is opened for a run (``data.load``, ``runner.spec`` at plan time) and
refuses a file whose arrays changed. The verification is cached in ``.verified.json`` beside the
files, keyed by file name and valid while the file's (size, mtime_ns, inode) are unchanged.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import scipy.sparse as sp

from clusterbench.errors import DataError
from clusterbench.fsutil import atomic_path, write_json_atomic

FORMAT_VERSION = 1
VERIFIED_CACHE = ".verified.json"


@dataclass
class Prepared:
    """What a preprocessor returns: arrays plus the recipe that made them.

    ``X``: float32 array (N x ...) or ``scipy.sparse.csr_matrix`` (N x D); ``y``: int labels 0..K-1.
    """

    X: np.ndarray | sp.csr_matrix
    y: np.ndarray
    recipe: dict[str, Any]
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass
class DatasetInfo:
    """Metadata of a stored data set (the HDF5 attributes)."""

    name: str
    n_clusters: int
    n_samples: int
    sample_shape: tuple[int, ...]
    sparse: bool
    checksum: str
    recipe: dict[str, Any]
    sources: dict[str, Any]
    path: Path
    attrs: dict[str, Any] = field(default_factory=dict)


def content_checksum(X: np.ndarray | sp.csr_matrix, y: np.ndarray) -> str:
    """sha256 over the stored arrays (dtype, shape and bytes)."""
    h = hashlib.sha256()
    parts = [X.data, X.indices, X.indptr] if sp.issparse(X) else [X]
    for a in [*parts, y]:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(memoryview(a).cast("B"))
    return h.hexdigest()


def write_dataset(
    path: str | Path,
    prepared: Prepared,
    *,
    name: str,
    n_clusters: int,
    sources: dict[str, Any] | None = None,
) -> DatasetInfo:
    """Validate ``prepared`` and write it atomically to ``path`` (see the module docstring)."""
    X, y = prepared.X, np.asarray(prepared.y)
    if sp.issparse(X):
        X = sp.csr_matrix(X, dtype=np.float32)
        X.sort_indices()
    else:
        X = np.ascontiguousarray(X, dtype=np.float32)
    y = y.astype(np.int64)
    if X.shape[0] != y.shape[0]:
        raise DataError(f"{name}: {X.shape[0]} samples but {y.shape[0]} labels.")
    if y.size and (y.min() < 0):
        raise DataError(f"{name}: labels must be 0..K-1, got minimum {y.min()}.")
    if not sp.issparse(X) and X.size and not np.isfinite(X).all():
        raise DataError(f"{name}: the preprocessed data contain NaN or infinite values.")
    checksum = content_checksum(X, y)
    sample_shape = tuple(int(s) for s in X.shape[1:])
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            if sp.issparse(X):
                g = f.create_group("X")
                g.create_dataset("data", data=X.data)
                g.create_dataset("indices", data=X.indices)
                g.create_dataset("indptr", data=X.indptr)
                g.attrs["shape"] = X.shape
            else:
                f.create_dataset("X", data=X)
            f.create_dataset("y", data=y)
            for k, v in prepared.extras.items():
                f.create_dataset(f"extra/{k}", data=np.asarray(v))
            f.attrs["name"] = name
            f.attrs["n_clusters"] = int(n_clusters)
            f.attrs["n_samples"] = int(X.shape[0])
            f.attrs["sample_shape"] = list(sample_shape)
            f.attrs["sparse"] = bool(sp.issparse(X))
            f.attrs["recipe"] = json.dumps(prepared.recipe, sort_keys=True)
            f.attrs["sources"] = json.dumps(sources or {}, sort_keys=True)
            f.attrs["checksum"] = checksum
            f.attrs["format_version"] = FORMAT_VERSION
            for k, v in prepared.attrs.items():
                f.attrs[k] = v
    info = read_info(path)
    _remember_verified(Path(path), checksum)
    return info


def _stamp(path: Path, checksum: str) -> dict[str, Any]:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "inode": st.st_ino, "checksum": checksum}


def _verified_cache(path: Path) -> dict[str, Any]:
    try:
        d = json.loads((path.parent / VERIFIED_CACHE).read_text())
        return d if isinstance(d, dict) else {}
    except (OSError, ValueError):
        return {}


def _remember_verified(path: Path, checksum: str) -> None:
    cache = _verified_cache(path)
    cache[path.name] = _stamp(path, checksum)
    try:
        write_json_atomic(path.parent / VERIFIED_CACHE, cache)
    except OSError:  # a read-only data folder: verify every time instead
        pass


def verify_content(path: str | Path, info: DatasetInfo | None = None, *, X: Any = None, y: Any = None) -> None:
    """Refuse (:class:`DataError`) a data file whose X and y no longer hash to its ``checksum``
    attribute (edited or damaged after it was written). Cheap when the file is unchanged since
    its last verification (size, mtime_ns and inode as cached); else the arrays are hashed
    (``X``/``y`` when the caller has read them already, else read here)."""
    path = Path(path)
    info = info or read_info(path)
    if _verified_cache(path).get(path.name) == _stamp(path, info.checksum):
        return
    if X is None or y is None:
        X, y, _ = read_dataset(path)
    got = content_checksum(X, y)
    if got != info.checksum:
        raise DataError(
            f"The data file {path} was changed after clusterbench wrote it: its arrays hash to {got[:12]}..., "
            f"but the file records {info.checksum[:12]}..., the checksum that run keys and records refer to; "
            "running on it would store results under the key of different data.",
            hint=f"Rebuild it with `clusterbench fetch {info.name} --force` (or register your file again with --force).",
        )
    _remember_verified(path, info.checksum)


def _open(path: Path) -> h5py.File:
    try:
        return h5py.File(path, "r")
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise DataError(
            f"The data file {path} is corrupt or truncated ({exc}).",
            hint="Delete it, or run `clusterbench fetch NAME --force` to rebuild it from the raw files.",
        ) from None


def read_info(path: str | Path) -> DatasetInfo:
    path = Path(path)
    with _open(path) as f:
        try:
            a = dict(f.attrs)
            return DatasetInfo(
                name=str(a["name"]),
                n_clusters=int(a["n_clusters"]),
                n_samples=int(a["n_samples"]),
                sample_shape=tuple(int(s) for s in a["sample_shape"]),
                sparse=bool(a["sparse"]),
                checksum=str(a["checksum"]),
                recipe=json.loads(a["recipe"]),
                sources=json.loads(a["sources"]),
                path=path,
                attrs={k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in a.items()},
            )
        except KeyError as exc:
            raise DataError(
                f"The data file {path} lacks the attribute {exc} of the clusterbench HDF5 format.",
                hint="Rebuild it with `clusterbench fetch NAME --force`.",
            ) from None


def read_dataset(
    path: str | Path, *, extras: bool = False
) -> tuple[np.ndarray | sp.csr_matrix, np.ndarray, DatasetInfo] | tuple[Any, ...]:
    """Load ``(X, y, info)`` (and a dict of extras when ``extras=True``) fully into memory."""
    path = Path(path)
    info = read_info(path)
    with _open(path) as f:
        try:
            if info.sparse:
                g = f["X"]
                X = sp.csr_matrix(
                    (g["data"][()], g["indices"][()], g["indptr"][()]), shape=tuple(g.attrs["shape"])
                )
            else:
                X = f["X"][()]
            y = f["y"][()]
            ext = {k: v[()] for k, v in f["extra"].items()} if extras and "extra" in f else {}
        except (OSError, KeyError) as exc:
            raise DataError(
                f"The data file {path} is corrupt or truncated ({exc}).",
                hint="Run `clusterbench fetch NAME --force` to rebuild it.",
            ) from None
    return (X, y, info, ext) if extras else (X, y, info)
