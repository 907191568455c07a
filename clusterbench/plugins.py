"""Where the suite finds its methods, metrics and table specs: built-ins and plug-ins.

Built-in methods are listed here as ``"module:Class"`` references, so that listing the method
names (``report``, ``methods``, plan-time checks) imports neither torch nor scikit-learn. A user's
own package adds methods, metrics or table specs without editing clusterbench, through Python
entry points (the way pytest finds its plug-ins), in its ``pyproject.toml``::

    [project.entry-points."clusterbench.methods"]
    my-method = "my_package.module:MyMethod"

Groups: :data:`GROUPS`. A plug-in whose name clashes with a built-in is refused with a warning
(built-ins win); one that fails to import is reported with a warning naming it, never silently
dropped, and never takes the built-ins down.
"""

from __future__ import annotations

import importlib
import tomllib
import warnings
from functools import lru_cache
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any

from clusterbench.paths import name_problem

#: Entry-point group of each plug-in kind.
GROUPS: dict[str, str] = {
    "methods": "clusterbench.methods",
    "metrics": "clusterbench.metrics",
    "tables": "clusterbench.tables",
}

#: Built-in methods: id -> "module:Class". One line per method; the id is the ``run`` name.
BUILTIN_METHODS: dict[str, str] = {
    # Classical baselines (methods/baselines/)
    "kmeans": "clusterbench.methods.baselines.classical:KMeansMethod",
    "gmm": "clusterbench.methods.baselines.classical:GMMMethod",
    "ncuts": "clusterbench.methods.baselines.ncuts:NCutsMethod",
    "nmf": "clusterbench.methods.baselines.classical:NMFMethod",
    "spectral": "clusterbench.methods.baselines.classical:SpectralMethod",
    "agglomerative": "clusterbench.methods.baselines.classical:AgglomerativeMethod",
    # Deep methods of the Dual-AAE paper and its comparison methods (methods/autoencoders/)
    "dual-aae": "clusterbench.methods.autoencoders.dual_aae:DualAAE",
    "dual-aae-nocr": "clusterbench.methods.autoencoders.dual_aae:DualAAENoCR",
    "aae": "clusterbench.methods.autoencoders.aae:AAE",
    "infogan": "clusterbench.methods.autoencoders.infogan:InfoGAN",
    "catgan": "clusterbench.methods.autoencoders.catgan:CatGAN",
    # GAN clustering of the DLS / DC3 papers (methods/gan/ holds the shared pieces)
    "clustergan": "clusterbench.methods.gan.clustergan:ClusterGAN",
    "wgan-gp": "clusterbench.methods.gan.wgan_gp:WGANGP",
    "dls": "clusterbench.methods.gan.dls:DLS",
    "dc3-gan": "clusterbench.methods.gan.dc3.dc3_gan:DC3GAN",
    "clustergan-bspl": "clusterbench.methods.gan.clustergan_bspl:ClusterGANBSPL",
    "infogan-cr": "clusterbench.methods.gan.infogan_cr:InfoGANCRMethod",
    "dc3-gan-dsprites": "clusterbench.methods.gan.dc3.dsprites:DC3GANDSprites",
}

#: Built-in hash functions of the retrieval protocol (not methods: no cluster posterior; see
#: ``clusterbench.methods.hashing``): id -> "module:Class", listed here so the report knows the
#: ids without importing them.
BUILTIN_HASHERS: dict[str, str] = {
    "lsh": "clusterbench.methods.hashing.shallow:LSH",
    "pcah": "clusterbench.methods.hashing.shallow:PCAH",
    "itq": "clusterbench.methods.hashing.shallow:ITQ",
    "speh": "clusterbench.methods.hashing.shallow:SpectralHashing",
    "sphh": "clusterbench.methods.hashing.shallow:SphericalHashing",
    "kmh": "clusterbench.methods.hashing.shallow:KMeansHashing",
}

#: Modules of built-in methods before issue 22 moved them into family folders: old -> new. A run
#: spec's ``method_ref`` written before the move (a Slurm job queued then, a pool worker's spec)
#: still imports its class (:func:`load_ref`).
MOVED_MODULES: dict[str, str] = {
    "clusterbench.methods.baselines": "clusterbench.methods.baselines.classical",
    "clusterbench.methods.ncuts": "clusterbench.methods.baselines.ncuts",
    "clusterbench.methods.dual_aae": "clusterbench.methods.autoencoders.dual_aae",
    "clusterbench.methods.aae": "clusterbench.methods.autoencoders.aae",
    "clusterbench.methods.infogan": "clusterbench.methods.autoencoders.infogan",
    "clusterbench.methods.catgan": "clusterbench.methods.autoencoders.catgan",
    "clusterbench.methods.clustergan": "clusterbench.methods.gan.clustergan",
    "clusterbench.methods.wgan_gp": "clusterbench.methods.gan.wgan_gp",
    "clusterbench.methods.dls": "clusterbench.methods.gan.dls",
    "clusterbench.methods.dc3_gan": "clusterbench.methods.gan.dc3.dc3_gan",
    "clusterbench.methods.clustergan_bspl": "clusterbench.methods.gan.clustergan_bspl",
    "clusterbench.methods.infogan_cr": "clusterbench.methods.gan.infogan_cr",
    "clusterbench.methods.dc3_dsprites": "clusterbench.methods.gan.dc3.dsprites",
}

#: The papers' per-data-set settings of methods (data; see the file's header and
#: :func:`dataset_settings`).
DATASET_SETTINGS_FILE = Path(__file__).parent / "methods" / "dataset_settings.toml"


@lru_cache(maxsize=None)
def _all_dataset_settings() -> dict[str, dict[str, dict[str, Any]]]:
    with open(DATASET_SETTINGS_FILE, "rb") as fh:
        return tomllib.load(fh)


def dataset_settings(method: str | None, dataset: str | None) -> dict[str, Any]:
    """The paper's settings of ``method`` on ``dataset`` (``methods/dataset_settings.toml``):
    e.g. ``("dls", "fashion-mnist") -> {"latent_dim": 40}``; ``{}`` where the papers give none.

    Plan time applies them as defaults under the user's ``--set`` (and so writes them into the
    run's config and key); the report requires them of the runs a cell reads. Reads a TOML file
    only (no method module is imported)."""
    if not method or not dataset:
        return {}
    return dict(_all_dataset_settings().get(method, {}).get(dataset, {}))


def load_ref(ref: str) -> Any:
    """Import ``"package.module:Qual.Name"`` and return the object (a built-in method's module
    from before the move to family folders is read as its new one, :data:`MOVED_MODULES`)."""
    module, _, qual = ref.partition(":")
    module = MOVED_MODULES.get(module, module)
    obj: Any = importlib.import_module(module)
    for part in qual.split(".") if qual else ():
        obj = getattr(obj, part)
    return obj


@lru_cache(maxsize=None)
def plugin_entry_points(kind: str) -> dict[str, EntryPoint]:
    """Installed entry points of one plug-in ``kind`` (a key of :data:`GROUPS`), by name."""
    return {ep.name: ep for ep in entry_points(group=GROUPS[kind])}


def method_refs() -> dict[str, str]:
    """Every method id -> ``"module:Class"``: the built-ins, then installed plug-ins."""
    refs = dict(BUILTIN_METHODS)
    for name, ep in plugin_entry_points("methods").items():
        if name_problem(name) is not None:  # the name is a folder of the results home
            warnings.warn(f"Plug-in method {name!r} ({ep.value}) is left out: its name cannot be a folder name "
                          f"({name_problem(name)}). Rename the entry point.", stacklevel=2)
            continue
        if name in refs:
            warnings.warn(f"Plug-in method {name!r} ({ep.value}) has the name of a built-in method; "
                          "the built-in is used. Rename the entry point.", stacklevel=2)
            continue
        refs[name] = ep.value
    return refs


def method_names() -> tuple[str, ...]:
    """Every registered method id, without importing any method module."""
    return tuple(method_refs())


def load_methods(base: type | None = None) -> dict[str, type]:
    """Import every method class (built-ins and plug-ins). A plug-in that fails to import, or
    (with ``base``, the Method contract's class) that is not a subclass of ``base``, is skipped
    with a warning naming it and why; a built-in that fails is a bug and raises."""
    out: dict[str, type] = {}
    for name, ref in method_refs().items():
        if name in BUILTIN_METHODS:
            out[name] = load_ref(ref)
            continue
        try:
            obj = load_ref(ref)
        except Exception as exc:  # a broken plug-in must not take the suite down
            warnings.warn(f"Plug-in method {name!r} ({ref}) could not be imported "
                          f"({type(exc).__name__}: {exc}); it is left out.", stacklevel=2)
            continue
        if base is not None and not (isinstance(obj, type) and issubclass(obj, base)):
            warnings.warn(f"Plug-in method {name!r} ({ref}) is a {type(obj).__name__}, not a subclass of "
                          f"{base.__module__}.{base.__qualname__}; it is left out.", stacklevel=2)
            continue
        out[name] = obj
    return out
