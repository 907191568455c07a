"""Out of core on the device (issue 23, item 5): a StoredArray's batches are the same bits in every
mode of ``_Data(..., resident=)`` -- stored rows resident "on the device" (here the CPU) and
decoded by torch, a prefetch thread, the serial host path -- with and without a ``take`` view; the
prefetch thread ends with its epoch (also on an exception in the step) and hands its own
exceptions to the caller."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from clusterbench.data.hdf5 import Prepared, StoredArray, write_dataset
from clusterbench.errors import ConfigError, DataError
from clusterbench.training import resident as res
from clusterbench.training.data import _Data, batch_indices
from clusterbench.training.loop import LoopOptions, _run_epoch

CPU = torch.device("cpu")
MODES = ("auto", "device", "prefetch", "off")


def _stored(tmp_path, divisor=255.0, n=50) -> StoredArray:
    """A uint8 file written by the project's writer (values 0..255, or 0/1 like dSprites), or a
    float32 one (format version 1) for ``divisor=None``."""
    rng = np.random.default_rng(0)
    raw = rng.integers(0, 256 if divisor != 1.0 else 2, (n, 1, 8, 8), dtype=np.uint8)
    if divisor is None:
        raw = rng.random((n, 1, 8, 8), dtype=np.float32)
    info = write_dataset(tmp_path / "s.h5", Prepared(X=raw, y=np.zeros(n, np.int64), recipe={}, x_divisor=divisor),
                         name="s", n_clusters=2)
    S = StoredArray(info.path)
    assert S.stored_dtype == (np.float32 if divisor is None else np.uint8)
    return S


def _prefetch_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "clusterbench-prefetch" and t.is_alive()]


def _epoch_batches(data: _Data, batches: list[np.ndarray]) -> list[torch.Tensor]:
    with data.epoch(batches) as feed:
        return [data.batch(i) for i in feed]


def _same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return len(a) == len(b) and all(x.dtype == y.dtype == torch.float32 and x.shape == y.shape
                                    and torch.equal(x.view(torch.int32), y.view(torch.int32)) for x, y in zip(a, b))


@pytest.mark.parametrize("divisor", [255.0, 1.0, None])
@pytest.mark.parametrize("mode", MODES)
def test_every_mode_gives_the_host_paths_batches(tmp_path, mode, divisor):
    S = _stored(tmp_path, divisor)
    for X in (S, S.take(np.array([7, 3, 49, 3, 0, 21, 40, 12, 33]))):  # a --subset view, a repeated row
        data = _Data(X, CPU, False, resident=mode)
        assert data.mode == ("prefetch" if mode == "auto" else mode)  # auto on the CPU: prefetch
        assert (data.resident is not None) == (mode == "device")
        for epoch in (1, 2):
            batches = batch_indices(len(X), 4, seed=3, epoch=epoch, drop_last=False)
            host = [torch.from_numpy(X[idx]) for idx in batches]  # today's path: StoredArray[idx]
            assert _same(_epoch_batches(data, batches), host)
        assert _same(list(data.in_order(4)), [torch.from_numpy(np.array(X[i : i + 4])) for i in range(0, len(X), 4)])
    assert not _prefetch_threads()


def test_the_mode_knob(tmp_path):
    S = _stored(tmp_path)
    data = _Data(S, CPU, False, resident="device")
    assert data.resident.dtype == torch.uint8 and tuple(data.resident.shape) == S.shape  # stored, undecoded
    assert "resident" in data.describe() and "prefetch" in _Data(S, CPU, False).describe()
    assert _Data(np.zeros((3, 2), np.float32), CPU, False, resident="device").mode is None  # dense: moved once
    with pytest.raises(ConfigError, match="resident must be one of"):
        _Data(S, CPU, False, resident="gpu")


def test_auto_keeps_the_stored_rows_on_cuda_when_they_fit(tmp_path, monkeypatch):
    S = _stored(tmp_path)  # 50 x 64 uint8 = 3,200 bytes
    cuda = torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (int(3200 / res.RESIDENT_FRACTION), 10**9))
    assert res.choose_mode(S, cuda, "auto") == "device"
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (int(3200 / res.RESIDENT_FRACTION) - 1, 10**9))
    assert res.choose_mode(S, cuda, "auto") == "prefetch"
    assert res.choose_mode(S.take(np.arange(25)), cuda, "auto") == "device"  # a view: only its rows count
    assert res.choose_mode(S, CPU, "auto") == "prefetch"
    assert res.choose_mode(S, cuda, "off") == "off"


def test_the_loop_epoch_feeds_the_same_batches_and_ends_its_thread(tmp_path):
    S = _stored(tmp_path)
    options = LoopOptions(epochs=1, batch_size=8, drop_last=True)
    kw = dict(seed=5, phase="train", epoch=1, global_epoch=2, cuda=False)
    fed: dict[str, list[torch.Tensor]] = {}
    for mode in MODES:
        seen: list[torch.Tensor] = []

        def step(x, i, seen=seen):
            seen.append(x.clone())
            if i == 0 and mode in ("auto", "prefetch"):  # the reader runs beside the first step (6 batches, depth 2)
                assert _prefetch_threads()
            return {"loss": x.sum()}

        row = _run_epoch(None, step, _Data(S, CPU, False, resident=mode), options, **kw)
        assert row["epoch"] == 1 and not _prefetch_threads()
        fed[mode] = seen
    host = [torch.from_numpy(S[i]) for i in batch_indices(50, 8, seed=5, epoch=2, drop_last=True)]
    assert all(_same(fed[m], host) for m in MODES)


def test_no_thread_outlives_an_exception_in_the_step_or_a_broken_off_epoch(tmp_path):
    S = _stored(tmp_path)
    data = _Data(S, CPU, False, resident="prefetch")

    def bad_step(x, i):
        if i == 2:
            raise RuntimeError("step failed")
        return {"loss": x.sum()}

    with pytest.raises(RuntimeError, match="step failed"):
        _run_epoch(None, bad_step, data, LoopOptions(epochs=1, batch_size=4), seed=0, phase="train", epoch=1,
                   global_epoch=1, cuda=False)
    assert not _prefetch_threads()
    first = next(iter(data.in_order(4)))  # a consumer that stops after one batch
    assert torch.equal(first, torch.from_numpy(S[0:4]))
    import gc

    gc.collect()  # the abandoned generator is closed, and its ``with`` stops the thread
    assert not _prefetch_threads()


def test_an_exception_in_the_reader_thread_reaches_the_caller(tmp_path):
    S = _stored(tmp_path)
    data = _Data(S, CPU, False, resident="prefetch")

    class Broken:  # the file turns unreadable after two batches
        calls = 0

        def __getitem__(self, idx):
            Broken.calls += 1
            if Broken.calls > 2:
                raise DataError("The data file is corrupt or truncated (test).")
            return S[idx]

    data.stored = Broken()
    got = []
    with pytest.raises(DataError, match="corrupt or truncated"):
        _run_epoch(None, lambda x, i: got.append(x) or {"loss": x.sum()}, data, LoopOptions(epochs=1, batch_size=4),
                   seed=0, phase="train", epoch=1, global_epoch=1, cuda=False)
    assert len(got) == 2 and not _prefetch_threads()
    # the iterator alone: the same exception object, then the end
    boom = ValueError("boom")

    def read(i):
        if i == 1:
            raise boom
        return i

    feed = res.Prefetch(read, range(5))
    assert next(feed) == 0
    with pytest.raises(ValueError) as caught:
        next(feed)
    assert caught.value is boom and not feed.alive
    with pytest.raises(StopIteration):
        next(feed)
