"""CIFAR-10 python archive (``cifar-10-python.tar.gz``): 50,000 train + 10,000 test 32x32 images.

Members ``cifar-10-batches-py/data_batch_1`` .. ``_5`` and ``test_batch`` are Python-2 pickles
(load with ``encoding="latin1"``) of dicts with ``data`` (10000 x 3072 uint8, each row the R, G
then B planes of a 32x32 image in row-major order, i.e. CHW) and ``labels`` (list of 0..9).

The pickles are read with a restricted unpickler that only builds plain containers and numpy
arrays, so a tampered archive cannot run code.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from clusterbench.data.hdf5 import Prepared
from clusterbench.data.registry import DatasetSpec
from clusterbench.data.preprocessors._common import check_labels, check_split, corrupt, need, recipe
from clusterbench.data.preprocessors.stl10 import read_tar_members

VERSION = 1
MEMBER_DIR = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCHES = ("test_batch",)
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("copy_reg", "_reconstructor"),
    ("copyreg", "_reconstructor"),
    ("__builtin__", "object"),
    ("builtins", "object"),
    ("_codecs", "encode"),  # how Python 3 protocol-2 pickles store bytes (pure function)
}


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def load_batch(data: bytes, *, spec=None, path: Path | str = "", name: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Decode one CIFAR-10 batch pickle. Returns images (N, 3, 32, 32) uint8 and labels (N,) int64."""
    try:
        d = _SafeUnpickler(io.BytesIO(data), encoding="latin1").load()
    except Exception as exc:  # any unpickling failure means a corrupt member
        raise corrupt(spec, path, f"member {name} is not a CIFAR batch pickle: {exc}") from None
    if not isinstance(d, dict) or "data" not in d or "labels" not in d:
        keys = sorted(map(str, d)) if isinstance(d, dict) else type(d).__name__
        raise corrupt(spec, path, f"member {name} lacks the keys 'data' and 'labels' (has {keys})")
    x = np.asarray(d["data"])
    lb = np.asarray(d["labels"])
    if x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 3 * 32 * 32 or lb.shape != (x.shape[0],):
        raise corrupt(spec, path, f"member {name}: data {x.dtype} {x.shape}, labels {lb.shape}; expected uint8 Nx3072 and N")
    n_clusters = getattr(spec, "n_clusters", 10)
    return x.reshape(-1, 3, 32, 32), check_labels(lb, n_clusters=n_clusters, spec=spec, path=path)


def cifar10(files: dict[str, Path], *, spec: DatasetSpec, split: str = "all") -> Prepared:
    """CIFAR-10 pixels, 50,000 train then 10,000 test merged (DEC-keras ``load_cifar10``), /255.

    files: role ``archive`` = cifar-10-python.tar.gz (read as a stream, nothing extracted).
    split: "all" (60,000), "train" (data_batch_1..5) or "test" (test_batch).
    Returns X: (N, 3, 32, 32) uint8 with ``x_divisor=255`` (values float32 in [0, 1]); y: (N,) int64 in 0..9.
    (DC3-GAN and ClusterGAN-BSPL rescale to [-1, 1] inside the method.)
    """
    parts = check_split(split, spec=spec)
    path = need(files, "archive", spec=spec)
    batches = [b for p in parts for b in (TRAIN_BATCHES if p == "train" else TEST_BATCHES)]
    members = read_tar_members(path, {f"{MEMBER_DIR}/{b}" for b in batches}, spec=spec)
    decoded = [load_batch(members.pop(f"{MEMBER_DIR}/{b}"), spec=spec, path=path, name=b) for b in batches]
    n = sum(len(lb) for _, lb in decoded)
    X = np.empty((n, 3, 32, 32), dtype=np.uint8)  # stored as is, x/255 decoded per read (hdf5.decode)
    start = 0
    for x, _ in decoded:
        X[start : start + len(x)] = x
        start += len(x)
    y = np.concatenate([lb for _, lb in decoded])
    return Prepared(X=X, y=y, recipe=recipe("cifar10-pickles", VERSION, split=split, scale="x/255"), x_divisor=255.0)
