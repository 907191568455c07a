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
    # Classical baselines (methods/baselines.py, methods/ncuts.py)
    "kmeans": "clusterbench.methods.baselines:KMeansMethod",
    "gmm": "clusterbench.methods.baselines:GMMMethod",
    "ncuts": "clusterbench.methods.ncuts:NCutsMethod",
    "nmf": "clusterbench.methods.baselines:NMFMethod",
    "spectral": "clusterbench.methods.baselines:SpectralMethod",
    "agglomerative": "clusterbench.methods.baselines:AgglomerativeMethod",
    # Deep methods of the Dual-AAE paper and its comparison methods
    "dual-aae": "clusterbench.methods.dual_aae:DualAAE",
    "dual-aae-nocr": "clusterbench.methods.dual_aae:DualAAENoCR",
    "aae": "clusterbench.methods.aae:AAE",
    "infogan": "clusterbench.methods.infogan:InfoGAN",
    "catgan": "clusterbench.methods.catgan:CatGAN",
    # GAN clustering of the DLS / DC3 papers (methods/gan/ holds the shared pieces)
    "clustergan": "clusterbench.methods.clustergan:ClusterGAN",
    "wgan-gp": "clusterbench.methods.wgan_gp:WGANGP",
    "dls": "clusterbench.methods.dls:DLS",
    "dc3-gan": "clusterbench.methods.dc3_gan:DC3GAN",
    "clustergan-bspl": "clusterbench.methods.clustergan_bspl:ClusterGANBSPL",
    "infogan-cr": "clusterbench.methods.infogan_cr:InfoGANCRMethod",
    "dc3-gan-dsprites": "clusterbench.methods.dc3_dsprites:DC3GANDSprites",
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
    """Import ``"package.module:Qual.Name"`` and return the object."""
    module, _, qual = ref.partition(":")
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


def load_methods() -> dict[str, type]:
    """Import every method class (built-ins and plug-ins). A plug-in that fails to import is
    skipped with a warning naming it and the error; a built-in that fails is a bug and raises."""
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
        from clusterbench.methods.base import Method  # lazily: plugins is imported by clusterbench.methods

        if not (isinstance(obj, type) and issubclass(obj, Method)):
            warnings.warn(f"Plug-in method {name!r} ({ref}) is a {type(obj).__name__}, not a subclass of "
                          "clusterbench.methods.base.Method; it is left out.", stacklevel=2)
            continue
        out[name] = obj
    return out
