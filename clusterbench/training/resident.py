"""Out of core on the device: how the rows of a :class:`~clusterbench.data.hdf5.StoredArray` reach
the device (issue 23). ``_Data`` (``clusterbench.training.data``) picks one of three modes:

``device``    the *stored* rows (e.g. uint8: dSprites 737,280 x 64 x 64 is 3 GB, 12 GB as float32)
              are copied to the device once, in blocks (:func:`to_device`), and each batch is
              gathered and decoded there (:func:`decode_rows`): no host work and no host -> device
              copy per step (the step stays sync-free and capturable). Chosen by ``auto`` on CUDA
              when the stored bytes fit in :data:`RESIDENT_FRACTION` of the free device memory.
``prefetch``  a background thread (:class:`Prefetch`) reads and decodes the next batches on the
              host (``StoredArray[idx]``, exactly today's host path) into pinned memory (CUDA only)
              while the current step runs, :data:`PREFETCH_DEPTH` batches ahead; the step copies its
              batch asynchronously. Chosen by ``auto`` when the data do not fit, and on the CPU.
``off``       the host path, serial with the step: rows read and decoded per batch, then copied.

Every mode gives the same batches bit for bit (the same rows in the same order; on the device the
same arithmetic as :func:`clusterbench.data.hdf5.decode`: float32(raw) / float32(divisor), a
correctly rounded IEEE division). The per-batch cost of each mode on the host is measured by
``benchmarks/stored_batches.py``.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

#: The knob ``_Data(..., resident=)``: ``auto`` picks ``device`` or ``prefetch`` as described above.
MODES = ("auto", "device", "prefetch", "off")

#: Share of the *free* device memory (``torch.cuda.mem_get_info`` when the data are placed, after
#: the networks are built) that the stored rows may take for ``auto`` to keep them on the device.
#: Half: the activations, gradients, optimizer state and the allocator's cache of the steps still
#: need the rest, and growing into it is what an out-of-memory failure would cost (a run lost);
#: the data a method trains on out of core are far below it (dSprites' 3 GB is 4% of an 80 GB H100),
#: and a card where they are not gets the prefetch thread, which costs host time, not a failure.
RESIDENT_FRACTION = 0.5

#: Stored bytes copied to the device at a time (bounds the host memory of the one-time copy).
RESIDENT_BLOCK_BYTES = 64 * 1024**2

#: Batches the prefetch thread keeps ready (a queue of this depth): double buffering -- one batch
#: ready while the step runs on the other; more only holds more pinned memory, since the reader
#: either keeps up with the steps (then two suffice) or does not (then no depth helps).
PREFETCH_DEPTH = 2


def stored_nbytes(stored: Any) -> int:
    """Bytes of the rows of ``stored`` (a StoredArray or a view of one) as stored, undecoded."""
    return int(np.prod(stored.shape, dtype=np.int64)) * stored.stored_dtype.itemsize


def choose_mode(stored: Any, device: torch.device, resident: str) -> str:
    """The mode for ``resident`` (one of :data:`MODES`): ``auto`` -> ``device`` on CUDA when the
    stored rows fit in :data:`RESIDENT_FRACTION` of the free memory, else ``prefetch``."""
    if resident != "auto":
        return resident
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        if stored_nbytes(stored) <= RESIDENT_FRACTION * free:
            return "device"
    return "prefetch"


def to_device(stored: Any, device: torch.device) -> torch.Tensor:
    """All rows of ``stored`` (in the view's order) as stored (e.g. uint8) in one tensor on
    ``device``, copied in blocks of about :data:`RESIDENT_BLOCK_BYTES` (pinned on CUDA)."""
    dtype = torch.from_numpy(np.empty(0, dtype=stored.stored_dtype)).dtype
    out = torch.empty(stored.shape, dtype=dtype, device=device)
    row_bytes = max(1, stored_nbytes(stored) // max(1, stored.shape[0]))
    step = max(1, RESIDENT_BLOCK_BYTES // row_bytes)
    for s in range(0, stored.shape[0], step):
        block = stored.stored_rows(s, s + step)  # a read-only memory map's rows, or a gathered copy
        src = torch.empty(block.shape, dtype=dtype, pin_memory=device.type == "cuda")
        src.numpy()[...] = block  # the one host copy (into pinned memory on CUDA)
        out[s : s + step].copy_(src)  # synchronous: ``src`` may be reused for the next block
    return out


def divisor_tensor(divisor: float | None, device: torch.device) -> torch.Tensor | None:
    """The divisor as a 0-dim float32 tensor on the device (None when there is nothing to divide).

    A tensor, not a Python number: CUDA's division by a CPU scalar multiplies by its reciprocal
    (``div_true_kernel_cuda``), which can differ from the host's division in the last bit.
    """
    if divisor is None or divisor == 1.0:
        return None
    return torch.full((), divisor, dtype=torch.float32, device=device)


def decode_rows(raw: torch.Tensor, idx: torch.Tensor, divisor: torch.Tensor | None) -> torch.Tensor:
    """Rows ``idx`` of the resident ``raw`` as float32: ``float32(raw[idx]) / divisor``, the bits of
    :func:`clusterbench.data.hdf5.decode` (uint8 -> float32 is exact; the division is IEEE)."""
    x = raw.index_select(0, idx).to(torch.float32)
    return x if divisor is None else x.div_(divisor)


@dataclass(frozen=True)
class HostRows:
    """A batch the prefetch thread has read and decoded (float32, pinned on CUDA); ``_Data.batch``
    copies it to the device."""

    x: torch.Tensor


class _Failed:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


_END = object()


class Prefetch:
    """Iterate over ``read(idx)`` for each ``idx`` of ``batches``, in order, read by a background
    thread at most :data:`PREFETCH_DEPTH` batches ahead of the consumer.

    ``read`` runs in the thread; what it raises is raised by the ``next()`` that would have
    returned its batch (the same exception object, with the thread's traceback). :meth:`close`
    (also on ``with`` exit, whatever the reason) stops the thread and waits for it: it notices
    within ``_POLL_S`` once its current read is done, so no thread outlives its epoch.
    """

    _POLL_S = 0.05

    def __init__(self, read: Callable[[Any], Any], batches: Iterable[Any], *, depth: int = PREFETCH_DEPTH) -> None:
        self._q: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._done = False
        self._thread = threading.Thread(target=self._work, args=(read, list(batches)),
                                        name="clusterbench-prefetch", daemon=True)
        self._thread.start()

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._q.put(item, timeout=self._POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def _work(self, read: Callable[[Any], Any], batches: list[Any]) -> None:
        try:
            for idx in batches:
                if self._stop.is_set() or not self._put(read(idx)):
                    return
            self._put(_END)
        except BaseException as exc:  # noqa: BLE001 -- handed to the consumer, never swallowed
            self._put(_Failed(exc))

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        if self._done:
            raise StopIteration
        item = self._q.get()
        if item is _END or isinstance(item, _Failed):
            self._done = True
            self.close()
            if isinstance(item, _Failed):
                raise item.exc
            raise StopIteration
        return item

    def close(self) -> None:
        """Stop the thread and wait for it (idempotent)."""
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def __enter__(self) -> Prefetch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
