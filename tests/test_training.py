"""The single training loop: seeding, determinism, checkpoint/resume, NaN detection, batching."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from clusterbench.errors import ConfigError
from clusterbench.methods import METHODS, make_config
from clusterbench.runtime import torch_device
from clusterbench.training.contract import DeepModel
from clusterbench.training.data import batch_indices
from clusterbench.training.loop import LoopOptions, train

torch.set_num_threads(1)  # the CI and dev machines are small and shared


def _tiny_images(n=64, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 1, 8, 8), dtype=np.float32)


def _dual(**over):
    base = {"epochs": 2, "pretrain_epochs": 1, "batch_size": 16, "save_samples": False, "checkpoint_every": 1}
    base.update(over)
    return METHODS["dual-aae"](make_config(METHODS["dual-aae"].Config, base))


class _Toy(DeepModel):
    """A linear soft-max model whose loss can be made NaN."""

    def __init__(self, device, *, nan_at_epoch=None, d=5, k=3):
        super().__init__(device)
        self.lin = torch.nn.Linear(d, k)
        self.nets["lin"] = self.lin
        self.optims["sgd"] = torch.optim.SGD(self.lin.parameters(), lr=0.1)
        self.nan_at = nan_at_epoch
        self.calls = 0
        self.n_batches = None

    def training_step(self, x, step):
        self.calls += 1
        with self.optimizing("sgd") as opt:
            loss = opt.backward(-torch.log_softmax(self.lin(x), 1).mean())
        out = {"loss": loss.detach(), "const": 1.0}
        if self.nan_at is not None and self.calls > self.nan_at:
            out["loss"] = torch.tensor(float("nan"))
        return out

    @torch.no_grad()
    def predict(self, x):
        return self.lin(x).softmax(1), x


def test_batch_indices_seeded_and_complete():
    a = batch_indices(10, 4, seed=1, epoch=3, drop_last=False)
    b = batch_indices(10, 4, seed=1, epoch=3, drop_last=False)
    assert [x.tolist() for x in a] == [x.tolist() for x in b]
    assert sorted(np.concatenate(a).tolist()) == list(range(10))
    assert len(batch_indices(10, 4, seed=1, epoch=3, drop_last=True)) == 2
    c = batch_indices(10, 4, seed=1, epoch=4, drop_last=False)
    assert np.concatenate(a).tolist() != np.concatenate(c).tolist()
    assert len(batch_indices(3, 4, seed=0, epoch=1, drop_last=True)) == 1  # small data: one batch


def test_history_has_loss_means_seconds_and_monitor():
    X = np.random.default_rng(0).normal(size=(40, 5)).astype(np.float32)
    res = train(lambda d: _Toy(d), X, options=LoopOptions(epochs=3, batch_size=8), seed=0,
                monitor=lambda p: {"acc": float(p.shape[0])})
    assert [r["epoch"] for r in res.history] == [1, 2, 3]
    for r in res.history:
        assert r["phase"] == "train" and r["const"] == 1.0 and r["seconds"] > 0 and r["acc"] == 40.0
    assert res.proba.shape == (40, 3) and np.allclose(res.proba.sum(1), 1)
    assert res.model.calls == 15


def test_nan_raises_with_epoch_and_loss_name():
    X = np.random.default_rng(0).normal(size=(40, 5)).astype(np.float32)
    with pytest.raises(FloatingPointError, match=r"'loss'.*epoch 2"):
        train(lambda d: _Toy(d, nan_at_epoch=7), X, options=LoopOptions(epochs=3, batch_size=8), seed=0)


def test_sparse_input_is_densified_per_batch():
    X = sp.random(30, 5, density=0.3, format="csr", random_state=0, dtype=np.float32)
    res = train(lambda d: _Toy(d), X, options=LoopOptions(epochs=1, batch_size=8), seed=0)
    assert res.proba.shape == (30, 3)
    assert np.allclose(res.embedding, X.toarray())


def test_cuda_without_gpu_is_a_config_error():
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(ConfigError, match="cuda"):
        torch_device("cuda")
    assert torch_device("auto").type == "cpu"


def test_same_seed_same_proba_on_cpu():
    X = _tiny_images()
    a = _dual().fit(X, 4, seed=3)
    b = _dual().fit(X, 4, seed=3)
    c = _dual().fit(X, 4, seed=4)
    np.testing.assert_array_equal(a.proba, b.proba)
    assert not np.array_equal(a.proba, c.proba)


@pytest.mark.parametrize("crash_at_call, resumed_from", [(2, 1), (4, 2)])
def test_resume_equals_uninterrupted(tmp_path, crash_at_call, resumed_from):
    """Monitor calls: 1 = pretrain epoch 1, 2 = after the k-means initialisation of y, 3 = train
    epoch 1, 4 = train epoch 2. Dying at call 2 resumes from the pre-training checkpoint and
    initialises again; dying at call 4 resumes from train epoch 1's checkpoint."""
    X = _tiny_images()
    full = _dual(epochs=3).fit(X, 4, seed=0, workdir=tmp_path / "full")
    assert [r["phase"] for r in full.history] == ["pretrain", "init", "train", "train", "train"]

    class Stop(Exception):
        pass

    calls = {"n": 0}

    def crash(proba):
        calls["n"] += 1
        if calls["n"] == crash_at_call:
            raise Stop
        return {}

    with pytest.raises(Stop):
        _dual(epochs=3).fit(X, 4, seed=0, workdir=tmp_path / "cut", monitor=crash)
    assert (tmp_path / "cut" / "checkpoint.pt").exists()
    resumed = _dual(epochs=3).fit(X, 4, seed=0, workdir=tmp_path / "cut")
    assert resumed.extras["resumed_from_epoch"] == resumed_from
    np.testing.assert_allclose(resumed.proba, full.proba, rtol=0, atol=1e-6)
    losses = lambda h: [{k: v for k, v in r.items() if k not in ("seconds", "monitor_seconds")} for r in h]  # noqa: E731
    assert losses(resumed.history) == losses(full.history)
    # a finished run in the same workdir only predicts
    again = _dual(epochs=3).fit(X, 4, seed=0, workdir=tmp_path / "cut")
    assert again.extras["resumed_from_epoch"] == 4
    np.testing.assert_allclose(again.proba, full.proba, atol=1e-6)


def test_checkpoint_of_another_run_is_refused(tmp_path):
    X = _tiny_images()
    _dual(epochs=1).fit(X, 4, seed=0, workdir=tmp_path)
    with pytest.raises(ConfigError, match="different run"):
        _dual(epochs=1, lam1=0.2).fit(X, 4, seed=0, workdir=tmp_path)


def test_optimizing_steps_only_named_optimizers_and_runs_after_step_hooks():
    """DeepModel.optimizing: zero_grad -> block -> backward -> step of the named optimizers only."""
    from clusterbench.training.contract import DeepModel

    m = DeepModel(torch.device("cpu"))
    a, b = torch.nn.Linear(2, 1), torch.nn.Linear(2, 1)
    m.optims = {"a": torch.optim.SGD(a.parameters(), lr=0.1), "b": torch.optim.SGD(b.parameters(), lr=0.1)}
    wa, wb = a.weight.detach().clone(), b.weight.detach().clone()
    hooked = []
    with m.optimizing("a") as opt:
        loss = opt.backward((a(torch.ones(1, 2)) + b(torch.ones(1, 2))).sum())
        opt.after_step.append(lambda: hooked.append(True))
    assert not torch.equal(a.weight, wa) and torch.equal(b.weight, wb)
    assert b.weight.grad is not None  # b's grads were computed but b did not step
    assert hooked == [True] and loss.requires_grad
    with pytest.raises(RuntimeError, match="did not call"):
        with m.optimizing("a"):
            pass
    wa = a.weight.detach().clone()
    with pytest.raises(ValueError):
        with m.optimizing("a") as opt:
            opt.backward(a(torch.ones(1, 2)).sum())
            raise ValueError("boom")
    assert torch.equal(a.weight, wa)  # an exception in the block steps nothing


def test_plain_progress_lines_when_stderr_is_not_a_terminal(capsys, monkeypatch):
    """Logs (CI, Slurm, nohup) get one plain line per epoch with losses, elapsed and ETA."""
    X = np.random.default_rng(0).random((40, 5), dtype=np.float32)
    opts = LoopOptions(epochs=3, batch_size=8)
    train(lambda d: _Toy(d), X, options=opts, seed=0, fingerprint={"method": "toy"})
    err = capsys.readouterr().err
    assert "[toy seed 0] train epoch" in err and "loss=" in err and "eta" in err
    assert "epoch 3/3 (3/3)" in err  # the last epoch is always printed
    monkeypatch.setenv("CLUSTERBENCH_QUIET", "1")
    train(lambda d: _Toy(d), X, options=opts, seed=0, fingerprint={"method": "toy"})
    assert "[toy" not in capsys.readouterr().err

# --- issue 15 class 2: checkpoints are never unpickled; issue 9 item 7: final weights only ------


class _Boom:
    """Unpickling this runs code: it creates the marker file (what an attacker's payload would do)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("name", ["checkpoint.pt", "model.pt"])
def test_malicious_pickle_checkpoint_is_refused_without_running_it(tmp_path, name):
    from clusterbench.errors import DataError

    marker = tmp_path / "pwned"
    work = tmp_path / "work"
    work.mkdir()
    torch.save({"fingerprint": {}, "payload": _Boom(marker)}, work / name)
    with pytest.raises(DataError, match="refused and nothing in it was executed"):
        _dual(epochs=1).fit(_tiny_images(), 4, seed=0, workdir=work)
    assert not marker.exists()


def test_package_never_unpickles():
    """Every torch.load in the package passes weights_only=True; no pickle.load / allow_pickle=True."""
    import re
    from pathlib import Path

    import clusterbench

    root = Path(clusterbench.__file__).parent
    for f in root.rglob("*.py"):
        text = f.read_text()
        for call in re.findall(r"torch\.load\([^)]*\)", text):
            assert "weights_only=True" in call, (f, call)
        assert not re.search(r"allow_pickle\s*=\s*True|pickle\.loads?\(", text), f


def test_finished_run_keeps_final_weights_only(tmp_path):
    from clusterbench.training.checkpoints import load_final_weights

    X = _tiny_images()
    m = _dual(epochs=2, checkpoint_every=1)
    out = m.fit(X, 4, seed=0, workdir=tmp_path / "a")
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["model.pt"]
    nets = load_final_weights(out.artifacts["model"])
    assert nets and all(isinstance(k, str) and isinstance(v, dict) and v for k, v in nets.items())
    assert all(isinstance(t, torch.Tensor) for v in nets.values() for t in v.values())
    state = torch.load(out.artifacts["model"], weights_only=True)
    assert "optims" not in state and "rng" not in state
    # a rerun in the same workdir only predicts, from the final weights
    again = _dual(epochs=2, checkpoint_every=1).fit(X, 4, seed=0, workdir=tmp_path / "a")
    assert again.extras["resumed_from_epoch"] == 3
    np.testing.assert_allclose(again.proba, out.proba, atol=1e-6)
    # --keep-checkpoints keeps the full state too
    k = _dual(epochs=2, checkpoint_every=1)
    k.keep_checkpoints = True
    k.fit(X, 4, seed=0, workdir=tmp_path / "b")
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["checkpoint.pt", "model.pt"]
    assert "optims" in torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=True)["model"]

# --- streaming from the HDF5 file (StoredArray) -----------------------------------------------------


def _stored_images(tmp_path, n=64, seed=0):
    """(in-memory float32 X, the same X as a StoredArray of a uint8 file with divisor 255)."""
    from clusterbench.data.hdf5 import Prepared, StoredArray, read_dataset, write_dataset

    rng = np.random.default_rng(seed)
    raw = rng.integers(0, 256, (n, 1, 8, 8), dtype=np.uint8)
    info = write_dataset(tmp_path / "x.h5", Prepared(X=raw, y=np.zeros(n, np.int64), recipe={}, x_divisor=255.0),
                         name="x", n_clusters=2)
    X, _, _ = read_dataset(info.path)
    return X, StoredArray(info.path)


def test_stored_batches_equal_in_memory_batches(tmp_path):
    from clusterbench.training.data import _Data

    X, S = _stored_images(tmp_path)
    mem, disk = _Data(X, torch.device("cpu"), False), _Data(S, torch.device("cpu"), False)
    assert disk.dense is None and disk.n == mem.n == 64
    for epoch in (1, 2, 7):
        for idx in batch_indices(64, 10, seed=3, epoch=epoch, drop_last=False):
            assert torch.equal(mem.batch(idx), disk.batch(idx))
    assert all(torch.equal(a, b) for a, b in zip(mem.in_order(30), disk.in_order(30)))
    # a --subset view reads only its rows, in the same order
    rows = np.array([5, 60, 2, 33])
    assert torch.equal(_Data(S.take(rows), torch.device("cpu"), False).batch(np.array([3, 0])),
                       torch.from_numpy(X[[33, 5]]))


def test_streaming_training_and_resume_equal_in_memory(tmp_path):
    X, S = _stored_images(tmp_path)
    full = _dual(epochs=3).fit(X, 4, seed=0, workdir=tmp_path / "full")
    streamed = _dual(epochs=3).fit(S, 4, seed=0, workdir=tmp_path / "streamed")
    np.testing.assert_array_equal(streamed.proba, full.proba)
    losses = lambda h: [{k: v for k, v in r.items() if k not in ("seconds", "monitor_seconds")} for r in h]  # noqa: E731
    assert losses(streamed.history) == losses(full.history)

    class Stop(Exception):
        pass

    calls = {"n": 0}

    def crash(proba):
        calls["n"] += 1
        if calls["n"] == 4:
            raise Stop
        return {}

    with pytest.raises(Stop):
        _dual(epochs=3).fit(S, 4, seed=0, workdir=tmp_path / "cut", monitor=crash)
    resumed = _dual(epochs=3).fit(S, 4, seed=0, workdir=tmp_path / "cut")
    assert resumed.extras["resumed_from_epoch"] == 2
    np.testing.assert_allclose(resumed.proba, full.proba, rtol=0, atol=1e-6)
    assert losses(resumed.history) == losses(full.history)
