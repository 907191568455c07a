"""JULE-style HDF5 files (``data4torch.h5`` of jwyang/JULE.torch; DEPICT reads the same keys from
``data.h5``): dataset ``data`` (N x C x H x W) and ``labels`` (N or N x 1). Used for USPS-11k,
FRGC and YTF, which have no canonical public copy (the user supplies the file: ``fetch --from``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from clusterbench.data.hdf5 import Prepared
from clusterbench.data.registry import DatasetSpec
from clusterbench.data.preprocessors._common import corrupt, need, recipe
from clusterbench.errors import ConfigError

VERSION = 1
INPUT_RANGES = ("auto", "255", "1")


def jule_h5(
    files: dict[str, Path],
    *,
    spec: DatasetSpec,
    channels: int,
    height: int,
    width: int,
    input_range: str = "auto",
) -> Prepared:
    """Images and labels from a JULE ``data4torch.h5``.

    files: role ``data``. channels/height/width: the expected sample shape (the papers': USPS
        1x16x16, FRGC 3x32x32, YTF 3x55x55). ``data`` must be N x C x H x W (JULE's torch layout);
        N x H x W is accepted when channels = 1 and N x H x W x C (channels last) is transposed;
        anything else is a DataError naming the shape found.
    input_range: "255" (pixels 0..255, divided by 255; DEPICT's (x-127.5)/127.5 implies this
        range), "1" (already in [0, 1]) or "auto" (255 if the maximum exceeds 1, else 1; the
        detected range is recorded in the recipe). Values outside the range are a DataError.
    Labels: any integer codes (JULE's are 1-based), mapped to 0..K-1 in sorted order (a
        permutation of DLS's ``label % K``; clustering metrics are invariant to it).
    Returns X: (N, channels, height, width) float32 in [0, 1]; y: (N,) int64.
    """
    import h5py

    if input_range not in INPUT_RANGES:
        raise ConfigError(f"{spec.name}: option input_range must be one of {INPUT_RANGES}, got {input_range!r}.")
    path = need(files, "data", spec=spec)
    try:
        with h5py.File(path, "r") as f:
            missing = [k for k in ("data", "labels") if k not in f]
            if missing:
                raise corrupt(spec, path, f"no dataset {' or '.join(map(repr, missing))}; it has {sorted(f.keys())}")
            data = f["data"][()]
            labels = f["labels"][()]
    except OSError as exc:
        raise corrupt(spec, path, f"not a readable HDF5 file: {exc}") from None

    # Layout: N x C x H x W expected.
    layout = "NCHW"
    want = (channels, height, width)
    if data.ndim == 3 and channels == 1 and data.shape[1:] == (height, width):
        data, layout = data[:, None], "NHW"
    elif data.ndim == 4 and data.shape[1:] != want and data.shape[1:] == (height, width, channels):
        data, layout = data.transpose(0, 3, 1, 2), "NHWC"
    if data.ndim != 4 or data.shape[1:] != want:
        raise corrupt(spec, path, f"'data' has shape {data.shape}, expected N x {channels} x {height} x {width}")
    labels = np.asarray(labels).reshape(-1)
    if labels.shape[0] != data.shape[0]:
        raise corrupt(spec, path, f"{data.shape[0]} images but {labels.shape[0]} labels")
    if not np.issubdtype(labels.dtype, np.number) or (
        labels.size and (not np.isfinite(labels).all() or not (labels == np.round(labels)).all())
    ):
        raise corrupt(spec, path, "labels are not integers")
    codes, y = np.unique(labels, return_inverse=True)
    if len(codes) > spec.n_clusters:
        raise corrupt(spec, path, f"{len(codes)} distinct labels, the data set has {spec.n_clusters} classes")

    # Value range.
    data = np.asarray(data)
    if not np.issubdtype(data.dtype, np.number) or (data.size and not np.isfinite(data).all()):
        raise corrupt(spec, path, f"'data' holds {data.dtype} values that are not all finite numbers")
    lo, hi = (float(data.min()), float(data.max())) if data.size else (0.0, 1.0)
    used = input_range if input_range != "auto" else ("255" if hi > 1.0 else "1")
    top = 255.0 if used == "255" else 1.0
    if lo < 0 or hi > top:
        raise corrupt(spec, path, f"pixel values range over {lo:g}..{hi:g}, expected 0..{top:g} (input_range={used})")
    X = np.empty(data.shape, dtype=np.float32)
    np.divide(data, np.float32(top), out=X, dtype=np.float32, casting="unsafe")
    rec = recipe(
        "jule-h5", VERSION, channels=channels, height=height, width=width, input_range=input_range, scale=f"x/{used}"
    )
    rec["detected"] = {"input_range": used, "layout": layout, "label_codes": codes.tolist()}
    return Prepared(X=X, y=y.astype(np.int64), recipe=rec)
