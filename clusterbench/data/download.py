"""Download and verification of raw files. (Placeholder: the full implementation is issue #2's.)"""

from __future__ import annotations

import hashlib
from pathlib import Path

from clusterbench.data.registry import DatasetSpec


def sha256_file(path: str | Path, *, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def ensure_files(
    spec: DatasetSpec,
    raw_dir: Path,
    *,
    mirror: str | None = None,
    from_file: str | Path | None = None,
    force: bool = False,
    progress: bool = True,
) -> dict[str, Path]:
    """Return ``{role: verified local path}`` for every file of ``spec``."""
    if not spec.files:
        return {}
    raise NotImplementedError("downloading is not implemented yet")
