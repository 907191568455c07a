"""MNIST-style IDX files (MNIST, Fashion-MNIST): gzipped ``*-images-idx3-ubyte`` / ``*-labels-idx1-ubyte``.

IDX layout (LeCun's MNIST page): 2 zero bytes, a type byte (0x08 = unsigned byte), the number of
dimensions, then one big-endian uint32 per dimension, then the data in C order. Image files are
magic 0x00000803 (N x rows x cols), label files 0x00000801 (N).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from clusterbench.data.hdf5 import Prepared
from clusterbench.data.registry import DatasetSpec
from clusterbench.data.preprocessors._common import (
    check_labels,
    check_split,
    corrupt,
    need,
    read_maybe_compressed,
    recipe,
)

VERSION = 1
IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801


def parse_idx(data: bytes, *, expect_magic: int, path: Path | str = "", spec=None) -> np.ndarray:
    """Parse the bytes of one (decompressed) IDX file into a read-only uint8 array.

    Returns (N, rows, cols) for images (magic 0x803) or (N,) for labels (magic 0x801).
    Raises DataError on a wrong magic number, a header/size mismatch or a truncated payload.
    """
    if len(data) < 4:
        raise corrupt(spec, path, f"{len(data)} bytes, too short for an IDX header")
    magic = int.from_bytes(data[:4], "big")
    if magic != expect_magic:
        raise corrupt(spec, path, f"IDX magic number 0x{magic:08x}, expected 0x{expect_magic:08x}")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise corrupt(spec, path, "truncated IDX header")
    dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(dims, dtype=np.int64))
    got = len(data) - header
    if got != expected:
        raise corrupt(
            spec, path, f"header announces {'x'.join(map(str, dims))} = {expected} bytes of data, file holds {got}"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def idx(
    files: dict[str, Path],
    *,
    spec: DatasetSpec,
    split: str = "all",
) -> Prepared:
    """MNIST / Fashion-MNIST from the four IDX files, pixels divided by 255.

    files: roles ``train-images``, ``train-labels``, ``test-images``, ``test-labels`` (gzipped or
        not; only the roles the split needs are read).
    split: "all" = train then test merged (70,000; DEC-keras, VaDE, DLS/DC3 and most tables),
        "train" (60,000; what the Dual-AAE code trains on) or "test" (10,000; what it evaluates on).
    Returns X: (N, 1, rows, cols) uint8 with ``x_divisor=255`` (values float32 in [0, 1]);
    y: (N,) int64 in 0..n_clusters-1.
    """
    parts = check_split(split, spec=spec)
    images, labels = [], []
    for part in parts:
        ip, lp = need(files, f"{part}-images", spec=spec), need(files, f"{part}-labels", spec=spec)
        im = parse_idx(read_maybe_compressed(ip, spec=spec), expect_magic=IMAGES_MAGIC, path=ip, spec=spec)
        lb = parse_idx(read_maybe_compressed(lp, spec=spec), expect_magic=LABELS_MAGIC, path=lp, spec=spec)
        if im.ndim != 3 or lb.ndim != 1:
            raise corrupt(spec, ip, f"images have {im.ndim} dimensions and labels {lb.ndim}, expected 3 and 1")
        if im.shape[0] != lb.shape[0]:
            raise corrupt(spec, ip, f"{im.shape[0]} images but {lb.shape[0]} labels in {lp.name}")
        if images and im.shape[1:] != images[0].shape[1:]:
            raise corrupt(spec, ip, f"image size {im.shape[1:]} differs from {images[0].shape[1:]}")
        images.append(im)
        labels.append(check_labels(lb, n_clusters=spec.n_clusters, spec=spec, path=lp))

    # One uint8 output, filled part by part (stored as is; the float32 values x/255 are decoded per
    # read: hdf5.decode, bit-identical to the float32 arrays of format version 1).
    n = sum(a.shape[0] for a in images)
    rows, cols = images[0].shape[1:]
    X = np.empty((n, 1, rows, cols), dtype=np.uint8)
    start = 0
    for im in images:
        X[start : start + im.shape[0], 0] = im
        start += im.shape[0]
    y = np.concatenate(labels).astype(np.int64)
    return Prepared(X=X, y=y, recipe=recipe("idx", VERSION, split=split, scale="x/255"), x_divisor=255.0)
