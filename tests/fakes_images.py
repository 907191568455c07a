"""Small raw files in the REAL raw formats of the image data sets, for tests (no network).

Each ``fake_<name>(directory)`` writes the files of that data set's ``[[files]]`` entries (under
the registry's file names) into ``directory`` and returns ``{role: path}``; ``FAKE_IMAGES`` maps
data set names to these functions. ``stl10`` gets the archive only: its ``weights`` file is the
real ResNet-50 one, which tests replace with ``weights="random"``.

The byte layouts are written independently of the preprocessors' decoding (e.g. STL-10's
column-major order with ``flatten(order="F")`` per channel, not with a transpose), so a decoding
bug shows up as a failing test.
"""

from __future__ import annotations

import bz2
import gzip
import io
import pickle
import struct
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np

from clusterbench.data.registry import load_registry


def file_name(dataset: str, role: str) -> str:
    """The registry's file name of ``dataset``'s file with ``role``."""
    return load_registry()[dataset].file(role).name


# ----------------------------------------------------------------------------- format writers


def idx_bytes(array: np.ndarray) -> bytes:
    """IDX encoding of a uint8 array: 0, 0, 0x08, ndim, big-endian uint32 dims, data."""
    a = np.ascontiguousarray(array, dtype=np.uint8)
    return bytes([0, 0, 0x08, a.ndim]) + b"".join(struct.pack(">I", d) for d in a.shape) + a.tobytes()


def stl10_x_bytes(images: np.ndarray) -> bytes:
    """STL-10 ``*_X.bin`` bytes of (N, 3, 96, 96) uint8 images given in (channel, row, column)
    order: each channel written column by column (Fortran order), as the real files are."""
    return b"".join(np.asarray(img[c]).flatten(order="F").tobytes() for img in images for c in range(3))


def _tar_add(tf: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tf.addfile(info, io.BytesIO(data))


def png_bytes(array: np.ndarray) -> bytes:
    """PNG of an (H, W) grey or (H, W, 3) RGB uint8 array."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array, dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


# ----------------------------------------------------------------------------- data sets


def fake_idx(directory: Path, *, dataset: str = "mnist", n_train: int = 20, n_test: int = 10) -> dict[str, Path]:
    """MNIST-layout IDX gz files: n_train + n_test random 28x28 digits, labels cycling 0..9."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = _rng(1)
    out: dict[str, Path] = {}
    for part, n in (("train", n_train), ("test", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        images[:, 0, 0] = 0
        images[:, 27, 27] = 255  # the full 0..255 range is present
        labels = (np.arange(n) % 10).astype(np.uint8)
        for kind, arr in (("images", images), ("labels", labels)):
            role = f"{part}-{kind}"
            p = directory / file_name(dataset, role)
            p.write_bytes(gzip.compress(idx_bytes(arr)))
            out[role] = p
    return out


def fake_mnist(directory: Path) -> dict[str, Path]:
    return fake_idx(directory, dataset="mnist")


def fake_fashion_mnist(directory: Path) -> dict[str, Path]:
    return fake_idx(directory, dataset="fashion-mnist")


def libsvm_text(X: np.ndarray, labels: np.ndarray) -> str:
    """LIBSVM lines ``label 1:v1 2:v2 ...`` (1-based indices, zeros omitted as LIBSVM allows)."""
    lines = []
    for row, lab in zip(X, labels):
        feats = " ".join(f"{j + 1}:{v:.6g}" for j, v in enumerate(row) if v != 0)
        lines.append(f"{int(lab)} {feats}".rstrip())
    return "\n".join(lines) + "\n"


def fake_usps(directory: Path, *, n_train: int = 20, n_test: int = 10) -> dict[str, Path]:
    """usps.bz2 / usps.t.bz2: LIBSVM text, labels 1..10, 256 pixels in [-1, 1]."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = _rng(2)
    out = {}
    for role, n in (("train", n_train), ("test", n_test)):
        X = np.round(rng.uniform(-1, 1, size=(n, 256)), 6)
        X[:, 0] = -1.0
        X[:, 1] = 1.0
        X[:, 2] = 0.0  # omitted in the text: must come back as 0.5
        labels = np.arange(n) % 10 + 1
        p = directory / file_name("usps", role)
        p.write_bytes(bz2.compress(libsvm_text(X, labels).encode()))
        out[role] = p
    return out


def write_jule_h5(path: Path, data: np.ndarray, labels: np.ndarray) -> Path:
    """JULE ``data4torch.h5``: datasets ``data`` and ``labels``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        f.create_dataset("data", data=data)
        f.create_dataset("labels", data=labels)
    return path


def _fake_jule(directory: Path, dataset: str, shape: tuple[int, int, int], k: int, n: int) -> dict[str, Path]:
    rng = _rng(3)
    data = rng.integers(0, 256, size=(n, *shape)).astype(np.float64)  # Lua/torch wrote doubles 0..255
    data.flat[0], data.flat[1] = 0.0, 255.0
    labels = (np.arange(n) % k + 1).astype(np.float64)  # 1-based, as Lua code writes them
    return {"data": write_jule_h5(directory / file_name(dataset, "data"), data, labels)}


def fake_usps_11k(directory: Path) -> dict[str, Path]:
    return _fake_jule(directory, "usps-11k", (1, 16, 16), 10, 30)


def fake_frgc(directory: Path) -> dict[str, Path]:
    return _fake_jule(directory, "frgc", (3, 32, 32), 20, 40)


def fake_ytf(directory: Path) -> dict[str, Path]:
    return _fake_jule(directory, "ytf", (3, 55, 55), 41, 50)


def fake_stl10(
    directory: Path,
    *,
    dataset: str = "stl10",
    n_train: int = 2,
    n_test: int = 3,
    images: dict[str, np.ndarray] | None = None,
) -> dict[str, Path]:
    """stl10_binary.tar.gz with the real member paths (labelled splits, a few unlabelled images,
    class_names.txt, fold_indices.txt). ``images`` may give (N, 3, 96, 96) uint8 arrays per split."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = _rng(4)
    images = dict(images or {})
    for part, n in (("train", n_train), ("test", n_test)):
        images.setdefault(part, rng.integers(0, 256, size=(n, 3, 96, 96), dtype=np.uint8))
    path = directory / file_name(dataset, "archive")
    with tarfile.open(path, "w:gz") as tf:
        _tar_add(tf, "stl10_binary/class_names.txt", b"airplane\nbird\ncar\ncat\ndeer\ndog\nhorse\nmonkey\nship\ntruck\n")
        _tar_add(tf, "stl10_binary/fold_indices.txt", b"0 1 2\n")
        for part in ("train", "test"):
            n = len(images[part])
            _tar_add(tf, f"stl10_binary/{part}_X.bin", stl10_x_bytes(images[part]))
            _tar_add(tf, f"stl10_binary/{part}_y.bin", bytes(int(v) for v in np.arange(n) % 10 + 1))
            if part == "train":  # the real archive also holds 100,000 unlabelled images
                _tar_add(tf, "stl10_binary/unlabeled_X.bin", stl10_x_bytes(rng.integers(0, 256, (3, 3, 96, 96), dtype=np.uint8)))
    return {"archive": path}


def fake_stl10_images(directory: Path) -> dict[str, Path]:
    return fake_stl10(directory, dataset="stl10-images")


def cifar_batch(images: np.ndarray, labels: np.ndarray, name: str) -> bytes:
    """A CIFAR-10 batch pickle: dict with data (N x 3072 uint8, R plane, G plane, B plane, each
    row-major) and labels (list), pickled with protocol 2 as the Python-2 originals."""
    n = len(images)
    data = np.stack([np.concatenate([img[c].reshape(-1) for c in range(3)]) for img in images]) if n else np.zeros((0, 3072), np.uint8)
    d = {
        "batch_label": name,
        "labels": [int(v) for v in labels],
        "data": data.astype(np.uint8),
        "filenames": [f"img_{i}.png" for i in range(n)],
    }
    return pickle.dumps(d, protocol=2)


def fake_cifar10(directory: Path, *, per_batch: int = 4, images: dict[str, np.ndarray] | None = None) -> dict[str, Path]:
    """cifar-10-python.tar.gz with data_batch_1..5, test_batch, batches.meta and readme.html."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = _rng(5)
    images = dict(images or {})
    path = directory / file_name("cifar10", "archive")
    with tarfile.open(path, "w:gz") as tf:
        _tar_add(tf, "cifar-10-batches-py/readme.html", b"<html>fake</html>")
        meta = {"label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]}
        _tar_add(tf, "cifar-10-batches-py/batches.meta", pickle.dumps(meta, protocol=2))
        for b in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            imgs = images.get(b)
            if imgs is None:
                imgs = rng.integers(0, 256, size=(per_batch, 3, 32, 32), dtype=np.uint8)
            _tar_add(tf, f"cifar-10-batches-py/{b}", cifar_batch(imgs, np.arange(len(imgs)) % 10, b))
    return {"archive": path}


def _fake_coil(directory: Path, dataset: str, folder: str, n_obj: int, angles: list[int], rgb: bool) -> dict[str, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / file_name(dataset, "archive")
    yy, xx = np.mgrid[0:128, 0:128]
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr(f"{folder}/", b"")
        if rgb:
            zf.writestr(f"{folder}/convertGroupppm2png.pl", b"# script shipped in the real archive\n")
        for obj in range(1, n_obj + 1):
            for a in angles:
                grey = ((xx * obj + yy + a) % 256).astype(np.uint8)
                arr = np.stack([grey, np.full_like(grey, obj), np.full_like(grey, a % 256)], axis=-1) if rgb else grey
                zf.writestr(f"{folder}/obj{obj}__{a}.png", png_bytes(arr))
    return {"archive": path}


def fake_coil100(directory: Path) -> dict[str, Path]:
    """coil-100.zip: coil-100/obj{1..3}__{0,5}.png RGB 128x128 (+ the non-image script member)."""
    return _fake_coil(directory, "coil100", "coil-100", 3, [0, 5], rgb=True)


def fake_coil20(directory: Path) -> dict[str, Path]:
    """coil-20-proc.zip: coil-20-proc/obj{1..3}__{0,1}.png grey 128x128."""
    return _fake_coil(directory, "coil20", "coil-20-proc", 3, [0, 1], rgb=False)


def fake_dsprites(directory: Path, *, n: int = 24) -> dict[str, Path]:
    """dSprites npz (compressed) with the real keys: imgs (N x 64 x 64 uint8 0/1), latents_values,
    latents_classes (N x 6) and a pickled metadata dict."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = _rng(6)
    imgs = (rng.random((n, 64, 64)) < 0.1).astype(np.uint8)
    classes = np.zeros((n, 6), dtype=np.int64)
    classes[:, 1] = np.arange(n) % 3  # shape
    classes[:, 2] = np.arange(n) % 6  # scale
    classes[:, 3] = np.arange(n) % 40  # orientation
    classes[:, 4] = rng.integers(0, 32, n)
    classes[:, 5] = rng.integers(0, 32, n)
    values = classes.astype(np.float64)
    values[:, 0] = 1.0
    values[:, 1] += 1.0
    meta = np.array({"description": "fake dSprites", "latents_names": ("color", "shape", "scale", "orientation", "posX", "posY")}, dtype=object)
    path = directory / file_name("dsprites", "archive")
    with open(path, "wb") as fh:
        np.savez_compressed(fh, imgs=imgs, latents_values=values, latents_classes=classes, metadata=meta)
    return {"archive": path}


FAKE_IMAGES: dict[str, Callable[[Path], dict[str, Path]]] = {
    "mnist": fake_mnist,
    "fashion-mnist": fake_fashion_mnist,
    "usps": fake_usps,
    "usps-11k": fake_usps_11k,
    "stl10": fake_stl10,
    "stl10-images": fake_stl10_images,
    "cifar10": fake_cifar10,
    "cifar10-train": fake_cifar10,
    "cifar10-test": fake_cifar10,
    "coil100": fake_coil100,
    "coil20": fake_coil20,
    "frgc": fake_frgc,
    "ytf": fake_ytf,
    "dsprites": fake_dsprites,
}
