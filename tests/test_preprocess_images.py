"""Image preprocessors on small fake raw files in the real formats (tests/fakes_images.py)."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import os
import pickle
import re
import tarfile
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

import clusterbench
from clusterbench.data.hdf5 import content_checksum, read_dataset, write_dataset
from clusterbench.data.preprocessors import PREPROCESSORS
from clusterbench.data.preprocessors.features import (
    hash_prefix_from_name,
    load_pinned_state_dict,
    verify_hash_prefix,
)
from clusterbench.data.registry import get_spec, load_registry
from clusterbench.errors import ChecksumError, ConfigError, DataError

from fakes_images import (
    FAKE_IMAGES,
    _tar_add,
    cifar_batch,
    fake_cifar10,
    fake_coil100,
    fake_dsprites,
    fake_idx,
    fake_stl10,
    fake_usps,
    idx_bytes,
    libsvm_text,
    png_bytes,
    stl10_x_bytes,
    write_jule_h5,
)

IMAGE_SETS = sorted(FAKE_IMAGES)
FAST_STL = {"weights": "random", "device": "cpu", "progress": False, "batch_size": 4}


def run(name: str, files: dict[str, Path], **overrides):
    spec = get_spec(name)
    options = {**spec.options, **(FAST_STL if name == "stl10" else {}), **overrides}
    return PREPROCESSORS[spec.preprocessor](files, spec=spec, **options)


# ----------------------------------------------------------------------------- every data set


@pytest.mark.parametrize("name", IMAGE_SETS)
def test_fake_produces_every_registered_file(name, tmp_path):
    files = FAKE_IMAGES[name](tmp_path)
    spec = get_spec(name)
    wanted = {f.role: f.name for f in spec.files if f.role != "weights"}
    assert {r: Path(p).name for r, p in files.items()} == wanted
    assert all(Path(p).parent == tmp_path for p in files.values())


@pytest.mark.parametrize("name", IMAGE_SETS)
def test_preprocessor_on_fake(name, tmp_path):
    spec = get_spec(name)
    p = run(name, FAKE_IMAGES[name](tmp_path / "raw"))
    X, y = p.values(), p.y
    assert X.dtype == np.float32 and y.dtype == np.int64
    # 8-bit and binary images are kept (and stored) as uint8 with their divisor
    assert (p.X.dtype == np.uint8) == (p.x_divisor is not None)
    if name in ("mnist", "fashion-mnist", "cifar10", "dsprites"):
        assert p.X.dtype == np.uint8
    assert X.shape[1:] == spec.sample_shape and len(X) == len(y) > 0
    assert np.isfinite(X).all()
    if name == "stl10":
        assert X.min() >= 0  # spatial means of post-ReLU maps
    else:
        assert X.min() >= 0 and X.max() <= 1 and X.max() > 0.9
    assert 0 <= y.min() and y.max() < spec.n_clusters
    assert p.recipe["preprocessor"] == spec.preprocessor and p.recipe["version"] >= 1
    for k, v in spec.options.items():
        if not (name == "stl10" and k in FAST_STL):
            assert p.recipe["options"][k] == v
    # The HDF5 contract accepts it and gives the same arrays back.
    info = write_dataset(tmp_path / f"{name}.h5", p, name=name, n_clusters=spec.n_clusters)
    X2, y2, info2, ext = read_dataset(info.path, extras=True)
    assert X2.dtype == np.float32
    np.testing.assert_array_equal(X2, X)
    assert info.checksum == content_checksum(X, y)  # over the float32 values, whatever the storage
    np.testing.assert_array_equal(y2, y)
    assert info2.recipe == p.recipe and set(ext) == set(p.extras)


def test_registry_image_entries():
    reg = load_registry()
    hexlen = {"md5": 32, "payload_md5": 32, "sha256": 64, "git_blob": 40}
    for name in IMAGE_SETS:
        spec = reg[name]
        assert spec.preprocessor in PREPROCESSORS, name
        assert spec.used_by and spec.title and spec.license and spec.notes, name
        assert spec.n_samples and spec.sample_shape and spec.files, name
        for f in spec.files:
            for key, n in hexlen.items():
                v = getattr(f, key)
                assert v is None or re.fullmatch(f"[0-9a-f]{{{n}}}", v), (name, f.name, key)
            if spec.source == "download":
                assert f.urls, (name, f.name)
        if spec.source == "user":
            assert f"clusterbench fetch {name} --from" in spec.obtain, name
    assert reg["stl10"].raw_name == reg["stl10-images"].raw_name == "stl10"
    assert all(f.payload_md5 for f in reg["fashion-mnist"].files)
    assert reg["stl10"].file("weights").name == "resnet50-0676ba61.pth"
    assert reg["mnist"].file("train-images").urls[0].startswith("https://ossci-datasets.s3.amazonaws.com/")


def test_digits_still_works():
    X, y, info = clusterbench.load("digits")
    assert X.shape == (1797, 1, 8, 8) and info.n_clusters == 10


# ----------------------------------------------------------------------------- IDX


def test_idx_values_split_and_order(tmp_path):
    files = fake_idx(tmp_path, n_train=20, n_test=10)
    raw = {r: np.frombuffer(gzip.decompress(Path(p).read_bytes())[16 if "images" in r else 8 :], np.uint8) for r, p in files.items()}
    all_ = run("mnist", files)
    assert all_.X.shape == (30, 1, 28, 28)
    values = all_.values()
    np.testing.assert_array_equal(values[:20].reshape(-1) * 255, raw["train-images"].astype(np.float32))
    np.testing.assert_allclose(values[20:].reshape(-1), raw["test-images"] / 255.0, rtol=0, atol=1e-7)
    # bit-identical to the float32 arrays of format version 1 (np.divide by float32 255)
    old = np.divide(raw["train-images"], np.float32(255.0), dtype=np.float32)
    assert values[:20].reshape(-1).tobytes() == old.tobytes()
    np.testing.assert_array_equal(all_.y, np.concatenate([raw["train-labels"], raw["test-labels"]]))
    assert run("mnist", files, split="train").X.shape[0] == 20
    test = run("mnist", files, split="test")
    assert test.X.shape[0] == 10 and test.recipe["options"]["split"] == "test"
    with pytest.raises(ConfigError, match="split"):
        run("mnist", files, split="both")


def test_idx_split_reads_only_its_files(tmp_path):
    files = fake_idx(tmp_path)
    only_test = {r: p for r, p in files.items() if r.startswith("test")}
    assert len(run("mnist", only_test, split="test").y) == 10
    with pytest.raises(DataError, match="train-images"):
        run("mnist", only_test)


@pytest.mark.parametrize(
    "damage, match",
    [
        (lambda b: gzip.compress(idx_bytes(np.zeros(5, np.uint8))), "magic"),  # a label file as images
        (lambda b: gzip.compress(gzip.decompress(b)[:-100]), "header announces"),  # payload cut
        (lambda b: gzip.compress(gzip.decompress(b) + b"\0"), "header announces"),  # trailing bytes
        (lambda b: b[: len(b) // 2], "decompression failed"),  # truncated gzip stream
        (lambda b: gzip.compress(b"\0\0"), "too short"),
    ],
)
def test_idx_corrupt_is_data_error(tmp_path, damage, match):
    files = fake_idx(tmp_path)
    p = files["train-images"]
    p.write_bytes(damage(p.read_bytes()))
    with pytest.raises(DataError, match=match):
        run("mnist", files)


def test_idx_count_mismatch_and_bad_labels(tmp_path):
    files = fake_idx(tmp_path)
    files["train-labels"].write_bytes(gzip.compress(idx_bytes(np.zeros(19, np.uint8))))
    with pytest.raises(DataError, match="20 images but 19 labels"):
        run("mnist", files)
    files["train-labels"].write_bytes(gzip.compress(idx_bytes(np.full(20, 10, np.uint8))))
    with pytest.raises(DataError, match="labels range"):
        run("mnist", files)


FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.skipif(not FASHION.is_dir(), reason="Debian package dataset-fashion-mnist not installed")
def test_idx_real_fashion_mnist_from_debian():
    spec = get_spec("fashion-mnist")
    files = {f.role: FASHION / f.name for f in spec.files}
    for f in spec.files:  # Debian recompressed the .gz files but the payloads are the pinned ones
        assert hashlib.md5(gzip.decompress(files[f.role].read_bytes())).hexdigest() == f.payload_md5
    p = run("fashion-mnist", files)
    X = p.values()
    assert p.X.dtype == np.uint8 and X.shape == (70000, 1, 28, 28) and X.min() == 0.0 and X.max() == 1.0
    assert np.bincount(p.y).tolist() == [7000] * 10


# ----------------------------------------------------------------------------- USPS (LIBSVM)


def test_usps_values(tmp_path):
    files = fake_usps(tmp_path, n_train=3, n_test=2)
    p = run("usps", files)
    assert p.X.shape == (5, 1, 16, 16)
    flat = p.X.reshape(5, -1)
    assert (flat[:, 0] == 0).all() and (flat[:, 1] == 1).all() and (flat[:, 2] == 0.5).all()
    assert p.y.tolist() == [0, 1, 2, 0, 1]  # labels 1..10 -> 0..9, train then test
    assert run("usps", files, split="test").y.tolist() == [0, 1]


def test_usps_orientation_row_major(tmp_path):
    X = -np.ones((1, 256))
    X[0, 3 * 16 + 10] = 1.0  # row 3, column 10
    for role in ("train", "test"):
        (tmp_path / f"{role}.bz2").write_bytes(bz2.compress(libsvm_text(X, np.array([7])).encode()))
    p = run("usps", {"train": tmp_path / "train.bz2", "test": tmp_path / "test.bz2"})
    assert p.X[0, 0, 3, 10] == 1.0 and p.X[0, 0].sum() == 1.0 and p.y[0] == 6


@pytest.mark.parametrize(
    "text, match",
    [
        ("3 1:0.5 2:oops\n", "not LIBSVM"),
        ("3 1:0.5 257:0.1\n", "not LIBSVM"),
        ("11 1:0.5\n", "labels must be integers 1..10"),
        ("3 1:1.5\n", r"expected \[-1, 1\]"),
        ("", "empty"),
    ],
)
def test_usps_malformed_is_data_error(tmp_path, text, match):
    files = fake_usps(tmp_path)
    files["train"].write_bytes(bz2.compress(text.encode()))
    with pytest.raises(DataError, match=match):
        run("usps", files)


def test_usps_truncated_bz2(tmp_path):
    files = fake_usps(tmp_path)
    files["test"].write_bytes(files["test"].read_bytes()[:-40])
    with pytest.raises(DataError, match="corrupt, truncated"):
        run("usps", files)


# ----------------------------------------------------------------------------- STL-10


def _pattern_images(n: int) -> np.ndarray:
    """Asymmetric (channel, row, column) patterns: ch0 row 5 lit, ch1 column 70 lit, ch2 pixel (10, 80)."""
    imgs = np.zeros((n, 3, 96, 96), np.uint8)
    imgs[:, 0, 5, :] = 255
    imgs[:, 1, :, 70] = 255
    imgs[:, 2, 10, 80] = 255
    imgs[:, 2, 10, 81] = np.arange(n)  # tells the images apart
    return imgs


def test_stl10_column_major_layout(tmp_path):
    imgs = {"train": _pattern_images(2), "test": _pattern_images(3)}
    files = fake_stl10(tmp_path, dataset="stl10-images", images=imgs)
    p = run("stl10-images", files)
    X = p.X
    assert X.shape == (5, 3, 96, 96) and p.y.tolist() == [0, 1, 0, 1, 2]
    assert (X[:, 0, 5, :] == 1).all() and X[:, 0].sum() == 5 * 96  # a row, not a column
    assert (X[:, 1, :, 70] == 1).all() and X[:, 1].sum() == 5 * 96  # a column, not a row
    assert (X[:, 2, 10, 80] == 1).all() and X[:, 2, 80, 10].max() == 0
    np.testing.assert_allclose(X[:, 2, 10, 81] * 255, [0, 1, 0, 1, 2])  # train then test


def test_stl10_bad_archives(tmp_path):
    files = fake_stl10(tmp_path / "a")
    good = files["archive"].read_bytes()
    files["archive"].write_bytes(good[: len(good) // 2])
    with pytest.raises(DataError, match="corrupt, truncated"):
        run("stl10-images", files)
    # An archive without the test labels.
    path = tmp_path / "stl10_binary.tar.gz"
    with tarfile.open(path, "w:gz") as tf:
        _tar_add(tf, "stl10_binary/train_X.bin", stl10_x_bytes(_pattern_images(1)))
        _tar_add(tf, "stl10_binary/train_y.bin", b"\x01")
        _tar_add(tf, "stl10_binary/test_X.bin", stl10_x_bytes(_pattern_images(1)))
    with pytest.raises(DataError, match="lacks stl10_binary/test_y.bin"):
        run("stl10-images", {"archive": path})
    assert run("stl10-images", {"archive": path}, split="train").X.shape == (1, 3, 96, 96)
    # A label 0 (the file's labels are 1..10).
    with tarfile.open(path, "w:gz") as tf:
        _tar_add(tf, "stl10_binary/train_X.bin", stl10_x_bytes(_pattern_images(1)) + b"\0")
        _tar_add(tf, "stl10_binary/train_y.bin", b"\x01")
    with pytest.raises(DataError, match="whole number"):
        run("stl10-images", {"archive": path}, split="train")


# ----------------------------------------------------------------------------- ResNet-50 features


def test_stl10_features_random_weights_deterministic(tmp_path):
    files = fake_stl10(tmp_path, n_train=3, n_test=1)
    a = run("stl10", files, split="train", batch_size=2)
    b = run("stl10", files, split="train", batch_size=3)
    assert a.X.shape == (3, 2048) and np.isfinite(a.X).all() and a.X.std() > 0
    assert not np.allclose(a.X[0], a.X[1])  # different images, different features
    np.testing.assert_allclose(a.X, b.X, rtol=1e-4, atol=1e-5)  # same seed: same weights
    assert a.recipe["options"]["weights"] == "random" and a.recipe["options"]["seed"] == 0


def test_stl10_features_need_weights_file(tmp_path):
    files = fake_stl10(tmp_path)
    with pytest.raises(DataError, match="weights"):
        run("stl10", files, weights="imagenet")
    with pytest.raises(ConfigError, match="weights"):
        run("stl10", files, weights="bogus")
    with pytest.raises(ConfigError, match="device"):
        run("stl10", files, device="tpu")


def _save(state, path: Path) -> Path:
    torch.save(state, path)
    return path


def _named_by_hash(tmp_path: Path, state, stem: str = "tiny") -> Path:
    tmp = _save(state, tmp_path / "tmp.pth")
    digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
    return tmp.rename(tmp_path / f"{stem}-{digest[:8]}.pth")


def test_pinned_state_dict_loads(tmp_path):
    torch.manual_seed(0)
    src = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))
    path = _named_by_hash(tmp_path, src.state_dict())
    assert hash_prefix_from_name(path) == path.stem.split("-")[-1]
    dst = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))
    digest = load_pinned_state_dict(path, None, dst)
    assert digest == hashlib.sha256(path.read_bytes()).hexdigest()
    for k, v in src.state_dict().items():
        assert torch.equal(dst.state_dict()[k], v)
    assert verify_hash_prefix(path, digest[:12]) == digest


def test_pinned_state_dict_rejects_bad_files(tmp_path):
    model = torch.nn.Linear(4, 3)
    good = _named_by_hash(tmp_path, model.state_dict())
    wrong_name = good.rename(tmp_path / "tiny-00000000.pth")
    with pytest.raises(ChecksumError, match="does not start with the pinned prefix 00000000"):
        load_pinned_state_dict(wrong_name, None, model)
    with pytest.raises(ChecksumError):
        verify_hash_prefix(wrong_name, "ffff")
    # Right prefix, wrong network: keys/shapes do not match.
    other = _named_by_hash(tmp_path, torch.nn.Linear(5, 3).state_dict(), stem="other")
    with pytest.raises(DataError, match="do not fit"):
        load_pinned_state_dict(other, None, model)
    # Right prefix for garbage bytes.
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a torch file" * 10)
    junk = junk.rename(tmp_path / f"junk-{hashlib.sha256(junk.read_bytes()).hexdigest()[:8]}.pth")
    with pytest.raises(DataError, match="cannot be read"):
        load_pinned_state_dict(junk, None, model)
    # A pickle that is not plain tensors is refused by weights_only=True.
    evil = _named_by_hash(tmp_path, {"weight": torch.zeros(3, 4), "bias": os.getcwd}, stem="evil")
    with pytest.raises(DataError, match="cannot be read"):
        load_pinned_state_dict(evil, None, model)
    nameless = tmp_path / "weights.pth"
    nameless.write_bytes(b"x")
    with pytest.raises(DataError, match="carries no sha256 prefix"):
        load_pinned_state_dict(nameless, None, model)
    with pytest.raises(DataError, match="does not exist"):
        load_pinned_state_dict(tmp_path / "missing-0676ba61.pth", None, model)


def test_resnet50_weights_file_goes_through_pinned_loader(tmp_path):
    """The real path (weights='imagenet') with a correctly named file that is not a ResNet-50."""
    files = fake_stl10(tmp_path)
    files["weights"] = _named_by_hash(tmp_path, torch.nn.Linear(2, 2).state_dict(), stem="resnet50")
    with pytest.raises(DataError, match="do not fit"):
        run("stl10", files, weights="imagenet")
    files["weights"] = files["weights"].rename(tmp_path / "resnet50-0676ba61.pth")
    with pytest.raises(ChecksumError, match="0676ba61"):
        run("stl10", files, weights="imagenet")


# ----------------------------------------------------------------------------- CIFAR-10


def test_cifar_chw_order_and_split(tmp_path):
    img = np.zeros((1, 3, 32, 32), np.uint8)
    img[0, 0, 0, 1] = 255  # red, row 0, column 1
    img[0, 2, 31, 0] = 51  # blue, row 31, column 0
    files = fake_cifar10(tmp_path, per_batch=2, images={"test_batch": img})
    p = run("cifar10", files)
    assert p.X.shape == (11, 3, 32, 32)
    last = p.values()[-1]
    assert last[0, 0, 1] == 1.0 and last[2, 31, 0] == pytest.approx(0.2) and last.sum() == pytest.approx(1.2)
    assert run("cifar10", files, split="train").X.shape[0] == 10
    assert run("cifar10", files, split="test").y.tolist() == [0]


def test_cifar_refuses_code_in_pickles_and_corrupt_tar(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    path = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(path, "w:gz") as tf:
        for b in [f"data_batch_{i}" for i in range(1, 6)]:
            _tar_add(tf, f"cifar-10-batches-py/{b}", cifar_batch(np.zeros((1, 3, 32, 32), np.uint8), [0], b))
        _tar_add(tf, "cifar-10-batches-py/test_batch", pickle.dumps({"data": Evil(), "labels": [0]}, protocol=2))
    with pytest.raises(DataError, match="refusing to load"):
        run("cifar10", {"archive": path})
    assert run("cifar10", {"archive": path}, split="train").X.shape == (5, 3, 32, 32)
    path.write_bytes(b"\x1f\x8b" + b"\0" * 100)
    with pytest.raises(DataError, match="corrupt, truncated"):
        run("cifar10", {"archive": path})


# ----------------------------------------------------------------------------- COIL


def test_coil_values_labels_order(tmp_path):
    p = run("coil100", fake_coil100(tmp_path))
    assert p.X.shape == (6, 3, 128, 128) and p.y.tolist() == [0, 0, 1, 1, 2, 2]
    # obj 2, angle 5 (index 3): grey channel = (x*2 + y + 5) % 256 at (y=7, x=9)
    assert p.X[3, 0, 7, 9] * 255 == pytest.approx((9 * 2 + 7 + 5) % 256)
    assert (p.X[3, 1] * 255 == pytest.approx(2)) and (p.X[3, 2] * 255 == pytest.approx(5))


def test_coil_angle_sorted_numerically(tmp_path):
    path = tmp_path / "coil-20-proc.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for a in (10, 2):
            zf.writestr(f"coil-20-proc/obj1__{a}.png", png_bytes(np.full((128, 128), a, np.uint8)))
    p = run("coil20", {"archive": path})
    assert p.X.shape == (2, 1, 128, 128) and np.round(p.X[:, 0, 0, 0] * 255).tolist() == [2, 10]


@pytest.mark.parametrize(
    "members, match",
    [
        ({"coil-100/obj1__0.png": b"\x89PNG garbage"}, "cannot be decoded"),
        ({"coil-100/obj1__0.png": "small"}, "expected 128x128"),
        ({"coil-100/readme.txt": b"x"}, "no obj"),
        ({"coil-100/obj101__0.png": "ok"}, "expected 1..100"),
    ],
)
def test_coil_bad_members(tmp_path, members, match):
    path = tmp_path / "coil-100.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            if data == "small":
                data = png_bytes(np.zeros((64, 64, 3), np.uint8))
            elif data == "ok":
                data = png_bytes(np.zeros((128, 128, 3), np.uint8))
            zf.writestr(name, data)
    with pytest.raises(DataError, match=match):
        run("coil100", {"archive": path})


def test_coil_not_a_zip(tmp_path):
    path = tmp_path / "coil-100.zip"
    path.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(DataError, match="not a zip"):
        run("coil100", {"archive": path})


# ----------------------------------------------------------------------------- JULE HDF5


def test_jule_ranges_layouts_and_labels(tmp_path):
    rng = np.random.default_rng(0)
    data01 = rng.random((6, 55, 55, 3)).astype(np.float32)  # channels last, already [0, 1]
    path = write_jule_h5(tmp_path / "ytf.h5", data01, np.array([[41], [41], [3], [3], [7], [7]]))
    p = run("ytf", {"data": path})
    np.testing.assert_array_equal(p.X, data01.transpose(0, 3, 1, 2))
    assert p.y.tolist() == [2, 2, 0, 0, 1, 1]
    assert p.recipe["detected"] == {"input_range": "1", "layout": "NHWC", "label_codes": [3, 7, 41]}
    grey = np.full((2, 16, 16), 255, np.uint8)  # N x H x W for one channel
    p = run("usps-11k", {"data": write_jule_h5(tmp_path / "u.h5", grey, np.array([1, 2]))})
    assert p.X.shape == (2, 1, 16, 16) and (p.X == 1).all() and p.recipe["detected"]["input_range"] == "255"
    with pytest.raises(DataError, match=r"expected 0..1 \(input_range=1\)"):
        run("usps-11k", {"data": write_jule_h5(tmp_path / "u.h5", grey, np.array([1, 2]))}, input_range="1")


@pytest.mark.parametrize(
    "data, labels, match",
    [
        (np.zeros((2, 3, 32, 31)), np.array([1, 2]), "expected N x 3 x 32 x 32"),
        (np.zeros((2, 3, 32, 32)), np.array([1, 2, 3]), "2 images but 3 labels"),
        (np.zeros((2, 3, 32, 32)), np.array([1.5, 2]), "not integers"),
        (np.zeros((21, 3, 32, 32)), np.arange(21), "21 distinct labels"),
        (np.full((2, 3, 32, 32), 300.0), np.array([1, 2]), "range over"),
        (np.full((2, 3, 32, 32), -1.0), np.array([1, 2]), "range over"),
    ],
)
def test_jule_bad_content(tmp_path, data, labels, match):
    path = write_jule_h5(tmp_path / "frgc.h5", data, labels)
    with pytest.raises(DataError, match=match):
        run("frgc", {"data": path})


def test_jule_not_hdf5_or_missing_key(tmp_path):
    path = tmp_path / "data4torch.h5"
    path.write_bytes(b"this is not hdf5")
    with pytest.raises(DataError, match="not a readable HDF5"):
        run("frgc", {"data": path})
    with h5py.File(path, "w") as f:
        f["images"] = np.zeros((2, 3, 32, 32))
    with pytest.raises(DataError, match="no dataset 'data' or 'labels'"):
        run("frgc", {"data": path})


# ----------------------------------------------------------------------------- dSprites


def test_dsprites_values_and_extras(tmp_path):
    files = fake_dsprites(tmp_path, n=12)
    with np.load(files["archive"]) as z:
        imgs, classes, values = z["imgs"], z["latents_classes"], z["latents_values"]
    p = run("dsprites", files)
    np.testing.assert_array_equal(p.X[:, 0], imgs.astype(np.float32))
    np.testing.assert_array_equal(p.y, classes[:, 1])
    np.testing.assert_array_equal(p.extras["latents_classes"], classes)
    np.testing.assert_array_equal(p.extras["latents_values"], values)
    with pytest.raises(ConfigError, match="6 classes but the registry entry says n_clusters = 3"):
        run("dsprites", files, label="scale")
    with pytest.raises(ConfigError, match="label"):
        run("dsprites", files, label="colour")


def test_dsprites_streams_in_chunks(tmp_path, monkeypatch):
    import clusterbench.data.preprocessors.dsprites as ds

    monkeypatch.setattr(ds, "_CHUNK", 5)
    files = fake_dsprites(tmp_path, n=12)
    with np.load(files["archive"]) as z:
        imgs = z["imgs"]
    np.testing.assert_array_equal(run("dsprites", files).X[:, 0], imgs)


def _npz(path: Path, **arrays) -> dict[str, Path]:
    with open(path, "wb") as fh:
        np.savez_compressed(fh, **arrays)
    return {"archive": path}


def test_dsprites_bad_files(tmp_path):
    n = 4
    good = dict(
        imgs=np.zeros((n, 64, 64), np.uint8), latents_values=np.zeros((n, 6)), latents_classes=np.zeros((n, 6), np.int64)
    )
    p = tmp_path / "d.npz"
    with pytest.raises(DataError, match="no array 'latents_classes'"):
        run("dsprites", _npz(p, imgs=good["imgs"], latents_values=good["latents_values"]))
    with pytest.raises(DataError, match="expected 0/1"):
        run("dsprites", _npz(p, **{**good, "imgs": np.full((n, 64, 64), 255, np.uint8)}))
    with pytest.raises(DataError, match="expected uint8"):
        run("dsprites", _npz(p, **{**good, "imgs": np.zeros((n, 64, 64), np.float32)}))
    with pytest.raises(DataError, match=r"expected \(4, 6\)"):
        run("dsprites", _npz(p, **{**good, "latents_values": np.zeros((n, 5))}))
    files = _npz(p, **good)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="corrupt, truncated"):
        run("dsprites", files)
