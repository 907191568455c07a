"""How batches reach the device: the seeded per-epoch shuffle (:func:`batch_indices`) and
:class:`_Data` (a dense array moved to the device once, CSR rows densified per batch, or a
:class:`~clusterbench.data.hdf5.StoredArray` read from its file per batch: out of core);
:func:`_unit_range` (whether the data lie in [0, 1], which picks a decoder's output activation)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from clusterbench.errors import DataError


def batch_indices(n: int, batch_size: int, *, seed: int, epoch: int, drop_last: bool) -> list[np.ndarray]:
    """The seeded shuffle of one epoch: a list of index arrays (a function of seed and epoch only)."""
    perm = np.random.default_rng([int(seed) % (2**32), int(epoch)]).permutation(n)
    if n <= batch_size:
        return [perm]
    stop = (n // batch_size) * batch_size if drop_last else n
    return [perm[i : i + batch_size] for i in range(0, stop, batch_size)]


class _Data:
    """X on the right device, batched. Dense arrays are moved once; CSR rows densified per batch;
    a StoredArray is read from its file per batch (the same rows in the same order as in memory:
    the batches depend only on the indices from :func:`batch_indices`)."""

    def __init__(self, X: Any, device: torch.device, channels_last: bool) -> None:
        import scipy.sparse as sp

        from clusterbench.data.hdf5 import StoredArray  # lazily: h5py, only to stream a StoredArray

        self.sparse = sp.issparse(X)
        self.stored = X if isinstance(X, StoredArray) else None
        if self.sparse:
            self.X = sp.csr_matrix(X, dtype=np.float32)
            self.dense = None
        elif self.stored is not None:  # values were checked finite when the file was written
            self.X = X
            self.dense = None
        else:
            arr = np.asarray(X)
            if arr.dtype != np.float32:
                arr = arr.astype(np.float32)
            if not np.isfinite(arr).all():
                raise DataError(
                    "The data contain NaN or infinite values.",
                    hint="Clean or impute the data set before clustering it.",
                )
            self.dense = torch.from_numpy(np.ascontiguousarray(arr)).to(device)
            self.X = arr
        self.n = X.shape[0]
        self.device = device
        self.channels_last = channels_last

    def batch(self, idx: np.ndarray) -> torch.Tensor:
        if self.sparse:
            x = torch.from_numpy(self.X[idx].toarray()).to(self.device, non_blocking=True)
        elif self.stored is not None:
            x = torch.from_numpy(self.stored[idx]).to(self.device, non_blocking=True)
        else:
            x = self.dense[torch.from_numpy(idx).to(self.device)]
        if self.channels_last and x.ndim == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def in_order(self, batch_size: int) -> Iterator[torch.Tensor]:
        for i in range(0, self.n, batch_size):
            yield self.batch(np.arange(i, min(i + batch_size, self.n)))


def _unit_range(X: Any) -> bool:
    import scipy.sparse as sp

    from clusterbench.data.hdf5 import StoredArray  # lazily: h5py, only to stream a StoredArray

    if isinstance(X, StoredArray):  # scanned block by block, never all in memory
        lo, hi = X.value_range()
        return bool(lo >= 0.0 and hi <= 1.0)
    vals = X.data if sp.issparse(X) else np.asarray(X)
    if vals.size == 0:
        return True
    return bool(vals.min() >= 0.0 and vals.max() <= 1.0)

