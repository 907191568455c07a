"""dSprites (``dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz``, DeepMind): 737,280 binary 64x64
images over the full grid of 6 latent factors (colour 1 x shape 3 x scale 6 x orientation 40 x
posX 32 x posY 32, in that fixed order).

npz keys: ``imgs`` (N x 64 x 64 uint8 in {0, 1}), ``latents_values`` (N x 6 float64),
``latents_classes`` (N x 6 int64) and ``metadata`` (a pickled dict: never unpickled here).

Memory: the images are kept as uint8 (3 GB; as float32 they would take 12 GB) and stored so in
the HDF5 file with divisor 1 (hdf5.decode gives the float32 0/1 values per read); ``imgs`` is
streamed out of the zip member in chunks straight into that output.
"""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

import numpy as np

from clusterbench.data.hdf5 import Prepared
from clusterbench.data.registry import DatasetSpec
from clusterbench.data.preprocessors._common import corrupt, need, recipe
from clusterbench.errors import ConfigError

VERSION = 1
LATENT_NAMES = ("color", "shape", "scale", "orientation", "posX", "posY")
LATENT_SIZES = (1, 3, 6, 40, 32, 32)  # the grid: one value of each factor per image
_CHUNK = 16384  # images per read (64 MB of uint8)


def _open_npy(zf: zipfile.ZipFile, key: str, *, spec, path: Path):
    """Open member ``key``.npy of the npz; return (file object, shape, dtype) after reading its header."""
    name = f"{key}.npy"
    if name not in zf.namelist():
        raise corrupt(spec, path, f"the npz has no array {key!r} (it has {sorted(n[:-4] for n in zf.namelist())})")
    fh = zf.open(name)
    try:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
        else:
            raise ValueError(f"unsupported .npy format version {version}")
    except ValueError as exc:
        fh.close()
        raise corrupt(spec, path, f"array {key!r} has a bad .npy header: {exc}") from None
    if fortran or dtype.hasobject:
        fh.close()
        raise corrupt(spec, path, f"array {key!r} is Fortran-ordered or holds Python objects")
    return fh, shape, dtype


def _read_small(zf: zipfile.ZipFile, key: str, *, spec, path: Path) -> np.ndarray:
    fh, shape, dtype = _open_npy(zf, key, spec=spec, path=path)
    with fh:
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        data = fh.read(nbytes)
    if len(data) != nbytes:
        raise corrupt(spec, path, f"array {key!r} is truncated")
    return np.frombuffer(data, dtype=dtype).reshape(shape).copy()


def dsprites_npz(files: dict[str, Path], *, spec: DatasetSpec, label: str = "shape") -> Prepared:
    """dSprites images, the 6 latent factors as extras, and one factor as the class label.

    files: role ``archive`` (the npz).
    label: the latent factor used as ``y`` (default "shape": square/ellipse/heart, 3 classes;
        the DC3-GAN Table 3 disentanglement scores use the extras, not ``y``). Its number of
        classes must equal the entry's n_clusters (ConfigError otherwise).
    Returns X: (N, 1, 64, 64) uint8 in {0, 1} with ``x_divisor=1`` (the pixels are already 0/1: no /255);
    y: (N,) int64 = ``latents_classes[:, factor]``; extras ``latents_values`` (N, 6) float64 and
    ``latents_classes`` (N, 6) int64.
    """
    if label not in LATENT_NAMES:
        raise ConfigError(f"{spec.name}: option label must be one of {LATENT_NAMES}, got {label!r}.")
    k_label = LATENT_SIZES[LATENT_NAMES.index(label)]
    if k_label != spec.n_clusters:
        raise ConfigError(
            f"{spec.name}: label = {label!r} has {k_label} classes but the registry entry says n_clusters = "
            f"{spec.n_clusters}.",
            hint="Use the entry's label, or register a data set with the matching n_clusters.",
        )
    path = need(files, "archive", spec=spec)
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise corrupt(spec, path, f"not an npz (zip) archive: {exc}") from None
    try:
        with zf:
            values = _read_small(zf, "latents_values", spec=spec, path=path)
            classes = _read_small(zf, "latents_classes", spec=spec, path=path)
            fh, shape, dtype = _open_npy(zf, "imgs", spec=spec, path=path)
            with fh:
                if len(shape) != 3 or dtype != np.uint8:
                    raise corrupt(spec, path, f"'imgs' is {dtype} {shape}, expected uint8 N x H x W")
                n, h, w = shape
                X = np.empty((n, 1, h, w), dtype=np.uint8)
                for s in range(0, n, _CHUNK):
                    k = min(_CHUNK, n - s)
                    buf = fh.read(k * h * w)
                    if len(buf) != k * h * w:
                        raise corrupt(spec, path, "array 'imgs' is truncated")
                    chunk = np.frombuffer(buf, dtype=np.uint8).reshape(k, h, w)
                    if chunk.max(initial=0) > 1:
                        raise corrupt(spec, path, f"'imgs' holds values up to {chunk.max()}, expected 0/1")
                    X[s : s + k, 0] = chunk
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        raise corrupt(spec, path, f"cannot read the npz: {exc}") from None
    for key, arr in (("latents_values", values), ("latents_classes", classes)):
        if arr.shape != (n, len(LATENT_NAMES)):
            raise corrupt(spec, path, f"{key!r} has shape {arr.shape}, expected ({n}, {len(LATENT_NAMES)})")
    y = classes[:, LATENT_NAMES.index(label)].astype(np.int64)
    if y.size and (y.min() < 0 or y.max() >= spec.n_clusters):
        raise corrupt(spec, path, f"latent {label!r} classes range over {y.min()}..{y.max()}, expected 0..{spec.n_clusters - 1}")
    return Prepared(
        X=X,
        y=y,
        recipe=recipe("dsprites-npz", VERSION, label=label, scale="none (pixels are 0/1)"),
        extras={"latents_values": values.astype(np.float64), "latents_classes": classes.astype(np.int64)},
        attrs={"latent_names": list(LATENT_NAMES)},
        x_divisor=1.0,
    )
