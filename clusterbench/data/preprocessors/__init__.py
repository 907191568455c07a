"""One preprocessor per raw format. ``PREPROCESSORS`` maps the ``preprocessor`` key of a
``datasets.toml`` entry to a function::

    preprocess(files: dict[str, Path], *, spec: DatasetSpec, **options) -> Prepared

``files`` maps each file's ``role`` (or name) to its verified local path; ``options`` is the
entry's ``[name.options]`` table (the recipe). The function returns float32 ``X`` (images
N x C x H x W) and int64 ``y`` in 0..K-1, plus ``recipe`` = a dict naming itself, its options and
its version (bump ``VERSION`` when the output changes). Raise ``DataError`` on malformed input.
"""

from __future__ import annotations

from collections.abc import Callable

from clusterbench.data import byod
from clusterbench.data.preprocessors import (
    cifar, coil, dsprites, embedded, features, har, idx, jule_h5, libsvm, pendigits, reuters, stl10, tenx,
)

PREPROCESSORS: dict[str, Callable] = {
    "sklearn-digits": embedded.digits,
    "local": byod.local,  # data sets registered with `fetch --from FILE --name NAME`
    "idx": idx.idx,
    "usps-libsvm": libsvm.usps_libsvm,
    "stl10-images": stl10.stl10_images,
    "stl10-resnet50": features.stl10_resnet50,
    "cifar10-pickles": cifar.cifar10,
    "coil-png-zip": coil.coil_png_zip,
    "jule-h5": jule_h5.jule_h5,
    "dsprites-npz": dsprites.dsprites_npz,
    "uci-har": har.har,
    "reuters-dec": reuters.reuters,
    "uci-pendigits": pendigits.pendigits,
    "10x-mtx": tenx.tenx_73k,
}
