"""UCI HAR ("HHAR" in VaDE, DEC and Dual-AAE): 10,299 x 561 smartphone features, 6 activities.

Raw file: ``UCI HAR Dataset.zip`` (role ``zip``), read directly with :mod:`zipfile`. Members::

    UCI HAR Dataset/train/X_train.txt   7352 x 561 whitespace-separated floats
    UCI HAR Dataset/train/y_train.txt   7352 labels 1..6
    UCI HAR Dataset/test/X_test.txt     2947 x 561
    UCI HAR Dataset/test/y_test.txt     2947 labels 1..6

Recipe (ClustPy ``load_har``; VaDE's ``HAR.mat`` has the same shape): train then test, labels
minus 1, features kept as they are (UCI already scaled them to [-1, 1]). VaDE's code keeps only
``X[:10200]`` to fit its batch size; that truncation belongs to the method, not the data set.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np

from clusterbench.data.hdf5 import Prepared
from clusterbench.data.registry import DatasetSpec
from clusterbench.errors import DataError

VERSION = 1
_FIX = "Delete the raw file and run `clusterbench fetch {name} --force` to download it again."


def _member(zf: zipfile.ZipFile, suffix: str, *, path: Path, name: str) -> str:
    """The member ending in ``/suffix`` (the top folder may differ; ``__MACOSX`` ignored)."""
    hits = [
        m for m in zf.namelist()
        if (m == suffix or m.endswith("/" + suffix)) and not m.startswith("__MACOSX")
    ]
    if len(hits) != 1:
        what = "lacks" if not hits else f"has {len(hits)} copies of"
        raise DataError(
            f"The zip {path.name} {what} the member 'UCI HAR Dataset/{suffix}'; it is not the UCI HAR archive.",
            hint=_FIX.format(name=name),
        )
    return hits[0]


def _read_matrix(zf: zipfile.ZipFile, member: str, *, n_features: int, path: Path, name: str) -> np.ndarray:
    try:
        X = np.loadtxt(io.BytesIO(zf.read(member)), dtype=np.float64, ndmin=2)
    except ValueError as exc:
        raise DataError(
            f"{path.name}: {member} is not a whitespace-separated numeric matrix ({exc}).",
            hint=_FIX.format(name=name),
        ) from None
    if X.shape[1] != n_features:
        raise DataError(
            f"{path.name}: {member} has {X.shape[1]} columns, UCI HAR has {n_features}.",
            hint=_FIX.format(name=name),
        )
    return X


def _read_labels(zf: zipfile.ZipFile, member: str, *, n_classes: int, path: Path, name: str) -> np.ndarray:
    try:
        y = np.loadtxt(io.BytesIO(zf.read(member)), dtype=np.float64, ndmin=1)
    except ValueError as exc:
        raise DataError(f"{path.name}: {member} is not a list of labels ({exc}).", hint=_FIX.format(name=name)) from None
    if y.size and (np.any(y != np.round(y)) or y.min() < 1 or y.max() > n_classes):
        raise DataError(
            f"{path.name}: {member} has labels outside 1..{n_classes}.", hint=_FIX.format(name=name)
        )
    return y.astype(np.int64) - 1


def har(
    files: dict[str, Path],
    *,
    spec: DatasetSpec | None = None,
    splits: list[str] | tuple[str, ...] = ("train", "test"),
    n_features: int = 561,
    n_classes: int = 6,
) -> Prepared:
    """UCI HAR merged in the order of ``splits`` (default train then test), labels 1..6 -> 0..5.

    files: ``{"zip": path to UCI HAR Dataset.zip}``.
    Returns X: (N, 561) float32 (N = 7352 + 2947 = 10,299 on the real file), y: (N,) int64 in 0..5.
    """
    name = getattr(spec, "name", "hhar")
    path = Path(files["zip"])
    Xs, ys = [], []
    try:
        with zipfile.ZipFile(path) as zf:
            for split in splits:
                xm = _member(zf, f"{split}/X_{split}.txt", path=path, name=name)
                ym = _member(zf, f"{split}/y_{split}.txt", path=path, name=name)
                X = _read_matrix(zf, xm, n_features=n_features, path=path, name=name)
                y = _read_labels(zf, ym, n_classes=n_classes, path=path, name=name)
                if X.shape[0] != y.shape[0]:
                    raise DataError(
                        f"{path.name}: {xm} has {X.shape[0]} rows but {ym} has {y.shape[0]} labels.",
                        hint=_FIX.format(name=name),
                    )
                Xs.append(X)
                ys.append(y)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise DataError(f"{path.name} is not a readable zip archive ({exc}).", hint=_FIX.format(name=name)) from None
    X = np.concatenate(Xs).astype(np.float32)
    y = np.concatenate(ys)
    return Prepared(
        X=X,
        y=y,
        recipe={
            "preprocessor": "uci-har",
            "version": VERSION,
            "options": {"splits": list(splits), "n_features": n_features, "n_classes": n_classes},
            "steps": ["merge splits in order", "labels - 1", "float32, no scaling"],
            "source": "ClustPy load_har; UCI 'Human Activity Recognition Using Smartphones'",
        },
    )
