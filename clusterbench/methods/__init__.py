"""The METHODS registry: method id -> Method class. One module per method; add its line to
``clusterbench.plugins.BUILTIN_METHODS``."""

from __future__ import annotations

from clusterbench.errors import UnknownNameError
from clusterbench.methods.base import Method, MethodOutput, make_config
from clusterbench.plugins import load_methods

#: method id -> Method class: the built-ins of ``clusterbench.plugins.BUILTIN_METHODS`` (add a
#: method there, one line) and installed plug-ins (entry-point group ``clusterbench.methods``).
METHODS: dict[str, type[Method]] = load_methods()


def get_method(name: str) -> type[Method]:
    if name not in METHODS:
        raise UnknownNameError("method", name, METHODS)
    return METHODS[name]


__all__ = ["METHODS", "Method", "MethodOutput", "get_method", "make_config"]
