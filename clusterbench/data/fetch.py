"""fetch: registry entry -> verified raw files -> preprocessor -> HDF5 (atomic).

The expensive prepare step. ``load`` (clusterbench/data/__init__.py) is the cheap one.
"""

from __future__ import annotations

from pathlib import Path

from clusterbench import paths
from clusterbench.data import download
from clusterbench.data.hdf5 import DatasetInfo, read_info, write_dataset
from clusterbench.data.preprocessors import PREPROCESSORS
from clusterbench.data.registry import DatasetSpec, get_spec
from clusterbench.errors import ConfigError, DataError


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
    from_file: the user's copy of the (single) raw file, for data sets without a public copy.
    force: re-download and re-preprocess even if intact files exist.
    """
    spec = get_spec(name)
    target = paths.dataset_file(name)
    if target.exists() and not force and mirror is None and from_file is None:
        return read_info(target)
    if spec.preprocessor not in PREPROCESSORS:
        raise ConfigError(
            f"Data set {name!r} names the preprocessor {spec.preprocessor!r}, which does not exist.",
            hint=f"Known preprocessors: {', '.join(sorted(PREPROCESSORS))}.",
        )
    files = download.ensure_files(
        spec, paths.raw_dir(spec.raw_name), mirror=mirror, from_file=from_file, force=force, progress=progress
    )
    prepared = run_preprocessor(spec, files)
    sources = {role: download.sha256_file(p) for role, p in files.items() if Path(p).is_file()}
    return write_dataset(target, prepared, name=name, n_clusters=spec.n_clusters, sources=sources)


def run_preprocessor(spec: DatasetSpec, files: dict[str, Path]):
    fn = PREPROCESSORS[spec.preprocessor]
    prepared = fn(files, spec=spec, **spec.options)
    n = prepared.X.shape[0]
    if spec.n_samples is not None and n != spec.n_samples and not spec.options.get("allow_other_size"):
        raise DataError(
            f"{spec.name}: preprocessing produced {n} samples, the registry expects {spec.n_samples}.",
            hint="The raw files are not the documented version; check them, or use `--force` to refetch.",
        )
    return prepared
