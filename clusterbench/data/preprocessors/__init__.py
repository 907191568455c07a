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

from clusterbench.data.preprocessors import embedded
from clusterbench.data.preprocessors import har, pendigits, reuters, tenx

PREPROCESSORS: dict[str, Callable] = {
    "sklearn-digits": embedded.digits,
    "uci-har": har.har,
    "reuters-dec": reuters.reuters,
    "uci-pendigits": pendigits.pendigits,
    "10x-mtx": tenx.tenx_73k,
}
