"""The HDF5 contract: one file per data set.

Datasets in the file:
  ``X``      samples first; images N x C x H x W; stored contiguously (not chunked or compressed,
             so that it can be memory-mapped). Its values are float32 in one of two storages:
             * float32 (format version 1, and every non-image data set), or
             * uint8 with the attribute ``divisor`` (format version 2): the value is
               ``float32(X) / float32(divisor)`` computed in float32 (``decode``), e.g. 255 for
               8-bit images (MNIST, Fashion-MNIST, CIFAR-10: 4x smaller files), 1 for the 0/1
               dSprites (12 GB -> 3 GB). Readers convert per batch (``StoredArray``) or once
               (``read_dataset``); either way methods only ever see float32.
             Sparse data (Reuters) is stored as a group ``X`` with ``data``, ``indices``,
             ``indptr`` and attribute ``shape`` (CSR, float32).
  ``y``      int64 labels 0..K-1.
  ``extra/<name>``  optional extra arrays (e.g. dSprites ``latents_classes``).
Attributes: ``name``, ``n_clusters``, ``sample_shape``, ``n_samples``, ``recipe`` (the
preprocessing recipe as JSON: preprocessor, options, version), ``sources`` (JSON: raw file name ->
{role, sha256, origin (URL, mirror or --from file), verified (how)}), ``checksum`` (sha256 over X and y, the data set's identity in run keys),
``format_version``.

The checksum is over the *decoded float32* values of X (dtype string, shape, bytes; then y), not
over the stored bytes (``content_checksum``): a data set stored as uint8 has the same checksum as
the same data stored as float32 by format version 1 (the decoding repeats the old preprocessing
arithmetic exactly, x / 255 in float32), so run keys of existing data sets do not change.

Files are written to a temporary file and renamed (``fsutil.atomic_path``).

The ``checksum`` attribute is not trusted blindly: :func:`verify_content` recomputes it from the
arrays when a data set is opened for a run (``data.load``, ``runner.spec`` at plan time) and
refuses a file whose arrays changed. The verification is cached in ``.verified.json`` beside the
files, keyed by file name and valid while the file's (size, mtime_ns, ctime_ns, inode, device) are
unchanged. The ctime is what makes the cache sound: the kernel sets it to the current time on every
write, truncation, rename or metadata change, and no system call sets it back (``utime``, ``touch
-r`` and ``rsync --inplace --times`` restore the mtime, never the ctime), so an in-place change
with its mtime restored still invalidates the entry. It may also invalidate it for a harmless
metadata change (chmod, a hard link): that costs one re-hash, never a wrong answer.
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

FORMAT_VERSION = 2  # 2: dense X may be uint8 with attribute ``divisor`` (version 1 files still load)
_DECODE_ROWS_BYTES = 64 * 1024**2  # float32 bytes decoded at a time (checksums, full reads)
VERIFIED_CACHE = ".verified.json"


@dataclass
class Prepared:
    """What a preprocessor returns: arrays plus the recipe that made them.

    ``X``: float32 array (N x ...), or uint8 array with ``x_divisor`` set (values =
    ``decode(X, x_divisor)``), or ``scipy.sparse.csr_matrix`` (N x D); ``y``: int labels 0..K-1.
    """

    X: np.ndarray | sp.csr_matrix
    y: np.ndarray
    recipe: dict[str, Any]
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    attrs: dict[str, Any] = field(default_factory=dict)
    x_divisor: float | None = None

    def values(self) -> np.ndarray | sp.csr_matrix:
        """X as the float32 values methods see (decoded when stored as uint8)."""
        return self.X if self.x_divisor is None else decode(self.X, self.x_divisor)


def decode(raw: np.ndarray, divisor: float | None) -> np.ndarray:
    """Stored rows -> float32 values: ``raw / divisor`` in float32 (uint8 storage), else a float32 view.

    The division (not a multiplication by 1/divisor) is what the preprocessors of format version 1
    computed, so the values -- and checksums -- are bit-identical to the float32 files.
    """
    out = np.asarray(raw, dtype=np.float32)
    if divisor is None or divisor == 1.0:
        return out
    if np.may_share_memory(out, raw):  # never divide the caller's (or a read-only map's) array in place
        out = out.copy()
    out /= np.float32(divisor)  # float32(raw) / float32(divisor): the same bits as np.divide(..., dtype=float32)
    return out


def _row_chunks(n: int, row_floats: int) -> range:
    """Row starts of blocks of about ``_DECODE_ROWS_BYTES`` float32 bytes."""
    return range(0, n, max(1, _DECODE_ROWS_BYTES // max(1, 4 * row_floats)))


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


def content_checksum(X: np.ndarray | sp.csr_matrix, y: np.ndarray, *, divisor: float | None = None) -> str:
    """sha256 over the float32 values of X (dtype, shape and bytes) and y.

    With ``divisor`` (uint8 storage) X is decoded block by block, so the checksum equals that of
    the float32 array ``decode(X, divisor)`` without holding it.
    """
    h = hashlib.sha256()
    if divisor is not None:
        X = np.ascontiguousarray(X)
        h.update(f"{np.dtype(np.float32).str}{X.shape}".encode())
        blocks = _row_chunks(X.shape[0], int(np.prod(X.shape[1:], dtype=np.int64)))
        for s in blocks:
            h.update(memoryview(decode(X[s : s + blocks.step], divisor)).cast("B"))
        parts = []
    else:
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
    divisor = prepared.x_divisor
    if sp.issparse(X):
        if divisor is not None:
            raise DataError(f"{name}: a sparse X cannot have a divisor (uint8 storage is for dense images).")
        X = sp.csr_matrix(X, dtype=np.float32)
        X.sort_indices()
    elif divisor is not None:
        if np.asarray(X).dtype != np.uint8 or not divisor > 0:
            raise DataError(f"{name}: x_divisor needs uint8 X and a positive divisor, got {np.asarray(X).dtype} "
                            f"and {divisor}.")
        X = np.ascontiguousarray(X)
        divisor = float(divisor)
    else:
        X = np.ascontiguousarray(X, dtype=np.float32)
    y = y.astype(np.int64)
    if X.shape[0] != y.shape[0]:
        raise DataError(f"{name}: {X.shape[0]} samples but {y.shape[0]} labels.")
    if y.size and (y.min() < 0):
        raise DataError(f"{name}: labels must be 0..K-1, got minimum {y.min()}.")
    if not sp.issparse(X) and divisor is None and X.size and not np.isfinite(X).all():
        raise DataError(f"{name}: the preprocessed data contain NaN or infinite values.")
    checksum = content_checksum(X, y, divisor=divisor)
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
                ds = f.create_dataset("X", data=X)  # contiguous: StoredArray can memory-map it
                if divisor is not None:
                    ds.attrs["divisor"] = divisor
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
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "ctime_ns": st.st_ctime_ns, "inode": st.st_ino,
            "device": st.st_dev, "checksum": checksum}


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
    its last verification (size, mtime_ns, ctime_ns, inode and device as cached); else the arrays are hashed
    (``X``/``y`` when the caller has read them already, else read here)."""
    path = Path(path)
    info = info or read_info(path)
    if _verified_cache(path).get(path.name) == _stamp(path, info.checksum):
        return
    if X is None or y is None:
        X, y, _ = read_dataset(path, mmap=True)
    if isinstance(X, StoredArray) and X.rows is None:  # hash the stored values page by page
        got = content_checksum(X._raw, y, divisor=X.divisor)
    else:
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
    path: str | Path, *, extras: bool = False, mmap: bool = False
) -> tuple[np.ndarray | sp.csr_matrix, np.ndarray, DatasetInfo] | tuple[Any, ...]:
    """Load ``(X, y, info)`` (and a dict of extras when ``extras=True``).

    X: float32 (uint8 storage is decoded block by block into one float32 array), or with
    ``mmap=True`` and dense X a :class:`StoredArray` that reads (memory-maps) rows on demand.
    Sparse X is always read into memory.
    """
    path = Path(path)
    info = read_info(path)
    with _open(path) as f:
        try:
            if info.sparse:
                g = f["X"]
                X = sp.csr_matrix(
                    (g["data"][()], g["indices"][()], g["indptr"][()]), shape=tuple(g.attrs["shape"])
                )
            elif mmap:
                X = None
            else:
                X = _read_dense(f["X"])
            y = f["y"][()]
            ext = {k: v[()] for k, v in f["extra"].items()} if extras and "extra" in f else {}
        except (OSError, KeyError) as exc:
            raise _corrupt(path, exc) from None
    if X is None:
        X = StoredArray(path)
    return (X, y, info, ext) if extras else (X, y, info)


def _corrupt(path: Path, exc: BaseException) -> DataError:
    return DataError(
        f"The data file {path} is corrupt or truncated ({exc}).",
        hint="Run `clusterbench fetch NAME --force` to rebuild it.",
    )


def _divisor(ds: h5py.Dataset) -> float | None:
    d = ds.attrs.get("divisor")
    return None if d is None else float(d)


def _read_dense(ds: h5py.Dataset) -> np.ndarray:
    """All of a dense ``X`` as float32 (uint8 storage decoded block by block, no float64 temporary)."""
    divisor = _divisor(ds)
    if divisor is None:
        return np.asarray(ds[()], dtype=np.float32)
    out = np.empty(ds.shape, dtype=np.float32)
    blocks = _row_chunks(ds.shape[0], int(np.prod(ds.shape[1:], dtype=np.int64)))
    for s in blocks:
        np.divide(ds[s : s + blocks.step], np.float32(divisor), out=out[s : s + blocks.step], dtype=np.float32)
    return out


class StoredArray:
    """A dense X that stays in its HDF5 file: float32 rows on demand (out-of-core access).

    Behaves like a read-only (N, ...) float32 array for what methods need: ``shape``, ``ndim``,
    ``dtype``, ``len``, indexing by an int, a slice or an index array (rows in the order given,
    decoded to float32 -- only those rows are read), :meth:`take` (a lazy view on some rows, e.g.
    a ``--subset``) and ``np.asarray`` (decodes everything: what an in-memory method needs anyway).

    The file's contiguous ``X`` is memory-mapped (``numpy.memmap`` at the dataset's offset), so
    repeated reads are served by the page cache; a chunked or compressed ``X`` (not written by
    clusterbench) falls back to h5py reads of the sorted unique rows.
    """

    def __init__(self, path: str | Path, rows: np.ndarray | None = None) -> None:
        self.path = Path(path)
        with _open(self.path) as f:
            try:
                ds = f["X"]
                shape, dtype, self.divisor = tuple(ds.shape), ds.dtype, _divisor(ds)
                offset = ds.id.get_offset() if ds.chunks is None and ds.compression is None else None
            except (OSError, KeyError) as exc:
                raise _corrupt(self.path, exc) from None
        self._file: h5py.File | None = None
        if offset is not None:
            self._raw: Any = np.memmap(self.path, dtype=dtype, mode="r", offset=offset, shape=shape)
        else:
            self._file = _open(self.path)
            self._raw = self._file["X"]
        self.rows = None if rows is None else np.asarray(rows, dtype=np.int64)
        n = shape[0] if self.rows is None else self.rows.size
        self.shape: tuple[int, ...] = (n, *shape[1:])
        self.stored_dtype = np.dtype(dtype)

    dtype = np.dtype(np.float32)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def nbytes(self) -> int:
        """Bytes of the decoded float32 array (what loading it into memory would take)."""
        return int(np.prod(self.shape, dtype=np.int64)) * 4

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        return f"StoredArray({self.path.name}, shape={self.shape}, stored as {self.stored_dtype})"

    def take(self, idx: np.ndarray) -> StoredArray:
        """A lazy view on rows ``idx`` (in that order) of this array."""
        idx = np.asarray(idx, dtype=np.int64)
        view = StoredArray.__new__(StoredArray)
        view.__dict__.update(self.__dict__)
        view.rows = idx if self.rows is None else self.rows[idx]
        view.shape = (idx.size, *self.shape[1:])
        return view

    def _gather(self, rows: np.ndarray) -> np.ndarray:
        """Stored rows (file indices, any order, repeats allowed) as stored (e.g. uint8), undecoded."""
        if isinstance(self._raw, np.ndarray):
            return self._raw[rows]
        uniq, inv = np.unique(rows, return_inverse=True)  # h5py needs increasing unique indices
        return self._raw[uniq][inv] if uniq.size else self._raw[0:0]

    def _read(self, rows: np.ndarray) -> np.ndarray:
        """Stored rows (file indices, any order, repeats allowed) as float32."""
        return decode(self._gather(rows), self.divisor)

    def stored_rows(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` of this array (of the view, after :meth:`take`) as stored, undecoded
        (``stored_dtype``; ``decode(., divisor)`` gives ``self[start:stop]``): what a reader that
        decodes elsewhere (on the device, ``clusterbench.training.resident``) copies."""
        if self.rows is None:
            return np.asarray(self._raw[start:max(start, stop)])
        return self._gather(self.rows[start:stop])

    def __getitem__(self, key: Any) -> np.ndarray:
        if isinstance(key, tuple):  # rows first, then the sample axes in memory
            rows = self[key[0]]
            return rows[key[1:]] if isinstance(key[0], (int, np.integer)) else rows[(slice(None), *key[1:])]
        if isinstance(key, (int, np.integer)):
            return self[np.array([key])][0]
        n = self.shape[0]
        if isinstance(key, slice):
            idx = np.arange(n)[key]
        else:
            idx = np.asarray(key)
            if idx.dtype == bool:
                idx = np.flatnonzero(idx)
            idx = np.where(idx < 0, idx + n, idx).astype(np.int64)
        if self.rows is not None:
            idx = self.rows[idx]
        elif isinstance(key, slice) and key.step in (None, 1):
            start, stop, _ = key.indices(n)  # a contiguous block: no index array
            return decode(self._raw[start:max(start, stop)], self.divisor)
        return self._read(idx)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = np.empty(self.shape, dtype=np.float32)
        blocks = _row_chunks(self.shape[0], int(np.prod(self.shape[1:], dtype=np.int64)))
        for s in blocks:
            out[s : s + blocks.step] = self[s : s + blocks.step]
        return out if dtype is None else out.astype(dtype, copy=False)

    def value_range(self) -> tuple[float, float]:
        """(min, max) of the values, scanned block by block (an empty array gives (0, 0))."""
        lo, hi = np.inf, -np.inf
        blocks = _row_chunks(self.shape[0], int(np.prod(self.shape[1:], dtype=np.int64)))
        for s in blocks:
            b = self[s : s + blocks.step]
            if b.size:
                lo, hi = min(lo, float(b.min())), max(hi, float(b.max()))
        return (0.0, 0.0) if lo > hi else (lo, hi)

    def __getstate__(self) -> dict[str, Any]:  # picklable (process pools): reopen the file there
        return {"path": self.path, "rows": self.rows}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"], state["rows"])
