"""10x_73k (ClusterGAN, Mukherjee et al.): 73,233 cells x 720 genes, 8 cell types.

There is no public checksummed copy: the files live only in the ClusterGAN authors' Google Drive
folder (``10x_73k/sub_set-720.mtx`` and ``10x_73k/labels.txt``). The user downloads that folder
and hands clusterbench **one archive** that contains both files::

    clusterbench fetch 10x_73k --from 10x_73k.zip

The archive may be a zip (what Google Drive's "Download" of the folder gives) or a tar (plain,
gz, bz2 or xz); the format is detected from the content, not the file name. The two files may
sit at any depth inside it (``10x_73k/sub_set-720.mtx``, ``sub_set-720.mtx``, ...); the matrix
may also be gzipped (``sub_set-720.mtx.gz``). Someone who has the two loose files makes the
archive with ``zip 10x_73k.zip sub_set-720.mtx labels.txt``.

Recipe (sudiptodip15/ClusterGAN ``10x_73k/__init__.py``): ``mmread`` (cells x genes counts) ->
``log2(x + 1)`` -> divide by the global maximum; labels 0..9 without 3 and 5 mapped to 0..7 by
{0:0, 1:1, 2:2, 4:3, 6:4, 7:5, 8:6, 9:7} (the map of a PyTorch port; ClusterGAN itself keeps the
raw values). ClusterGAN's seed-0 permutation into 60,000 train / 13,233 test rows is a protocol
of the method and is not applied here. The transform is applied to the sparse values
(log2(0 + 1) = 0), in float64 like the reference, and stored as dense float32.
"""

from __future__ import annotations

import gzip
import io
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import numpy as np
import scipy.io
import scipy.sparse as sp

from clusterbench.data.hdf5 import Prepared
from clusterbench.data.registry import DatasetSpec
from clusterbench.errors import DataError

VERSION = 1
MATRIX_NAMES = ("sub_set-720.mtx", "sub_set-720.mtx.gz")
LABELS_NAME = "labels.txt"
LABEL_MAP = {0: 0, 1: 1, 2: 2, 4: 3, 6: 4, 7: 5, 8: 6, 9: 7}
_HOW = (
    "Give `clusterbench fetch 10x_73k --from FILE` a zip or tar archive holding the ClusterGAN "
    "authors' files sub_set-720.mtx and labels.txt (see `clusterbench datasets` / datasets.toml 'obtain')."
)


@contextmanager
def _archive_members(path: Path) -> Iterator[tuple[list[str], Callable[[str], IO[bytes]]]]:
    """Open a zip or tar archive: yield (member names, open(member) -> binary file)."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            yield [m for m in zf.namelist() if not m.endswith("/")], zf.open
    elif tarfile.is_tarfile(path):
        with tarfile.open(path, "r:*") as tf:
            names = [m.name for m in tf.getmembers() if m.isfile()]
            yield names, lambda m: tf.extractfile(m)
    else:
        raise DataError(f"{path.name} is neither a zip nor a tar archive.", hint=_HOW)


def _find(names: list[str], wanted: tuple[str, ...], *, path: Path) -> str:
    hits = [n for n in names if n.rsplit("/", 1)[-1] in wanted and not n.startswith("__MACOSX")]
    if len(hits) != 1:
        what = "does not contain" if not hits else f"contains {len(hits)} copies of"
        raise DataError(f"The archive {path.name} {what} {' or '.join(wanted)}.", hint=_HOW)
    return hits[0]


def _read_matrix(fh: IO[bytes], member: str, *, path: Path) -> sp.coo_matrix:
    try:
        if member.endswith(".gz"):
            fh = gzip.GzipFile(fileobj=fh)
        M = scipy.io.mmread(io.BufferedReader(fh) if not hasattr(fh, "peek") else fh)
    except (ValueError, OSError, EOFError, IndexError, UnicodeDecodeError, TypeError) as exc:
        raise DataError(f"{path.name}: {member} is not a readable MatrixMarket file ({exc}).", hint=_HOW) from None
    return sp.coo_matrix(M)


def tenx_73k(
    files: dict[str, Path],
    *,
    spec: DatasetSpec | None = None,
    label_map: dict[str, int] | None = None,
) -> Prepared:
    """10x_73k from the user's archive (see the module docstring).

    files: ``{"archive": path}``. label_map: raw label -> class (keys as strings, TOML style);
    default {0:0, 1:1, 2:2, 4:3, 6:4, 7:5, 8:6, 9:7}.
    Returns X: (73233, 720) float32 in [0, 1], y: (73233,) int64 in 0..7 on the real files.
    """
    path = Path(files["archive"])
    lmap = {int(k): int(v) for k, v in label_map.items()} if label_map else dict(LABEL_MAP)
    try:
        with _archive_members(path) as (names, open_member):
            mm = _find(names, MATRIX_NAMES, path=path)
            lb = _find(names, (LABELS_NAME,), path=path)
            with open_member(mm) as fh:
                M = _read_matrix(fh, mm, path=path)
            with open_member(lb) as fh:
                try:
                    raw = np.loadtxt(fh, dtype=np.float64, ndmin=1)
                except ValueError as exc:
                    raise DataError(f"{path.name}: {lb} is not one integer label per line ({exc}).", hint=_HOW) from None
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, gzip.BadGzipFile) as exc:
        raise DataError(f"The archive {path.name} is corrupt or truncated ({exc}).", hint=_HOW) from None

    if raw.ndim != 1 or np.any(raw != np.round(raw)):
        raise DataError(f"{path.name}: {lb} must hold one integer label per line.", hint=_HOW)
    raw = raw.astype(np.int64)
    unknown = sorted(set(np.unique(raw).tolist()) - set(lmap))
    if unknown:
        raise DataError(f"{path.name}: {lb} has labels {unknown} outside the known {sorted(lmap)}.", hint=_HOW)
    if M.shape[0] != raw.shape[0]:
        flipped = " (the matrix looks transposed: genes x cells)" if M.shape[1] == raw.shape[0] else ""
        raise DataError(
            f"{path.name}: {mm} has {M.shape[0]} rows but {lb} has {raw.shape[0]} labels{flipped}.", hint=_HOW
        )
    if M.nnz and M.data.min() < 0:
        raise DataError(f"{path.name}: {mm} has negative values; expected counts.", hint=_HOW)

    M = M.tocsr().astype(np.float64)
    np.log2(M.data + 1.0, out=M.data)
    top = M.data.max() if M.nnz else 0.0
    if top <= 0:
        raise DataError(f"{path.name}: {mm} holds no positive count.", hint=_HOW)
    M.data /= top
    X = M.toarray().astype(np.float32)
    y = np.array([lmap[v] for v in raw.tolist()], dtype=np.int64)
    return Prepared(
        X=X,
        y=y,
        recipe={
            "preprocessor": "10x-mtx",
            "version": VERSION,
            "options": {"label_map": {str(k): v for k, v in lmap.items()}},
            "steps": ["mmread (cells x genes)", "log2(x + 1)", "divide by the global max", "labels mapped"],
            "source": "sudiptodip15/ClusterGAN 10x_73k/__init__.py",
            "global_max_log2": float(top),
        },
    )
