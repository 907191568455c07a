"""clusterbench: reproduce and extend four deep-clustering papers from the command line."""

from __future__ import annotations

__version__ = "0.1.0"


def load(name: str, *, extras: bool = False, mmap: bool | None = None):
    """``(X, y, info)`` of a data set; see :func:`clusterbench.data.load`."""
    from clusterbench.data import load as _load

    return _load(name, extras=extras, mmap=mmap)


__all__ = ["load", "__version__"]
