"""User-facing errors.

Every error a user can cause (unknown name, bad option, bad file, no network, checksum mismatch)
is a :class:`ClusterbenchError`. The CLI prints its ``message`` and ``hint`` as one paragraph on
stderr and exits with code 1, without a traceback. Programming errors are *not* wrapped: they keep
their traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class ClusterbenchError(Exception):
    """An error the user can fix. ``hint`` says what to do about it."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:  # one paragraph
        return self.message if not self.hint else f"{self.message} {self.hint}"


class UnknownNameError(ClusterbenchError):
    """An unknown data set, method, table, ... with the closest valid names suggested."""

    def __init__(self, kind: str, name: str, valid: Iterable[str]) -> None:
        valid = sorted(valid)
        close = difflib.get_close_matches(name, valid, n=3, cutoff=0.5)
        msg = f"Unknown {kind} {name!r}."
        if close:
            msg += " Did you mean " + " or ".join(repr(c) for c in close) + "?"
        plural = kind if kind.endswith("s") else f"{kind}s"  # "weights", not "weightss"
        super().__init__(msg, hint=f"Valid {plural}: {', '.join(valid)}.")
        self.name = name
        self.valid = valid


class ConfigError(ClusterbenchError):
    """A bad option or configuration value."""


class DataError(ClusterbenchError):
    """A missing, corrupt, truncated or wrongly formatted data file."""


class DownloadError(ClusterbenchError):
    """No URL or mirror delivered a file."""


class ChecksumError(DataError):
    """A file's checksum differs from the pinned one."""


def suggest(name: str, valid: Iterable[str]) -> list[str]:
    """The up to three valid names closest to ``name``."""
    return difflib.get_close_matches(name, list(valid), n=3, cutoff=0.5)
