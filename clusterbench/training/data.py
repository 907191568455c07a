"""How batches reach the device: the seeded per-epoch shuffle (:func:`batch_indices`) and
:class:`_Data` (a dense array moved to the device once, CSR rows densified per batch, or a
:class:`~clusterbench.data.hdf5.StoredArray`: out of core, its stored rows resident on the device
and decoded per batch there, or read by a prefetch thread -- ``clusterbench.training.resident``);
:func:`_unit_range` (whether the data lie in [0, 1], which picks a decoder's output activation)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from clusterbench.errors import ConfigError, DataError
from clusterbench.training import resident as res


def batch_indices(n: int, batch_size: int, *, seed: int, epoch: int, drop_last: bool) -> list[np.ndarray]:
    """The seeded shuffle of one epoch: a list of index arrays (a function of seed and epoch only)."""
    perm = np.random.default_rng([int(seed) % (2**32), int(epoch)]).permutation(n)
    if n <= batch_size:
        return [perm]
    stop = (n // batch_size) * batch_size if drop_last else n
    return [perm[i : i + batch_size] for i in range(0, stop, batch_size)]


class _Data:
    """X on the right device, batched. Dense arrays are moved once; CSR rows densified per batch;
    a StoredArray by ``resident`` (``auto``, ``device``, ``prefetch`` or ``off``; see
    ``clusterbench.training.resident``; ``mode`` is the one used, None for dense and CSR data).
    Every way gives the same rows in the same order as in memory: the batches depend only on the
    indices from :func:`batch_indices`.

    The loop iterates ``with data.epoch(batches) as feed: for item in feed: data.batch(item)``:
    ``feed`` is the batches' indices (on the device for dense and resident data) or, for
    ``prefetch``, the rows a background thread has read (its thread ends with the ``with``)."""

    def __init__(self, X: Any, device: torch.device, channels_last: bool, *, resident: str = "auto") -> None:
        import scipy.sparse as sp

        from clusterbench.data.hdf5 import StoredArray  # lazily: h5py, only to stream a StoredArray

        self.sparse = sp.issparse(X)
        self.stored = X if isinstance(X, StoredArray) else None
        if resident not in res.MODES:
            raise ConfigError(f"resident must be one of {', '.join(res.MODES)}, got {resident!r}.")
        self.mode = res.choose_mode(X, device, resident) if self.stored is not None else None
        self.resident: torch.Tensor | None = None  # the stored rows on the device (mode "device")
        if self.sparse:
            self.X = sp.csr_matrix(X, dtype=np.float32)
            self.dense = None
        elif self.stored is not None:  # values were checked finite when the file was written
            self.X = X
            self.dense = None
            if self.mode == "device":
                self.resident = res.to_device(X, device)
                self._divisor = res.divisor_tensor(X.divisor, device)
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

    def describe(self) -> str:
        """One line on how X reaches the device (for the run's log)."""
        if self.mode is None:
            return f"X {'sparse (CSR rows densified per batch)' if self.sparse else 'in memory'} on {self.device}"
        what = {"device": f"its stored rows resident on {self.device} ({res.stored_nbytes(self.X) / 1e9:.2f} GB "
                          f"{self.X.stored_dtype}), decoded per batch there",
                "prefetch": "read and decoded per batch by a prefetch thread",
                "off": "read and decoded per batch on the host"}[self.mode]
        return f"X out of core ({self.X.path.name}): {what}"

    @contextlib.contextmanager
    def epoch(self, batches: list[np.ndarray]) -> Iterator[Any]:
        """What to feed :meth:`batch` for ``batches``, in order: :meth:`on_device`, or (mode
        ``prefetch``) a :class:`~clusterbench.training.resident.Prefetch` of their rows, whose
        thread is stopped when the ``with`` ends (at the epoch's end or on an exception)."""
        if self.mode != "prefetch" or not batches:
            yield self.on_device(batches)
            return
        pin = self.device.type == "cuda"

        def read(idx: np.ndarray) -> res.HostRows:  # runs in the thread: the host path of mode "off"
            x = torch.from_numpy(self.stored[idx])
            return res.HostRows(x.pin_memory() if pin else x)

        with res.Prefetch(read, batches) as feed:
            yield feed

    def batch(self, idx: np.ndarray | torch.Tensor | res.HostRows) -> torch.Tensor:
        """The rows ``idx``: host indices (numpy) for CSR/stored data, indices on the device (a
        slice of :meth:`on_device`) for dense and resident data -- no host work, no copy, no sync
        -- or the rows a prefetch thread has read (copied asynchronously from pinned memory)."""
        if isinstance(idx, res.HostRows):
            x = idx.x.to(self.device, non_blocking=True)
        elif self.sparse:
            x = torch.from_numpy(self.X[idx].toarray()).to(self.device, non_blocking=True)
        elif self.resident is not None:
            if not isinstance(idx, torch.Tensor):
                idx = torch.from_numpy(np.asarray(idx, dtype=np.int64)).to(self.device)
            x = res.decode_rows(self.resident, idx, self._divisor)
        elif self.stored is not None:
            x = torch.from_numpy(self.stored[idx]).to(self.device, non_blocking=True)
        else:
            if not isinstance(idx, torch.Tensor):
                idx = torch.from_numpy(np.asarray(idx)).to(self.device)
            x = self.dense.index_select(0, idx)
        if self.channels_last and x.ndim == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def on_device(self, batches: list[np.ndarray]) -> list[np.ndarray] | list[torch.Tensor]:
        """An epoch's batch indices where :meth:`batch` reads them: for dense data, ONE copy of the
        whole permutation to the device per epoch (pinned, asynchronous on CUDA) and the batches
        as slices of it (so for stored rows resident on the device); host indices for CSR and other
        stored data (their rows are gathered on the host)."""
        if (self.dense is None and self.resident is None) or not batches:
            return batches
        flat = torch.from_numpy(np.concatenate(batches))
        if self.device.type == "cuda":
            flat = flat.pin_memory()
        flat = flat.to(self.device, non_blocking=True)
        return list(flat.split([len(b) for b in batches]))

    def in_order(self, batch_size: int) -> Iterator[torch.Tensor]:
        with self.epoch([np.arange(i, min(i + batch_size, self.n)) for i in range(0, self.n, batch_size)]) as feed:
            for i in feed:
                yield self.batch(i)


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

