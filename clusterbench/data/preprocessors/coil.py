"""COIL-100 / COIL-20 (Columbia Object Image Library): a zip of PNGs ``obj{i}__{angle}.png``.

COIL-100 (``coil-100.zip``): ``coil-100/obj{1..100}__{0,5,...,355}.png``, 128x128 RGB, 7,200 images.
COIL-20 processed (``coil-20-proc.zip``): ``coil-20-proc/obj{1..20}__{0..71}.png``, 128x128 grey,
1,440 images. Other members (scripts, folders) are ignored. Images are decoded with Pillow
straight from the zip, ordered by (object, angle index), and the label is ``object - 1``
(DLS ``coil/__init__.py`` maps label 100 -> 0 instead; a label permutation, irrelevant to
clustering metrics).
"""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from pathlib import Path

import numpy as np

from clusterbench.data.hdf5 import Prepared
from clusterbench.data.registry import DatasetSpec
from clusterbench.data.preprocessors._common import corrupt, need, recipe
from clusterbench.errors import ConfigError

VERSION = 1
_NAME = re.compile(r"(?:^|/)obj(\d+)__(\d+)\.png$", re.IGNORECASE)


def _pil():
    try:
        from PIL import Image
    except ImportError:
        raise ConfigError(
            "Reading COIL PNG images needs Pillow, which is not installed.", hint="Install it: `pip install pillow`."
        ) from None
    return Image


def coil_png_zip(files: dict[str, Path], *, spec: DatasetSpec, channels: int = 3, size: int = 128) -> Prepared:
    """COIL images from the zip of PNGs, pixels /255.

    files: role ``archive`` (coil-100.zip or coil-20-proc.zip).
    channels: 3 (COIL-100, RGB) or 1 (COIL-20 processed, grey); each PNG is converted to that mode
        (a palette PNG is expanded; the real files are already RGB resp. grey).
    size: expected side of every image (128); any other size is a DataError.
    Returns X: (N, channels, size, size) float32 in [0, 1]; y: (N,) int64, object number - 1.
    """
    if channels not in (1, 3):
        raise ConfigError(f"{spec.name}: option channels must be 1 or 3, got {channels!r}.")
    Image = _pil()
    mode = "RGB" if channels == 3 else "L"
    path = need(files, "archive", spec=spec)
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise corrupt(spec, path, f"not a zip archive: {exc}") from None
    with zf:
        entries = []
        for info in zf.infolist():
            m = _NAME.search(info.filename)
            if m and not info.is_dir() and not Path(info.filename).name.startswith("._"):
                entries.append((int(m.group(1)), int(m.group(2)), info))
        if not entries:
            raise corrupt(spec, path, "no obj<i>__<angle>.png images in the archive")
        entries.sort(key=lambda e: (e[0], e[1]))
        objs = np.array([e[0] for e in entries])
        if objs.min() < 1 or objs.max() > spec.n_clusters:
            raise corrupt(spec, path, f"object numbers range over {objs.min()}..{objs.max()}, expected 1..{spec.n_clusters}")
        X = np.empty((len(entries), channels, size, size), dtype=np.float32)
        for k, (_, _, info) in enumerate(entries):
            try:
                with Image.open(io.BytesIO(zf.read(info))) as img:
                    img.load()
                    arr = np.asarray(img if img.mode == mode else img.convert(mode))
            except (OSError, ValueError, zipfile.BadZipFile, zlib.error, EOFError) as exc:
                raise corrupt(spec, path, f"image {info.filename} cannot be decoded: {exc}") from None
            if arr.shape[:2] != (size, size):
                raise corrupt(spec, path, f"image {info.filename} is {arr.shape[1]}x{arr.shape[0]}, expected {size}x{size}")
            chw = arr[None, :, :] if channels == 1 else arr.transpose(2, 0, 1)
            np.divide(chw, np.float32(255.0), out=X[k], dtype=np.float32)
    y = (objs - 1).astype(np.int64)
    return Prepared(X=X, y=y, recipe=recipe("coil-png-zip", VERSION, channels=channels, size=size, scale="x/255"))
