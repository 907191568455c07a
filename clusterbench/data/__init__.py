"""The data layer: registry -> fetch -> HDF5 -> ``load``.

Importing this package is cheap (the registry only): ``clusterbench.data.hdf5`` (h5py, scipy) is
imported when ``load`` runs or ``DatasetInfo`` / ``StoredArray`` is asked for, so that commands
that only list data sets (``clusterbench datasets``, ``--help``) start fast (issue 14 item 4).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from clusterbench import paths
from clusterbench.data.registry import get_spec, load_registry
from clusterbench.errors import DataError

if TYPE_CHECKING:
    from clusterbench.data.hdf5 import DatasetInfo, StoredArray

#: ``load(name)`` leaves X in its file (a :class:`StoredArray`) when its float32 values would take
#: more than this fraction of the machine's RAM (dSprites: 12 GB; every other data set of the
#: papers is under 1 GB). A quarter leaves room for the method's own memory and a second copy
#: that an in-memory method may make.
LAZY_RAM_FRACTION = 0.25


def __getattr__(name: str) -> Any:
    if name in ("DatasetInfo", "StoredArray"):
        from clusterbench.data import hdf5  # lazily: h5py and scipy (fast start)

        return getattr(hdf5, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def physical_ram_bytes() -> int | None:
    """Total RAM of this machine in bytes (None where the OS does not say)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return None


def should_stay_on_disk(info: DatasetInfo, *, ram_bytes: int | None = None) -> bool:
    """Whether ``load(..., mmap=None)`` returns a :class:`StoredArray` for this data set."""
    if info.sparse:
        return False
    ram = physical_ram_bytes() if ram_bytes is None else ram_bytes
    n_values = info.n_samples
    for s in info.sample_shape:
        n_values *= s
    return ram is not None and 4 * n_values > LAZY_RAM_FRACTION * ram


def load(name: str, *, extras: bool = False, mmap: bool | None = None):
    """Load a fetched data set: ``(X, y, info)`` (``(X, y, info, extras)`` with ``extras=True``).

    X: float32 array, samples first (images N x C x H x W), or ``scipy.sparse.csr_matrix``; or,
    with ``mmap=True``, a :class:`~clusterbench.data.hdf5.StoredArray` (a float32 view of the file's
    X read row by row: out-of-core). ``mmap=None`` (default) chooses the stored array when the
    float32 X would exceed ``LAZY_RAM_FRACTION`` of the RAM (:func:`should_stay_on_disk`).
    y: int64 labels in 0..n_clusters-1. info: :class:`DatasetInfo` (n_clusters, checksum, recipe...).
    Embedded data sets (``digits``) are prepared on first use; others need ``clusterbench fetch``.
    A file whose arrays no longer match its checksum is refused (``hdf5.verify_content``).
    """
    from clusterbench.data.fetch import fetch  # lazily: requests, only when a set must be prepared
    from clusterbench.data.hdf5 import read_dataset, read_info, verify_content  # lazily: h5py (fast start)

    spec = get_spec(name)
    path = paths.dataset_file(name)
    if not path.exists():
        if spec.source == "embedded":
            fetch(name, progress=False)
        else:
            raise DataError(
                f"Data set {name!r} has not been fetched yet (no {path}).",
                hint=f"Run `clusterbench fetch {name}` first.",
            )
    if mmap is None:
        mmap = should_stay_on_disk(read_info(path))
    out = read_dataset(path, extras=extras, mmap=mmap)
    verify_content(path, out[2], X=out[0], y=out[1])  # the arrays still match the checksum in run keys
    return out


__all__ = ["load", "load_registry", "get_spec", "DatasetInfo", "StoredArray"]
