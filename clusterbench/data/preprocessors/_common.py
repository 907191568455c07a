"""Small helpers shared by the image preprocessors: split option, recipe, raw-file access, checks."""

from __future__ import annotations

import bz2
import gzip
import lzma
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from clusterbench.errors import ConfigError, DataError

SPLITS = ("all", "train", "test")

_REFETCH = "Delete the raw file and run `clusterbench fetch {name} --force` to download it again."


def spec_name(spec: Any) -> str:
    return getattr(spec, "name", None) or "data set"


def check_split(split: str, *, spec: Any) -> tuple[str, ...]:
    """The parts to read, in order, for ``split`` = "all" (train then test), "train" or "test"."""
    if split not in SPLITS:
        raise ConfigError(
            f"{spec_name(spec)}: option split must be one of {', '.join(map(repr, SPLITS))}, got {split!r}.",
            hint='Use split = "all" (train then test, the DEC/VaDE protocol) unless a table says otherwise.',
        )
    return ("train", "test") if split == "all" else (split,)


def recipe(preprocessor: str, version: int, **options: Any) -> dict[str, Any]:
    """The recipe stored in the HDF5 attributes: which function, which version, which options."""
    return {"preprocessor": preprocessor, "version": version, "options": options}


def need(files: dict[str, Path], role: str, *, spec: Any) -> Path:
    """The local path of the raw file with ``role``; DataError if it was not supplied or is missing."""
    if role not in files:
        raise DataError(
            f"{spec_name(spec)}: the raw file with role {role!r} was not supplied "
            f"(got roles: {', '.join(sorted(files)) or 'none'}).",
            hint="Check the [[files]] entries of this data set in datasets.toml.",
        )
    p = Path(files[role])
    if not p.is_file():
        raise DataError(
            f"{spec_name(spec)}: the raw file {p} (role {role!r}) does not exist.",
            hint=_REFETCH.format(name=spec_name(spec)),
        )
    return p


def corrupt(spec: Any, path: Path | str, what: str) -> DataError:
    """A DataError for a corrupt, truncated or wrongly formatted raw file."""
    return DataError(
        f"{spec_name(spec)}: the raw file {Path(path).name} is corrupt, truncated or not in the "
        f"expected format ({what}).",
        hint=_REFETCH.format(name=spec_name(spec)),
    )


def read_maybe_compressed(path: Path, *, spec: Any) -> bytes:
    """All bytes of ``path``, gunzipped / bunzipped / unxz'd when its magic bytes say so."""
    raw = path.read_bytes()
    try:
        if raw[:2] == b"\x1f\x8b":
            return gzip.decompress(raw)
        if raw[:3] == b"BZh":
            return bz2.decompress(raw)
        if raw[:6] == b"\xfd7zXZ\x00":
            return lzma.decompress(raw)
    except (OSError, EOFError, ValueError, zlib.error, lzma.LZMAError) as exc:
        raise corrupt(spec, path, f"decompression failed: {exc}") from None
    return raw


def check_labels(y: np.ndarray, *, n_clusters: int, spec: Any, path: Path | str) -> np.ndarray:
    """``y`` as int64 after checking it lies in 0..n_clusters-1."""
    y = np.asarray(y)
    if y.size and (y.min() < 0 or y.max() >= n_clusters):
        raise corrupt(spec, path, f"labels range over {y.min()}..{y.max()}, expected 0..{n_clusters - 1}")
    return y.astype(np.int64, copy=False)
