"""STL-10 binary archive (``stl10_binary.tar.gz``, 2.6 GB): the 13,000 labelled 96x96 colour images.

Archive members (``stl10_binary/``): ``train_X.bin`` / ``train_y.bin`` (5,000), ``test_X.bin`` /
``test_y.bin`` (8,000), ``unlabeled_X.bin`` (100,000, skipped), ``class_names.txt``,
``fold_indices.txt``. ``*_X.bin`` is raw uint8, each image 3 x 96 x 96 stored **column-major**
within a channel (torchvision reshapes (-1, 3, 96, 96) and transposes (0, 1, 3, 2)); ``*_y.bin``
holds uint8 labels 1..10.

The archive is read as a stream (``tarfile`` mode ``r|*``): only the wanted members are held in
memory, nothing is extracted to disk, and the 100,000 unlabelled images are skipped over.
"""

from __future__ import annotations

import tarfile
import zlib
from pathlib import Path

import numpy as np

from clusterbench.data.hdf5 import Prepared
from clusterbench.data.registry import DatasetSpec
from clusterbench.data.preprocessors._common import check_labels, check_split, corrupt, need, recipe

VERSION = 1
SIDE = 96
IMAGE_BYTES = 3 * SIDE * SIDE
MEMBER_DIR = "stl10_binary"


def read_tar_members(path: Path, names: set[str], *, spec=None) -> dict[str, bytes]:
    """Stream through the tar archive at ``path`` and return the bytes of the members in ``names``
    (member names compared without a leading "./").

    Other members are skipped without being kept. DataError on a corrupt/truncated archive or a
    missing member.
    """
    found: dict[str, bytes] = {}
    try:
        with tarfile.open(path, mode="r|*") as tf:
            for member in tf:
                name = member.name.removeprefix("./")
                if name in names and member.isfile():
                    fh = tf.extractfile(member)
                    assert fh is not None
                    data = fh.read()
                    if len(data) != member.size:
                        raise corrupt(spec, path, f"member {name} is truncated")
                    found[name] = data
                    if len(found) == len(names):
                        break
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise corrupt(spec, path, f"cannot read the tar archive: {exc}") from None
    missing = sorted(names - set(found))
    if missing:
        raise corrupt(spec, path, f"the archive lacks {', '.join(missing)}")
    return found


def stl10_from_bytes(x_bytes: bytes, y_bytes: bytes, *, spec=None, path: Path | str = "") -> tuple[np.ndarray, np.ndarray]:
    """Decode one STL-10 split from the bytes of ``*_X.bin`` and ``*_y.bin``.

    Returns images (N, 3, 96, 96) uint8 in (channel, row, column) order (a read-only strided view
    of ``x_bytes``) and labels (N,) int64 in 0..9 (file labels 1..10 minus 1).
    """
    if len(x_bytes) % IMAGE_BYTES:
        raise corrupt(spec, path, f"image data of {len(x_bytes)} bytes is not a whole number of 3x96x96 images")
    n = len(x_bytes) // IMAGE_BYTES
    if len(y_bytes) != n:
        raise corrupt(spec, path, f"{n} images but {len(y_bytes)} labels")
    raw = np.frombuffer(x_bytes, dtype=np.uint8).reshape(n, 3, SIDE, SIDE)
    images = raw.transpose(0, 1, 3, 2)  # column-major -> (row, col); a view, copied by the caller
    labels = np.frombuffer(y_bytes, dtype=np.uint8).astype(np.int64) - 1
    n_clusters = getattr(spec, "n_clusters", 10)
    return images, check_labels(labels, n_clusters=n_clusters, spec=spec, path=path)


def read_stl10(files: dict[str, Path], *, spec: DatasetSpec, split: str = "all") -> tuple[np.ndarray, np.ndarray]:
    """The labelled STL-10 images of ``split`` ("all" = train 5,000 then test 8,000).

    Returns images (N, 3, 96, 96) uint8 and labels (N,) int64 in 0..9.
    """
    parts = check_split(split, spec=spec)
    path = need(files, "archive", spec=spec)
    wanted = {f"{MEMBER_DIR}/{p}_{k}.bin" for p in parts for k in ("X", "y")}
    members = read_tar_members(path, wanted, spec=spec)
    decoded = [
        stl10_from_bytes(members.pop(f"{MEMBER_DIR}/{p}_X.bin"), members.pop(f"{MEMBER_DIR}/{p}_y.bin"), spec=spec, path=path)
        for p in parts
    ]
    # One C-contiguous output; the raw member bytes are released as soon as they are copied.
    X = np.empty((sum(len(lb) for _, lb in decoded), 3, SIDE, SIDE), dtype=np.uint8)
    labels, start = [], 0
    while decoded:
        im, lb = decoded.pop(0)
        X[start : start + len(lb)] = im
        start += len(lb)
        labels.append(lb)
        del im
    return X, np.concatenate(labels)


def stl10_images(files: dict[str, Path], *, spec: DatasetSpec, split: str = "all") -> Prepared:
    """STL-10 pixels for methods that train on images (ClusterGAN-BSPL Table 2: 3x96x96).

    files: role ``archive`` = stl10_binary.tar.gz. split: "all" (13,000 = 5,000 train then 8,000
    test, DEC-keras/ClustPy), "train" or "test".
    Returns X: (N, 3, 96, 96) float32 in [0, 1] (x/255; ClusterGAN-BSPL rescales to [-1, 1] in the
    method); y: (N,) int64 in 0..9.
    """
    images, y = read_stl10(files, spec=spec, split=split)
    X = np.empty(images.shape, dtype=np.float32)
    for s in range(0, len(images), 1000):  # chunked: no float64 temporary of the whole set
        np.divide(images[s : s + 1000], np.float32(255.0), out=X[s : s + 1000], dtype=np.float32)
    return Prepared(X=X, y=y, recipe=recipe("stl10-images", VERSION, split=split, scale="x/255"))
