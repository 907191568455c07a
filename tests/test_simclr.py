"""SimCLR: NT-Xent by hand, the 32x32 ResNet-18, a few pre-training steps on tiny random data
through the loop, the hash-named cache, and loading a user checkpoint (weights_only)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from clusterbench.errors import DataError
from clusterbench.methods.pretrain import simclr

torch.set_num_threads(1)
TINY = simclr.SimCLRConfig(epochs=1, batch_size=8, proj_hidden=32, proj_dim=16, checkpoint_every=1)


def test_nt_xent_by_hand():
    e = torch.eye(2)
    # two pairs of identical orthonormal views: each view's positive has sim 1/0.5, the others 0
    expected = -math.log(math.exp(2) / (math.exp(2) + 2))
    assert simclr.nt_xent(e, e, 0.5).item() == pytest.approx(expected, rel=1e-6)
    assert simclr.nt_xent(e, e.flip(0), 0.5).item() > expected  # swapped pairs: worse


def test_backbone_shapes():
    net = simclr.resnet18_cifar()
    assert net.conv1.kernel_size == (3, 3) and net.conv1.stride == (1, 1)
    assert isinstance(net.maxpool, torch.nn.Identity)
    with torch.no_grad():
        assert net.eval()(torch.rand(2, 3, 32, 32)).shape == (2, 512)
    head = simclr.projection_head()
    assert [m.out_features for m in head if isinstance(m, torch.nn.Linear)] == [2048, 128]


def test_pretrain_save_cache_reload(tmp_path):
    X = np.random.default_rng(0).random((16, 3, 32, 32), dtype=np.float32)
    path = simclr.pretrain(X, TINY, seed=0, directory=tmp_path / "a")
    assert path.name == "model.pt" and path.parent.name.startswith("simclr-")
    assert (path.parent.parent / f"{path.parent.name}.json").exists()
    stamp = path.stat().st_mtime_ns
    assert simclr.pretrain(X, TINY, seed=0, directory=tmp_path / "a") == path  # cached, not retrained
    assert path.stat().st_mtime_ns == stamp
    again = simclr.pretrain(X, TINY, seed=0, directory=tmp_path / "b")  # same seed elsewhere: same weights
    f1 = simclr.features(simclr.load_encoder(path), X[:4])
    f2 = simclr.features(simclr.load_encoder(again), X[:4])
    assert f1.shape == (4, 512)
    np.testing.assert_array_equal(f1, f2)
    other = simclr.pretrain(X, TINY, seed=1, directory=tmp_path / "a")
    assert other != path
    assert not np.array_equal(simclr.features(simclr.load_encoder(other), X[:4]), f1)


def test_user_checkpoint_plain_state_dict(tmp_path):
    net = simclr.resnet18_cifar().eval()
    sd = {f"module.{k}": v for k, v in net.state_dict().items()}
    sd["fc.weight"] = torch.zeros(10, 512)  # a classifier in the file is ignored
    torch.save({"state_dict": sd}, tmp_path / "user.pt")
    X = np.random.default_rng(1).random((3, 3, 32, 32), dtype=np.float32)
    np.testing.assert_allclose(simclr.features(simclr.load_encoder(tmp_path / "user.pt"), X),
                               simclr.features(net, X), rtol=1e-5, atol=1e-6)


class _NotWeights:
    """An object the weights-only unpickler must refuse."""


def test_bad_checkpoints_are_refused(tmp_path):
    torch.save({"conv1.weight": torch.zeros(1)}, tmp_path / "wrong.pt")
    with pytest.raises(DataError, match="not a SimCLR"):
        simclr.load_encoder(tmp_path / "wrong.pt")

    torch.save({"x": _NotWeights()}, tmp_path / "evil.pt")
    with pytest.raises(DataError, match="refused"):
        simclr.load_encoder(tmp_path / "evil.pt")
    with pytest.raises(DataError, match="32 x 32"):
        simclr.pretrain(np.zeros((4, 1, 28, 28), np.float32), TINY, directory=tmp_path)


def test_batched_augmentation():
    torch.manual_seed(0)
    x = torch.rand(64, 3, 32, 32)
    same = simclr.batched_augment(x, scale=(1.0, 1.0), flip_p=0.0, jitter_p=0.0, gray_p=0.0)
    torch.testing.assert_close(same, x)  # a whole-image crop of every image, nothing else: identity
    flipped = simclr.batched_augment(x, scale=(1.0, 1.0), flip_p=1.0, jitter_p=0.0, gray_p=0.0)
    torch.testing.assert_close(flipped, x.flip(-1))
    gray = simclr.batched_augment(x, scale=(1.0, 1.0), flip_p=0.0, jitter_p=0.0, gray_p=1.0)
    assert torch.allclose(gray[:, 0], gray[:, 1]) and torch.allclose(gray[:, 1], gray[:, 2])
    # the HSV round trip is exact
    torch.testing.assert_close(simclr._hsv_to_rgb(simclr._rgb_to_hsv(x)), x, atol=1e-5, rtol=0)
    out = simclr.batched_augment(x)
    assert out.shape == x.shape and float(out.min()) >= 0 and float(out.max()) <= 1
    assert not torch.allclose(out[0], out[1]) and not torch.allclose(out, simclr.batched_augment(x))
    cfg = simclr.SimCLRConfig(epochs=1, batch_size=8, proj_hidden=32, proj_dim=16, augment="batched")
    m = simclr.SimCLRModel(torch.device("cpu"), cfg, 1)
    assert np.isfinite(float(m.training_step(x[:8], 0)["nt_xent"]))
    with pytest.raises(ValueError, match="augment"):
        simclr.SimCLRConfig(augment="fancy")
