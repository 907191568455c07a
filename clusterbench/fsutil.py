"""Atomic file writes: write to a temporary file beside the target, fsync, then rename.

Nothing is ever left half-written under its final name, and a previous good file stays in place
until the new one is complete.

* Permissions: ``mkstemp``/``mkdtemp`` create 0600/0700; the file (folder) is given the mode a
  plain ``open``/``mkdir`` would have under the user's umask (0666/0777 & ~umask) before it is
  renamed into place, so a shared group or a Slurm home can read what the suite writes.
* Temporary names are ``.<target name>.<host>-<pid>.<random>.part``: :func:`clean_stale_parts`
  removes those whose writer (this host, that pid) is gone, e.g. after ``kill -9``.
* Disk full: :func:`disk_full_error` is the one-paragraph error for ENOSPC/EDQUOT.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from clusterbench.errors import DataError


def _umask() -> int:
    """The process umask (read by setting it and back: there is no getter before Python 3.14)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def umask_mode(*, directory: bool = False) -> int:
    """The mode a new file (0666) or folder (0777) gets under the current umask."""
    return (0o777 if directory else 0o666) & ~_umask()


def _tag() -> str:
    host = re.sub(r"[^A-Za-z0-9-]", "", socket.gethostname())[:32] or "host"
    return f"{host}-{os.getpid()}"


def temp_beside(target: Path, *, suffix: str = ".part", directory: bool = False) -> Path:
    """A new empty temporary file (or folder) beside ``target``, named for :func:`clean_stale_parts`."""
    target = Path(target)
    if directory:
        return Path(tempfile.mkdtemp(prefix=f".{target.name}.{_tag()}.", suffix=suffix, dir=target.parent))
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.{_tag()}.", suffix=suffix, dir=target.parent)
    os.close(fd)
    return Path(tmp)


def named(exc: OSError, path: str | os.PathLike) -> OSError:
    """``exc`` with ``path`` as its file name when it names none (a failed write names no file)."""
    if exc.filename is not None or exc.errno is None:
        return exc
    return OSError(exc.errno, exc.strerror or str(exc), str(path))


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, *, suffix: str = ".part") -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success rename it onto ``target``.

    On any exception the temporary file is removed and ``target`` is untouched. The file ends
    with the umask's permissions (see the module docstring).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = temp_beside(target, suffix=suffix)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp_path, umask_mode())
        os.replace(tmp_path, target)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        if isinstance(exc, OSError) and named(exc, target) is not exc:
            raise named(exc, target) from exc  # a failed write (a full disk) names no file
        raise


@contextlib.contextmanager
def staged_dir(target: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``target``; on success its entries replace those of
    ``target`` (created if missing), each with one rename, so no half-written entry is ever
    visible; entries of ``target`` that the new content does not have are left alone. On any
    exception the temporary folder is removed and ``target`` is untouched."""
    target = Path(target)
    if target.exists() and not target.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "not a folder", str(target))
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_beside(target, directory=True)
    try:
        yield tmp
        for d in [tmp, *(p for p in tmp.rglob("*") if p.is_dir())]:
            os.chmod(d, umask_mode(directory=True))
        if not target.exists():
            os.rename(tmp, target)
            return
        for entry in sorted(tmp.iterdir()):
            dst = target / entry.name
            if dst.is_dir() and not dst.is_symlink():
                old = target / f".{entry.name}.{_tag()}.old"
                os.rename(dst, old)
                os.rename(entry, dst)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(entry, dst)
        tmp.rmdir()
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


_PART = re.compile(r"^\..+\.(?P<host>[A-Za-z0-9-]+)-(?P<pid>\d+)\.[^.]+\.part$")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def clean_stale_parts(folder: str | os.PathLike, *, max_age_s: float = 7 * 86400) -> list[Path]:
    """Remove the temporary files/folders of :func:`atomic_path` / :func:`staged_dir` in
    ``folder`` whose writer is dead: written on this host by a pid that no longer runs, or older
    than ``max_age_s`` (another host's, on a shared file system). Returns what was removed."""
    folder = Path(folder)
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    here = _tag().rsplit("-", 1)[0]
    now = time.time()
    for p in folder.iterdir():
        m = _PART.match(p.name)
        if not m or int(m.group("pid")) == os.getpid():
            continue
        try:
            age = now - p.lstat().st_mtime
        except FileNotFoundError:
            continue
        dead = (m.group("host") == here and not _alive(int(m.group("pid")))) or age > max_age_s
        if not dead:
            continue
        with contextlib.suppress(FileNotFoundError):
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
            removed.append(p)
    return removed


def is_disk_full(exc: BaseException) -> bool:
    """True for the OSErrors of a full disk or an exhausted quota (h5py reports ENOSPC as text)."""
    return isinstance(exc, OSError) and (
        exc.errno in (errno.ENOSPC, errno.EDQUOT) or "No space left" in str(exc)
    )


def disk_full_error(path: Path, *, what: str = "the partial file was removed") -> DataError:
    """The one-paragraph error of a full disk while writing ``path``."""
    return DataError(
        f"The disk is full: writing {path} failed (no space left on device); {what}.",
        hint="Free some space, or point CLUSTERBENCH_HOME (or --results) at a larger disk, then run the command again.",
    )


def write_bytes_atomic(target: str | os.PathLike, data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(target: str | os.PathLike, text: str) -> None:
    write_bytes_atomic(target, text.encode("utf-8"))


def write_json_atomic(target: str | os.PathLike, obj: Any) -> None:
    write_text_atomic(target, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(o: Any) -> Any:
    import numpy as np

    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
