"""The data layer: registry -> fetch -> HDF5 -> ``load``.

Importing this package is cheap (the registry only): ``clusterbench.data.hdf5`` (h5py, scipy) is
imported when ``load`` runs or ``DatasetInfo`` is asked for, so that commands that only list data
sets (``clusterbench datasets``, ``--help``) start fast (issue 14 item 4).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from clusterbench import paths
from clusterbench.data.registry import get_spec, load_registry
from clusterbench.errors import DataError

if TYPE_CHECKING:
    from clusterbench.data.hdf5 import DatasetInfo


def __getattr__(name: str) -> Any:
    if name == "DatasetInfo":
        from clusterbench.data.hdf5 import DatasetInfo  # lazily: h5py and scipy (fast start)

        return DatasetInfo
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load(name: str, *, extras: bool = False):
    """Load a fetched data set: ``(X, y, info)`` (``(X, y, info, extras)`` with ``extras=True``).

    X: float32 array, samples first (images N x C x H x W), or ``scipy.sparse.csr_matrix``.
    y: int64 labels in 0..n_clusters-1. info: :class:`DatasetInfo` (n_clusters, checksum, recipe...).
    Embedded data sets (``digits``) are prepared on first use; others need ``clusterbench fetch``.
    A file whose arrays no longer match its checksum is refused (``hdf5.verify_content``).
    """
    from clusterbench.data.fetch import fetch
    from clusterbench.data.hdf5 import read_dataset, verify_content  # lazily: h5py and scipy (fast start)

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
    out = read_dataset(path, extras=extras)
    verify_content(path, out[2], X=out[0], y=out[1])  # the arrays still match the checksum in run keys
    return out


__all__ = ["load", "load_registry", "get_spec", "DatasetInfo"]
