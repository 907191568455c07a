"""UCI Pendigits: 7,494 + 3,498 = 10,992 pen trajectories, 16 features in 0..100, 10 digits.

Raw files: ``pendigits.tra`` (role ``train``) and ``pendigits.tes`` (role ``test``), comma
separated, 16 integer features then the label 0..9 per line.

Recipe (DEC-keras ``datasets.py`` ``load_pendigits``): train then test, features / 100.
ClusterGAN's loader also divides by 100 but keeps the split (and uses the last 1000 training
rows for validation); that is a protocol of the method, not of the data set.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from clusterbench.data.hdf5 import Prepared
from clusterbench.data.registry import DatasetSpec
from clusterbench.errors import DataError

VERSION = 1
N_FEATURES = 16
_FIX = "Delete the raw files and run `clusterbench fetch {name} --force` to download them again."


def _read(path: Path, *, name: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        a = np.loadtxt(path, delimiter=",", dtype=np.float64, ndmin=2)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DataError(
            f"{path.name} is not a comma-separated Pendigits file ({exc}).", hint=_FIX.format(name=name)
        ) from None
    if a.shape[1] != N_FEATURES + 1:
        raise DataError(
            f"{path.name} has {a.shape[1]} columns; Pendigits has {N_FEATURES} features and a label.",
            hint=_FIX.format(name=name),
        )
    X, y = a[:, :N_FEATURES], a[:, N_FEATURES]
    if a.size and (np.any(a != np.round(a)) or X.min() < 0 or X.max() > 100 or y.min() < 0 or y.max() > 9):
        raise DataError(
            f"{path.name}: values outside the Pendigits ranges (integer features 0..100, labels 0..9).",
            hint=_FIX.format(name=name),
        )
    return X, y.astype(np.int64)


def pendigits(
    files: dict[str, Path],
    *,
    spec: DatasetSpec | None = None,
    splits: list[str] | tuple[str, ...] = ("train", "test"),
    scale: float = 100.0,
) -> Prepared:
    """Pendigits merged in the order of ``splits``, features divided by ``scale``.

    files: ``{"train": pendigits.tra, "test": pendigits.tes}``.
    Returns X: (N, 16) float32 in [0, 1] (N = 10,992 on the real files), y: (N,) int64 in 0..9.
    """
    name = getattr(spec, "name", "pendigits")
    parts = [_read(Path(files[s]), name=name) for s in splits]
    X = (np.concatenate([p[0] for p in parts]) / scale).astype(np.float32)
    y = np.concatenate([p[1] for p in parts])
    return Prepared(
        X=X,
        y=y,
        recipe={
            "preprocessor": "uci-pendigits",
            "version": VERSION,
            "options": {"splits": list(splits), "scale": scale},
            "steps": ["merge splits in order", "features / scale"],
            "source": "DEC-keras datasets.py load_pendigits",
        },
    )
