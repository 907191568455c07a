"""The METHODS registry: method id -> Method class. One module per method; add a line here."""

from __future__ import annotations

from clusterbench.errors import UnknownNameError
from clusterbench.methods.base import Method, MethodOutput, make_config

METHODS: dict[str, type[Method]] = {}

# Deep methods of the Dual-AAE paper (one line each).
from clusterbench.methods.dual_aae import DualAAE, DualAAENoCR  # noqa: E402

METHODS["dual-aae"] = DualAAE
METHODS["dual-aae-nocr"] = DualAAENoCR
from clusterbench.methods.aae import AAE  # noqa: E402
from clusterbench.methods.catgan import CatGAN  # noqa: E402
from clusterbench.methods.infogan import InfoGAN  # noqa: E402

METHODS["aae"] = AAE
METHODS["infogan"] = InfoGAN
METHODS["catgan"] = CatGAN


def get_method(name: str) -> type[Method]:
    if name not in METHODS:
        raise UnknownNameError("method", name, METHODS)
    return METHODS[name]


__all__ = ["METHODS", "Method", "MethodOutput", "get_method", "make_config"]

# --- classical baselines (clusterbench/methods/baselines.py, ncuts.py) ---
from clusterbench.methods.baselines import (  # noqa: E402
    AgglomerativeMethod,
    GMMMethod,
    KMeansMethod,
    NMFMethod,
    SpectralMethod,
)
from clusterbench.methods.ncuts import NCutsMethod  # noqa: E402

METHODS["kmeans"] = KMeansMethod
METHODS["gmm"] = GMMMethod
METHODS["ncuts"] = NCutsMethod
METHODS["nmf"] = NMFMethod
METHODS["spectral"] = SpectralMethod
METHODS["agglomerative"] = AgglomerativeMethod
