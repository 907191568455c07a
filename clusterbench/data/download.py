"""Download and verification of raw files: ``ensure_files``.

For each :class:`FileSpec` of a data set, in this order:

1. a cached copy in the raw folder is reused when it verifies (unless ``force``);
2. ``--from FILE`` (the user's copy) is copied in and verified against the pinned checksums;
3. ``--mirror`` (a local directory holding the same file names, or a URL prefix) is tried first,
   then the entry's ``urls`` in order.

Downloads stream into ``<name>.part`` beside the final file (requests, Rich progress bar on a
terminal), resume a partial file with an HTTP ``Range`` request (a server that ignores the range
makes the download restart), retry transient errors (connection errors, time-outs, HTTP 5xx/429)
with exponential backoff, and are renamed onto the final name only after verification.

Verification: ``size``, ``sha256``, ``md5`` and ``git_blob`` (``git hash-object``: sha1 of
``b"blob <len>\\0" + content``) of the archive; when the archive differs but ``payload_md5`` /
``payload_sha256`` of the decompressed content (.gz, .bz2, .xz) match, the file is accepted (a
mirror that recompressed). Where payload checksums are pinned, a ``--mirror`` may also hold the
*uncompressed* file (``train-images-idx3-ubyte`` for ``train-images-idx3-ubyte.gz``): it is tried
after the archive name, verified byte for byte against the payload checksums, and stored
compressed under the registry's name (gzip/bz2/xz, fixed header) so the raw folder looks the same
whatever the form. One log line per fetch says which form (original archive, recompressed archive,
uncompressed file) was accepted from where. A file that fails is moved aside as
``<name>.bad`` and never used; the next source is tried. Files with no pinned checksum
(UNVERIFIED in the registry notes) are accepted and the sha256 of the first download is recorded
in ``<raw>/checksums.json``; later reads are verified against that record.

One lock file per raw folder (``<raw>/.lock``, the ``filelock`` package) serialises concurrent
fetches of the same files, across threads and processes.

Retries, backoff and time-outs default to :class:`Policy` and can be overridden with the
environment variables ``CLUSTERBENCH_DOWNLOAD_RETRIES``, ``CLUSTERBENCH_DOWNLOAD_BACKOFF``
(seconds) and ``CLUSTERBENCH_DOWNLOAD_TIMEOUT`` (seconds).
"""

from __future__ import annotations

import urllib.parse

import bz2
import contextlib
import gzip
import hashlib
import json
import logging
import lzma
import os
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from clusterbench.data.registry import DatasetSpec, FileSpec
from clusterbench.errors import ChecksumError, ConfigError, DataError, DownloadError
from clusterbench.fsutil import disk_full_error, is_disk_full, write_json_atomic  # disk_full_error: re-exported

log = logging.getLogger("clusterbench.download")

CHUNK = 1 << 16
CHECKSUMS_FILE = "checksums.json"  # sha256 recorded on first download of files with no pinned checksum
PROVENANCE_FILE = "provenance.json"  # where each raw file came from and how it was verified
LOCK_FILE = ".lock"
USER_AGENT = "clusterbench (https://github.com/; research data fetcher)"


# --------------------------------------------------------------------------------------------
# policy, small helpers


@dataclass(frozen=True)
class Policy:
    """Retry policy of one download. Attempt ``i`` (0-based) after a transient error waits
    ``backoff * 2**i`` seconds; ``timeout`` is (connect, read) in seconds."""

    retries: int = 3
    backoff: float = 0.5
    timeout: tuple[float, float] = (10.0, 60.0)

    @classmethod
    def from_env(cls) -> Policy:
        p = cls()
        env = os.environ
        try:
            if "CLUSTERBENCH_DOWNLOAD_RETRIES" in env:
                p = replace(p, retries=max(0, int(env["CLUSTERBENCH_DOWNLOAD_RETRIES"])))
            if "CLUSTERBENCH_DOWNLOAD_BACKOFF" in env:
                p = replace(p, backoff=max(0.0, float(env["CLUSTERBENCH_DOWNLOAD_BACKOFF"])))
            if "CLUSTERBENCH_DOWNLOAD_TIMEOUT" in env:
                t = float(env["CLUSTERBENCH_DOWNLOAD_TIMEOUT"])
                p = replace(p, timeout=(t, t))
        except ValueError as exc:
            raise ConfigError(
                f"A CLUSTERBENCH_DOWNLOAD_* environment variable is not a number ({exc}).",
                hint="Set it to a number or unset it.",
            ) from None
        return p


def sha256_file(path: str | Path, *, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def git_blob_sha1(path: str | Path) -> str:
    """``git hash-object`` of a file: sha1 over ``b"blob <size>\\0"`` + content."""
    path = Path(path)
    h = hashlib.sha1(f"blob {path.stat().st_size}\0".encode())
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def _unlink(*ps: Path) -> None:
    for p in ps:
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (ValueError, OSError):
        log.warning("Ignoring the unreadable %s.", path)
        return {}


def set_aside(path: Path, name: str | None = None) -> Path:
    """Move a bad file to ``<name>.bad`` beside it (replacing an older one); return the new path."""
    bad = path.with_name((name or path.name) + ".bad")
    os.replace(path, bad)
    return bad


@contextlib.contextmanager
def raw_lock(raw_dir: Path) -> Iterator[None]:
    """Hold the lock of one raw folder (blocks while another fetch holds it; says so)."""
    from filelock import FileLock, Timeout

    raw_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(raw_dir / LOCK_FILE)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        log.info("Waiting for another clusterbench fetch that is using %s ...", raw_dir)
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


# --------------------------------------------------------------------------------------------
# verification


@dataclass
class Verdict:
    """Outcome of verifying one file against its FileSpec."""

    ok: bool
    how: str  # what it was verified by (or why it failed)
    sha256: str
    mismatches: list[str] = field(default_factory=list)  # "sha256: expected X, got Y"
    form: str = ""  # accepted as: "archive", "recompressed", "uncompressed" (payload bytes), "" otherwise


def _archive_digests(path: Path, fs: FileSpec) -> dict[str, str]:
    size = path.stat().st_size
    hs: dict[str, Any] = {"sha256": hashlib.sha256()}
    if fs.md5:
        hs["md5"] = hashlib.md5()
    if fs.git_blob:
        hs["git_blob"] = hashlib.sha1(f"blob {size}\0".encode())
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            for h in hs.values():
                h.update(block)
    return {k: h.hexdigest() for k, h in hs.items()}


def _open_decompressed(path: Path):
    with open(path, "rb") as fh:
        magic = fh.read(6)
    if magic[:2] == b"\x1f\x8b":
        return gzip.open(path, "rb")
    if magic[:3] == b"BZh":
        return bz2.open(path, "rb")
    if magic == b"\xfd7zXZ\x00":
        return lzma.open(path, "rb")
    return None


#: Compressed file-name suffixes whose payload a mirror may hold uncompressed (name without it).
COMPRESSED_SUFFIXES = (".gz", ".bz2", ".xz")


def _payload_digests(path: Path) -> dict[str, str] | str:
    """md5 and sha256 of the decompressed content, or a string saying why there is none.

    A file that is not gzip/bz2/xz is its own payload (an uncompressed copy): its digests are
    returned with ``"form": "uncompressed"`` (``"compressed"`` otherwise).
    """
    try:
        fh = _open_decompressed(path)
        form = "compressed"
        if fh is None:
            fh, form = open(path, "rb"), "uncompressed"
        md5, sha = hashlib.md5(), hashlib.sha256()
        with fh:
            while block := fh.read(1 << 20):
                md5.update(block)
                sha.update(block)
    except (EOFError, OSError, zlib.error, lzma.LZMAError) as exc:
        return f"cannot be decompressed ({type(exc).__name__}: {exc})"
    return {"payload_md5": md5.hexdigest(), "payload_sha256": sha.hexdigest(), "form": form}


def verify_file(path: str | Path, fs: FileSpec, *, recorded: str | None = None) -> Verdict:
    """Check ``path`` against the checksums of ``fs`` (see the module docstring).

    ``recorded``: sha256 recorded on first download, used when ``fs`` pins no checksum.
    """
    path = Path(path)
    got = _archive_digests(path, fs)
    size = path.stat().st_size
    archive = [(k, getattr(fs, k)) for k in ("sha256", "md5", "git_blob") if getattr(fs, k)]
    bad = [f"{k}: expected {v.lower()}, got {got[k]}" for k, v in archive if v.lower() != got[k]]
    if fs.size is not None and fs.size != size:
        bad.insert(0, f"size: expected {fs.size} bytes, got {size}")
    payload = [(k, getattr(fs, k)) for k in ("payload_md5", "payload_sha256") if getattr(fs, k)]
    if archive and not bad:
        return Verdict(True, "+".join(k for k, _ in archive), got["sha256"], form="archive")
    if payload:
        pd = _payload_digests(path)
        if isinstance(pd, str):
            return Verdict(False, "payload", got["sha256"], [*bad, f"payload: {pd}"])
        pbad = [f"{k}: expected {v.lower()}, got {pd[k]}" for k, v in payload if v.lower() != pd[k]]
        if not pbad:
            how = "+".join(k for k, _ in payload)
            if pd["form"] == "uncompressed":
                return Verdict(True, how + " (uncompressed copy: its bytes are the pinned payload)", got["sha256"],
                               form="uncompressed")
            if bad:
                how += " (recompressed copy: the archive differs, the decompressed content is identical)"
            return Verdict(True, how, got["sha256"], form="recompressed" if bad else "compressed")
        return Verdict(False, "payload", got["sha256"], [*bad, *pbad])
    if bad:
        return Verdict(False, "archive", got["sha256"], bad)
    # no pinned checksum (UNVERIFIED): compare with the sha256 recorded on the first download
    if recorded:
        if recorded.lower() == got["sha256"]:
            return Verdict(True, "sha256 recorded on first download", got["sha256"])
        return Verdict(
            False,
            "recorded",
            got["sha256"],
            [f"sha256 (recorded on first download in {CHECKSUMS_FILE}): expected {recorded}, got {got['sha256']}"],
        )
    return Verdict(True, "unverified (no pinned checksum)", got["sha256"])


# --------------------------------------------------------------------------------------------
# progress


_CONSOLE = None


def stderr_console():
    """The one Rich console on stderr shared by progress bars and log lines (so they interleave)."""
    global _CONSOLE
    if _CONSOLE is None:
        from rich.console import Console

        _CONSOLE = Console(stderr=True)
    return _CONSOLE


class _Progress:
    """A Rich progress bar on stderr, silent when disabled or not on a terminal."""

    def __init__(self, enabled: bool) -> None:
        self._p = None
        self._tasks: dict[str, Any] = {}
        if enabled:
            console = stderr_console()
            if console.is_terminal:
                from rich.progress import (
                    BarColumn,
                    DownloadColumn,
                    Progress,
                    TextColumn,
                    TimeRemainingColumn,
                    TransferSpeedColumn,
                )

                self._p = Progress(
                    TextColumn("{task.description}"),
                    BarColumn(),
                    DownloadColumn(),
                    TransferSpeedColumn(),
                    TimeRemainingColumn(),
                    console=console,
                    transient=False,
                )

    def __enter__(self) -> _Progress:
        if self._p is not None:
            self._p.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._p is not None:
            self._p.stop()

    def task(self, label: str, total: int | None, completed: int = 0) -> Callable[[int], None]:
        if self._p is None:
            return lambda n: None
        tid = self._tasks.get(label)
        if tid is None:
            tid = self._tasks[label] = self._p.add_task(label, total=total, completed=completed)
        else:  # a retry or another source of the same file: one bar per file
            self._p.reset(tid, total=total, completed=completed)
        return lambda n: self._p.advance(tid, n)


# --------------------------------------------------------------------------------------------
# fetching one file from one source


class _SourceFailed(Exception):
    """This source could not deliver the file; try the next one."""


class _Transient(Exception):
    """A retryable error (connection lost, time-out, HTTP 5xx)."""


def _short(exc: BaseException) -> str:
    """A one-line description of a requests/urllib3 exception."""
    import requests

    text = str(exc)
    for key, say in (
        ("Connection refused", "connection refused"),
        ("Name or service not known", "host not found (no network?)"),
        ("Temporary failure in name resolution", "host not found (no network?)"),
        ("Network is unreachable", "network unreachable"),
        ("No route to host", "no route to host"),
    ):
        if key in text:
            return say
    if isinstance(exc, requests.exceptions.Timeout):
        return "timed out"
    return text if len(text) < 160 else text[:157] + "..."


def _open_for_write(path: Path, mode: str):
    """Open a partial file (a seam for tests that simulate a full disk)."""
    return open(path, mode)


def _copy_local(src: Path, part: Path, bar: _Progress, label: str) -> None:
    if not src.is_file():
        raise _SourceFailed("no such file")
    _unlink(part, _meta(part))
    advance = bar.task(label, src.stat().st_size)
    with open(src, "rb") as fin, _open_for_write(part, "wb") as fout:
        while block := fin.read(1 << 20):
            fout.write(block)
            advance(len(block))
        fout.flush()
        os.fsync(fout.fileno())


def _meta(part: Path) -> Path:
    return part.with_name(part.name + ".json")


def _download(url: str, part: Path, *, policy: Policy, bar: _Progress, label: str) -> None:
    """Stream ``url`` into ``part``, resuming a partial file that came from the same URL."""

    meta = _meta(part)
    if part.exists() and _read_json(meta).get("url") != url:
        _unlink(part)  # a partial from another source: its bytes may differ (recompressed mirror)
    write_json_atomic(meta, {"url": url})
    session = _session(policy)
    last: Exception | None = None
    try:
        for attempt in range(policy.retries + 1):
            if attempt:
                wait = policy.backoff * 2 ** (attempt - 1)
                log.info("%s: %s; retry %d/%d in %.1f s", url, last, attempt, policy.retries, wait)
                time.sleep(wait)
            try:
                _get_once(session, url, part, policy=policy, bar=bar, label=label)
                return
            except _Transient as exc:
                last = exc
        n = policy.retries + 1
        raise _SourceFailed(f"{last}, {n} attempt{'s' if n > 1 else ''}")
    finally:
        session.close()


def _session(policy: Policy):
    """A requests session whose adapter retries what fails before the body streams (connection
    errors, HTTP 429/5xx, honouring Retry-After) with urllib3's ``Retry`` and the policy's
    exponential backoff. A connection lost mid-stream is retried by :func:`_download`'s loop,
    which resumes the partial file with a Range request."""
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry

    retry = Retry(total=policy.retries, connect=policy.retries, read=policy.retries, status=policy.retries,
                  backoff_factor=policy.backoff, status_forcelist=(429, 500, 502, 503, 504),
                  allowed_methods=frozenset({"GET"}), raise_on_status=False, respect_retry_after_header=True)
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers.update({"User-Agent": USER_AGENT, "Accept-Encoding": "identity"})
    return session


def _get_once(session, url: str, part: Path, *, policy: Policy, bar: _Progress, label: str) -> None:
    import requests
    import urllib3

    offset = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    try:
        r = session.get(url, stream=True, timeout=policy.timeout, headers=headers, allow_redirects=True)
    except requests.exceptions.InvalidURL as exc:
        raise _SourceFailed(f"invalid URL ({exc})") from None
    except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
        raise _SourceFailed(_short(exc)) from None  # the adapter's Retry has already retried
    except requests.exceptions.RequestException as exc:
        raise _SourceFailed(_short(exc)) from None
    with r:
        code = r.status_code
        if code == 416 and offset:
            _unlink(part)
            raise _Transient("the server refused to resume the partial file; restarting")
        if code >= 400:  # 429/5xx: after the adapter's retries
            raise _SourceFailed(f"HTTP {code} {r.reason}")
        length = r.headers.get("Content-Length")
        mode = "wb"
        if offset and code == 206 and r.headers.get("Content-Range", "").startswith(f"bytes {offset}-"):
            mode = "ab"
            log.info("%s: resuming at byte %d", url, offset)
        elif offset:
            log.info("%s: the server ignored the Range request; downloading from the start", url)
            offset = 0
        total = offset + int(length) if length and length.isdigit() else None
        advance = bar.task(label, total, completed=offset)
        got = offset
        with _open_for_write(part, mode) as fh:
            try:
                for block in r.raw.stream(CHUNK, decode_content=False):
                    fh.write(block)
                    got += len(block)
                    advance(len(block))
            except (urllib3.exceptions.HTTPError, requests.exceptions.RequestException, ConnectionError) as exc:
                fh.flush()
                raise _Transient(f"connection lost after {got} bytes ({type(exc).__name__})") from None
            fh.flush()
            os.fsync(fh.fileno())
        if total is not None and got < total:
            raise _Transient(f"connection lost after {got} of {total} bytes")


# --------------------------------------------------------------------------------------------
# the raw folder: records, provenance, replacement


@dataclass
class _Replaced:
    final: Path
    prev: Path
    old_record: str | None


class FetchedFiles(dict):
    """``{role: verified local path}``, plus where each file came from (``origins``).

    When a new file replaced a cached one (``--force``, ``--from``), the old one waits as
    ``<name>.prev`` until :meth:`commit` (drop it) or :meth:`rollback` (restore it, the new one
    set aside as ``.bad``): the caller decides once the preprocessor has read the files.
    """

    def __init__(self, raw_dir: Path) -> None:
        super().__init__()
        self.raw_dir = raw_dir
        self.origins: dict[str, dict[str, str]] = {}  # file name -> {role, origin, sha256, verified}
        self.forms: dict[str, tuple[str, str]] = {}  # file name -> (Verdict.form, source) of files fetched now
        self.replaced: list[_Replaced] = []

    def sources(self) -> dict[str, dict[str, str]]:
        """The HDF5 ``sources`` attribute: file name -> {role, sha256, origin, verified}."""
        return {k: dict(v) for k, v in self.origins.items()}

    def commit(self) -> None:
        for r in self.replaced:
            _unlink(r.prev)
        self.replaced = []

    def rollback(self, only: set[Path] | None = None) -> list[Path]:
        """Restore replaced files (all, or those in ``only``; the others are committed);
        return where the new (rejected) ones were set aside."""
        bad = []
        for r in self.replaced:
            if only is not None and r.final not in only:
                _unlink(r.prev)
                continue
            if r.final.exists():
                bad.append(set_aside(r.final))
            if r.prev.exists():
                os.replace(r.prev, r.final)
            _set_record(self.raw_dir, r.final.name, r.old_record)
        self.replaced = []
        return bad


def _records(raw_dir: Path) -> dict[str, str]:
    return _read_json(raw_dir / CHECKSUMS_FILE)


def _set_record(raw_dir: Path, name: str, sha: str | None) -> None:
    rec = _records(raw_dir)
    if sha is None:
        if name not in rec:
            return
        rec.pop(name)
    else:
        rec[name] = sha
    write_json_atomic(raw_dir / CHECKSUMS_FILE, rec)


def forget_record(raw_dir: Path, name: str) -> None:
    """Drop the recorded sha256 of a file found corrupt (it was recorded from that very file)."""
    _set_record(raw_dir, name, None)


def _install(part: Path, fs: FileSpec, raw_dir: Path, out: FetchedFiles, *, record: str | None) -> Path:
    """Rename a verified ``part`` onto its final name, keeping a cached file as ``.prev``."""
    final = raw_dir / fs.name
    if final.exists():
        prev = final.with_name(final.name + ".prev")
        os.replace(final, prev)
        out.replaced.append(_Replaced(final, prev, _records(raw_dir).get(fs.name)))
    os.replace(part, final)
    _unlink(_meta(part))
    if record is not None:
        _set_record(raw_dir, fs.name, record)
    return final


def _heal_prev(raw_dir: Path, fs: FileSpec) -> None:
    """A ``.prev`` left by an interrupted fetch: restore it, or drop it if a newer file verified."""
    final = raw_dir / fs.name
    prev = final.with_name(final.name + ".prev")
    if prev.exists():
        if final.exists():
            _unlink(prev)
        else:
            os.replace(prev, final)


# --------------------------------------------------------------------------------------------
# the public entry point


def _role(fs: FileSpec) -> str:
    return fs.role or fs.name


def _is_url(s: str) -> bool:
    return s.startswith(("http://", "https://", "ftp://"))


def uncompressed_name(fs: FileSpec) -> str | None:
    """The name of the uncompressed payload a mirror may hold instead of ``fs.name``
    (``x.gz`` -> ``x``), when ``fs`` pins a payload checksum to verify it by; else None."""
    if not (fs.payload_md5 or fs.payload_sha256):
        return None
    for suffix in COMPRESSED_SUFFIXES:
        if fs.name.endswith(suffix) and len(fs.name) > len(suffix):
            return fs.name[: -len(suffix)]
    return None


def _candidates(fs: FileSpec, mirror: str | None) -> list[tuple[str, str]]:
    """(kind, location) to try in order: kind is "dir" (a local file) or "url".

    A mirror is asked for the registry's name, then (where payload checksums are pinned) for the
    uncompressed payload's name (:func:`uncompressed_name`); the entry's URLs come after.
    """
    out: list[tuple[str, str]] = []
    if mirror:
        if mirror.startswith("file://"):
            mirror = mirror[len("file://") :]
        for name in filter(None, (fs.name, uncompressed_name(fs))):
            if _is_url(mirror):
                out.append(("url", mirror.rstrip("/") + "/" + urllib.parse.quote(name)))
            else:
                out.append(("dir", str(Path(mirror).expanduser() / name)))
    for u in fs.urls:
        out.append(("dir", u[len("file://") :]) if u.startswith("file://") else ("url", u))
    return out


def ensure_files(
    spec: DatasetSpec,
    raw_dir: Path,
    *,
    mirror: str | None = None,
    from_file: str | Path | None = None,
    force: bool = False,
    progress: bool = True,
    policy: Policy | None = None,
) -> FetchedFiles:
    """Return ``{role: verified local path}`` for every file of ``spec`` (a :class:`FetchedFiles`).

    mirror: a local directory holding the same file names, or a URL prefix; tried before the
    entry's URLs. from_file: the user's copy of a raw file (a directory is read like a mirror
    directory). force: fetch again even where a cached copy verifies (the cached copy is kept
    until the new one has verified). Holds the raw folder's lock while it works.
    """
    raw_dir = Path(raw_dir)
    with raw_lock(raw_dir):
        return ensure_files_locked(
            spec, raw_dir, mirror=mirror, from_file=from_file, force=force, progress=progress, policy=policy
        )


def ensure_files_locked(
    spec: DatasetSpec,
    raw_dir: Path,
    *,
    mirror: str | None = None,
    from_file: str | Path | None = None,
    force: bool = False,
    progress: bool = True,
    policy: Policy | None = None,
) -> FetchedFiles:
    """:func:`ensure_files` for a caller that already holds :func:`raw_lock` of ``raw_dir``."""
    raw_dir = Path(raw_dir)
    raw_dir.mkdir(parents=True, exist_ok=True)
    policy = policy or Policy.from_env()
    if mirror is not None and not _is_url(mirror) and not mirror.startswith("file://"):
        if not Path(mirror).expanduser().is_dir():
            raise ConfigError(
                f"--mirror {mirror!r} is neither an existing directory nor an http(s):// URL.",
                hint="Give a local directory that holds the raw files under their usual names, or a URL prefix.",
            )
    files = list(spec.files)
    user_fs: FileSpec | None = None
    user_path: Path | None = None
    if from_file is not None:
        user_path = Path(from_file).expanduser().resolve()
        try:
            exists, is_dir = user_path.exists(), user_path.is_dir()
        except PermissionError:  # a folder on the way this user may not read
            raise DataError(f"--from {user_path}: it cannot be read (permission denied on it or on a folder above it).",
                            hint="Give a file you can read (check its permissions and its folders'), or copy it "
                                 "somewhere readable.") from None
        if not exists:
            raise ConfigError(f"--from {from_file}: no such file.", hint="Check the path.")
        if is_dir:
            mirror, user_path = str(user_path), None
        else:
            user_fs = _pick_user_file(spec, user_path)
            if user_fs not in files:
                files.append(user_fs)
    out = FetchedFiles(raw_dir)
    with _Progress(progress) as bar:
        try:
            for fs in files:
                _heal_prev(raw_dir, fs)
                if fs is user_fs:
                    path, origin = _take_user_file(spec, fs, user_path, raw_dir, out, bar), f"--from {user_path}"
                else:
                    path, origin = _ensure_one(spec, fs, raw_dir, out, mirror=mirror, force=force, policy=policy, bar=bar)
                    if path is None:
                        continue  # an optional file nobody had
                out[_role(fs)] = path
                out.origins[fs.name] = {"role": _role(fs), "origin": origin, **out.origins.get(fs.name, {})}
        except BaseException:
            out.commit()  # files installed so far verified; only a preprocessor failure rolls back
            raise
    if out.forms:
        log.info("%s", accepted_forms_line(spec.name, out.forms))
    if out.origins:
        prov = _read_json(raw_dir / PROVENANCE_FILE)
        prov.update(out.origins)
        write_json_atomic(raw_dir / PROVENANCE_FILE, prov)
    return out


_FORM_TEXT = {
    "archive": "original archive{s} (archive checksums match)",
    "compressed": "compressed file{s} (decompressed content matches the pinned payload checksums)",
    "recompressed": "recompressed archive{s} (the archive differs; the decompressed content matches the pinned "
    "payload checksums)",
    "uncompressed": "uncompressed file{s} (the bytes match the pinned payload checksums; stored compressed)",
    "": "file{s} with no pinned checksum (trusted on first use)",
}


def accepted_forms_line(dataset: str, forms: dict[str, tuple[str, str]]) -> str:
    """One line saying in which form the files just fetched were accepted, and from where.

    forms: file name -> (:attr:`Verdict.form`, source location), as :class:`FetchedFiles` keeps it.
    """
    by_form: dict[str, list[str]] = {}
    for name, (form, _) in forms.items():
        by_form.setdefault(form if form in _FORM_TEXT else "", []).append(name)
    dirs = {loc.rsplit("/", 1)[0] if "/" in loc else loc for _, loc in forms.values()}
    where = dirs.pop() if len(dirs) == 1 else f"{len(dirs)} sources"
    n = len(forms)
    head = f"{dataset}: {n} file{'s' if n > 1 else ''} from {where} accepted as "
    if len(by_form) == 1:
        (form,) = by_form
        return head + _FORM_TEXT[form].format(s="s" if n > 1 else "") + "."
    return head + "; ".join(f"{len(names)} " + _FORM_TEXT[form].format(s="s" if len(names) > 1 else "")
                            for form, names in by_form.items()) + "."


def _compress_as(path: Path, name: str) -> str:
    """Compress ``path`` in place with the compressor ``name``'s suffix names (gzip with mtime 0,
    bz2 or xz: the same bytes on every run); return the sha256 of the result."""
    tmp = path.with_name(path.name + ".z")
    wrap = {"gz": lambda fh: gzip.GzipFile(filename="", mode="wb", compresslevel=6, fileobj=fh, mtime=0),
            "bz2": lambda fh: bz2.BZ2File(fh, "wb"), "xz": lambda fh: lzma.LZMAFile(fh, "wb")}[name.rsplit(".", 1)[1]]
    try:
        with open(path, "rb") as fin, _open_for_write(tmp, "wb") as raw:
            with wrap(raw) as fout:
                while block := fin.read(1 << 20):
                    fout.write(block)
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(tmp, path)
    except BaseException:
        _unlink(tmp)
        raise
    return sha256_file(path)


def _pick_user_file(spec: DatasetSpec, user_path: Path) -> FileSpec:
    if len(spec.files) == 1:
        return spec.files[0]
    for fs in spec.files:
        if fs.name == user_path.name:
            return fs
    if not spec.files:
        return FileSpec(name=user_path.name, role="file")
    names = ", ".join(f.name for f in spec.files)
    raise ConfigError(
        f"--from {user_path}: {spec.name} has several raw files ({names}) and this name is none of them.",
        hint="Rename your copy to the expected name, or put the files in one directory and pass that directory with --from or --mirror.",
    )


def _take_user_file(
    spec: DatasetSpec, fs: FileSpec, src: Path, raw_dir: Path, out: FetchedFiles, bar: _Progress
) -> Path:
    part = raw_dir / (fs.name + ".part")
    try:
        _copy_local(src, part, bar, fs.name)
    except OSError as exc:
        _unlink(part)
        if is_disk_full(exc):
            raise disk_full_error(part) from None
        raise DataError(f"--from {src}: cannot read it ({exc}).", hint="Check the file and its permissions.") from None
    v = verify_file(part, fs)  # pinned checksums only: the user's explicit copy replaces a record
    if not v.ok:
        _unlink(part)
        raise ChecksumError(
            f"--from {src} is not the documented raw file {fs.name} of {spec.name}: " + "; ".join(v.mismatches) + ".",
            hint="Get the exact file described by `clusterbench datasets` / the registry notes (a re-saved or converted copy differs).",
        )
    record = None
    if not fs.has_checksum:
        record = v.sha256
        log.info("%s: no pinned checksum; recorded the sha256 of your copy (%s) in %s.", fs.name, v.sha256, raw_dir / CHECKSUMS_FILE)
    path = _install(part, fs, raw_dir, out, record=record)
    out.origins[fs.name] = {"sha256": v.sha256, "verified": v.how}
    return path


def trusted_on_first_use(name: str, origin: str, sha256: str, record_file: Path) -> None:
    """Say on screen (a WARNING: shown even where INFO lines are not) that ``name`` was accepted
    with no pinned checksum, and how weak that is when it came over plain HTTP."""
    plain = origin.startswith("http://")
    log.warning(
        "%s: TRUSTED ON FIRST USE. The registry pins no checksum for it (UNVERIFIED), so this copy from %s was "
        "accepted as it is%s; its sha256 %s is recorded in %s and later reads are checked against it. "
        "Compare that sha256 with a copy from another source if the result matters.",
        name, origin,
        " although it came over plain HTTP (unauthenticated: anyone on the path could have changed it)" if plain else "",
        sha256, record_file,
    )


def _ensure_one(
    spec: DatasetSpec,
    fs: FileSpec,
    raw_dir: Path,
    out: FetchedFiles,
    *,
    mirror: str | None,
    force: bool,
    policy: Policy,
    bar: _Progress,
) -> tuple[Path | None, str]:
    final = raw_dir / fs.name
    recorded = None if fs.has_checksum else _records(raw_dir).get(fs.name)
    candidates = _candidates(fs, mirror)
    # 1. the cache
    if final.exists() and (not force or not candidates):
        v = verify_file(final, fs, recorded=recorded)
        if v.ok:
            if force:
                log.info("%s: no source to fetch it again from; reusing the cached copy.", fs.name)
            if not fs.has_checksum and recorded:
                log.info("%s: no pinned checksum; checked against the sha256 recorded on first download.", fs.name)
            elif not fs.has_checksum:
                _set_record(raw_dir, fs.name, v.sha256)
                trusted_on_first_use(fs.name, f"the cached copy {final}", v.sha256, raw_dir / CHECKSUMS_FILE)
            origin = _read_json(raw_dir / PROVENANCE_FILE).get(fs.name, {}).get("origin", "cache")
            out.origins[fs.name] = {"sha256": v.sha256, "verified": v.how}
            return final, origin
        bad = set_aside(final)
        log.warning("%s: the cached copy failed verification (%s); set aside as %s.", fs.name, "; ".join(v.mismatches), bad.name)
    if not candidates:
        if fs.optional:
            return None, ""
        if spec.source == "user" or spec.obtain:
            raise DownloadError(
                f"{spec.name} has no public download, so clusterbench cannot fetch {fs.name} for you. "
                + (spec.obtain or "See the registry notes for where to get it."),
                hint=f"Once you have it, run `clusterbench fetch {spec.name} --from FILE`.",
            )
        raise ConfigError(f"{spec.name}: the registry gives no URL for {fs.name}.", hint="Add one, or pass --mirror or --from.")
    # 2. mirror, then the URLs in order
    part = raw_dir / (fs.name + ".part")
    tried: list[str] = []
    mismatches: list[str] = []
    for kind, loc in candidates:
        try:
            if kind == "dir":
                _copy_local(Path(loc), part, bar, fs.name)
            else:
                _download(loc, part, policy=policy, bar=bar, label=fs.name)
        except _SourceFailed as exc:
            tried.append(f"{loc} ({exc})")
            log.debug("%s: %s", loc, exc)
            continue
        except OSError as exc:
            _unlink(part, _meta(part))
            if is_disk_full(exc):
                raise disk_full_error(part) from None
            tried.append(f"{loc} ({exc})")
            continue
        v = verify_file(part, fs, recorded=recorded)
        if v.ok:
            record = None
            if not fs.has_checksum and not recorded:
                record = v.sha256
                trusted_on_first_use(fs.name, loc, v.sha256, raw_dir / CHECKSUMS_FILE)
            sha, how = v.sha256, v.how
            if v.form == "uncompressed" and uncompressed_name(fs):
                sha = _compress_as(part, fs.name)
                how += f", stored {fs.name.rsplit('.', 1)[1]}-compressed"
            path = _install(part, fs, raw_dir, out, record=record)
            out.origins[fs.name] = {"sha256": sha, "verified": how}
            out.forms[fs.name] = (v.form, loc)
            return path, loc
        bad = set_aside(part, fs.name)
        _unlink(_meta(part))
        msg = f"{loc}: " + "; ".join(v.mismatches) + f" (set aside as {bad})"
        mismatches.append(msg)
        tried.append(f"{loc} (checksum mismatch)")
        log.warning("%s: checksum mismatch from %s; set aside as %s, not used.", fs.name, loc, bad.name)
    if fs.optional:
        log.info("%s (optional) is unavailable: %s", fs.name, "; ".join(tried))
        return None, ""
    kept = f" The cached copy {final} was kept." if final.exists() else ""
    if mismatches:
        raise ChecksumError(
            f"No source delivered {fs.name} of {spec.name} with the pinned checksum. " + " ".join(mismatches) + "." + kept,
            hint="The download was corrupted or the upstream file changed. Try again, or another copy with --mirror DIR_OR_URL.",
        )
    raise DownloadError(
        f"Could not get {fs.name} of {spec.name}. Tried: " + "; ".join(tried) + "." + kept,
        hint=(
            f"Check the network connection, or give the files another way: `clusterbench fetch {spec.name} --mirror DIR_OR_URL`"
            f" (a directory or server holding the same file names) or `clusterbench fetch {spec.name} --from FILE` (your copy)."
        ),
    )
