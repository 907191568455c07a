"""Tiny data for the generic method tests, by sample shape: each registered method is tested on
the shapes it accepts (``Method.incompatibility``), and every method on at least one."""

from __future__ import annotations

import numpy as np

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
