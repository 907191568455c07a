"""The METHODS registry: method id -> Method class. One module per method; add a line here."""

from __future__ import annotations

from clusterbench.errors import UnknownNameError
from clusterbench.methods.base import Method, MethodOutput, make_config

METHODS: dict[str, type[Method]] = {}


def get_method(name: str) -> type[Method]:
    if name not in METHODS:
        raise UnknownNameError("method", name, METHODS)
    return METHODS[name]


__all__ = ["METHODS", "Method", "MethodOutput", "get_method", "make_config"]
