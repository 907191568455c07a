"""LIBSVM text files (bz2), here the 9,298-image USPS of the LIBSVM multiclass collection.

Each line: ``label idx:value idx:value ...`` with 1-based feature indices; a missing index means
the value 0 (LIBSVM's sparse convention). USPS: labels 1..10 (label - 1 =
digit, as torchvision maps them), 256 pixel values in [-1, 1], row-major 16x16 (torchvision ``USPS`` reshapes the same way).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from clusterbench.data.hdf5 import Prepared
from clusterbench.data.registry import DatasetSpec
from clusterbench.data.preprocessors._common import check_split, corrupt, need, read_maybe_compressed, recipe

VERSION = 1


def read_libsvm(path: Path, *, n_features: int, spec=None) -> tuple[np.ndarray, np.ndarray]:
    """Parse one (possibly bz2/gzip-compressed) LIBSVM file.

    Returns X: (N, n_features) float64 dense (missing entries are 0) and the raw labels (N,) float64.
    Raises DataError on malformed text or an index beyond ``n_features``.
    """
    from sklearn.datasets import load_svmlight_file

    data = read_maybe_compressed(path, spec=spec)
    if not data.strip():
        raise corrupt(spec, path, "the file is empty")
    try:
        X, y = load_svmlight_file(io.BytesIO(data), n_features=n_features, zero_based=False, dtype=np.float64)
    except (ValueError, TypeError, OSError, EOFError) as exc:
        raise corrupt(spec, path, f"not LIBSVM text with {n_features} features: {exc}") from None
    return X.toarray(), y


def usps_libsvm(
    files: dict[str, Path],
    *,
    spec: DatasetSpec,
    split: str = "all",
    side: int = 16,
) -> Prepared:
    """USPS (LIBSVM version, 7,291 train + 2,007 test = 9,298), pixels mapped from [-1, 1] to [0, 1].

    files: roles ``train`` (usps.bz2) and ``test`` (usps.t.bz2).
    split: "all" (train then test merged, as ClustPy/torchvision users and DEC-keras do), "train", "test".
    side: image side; each line must hold side*side pixels.
    Pixels: (v + 1) / 2 in float32, no uint8 quantisation (torchvision rounds to uint8; we keep the
    full precision of the file). Labels: 1..10 -> 0..9.
    Returns X: (N, 1, side, side) float32 in [0, 1]; y: (N,) int64 in 0..9.
    """
    parts = check_split(split, spec=spec)
    Xs, ys = [], []
    for part in parts:
        p = need(files, part, spec=spec)
        X, raw_y = read_libsvm(p, n_features=side * side, spec=spec)
        if X.size and (X.min() < -1.0 - 1e-6 or X.max() > 1.0 + 1e-6):
            raise corrupt(spec, p, f"pixel values range over {X.min():g}..{X.max():g}, expected [-1, 1]")
        if not np.all(raw_y == np.round(raw_y)) or raw_y.min() < 1 or raw_y.max() > spec.n_clusters:
            raise corrupt(spec, p, f"labels must be integers 1..{spec.n_clusters}, got {raw_y.min():g}..{raw_y.max():g}")
        Xs.append(X)
        ys.append(raw_y.astype(np.int64) - 1)
    X = np.concatenate(Xs)
    X = np.clip((X + 1.0) / 2.0, 0.0, 1.0).astype(np.float32).reshape(-1, 1, side, side)
    y = np.concatenate(ys)
    return Prepared(X=X, y=y, recipe=recipe("usps-libsvm", VERSION, split=split, side=side, scale="(x+1)/2"))
