"""The METHODS registry: method id -> Method class. One module per method, in one folder per
family: ``baselines/`` (k-means, GMM, NMF, spectral, agglomerative, N-Cuts), ``autoencoders/``
(the auto-encoder base, Dual-AAE and its no-CR row, AAE, CatGAN, InfoGAN), ``gan/`` (the shared
GAN pieces; ClusterGAN, WGAN-GP, DLS, DC3-GAN and its variants, InfoGAN-CR, ClusterGAN-BSPL),
``hashing/`` (shallow hash functions, not methods), ``pretrain/`` (SimCLR). ``base`` is the Method
contract; ``dataset_settings.toml`` the papers' per-data-set settings. Add a method's line to
``clusterbench.plugins.BUILTIN_METHODS``.

May import: ``training``, ``nn``, ``evaluate``, ``data``, ``metrics`` and the layers below them;
never ``runner``, ``report`` or ``cli``. Networks live in ``clusterbench.nn``, the loop in
``clusterbench.training``."""

from __future__ import annotations

from clusterbench.errors import UnknownNameError
from clusterbench.methods.base import Method, MethodOutput, make_config
from clusterbench.plugins import load_methods

#: method id -> Method class: the built-ins of ``clusterbench.plugins.BUILTIN_METHODS`` (add a
#: method there, one line) and installed plug-ins (entry-point group ``clusterbench.methods``).
METHODS: dict[str, type[Method]] = load_methods(Method)


def get_method(name: str) -> type[Method]:
    if name not in METHODS:
        raise UnknownNameError("method", name, METHODS)
    return METHODS[name]


__all__ = ["METHODS", "Method", "MethodOutput", "get_method", "make_config"]
