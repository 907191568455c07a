"""The seven disentanglement scores of a trained model on a stored data set with factor labels
(DC3 Table 3 on dSprites): the glue between :class:`~clusterbench.metrics.disentanglement.
IndexedGroundTruth` and a clusterbench data set whose HDF5 file holds the (N, F) integer factors
as ``extra/latents_classes`` (the dSprites preprocessor stores them; constant columns such as
dSprites' colour are dropped by ``IndexedGroundTruth``).

Only the rows of X that the scores ask for are read, ``batch_size`` at a time, never the whole of
X: dSprites is 737,280 images (12 GB as float32). X is anything indexable by an array of row
indices: a numpy array, or a :class:`~clusterbench.data.hdf5.StoredArray` (rows read from the
file and decoded to float32 per batch; dSprites is stored as uint8). The factor labels
themselves ((N, F) int64, 35 MB for dSprites) are read once.

``encode`` is the model's mean-code function on a numpy batch (``MethodOutput.encoder``), e.g.
for a loaded ``infogan-cr`` model: ``model.numpy_encoder()``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from clusterbench.data.hdf5 import StoredArray
from clusterbench.errors import DataError
from clusterbench.metrics.disentanglement import (
    IndexedGroundTruth,
    disentanglement_scores,
)

FACTORS_KEY = "extra/latents_classes"
Encode = Callable[[np.ndarray], np.ndarray]


class ArrayRows:
    """Reads rows of ``X`` (an array or a StoredArray) and encodes them in batches.

    ``__call__(indices: (n,) int) -> (n, d)`` codes in the order of ``indices`` (repeats allowed).
    Each row is read and encoded once: its code is kept (N x d float64, 29 MB for dSprites'
    737,280 rows and 5 codes), since the scores draw the same factor combinations many times and
    ``encode`` is deterministic (the encoder's mean in eval mode). ``rows_read`` counts the rows
    read so far (tests check that X is never read whole).
    """

    def __init__(self, X: Any, encode: Encode, *, batch_size: int = 256) -> None:
        if getattr(X, "ndim", 0) < 2:
            raise DataError("disentanglement scores need a dense data set of samples (N x C x H x W).")
        self.X = X
        self.encode = encode
        self.batch_size = int(batch_size)
        self.rows_read = 0
        self._codes: np.ndarray | None = None
        self._known = np.zeros(X.shape[0], dtype=bool)

    def read(self, indices: np.ndarray) -> np.ndarray:
        """(n,) indices -> (n, ...) float32 rows of X, in the order given (each row read once)."""
        idx = np.asarray(indices, dtype=np.int64)
        uniq, inverse = np.unique(idx, return_inverse=True)
        rows = np.asarray(self.X[uniq], dtype=np.float32) if len(uniq) else \
            np.zeros((0, *self.X.shape[1:]), np.float32)
        self.rows_read += len(uniq)
        return rows[inverse]

    def __call__(self, indices: np.ndarray) -> np.ndarray:
        idx = np.asarray(indices, dtype=np.int64)
        need = np.unique(idx[~self._known[idx]])
        for i in range(0, len(need), self.batch_size):
            rows = need[i : i + self.batch_size]
            codes = np.asarray(self.encode(self.read(rows)), dtype=np.float64)
            if self._codes is None:
                self._codes = np.zeros((self.X.shape[0], codes.shape[1]))
            self._codes[rows] = codes
            self._known[rows] = True
        if self._codes is None:
            return np.zeros((len(idx), 0))
        return self._codes[idx]


def read_factors(path: Path | str) -> np.ndarray:
    """(N, F) int64 factor labels of a data file (``extra/latents_classes``); DataError when it has none."""
    with h5py.File(path, "r") as f:
        if FACTORS_KEY not in f:
            raise DataError(f"The data file {path} has no factor labels ({FACTORS_KEY}): disentanglement scores "
                            "need a data set with known generative factors (dSprites).",
                            hint="Use `clusterbench fetch dsprites`.")
        factors = np.asarray(f[FACTORS_KEY][()], dtype=np.int64)
        n = f["X"].shape[0] if "X" in f and not isinstance(f["X"], h5py.Group) else None
    if factors.ndim != 2 or (n is not None and factors.shape[0] != n):
        raise DataError(f"The data file {path}: {FACTORS_KEY} has shape {factors.shape}, expected (N, F) "
                        f"with N = {n}.")
    return factors


def scores(X: Any, factors: np.ndarray, encode: Encode, *, seed: int = 0, scale: float = 1.0,
           batch_size: int = 256) -> dict[str, Any]:
    """The seven scores (``betavae``, ``factorvae``, ``dci``, ``sap``, ``mig``, ``modularity``,
    ``explicitness``) of ``encode`` on X (N x sample shape) with its (N, F) factor labels, plus
    ``factor_sizes``, ``rows_read`` (rows of X read and encoded) and ``sample_scale``.
    ``scale`` < 1 shrinks every sample size (smoke runs; the record says so). A ValueError when
    some factor combination has no sample (not a full factorial design, e.g. a ``--subset``)."""
    rows = ArrayRows(X, encode, batch_size=batch_size)
    gt = IndexedGroundTruth(factors, rows)
    if gt.missing_combinations():
        raise ValueError(f"{gt.missing_combinations()} of the {int(np.prod(gt.factor_sizes))} factor combinations "
                         "have no sample: the scores need the full factorial data set (all samples, no subset)")
    out: dict[str, Any] = dict(disentanglement_scores(gt, seed=seed, scale=scale))
    out["factor_sizes"] = list(gt.factor_sizes)
    out["rows_read"] = int(rows.rows_read)
    out["sample_scale"] = float(scale)
    return out


def dataset_scores(path: str | Path, encode: Encode, *, seed: int = 0, scale: float = 1.0,
                   batch_size: int = 256) -> dict[str, Any]:
    """:func:`scores` on the data file ``path`` (X left in the file: a StoredArray)."""
    factors = read_factors(path)
    return scores(StoredArray(path), factors, encode, seed=seed, scale=scale, batch_size=batch_size)


__all__ = ["FACTORS_KEY", "ArrayRows", "dataset_scores", "read_factors", "scores"]
