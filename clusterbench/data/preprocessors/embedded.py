"""Data sets shipped with a dependency: scikit-learn's bundled ``digits`` (no network needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from clusterbench.data.hdf5 import Prepared

VERSION = 1


def digits(files: dict[str, Path], *, spec, scale: float = 16.0) -> Prepared:
    """scikit-learn's 1,797 8x8 digits (UCI optdigits test set), pixels 0..16 scaled to [0, 1].

    X: (1797, 1, 8, 8) float32; y: (1797,) int64 in 0..9.
    """
    from sklearn.datasets import load_digits

    d = load_digits()
    X = (d.images.astype(np.float32) / scale)[:, None, :, :]
    return Prepared(
        X=X,
        y=d.target.astype(np.int64),
        recipe={"preprocessor": "sklearn-digits", "version": VERSION, "options": {"scale": scale}},
    )
