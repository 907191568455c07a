"""Tiny data for the generic method tests, by sample shape: each registered method is tested on
the shapes it accepts (``Method.incompatibility``), and every method on at least one."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np

from clusterbench import paths
from clusterbench.data.hdf5 import Prepared, write_dataset

#: The shapes the generic tests use: id -> per-sample shape. 1 x 64 x 64 is dSprites' (the
#: methods of DC3 Table 3 take nothing else).
SHAPES: dict[str, tuple[int, ...]] = {"img28": (1, 28, 28), "vec561": (561,), "img64": (1, 64, 64)}


def accepts(cls: type, shape: tuple[int, ...], n_clusters: int = 4) -> bool:
    return cls.incompatibility(sample_shape=tuple(shape), sparse=False, n_clusters=n_clusters) is None


def tiny_sprites(n: int = 24, seed: int = 0) -> np.ndarray:
    """n binary 64 x 64 images (float32 0/1): a filled square of random size at a random place."""
    rng = np.random.default_rng(seed)
    X = np.zeros((n, 1, 64, 64), dtype=np.float32)
    for i in range(n):
        s = int(rng.integers(6, 16))
        r, c = rng.integers(0, 64 - s, size=2)
        X[i, 0, r : r + s, c : c + s] = 1.0
    return X


def tiny_data(shape: tuple[int, ...], n: int, seed: int = 0) -> np.ndarray:
    """n samples of ``shape`` in [0, 1] (binary sprites for 1 x 64 x 64, uniform noise otherwise)."""
    if tuple(shape) == (1, 64, 64):
        return tiny_sprites(n, seed)
    return np.random.default_rng(seed).random((n, *shape), dtype=np.float32)


#: Factor sizes of :func:`tiny_dsprites`: colour (constant), shape, scale, orientation, posX, posY.
DSPRITES_SIZES = (1, 3, 2, 2, 4, 4)


def tiny_dsprites(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(X uint8 N x 1 x 64 x 64 in {0, 1}, factors N x 6) of every factor combination of
    :data:`DSPRITES_SIZES` (192 images), shuffled: a sprite of the shape's pattern, the scale's
    size, transposed by orientation, at (posX, posY)."""
    f = np.array(list(itertools.product(*[range(s) for s in DSPRITES_SIZES])), dtype=np.int64)
    f = f[np.random.default_rng(seed).permutation(len(f))]
    X = np.zeros((len(f), 1, 64, 64), dtype=np.uint8)
    for i, (_, shape, scale, orient, px, py) in enumerate(f):
        s = 8 + 6 * scale
        patch = np.ones((s, s), np.uint8)
        if shape == 1:
            patch[:, : s // 2] = 0
        elif shape == 2:
            patch = np.tril(patch)
        if orient:
            patch = patch.T
        r, c = 4 + 12 * py, 4 + 12 * px
        X[i, 0, r : r + s, c : c + s] = patch
    return X, f


def write_tiny_dsprites() -> tuple[Path, np.ndarray, np.ndarray]:
    """Store :func:`tiny_dsprites` as the data set ``dsprites`` of the current CLUSTERBENCH_HOME
    (uint8 with divisor 1 and the factor labels as extras, the layout of the real one); returns
    (its path, X as float32, factors)."""
    X, f = tiny_dsprites()
    path = paths.dataset_file("dsprites")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_dataset(path, Prepared(X=X, y=f[:, 1], recipe={"test": "tiny dsprites"}, x_divisor=1.0,
                                 extras={"latents_classes": f, "latents_values": f.astype(float)}),
                  name="dsprites", n_clusters=3)
    return path, X.astype(np.float32), f
