"""The METHODS registry: method id -> Method class. One module per method; add a line here."""

from __future__ import annotations

from clusterbench.errors import UnknownNameError
from clusterbench.methods.aae import AAE
from clusterbench.methods.base import Method, MethodOutput, make_config
from clusterbench.methods.baselines import (
    AgglomerativeMethod,
    GMMMethod,
    KMeansMethod,
    NMFMethod,
    SpectralMethod,
)
from clusterbench.methods.catgan import CatGAN
from clusterbench.methods.dual_aae import DualAAE, DualAAENoCR
from clusterbench.methods.infogan import InfoGAN
from clusterbench.methods.ncuts import NCutsMethod

METHODS: dict[str, type[Method]] = {
    # Classical baselines (methods/baselines.py, methods/ncuts.py)
    "kmeans": KMeansMethod,
    "gmm": GMMMethod,
    "ncuts": NCutsMethod,
    "nmf": NMFMethod,
    "spectral": SpectralMethod,
    "agglomerative": AgglomerativeMethod,
    # Deep methods of the Dual-AAE paper and its comparison methods
    "dual-aae": DualAAE,
    "dual-aae-nocr": DualAAENoCR,
    "aae": AAE,
    "infogan": InfoGAN,
    "catgan": CatGAN,
}


def get_method(name: str) -> type[Method]:
    if name not in METHODS:
        raise UnknownNameError("method", name, METHODS)
    return METHODS[name]


__all__ = ["METHODS", "Method", "MethodOutput", "get_method", "make_config"]
