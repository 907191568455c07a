"""The data set registry: ``datasets.toml`` (built-in) plus the user's ``registry.toml``.

Schema of one entry (all keys but ``preprocessor`` and ``n_clusters`` optional)::

    [mnist]
    title = "MNIST"
    used_by = ["dual-aae: Tables I, II, III, IV", "dls: Table 3; setting tables 1, 2"]   # report paper id: its result tables (as `report --paper ID --table N` takes them); setting tables = architectures, latent sizes
    n_clusters = 10
    n_samples = 70000
    sample_shape = [1, 28, 28]          # per-sample shape of X (images: C, H, W)
    preprocessor = "idx"                # key in clusterbench.data.preprocessors.PREPROCESSORS
    raw = "mnist"                       # raw-file folder; data sets built from the same files share it
    source = "download"                 # "download" | "user" (no public copy: fetch --from FILE) | "embedded"
    obtain = "..."                      # for source = "user": what file to get and how
    license = "CC BY-SA 3.0"
    notes = "..."
    [mnist.options]                     # keyword arguments of the preprocessor (the recipe)
    merge = ["train", "test"]

    [[mnist.files]]
    name = "train-images-idx3-ubyte.gz" # file name in the raw folder
    role = "train-images"               # how the preprocessor refers to it
    urls = ["https://...", "http://..."]  # tried in order (first = canonical, others mirrors)
    size = 9912422                      # bytes of the archive, when known
    sha256 = "..."                      # archive checksums; md5 accepted too
    md5 = "..."
    payload_md5 = "..."                 # checksum of the decompressed payload (.gz/.bz2): a mirror
                                        # that recompressed is accepted when the payload matches
    git_blob = "..."                    # git object id (git hash-object), where that is all we know
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clusterbench import paths
from clusterbench.errors import ConfigError, UnknownNameError
from clusterbench.paths import check_name

SOURCES = ("download", "user", "embedded", "local")


@dataclass(frozen=True)
class FileSpec:
    """One raw file of a data set: where to get it and how to verify it."""

    name: str
    role: str = ""
    urls: tuple[str, ...] = ()
    size: int | None = None
    sha256: str | None = None
    md5: str | None = None
    payload_md5: str | None = None
    payload_sha256: str | None = None
    git_blob: str | None = None
    optional: bool = False

    @property
    def has_checksum(self) -> bool:
        return any((self.sha256, self.md5, self.payload_md5, self.payload_sha256, self.git_blob))


@dataclass(frozen=True)
class DatasetSpec:
    """A registered data set (one ``datasets.toml`` entry)."""

    name: str
    preprocessor: str
    n_clusters: int
    title: str = ""
    used_by: tuple[str, ...] = ()
    n_samples: int | None = None
    sample_shape: tuple[int, ...] | None = None
    raw: str = ""
    source: str = "download"
    obtain: str = ""
    license: str = ""
    notes: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    files: tuple[FileSpec, ...] = ()
    user: bool = False  # registered by the user (registry.toml), not built in

    @property
    def raw_name(self) -> str:
        return self.raw or self.name

    def file(self, role: str) -> FileSpec:
        for f in self.files:
            if f.role == role or f.name == role:
                return f
        raise KeyError(f"{self.name} has no file with role {role!r}")


def builtin_registry_file() -> Path:
    """Locate ``datasets.toml``: the source checkout's, else the installed copy."""
    root = paths.repo_root()
    if root is not None and (root / "datasets.toml").exists():
        return root / "datasets.toml"
    import sys

    for prefix in (sys.prefix, sys.base_prefix):
        p = Path(prefix) / "share" / "clusterbench" / "datasets.toml"
        if p.exists():
            return p
    raise FileNotFoundError("datasets.toml not found: reinstall clusterbench")


def _parse(table: dict[str, Any], *, origin: str, user: bool) -> dict[str, DatasetSpec]:
    specs: dict[str, DatasetSpec] = {}
    for name, entry in table.items():
        try:
            files = tuple(
                FileSpec(**{**f, "urls": tuple(f.get("urls", ()))}) for f in entry.get("files", [])
            )
            kw = {k: v for k, v in entry.items() if k != "files"}
            kw["used_by"] = tuple(kw.get("used_by", ()))
            if "sample_shape" in kw:
                kw["sample_shape"] = tuple(kw["sample_shape"])
            spec = DatasetSpec(name=name, files=files, user=user, **kw)
        except TypeError as exc:
            raise ConfigError(
                f"The data set registry {origin} has a malformed entry [{name}]: {exc}.",
                hint="Fix the entry (see the schema in clusterbench/data/registry.py).",
            ) from None
        check_name("data set", name, origin=origin)
        if spec.raw:
            check_name("raw-file folder", spec.raw, origin=f"[{name}] raw in {origin}")
        for f in spec.files:
            check_name("raw file", f.name, origin=f"[{name}] files in {origin}", file=True)
        if spec.source not in SOURCES:
            raise ConfigError(f"[{name}] in {origin}: source must be one of {SOURCES}, got {spec.source!r}.")
        specs[name] = spec
    return specs


def load_registry() -> dict[str, DatasetSpec]:
    """All data sets: built-in ones, then the user's (a user entry may not shadow a built-in one)."""
    builtin_file = builtin_registry_file()
    with open(builtin_file, "rb") as fh:
        specs = _parse(tomllib.load(fh), origin=str(builtin_file), user=False)
    user_file = paths.user_registry_file()
    if user_file.exists():
        try:
            with open(user_file, "rb") as fh:
                user = _parse(tomllib.load(fh), origin=str(user_file), user=True)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(
                f"Your data set registry {user_file} is not valid TOML ({exc}).",
                hint="Fix or delete that file; it only lists data sets you registered with `fetch --from`.",
            ) from None
        for name, spec in user.items():
            if name not in specs:
                specs[name] = spec
    return specs


def get_spec(name: str) -> DatasetSpec:
    """The spec of data set ``name``; an unknown name raises with the closest names suggested."""
    reg = load_registry()
    if name not in reg:
        raise UnknownNameError("data set", name, reg)
    return reg[name]
