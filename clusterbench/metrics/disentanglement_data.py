"""The seven disentanglement scores of a trained model on a stored data set with factor labels
(DC3 Table 3 on dSprites): the glue between :class:`~clusterbench.metrics.disentanglement.
IndexedGroundTruth` and a clusterbench HDF5 file whose ``extra/latents_classes`` holds the
(N, F) integer factors (the dSprites preprocessor stores them; constant columns such as
dSprites' colour are dropped by ``IndexedGroundTruth``).

Only the rows of X that the scores ask for are read, ``batch_size`` at a time (h5py fancy
selection on sorted unique indices), never the whole of X: dSprites is 737,280 images (12 GB as
float32). The factor labels themselves ((N, F) int64, 35 MB for dSprites) are read once.

``encode`` is the model's mean-code function on a numpy batch, e.g. for ``infogan-cr``::

    encode = lambda x: model.encode(torch.from_numpy(x)).cpu().numpy()
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from clusterbench.errors import DataError
from clusterbench.metrics.disentanglement import (
    IndexedGroundTruth,
    disentanglement_scores,
)

FACTORS_KEY = "extra/latents_classes"
Encode = Callable[[np.ndarray], np.ndarray]


class HDF5Rows:
    """Reads rows of ``X`` from an open clusterbench HDF5 file and encodes them in batches.

    ``__call__(indices: (n,) int) -> (n, d)`` codes in the order of ``indices`` (repeats allowed);
    ``rows_read`` counts the rows read so far (tests check that X is never read whole).
    """

    def __init__(self, f: h5py.File, encode: Encode, *, batch_size: int = 256) -> None:
        if "X" not in f or isinstance(f["X"], h5py.Group):
            raise DataError("disentanglement scores need a dense image data set (dataset X).")
        self.X = f["X"]
        self.encode = encode
        self.batch_size = int(batch_size)
        self.rows_read = 0

    def read(self, indices: np.ndarray) -> np.ndarray:
        """(n,) indices -> (n, C, H, W) float32 rows of X, in the order given."""
        idx = np.asarray(indices, dtype=np.int64)
        uniq, inverse = np.unique(idx, return_inverse=True)
        rows = self.X[uniq] if len(uniq) else np.zeros((0, *self.X.shape[1:]), self.X.dtype)
        self.rows_read += len(uniq)
        return np.asarray(rows, dtype=np.float32)[inverse]

    def __call__(self, indices: np.ndarray) -> np.ndarray:
        idx = np.asarray(indices, dtype=np.int64)
        out = [np.asarray(self.encode(self.read(idx[i : i + self.batch_size])), dtype=np.float64)
               for i in range(0, len(idx), self.batch_size)]
        return np.concatenate(out) if out else np.zeros((0, 0))


def read_factors(f: h5py.File, path: Path | str = "") -> np.ndarray:
    """(N, F) int64 factor labels of an open data file (``extra/latents_classes``)."""
    if FACTORS_KEY not in f:
        raise DataError(f"The data file {path} has no factor labels ({FACTORS_KEY}): disentanglement scores "
                        "need a data set with known generative factors (dSprites).",
                        hint="Use `clusterbench fetch dsprites`.")
    factors = np.asarray(f[FACTORS_KEY][()], dtype=np.int64)
    if factors.ndim != 2 or factors.shape[0] != f["X"].shape[0]:
        raise DataError(f"The data file {path}: {FACTORS_KEY} has shape {factors.shape}, expected (N, F) "
                        f"with N = {f['X'].shape[0]}.")
    return factors


def dataset_scores(path: str | Path, encode: Encode, *, seed: int = 0, scale: float = 1.0,
                   batch_size: int = 256) -> dict[str, Any]:
    """The seven scores (``betavae``, ``factorvae``, ``dci``, ``sap``, ``mig``, ``modularity``,
    ``explicitness``) of ``encode`` on the data file ``path``, plus ``factor_sizes`` and
    ``rows_read`` (how many rows of X were read and encoded). ``scale`` < 1 shrinks every sample
    size (smoke runs; the record must say so)."""
    path = Path(path)
    with h5py.File(path, "r") as f:
        rows = HDF5Rows(f, encode, batch_size=batch_size)
        gt = IndexedGroundTruth(read_factors(f, path), rows)
        scores: dict[str, Any] = dict(disentanglement_scores(gt, seed=seed, scale=scale))
        scores["factor_sizes"] = list(gt.factor_sizes)
        scores["rows_read"] = int(rows.rows_read)
        scores["sample_scale"] = float(scale)
    return scores


__all__ = ["FACTORS_KEY", "HDF5Rows", "dataset_scores", "read_factors"]
