"""fetch: registry entry -> verified raw files -> preprocessor -> HDF5 (atomic).

The expensive prepare step. ``load`` (clusterbench/data/__init__.py) is the cheap one.

Failure guarantees: the previous HDF5 stays in place until a new one is complete (atomic rename);
a raw file that made the preprocessor fail (corrupt or truncated archive) is set aside as
``<name>.bad`` and, where it had just replaced a cached copy, that copy is restored.
"""

from __future__ import annotations

import bz2
import gzip
import logging
import lzma
import pickle
import struct
import tarfile
import zipfile
import zlib
from pathlib import Path

from clusterbench import paths
from clusterbench.data import download
from clusterbench.data.hdf5 import DatasetInfo, Prepared, read_info, write_dataset
from clusterbench.data.preprocessors import PREPROCESSORS
from clusterbench.data.registry import DatasetSpec, get_spec
from clusterbench.errors import ClusterbenchError, ConfigError, DataError
from clusterbench.fsutil import clean_stale_parts

log = logging.getLogger("clusterbench.fetch")

# Exceptions a preprocessor raises on malformed input (as opposed to a bug in it).
MALFORMED = (
    EOFError,
    gzip.BadGzipFile,
    zlib.error,
    lzma.LZMAError,
    zipfile.BadZipFile,
    tarfile.TarError,
    pickle.UnpicklingError,
    struct.error,
    UnicodeDecodeError,
    ValueError,
    OSError,
)


def is_fetched(name: str) -> bool:
    return paths.dataset_file(name).exists()


def fetch(
    name: str,
    *,
    mirror: str | None = None,
    from_file: str | Path | None = None,
    force: bool = False,
    progress: bool = True,
) -> DatasetInfo:
    """Make data set ``name`` available as HDF5 and return its info.

    mirror: a URL prefix or a local directory holding the same raw file names, tried first.
    from_file: the user's copy of the raw file, for data sets without a public copy (for a data
    set registered with ``--from FILE --name NAME``: a new version of that file).
    force: re-download and re-preprocess even if intact files exist.
    """
    spec = get_spec(name)
    for p in clean_stale_parts(paths.data_dir()):  # left by a writer killed with kill -9
        log.info("Removed %s, the partial file of a clusterbench process that no longer runs.", p)
    if spec.source == "local" and from_file is not None:
        from clusterbench.data.byod import register_local

        return register_local(
            from_file,
            name=name,
            label_column=spec.options.get("label_column", "label"),
            n_clusters=spec.n_clusters,
            force=True,
        )
    return fetch_spec(spec, mirror=mirror, from_file=from_file, force=force, progress=progress)


def fetch_spec(
    spec: DatasetSpec,
    *,
    mirror: str | None = None,
    from_file: str | Path | None = None,
    force: bool = False,
    progress: bool = True,
) -> DatasetInfo:
    """:func:`fetch` for a spec object (tests build specs that point at a loopback server)."""
    target = paths.dataset_file(spec.name)
    if target.exists() and not force and from_file is None:
        return read_info(target)
    if spec.preprocessor not in PREPROCESSORS:
        raise ConfigError(
            f"Data set {spec.name!r} names the preprocessor {spec.preprocessor!r}, which does not exist.",
            hint=f"Known preprocessors: {', '.join(sorted(PREPROCESSORS))}.",
        )
    raw = paths.raw_dir(spec.raw_name)
    with download.raw_lock(raw):
        for p in clean_stale_parts(raw):
            log.info("Removed %s, the partial file of a clusterbench process that no longer runs.", p)
        files = download.ensure_files_locked(
            spec, raw, mirror=mirror, from_file=from_file, force=force, progress=progress
        )
        log.info("%s: preprocessing with %r ...", spec.name, spec.preprocessor)
        try:
            prepared = run_preprocessor(spec, files)
        except BaseException as exc:
            raise _preprocessor_failure(spec, files, exc) from None
        files.commit()
        try:
            return write_dataset(target, prepared, name=spec.name, n_clusters=spec.n_clusters, sources=files.sources())
        except OSError as exc:
            if download.is_disk_full(exc):
                raise download.disk_full_error(target) from None
            raise


def run_preprocessor(spec: DatasetSpec, files: dict[str, Path]) -> Prepared:
    fn = PREPROCESSORS[spec.preprocessor]
    prepared = fn(files, spec=spec, **spec.options)
    n = prepared.X.shape[0]
    if spec.n_samples is not None and n != spec.n_samples:
        raise DataError(
            f"{spec.name}: preprocessing produced {n} samples, the registry expects {spec.n_samples}.",
            hint="The raw files are not the documented version; check them, or use `--force` to refetch.",
        )
    return prepared


def integrity_problem(path: Path) -> str | None:
    """Why ``path`` is a corrupt or truncated archive (gzip/bz2/xz/zip/tar/HDF5), or None.

    Reads the whole file; called only after a preprocessor failed.
    """
    try:
        with open(path, "rb") as fh:
            magic = fh.read(8)
        if magic[:2] == b"\x1f\x8b" or magic[:3] == b"BZh" or magic[:6] == b"\xfd7zXZ\x00":
            opener = gzip.open if magic[:2] == b"\x1f\x8b" else bz2.open if magic[:3] == b"BZh" else lzma.open
            with opener(path, "rb") as fh:
                while fh.read(1 << 20):
                    pass
            if ".tar" in path.name or path.suffix == ".tgz":
                with tarfile.open(path) as tf:
                    for _ in tf:
                        pass
        elif magic[:4] == b"PK\x03\x04" or path.suffix in (".zip", ".npz"):
            with zipfile.ZipFile(path) as zf:
                badname = zf.testzip()
                if badname:
                    return f"the member {badname} is damaged"
        elif path.suffix == ".tar":
            with tarfile.open(path) as tf:
                for _ in tf:
                    pass
        elif magic == b"\x89HDF\r\n\x1a\n" or path.suffix in (".h5", ".hdf5"):
            import h5py

            with h5py.File(path, "r"):
                pass
    except (EOFError, OSError, zlib.error, lzma.LZMAError, zipfile.BadZipFile, tarfile.TarError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def _preprocessor_failure(spec: DatasetSpec, files: download.FetchedFiles, exc: BaseException) -> BaseException:
    """Roll back, set the culprit aside, and turn malformed-input errors into a DataError."""
    if isinstance(exc, KeyboardInterrupt):
        files.commit()
        return exc
    paths_ = {role: Path(p) for role, p in files.items()}
    corrupt = {role: why for role, p in paths_.items() if p.is_file() and (why := integrity_problem(p))}
    if not corrupt and not isinstance(exc, (ClusterbenchError, *MALFORMED)):
        files.commit()
        return exc  # a bug in the preprocessor, not bad input: keep the traceback
    replaced = {r.final for r in files.replaced}
    # new files that had just replaced a cached copy: the corrupt ones, or all if none is identified
    set_aside = files.rollback(only={paths_[r] for r in corrupt} or None)
    for role, p in paths_.items():
        if role in corrupt and p not in replaced and p.exists():
            set_aside.append(download.set_aside(p))
            download.forget_record(files.raw_dir, p.name)
    if isinstance(exc, ClusterbenchError):
        if set_aside:
            exc.message += " Set aside (not used again): " + ", ".join(str(b) for b in set_aside) + "."
        return exc
    again = (
        f"Get a fresh copy and run `clusterbench fetch {spec.name} --from FILE`."
        if spec.source == "user"
        else f"Run `clusterbench fetch {spec.name} --force` to download it again."
    )
    aside = " It was set aside as " + ", ".join(str(b) for b in set_aside) + "." if set_aside else ""
    if corrupt:
        role, why = next(iter(corrupt.items()))
        return DataError(
            f"{spec.name}: the raw file {paths_[role]} is a corrupt or truncated archive ({why}).{aside}",
            hint=again,
        )
    if isinstance(exc, MALFORMED):
        names = ", ".join(str(p) for p in paths_.values())
        return DataError(
            f"{spec.name}: the preprocessor {spec.preprocessor!r} could not read the raw files {names}"
            f" ({type(exc).__name__}: {exc}); they may be corrupt or truncated, or not the documented version.{aside}",
            hint=again,
        )
    return exc  # a bug, not bad input: keep the traceback
