"""Pretrained weight files of the evaluators' feature networks, fetched like the ResNet-50 weights
of the STL-10 features (``data/preprocessors/features.py``): the same downloader (mirror first,
``--from`` a local copy, resume, retries), and the torch.hub rule that the file's sha256 must begin
with the hex string in its published name (checked again at every load, with
``torch.load(weights_only=True)``).

``clusterbench fetch-weights inception-fid [--mirror DIR|URL] [--from FILE]`` puts a file under
``<CLUSTERBENCH_HOME>/models/<name>/``.

Registry :data:`WEIGHTS` (data): name -> the file's :class:`~clusterbench.data.registry.FileSpec`.
"""

from __future__ import annotations

from pathlib import Path

from clusterbench import paths
from clusterbench.data import download
from clusterbench.data.preprocessors.features import hash_prefix_from_name, sha256_of, verify_hash_prefix
from clusterbench.data.registry import DatasetSpec, FileSpec
from clusterbench.errors import ClusterbenchError, DataError, UnknownNameError

#: name -> the weights file. ``inception-fid``: the Inception-v3 of TensorFlow's FID code
#: (2015-12-05) converted by pytorch-fid (its ``FID_WEIGHTS_URL``, release ``fid_weights``);
#: the full sha256 and size are not published, the name carries the prefix ``6726825d``.
WEIGHTS: dict[str, FileSpec] = {
    "inception-fid": FileSpec(
        name="pt_inception-2015-12-05-6726825d.pth",
        role="weights",
        urls=("https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
              "pt_inception-2015-12-05-6726825d.pth",),
    ),
}


def _spec(name: str) -> FileSpec:
    if name not in WEIGHTS:
        raise UnknownNameError("weights", name, WEIGHTS)
    return WEIGHTS[name]


def weights_dir(name: str) -> Path:
    """``<CLUSTERBENCH_HOME>/models/<name>``."""
    return paths.models_dir() / paths.check_name("weights", name)


def weights_path(name: str) -> Path:
    """Where the weights file ``name`` lives once fetched (it may not exist yet)."""
    return weights_dir(name) / _spec(name).name


def fetch_weights(name: str, *, mirror: str | None = None, from_file: str | Path | None = None,
                  force: bool = False, progress: bool = True) -> Path:
    """Download (or copy with ``from_file``) the weights file ``name``, verify its sha256 prefix,
    and return its path. A file already there that verifies is kept (unless ``force``)."""
    fs = _spec(name)
    spec = DatasetSpec(name=name, preprocessor="", n_clusters=0, files=(fs,))
    raw = weights_dir(name)
    with download.raw_lock(raw):
        try:
            files = download.ensure_files_locked(spec, raw, mirror=mirror, from_file=from_file, force=force,
                                                 progress=progress)
        except ClusterbenchError as exc:  # the downloader's hints name the data set command
            exc.hint = exc.hint and exc.hint.replace(f"clusterbench fetch {name}", f"clusterbench fetch-weights {name}")
            raise
        path = Path(files[fs.role])
        try:
            verify_hash_prefix(path, hash_prefix_from_name(path))
        except DataError:
            files.rollback()  # a replaced copy comes back; a new bad file is set aside below
            if path.exists() and not sha256_of(path).startswith(hash_prefix_from_name(path)):
                download.set_aside(path)
                download.forget_record(raw, path.name)
            raise
        files.commit()
    return path


def require_weights(name: str) -> Path:
    """The fetched weights file ``name``; DataError naming the command that fetches it."""
    path = weights_path(name)
    if not path.is_file():
        raise DataError(
            f"The weights file {path.name} ({name}) has not been fetched.",
            hint=f"Run `clusterbench fetch-weights {name}` (or `--from FILE` with your copy, `--mirror DIR`).",
        )
    return path
