"""A loopback HTTP server for download tests (127.0.0.1, ephemeral port, no network).

    with LoopbackServer({"a.gz": data}, honour_range=True, cut_after={"a.gz": 100}) as srv:
        srv.url("a.gz")        # http://127.0.0.1:PORT/a.gz
        srv.count("a.gz")      # GET requests for that path so far
        srv.requests           # [(path, range_header_or_None), ...]

Switches: ``honour_range`` (answer ``Range: bytes=N-`` with 206, else send the whole file with
200), ``cut_after`` ({path: n}: the first request for ``path`` sends the full Content-Length but
only ``n`` bytes, then drops the connection), ``status`` ({path: code}: answer with that HTTP
error, e.g. 404 or 500), ``fail_first`` ({path: n}: the first ``n`` requests get HTTP 500).
``files`` may be changed while the server runs.

``serve_dataset_files(spec, files)`` serves generated raw files for a registry entry and returns
a copy of the spec pointing at them, with sha256 and size pinned.
"""

from __future__ import annotations

import urllib.parse

import dataclasses
import hashlib
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from clusterbench.data.registry import DatasetSpec


class LoopbackServer:
    def __init__(
        self,
        files: dict[str, bytes] | None = None,
        *,
        honour_range: bool = True,
        cut_after: dict[str, int] | None = None,
        status: dict[str, int] | None = None,
        fail_first: dict[str, int] | None = None,
    ) -> None:
        self.files: dict[str, bytes] = dict(files or {})
        self.honour_range = honour_range
        self.cut_after = dict(cut_after or {})
        self.status = dict(status or {})
        self.fail_first = dict(fail_first or {})
        self.requests: list[tuple[str, str | None]] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self._thread.start()

    # -- client-side helpers
    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}"

    def count(self, path: str) -> int:
        with self._lock:
            return sum(1 for p, _ in self.requests if p == path)

    def ranges(self, path: str) -> list[str | None]:
        with self._lock:
            return [r for p, r in self.requests if p == path]

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> LoopbackServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the handler
    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args):  # keep test output quiet
                pass

            def do_GET(self):
                path = urllib.parse.unquote(self.path.lstrip("/").split("?", 1)[0])
                rng = self.headers.get("Range")
                with server._lock:
                    seen = sum(1 for p, _ in server.requests if p == path)
                    first = seen == 0
                    server.requests.append((path, rng))
                if seen < server.fail_first.get(path, 0):
                    self.send_error(500)
                    return
                if path in server.status:
                    self.send_error(server.status[path])
                    return
                data = server.files.get(path)
                if data is None:
                    self.send_error(404)
                    return
                start, code = 0, 200
                if rng and server.honour_range and rng.startswith("bytes=") and rng.endswith("-"):
                    start = int(rng[len("bytes=") : -1])
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    code = 206
                body = data[start:]
                self.send_response(code)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                if code == 206:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.send_header("Accept-Ranges", "bytes" if server.honour_range else "none")
                self.end_headers()
                cut = server.cut_after.get(path)
                if cut is not None and first:
                    self.wfile.write(body[:cut])
                    self.wfile.flush()
                    self.close_connection = True
                    try:
                        self.connection.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    return
                self.wfile.write(body)

        return Handler


def closed_port_url(path: str = "file") -> str:
    """A loopback URL where nothing listens (connection refused: 'no network')."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}/{path}"


def serve_dataset_files(spec: DatasetSpec, files: dict[str, bytes], **server_options) -> tuple[LoopbackServer, DatasetSpec]:
    """Serve ``files`` (keyed by FileSpec name or role) and return ``(server, patched_spec)``.

    Every FileSpec of the patched spec downloads from the server only, with ``size`` and
    ``sha256`` of the given bytes pinned and the other checksums cleared; a ``source = "user"``
    entry becomes ``"download"`` so a plain fetch works. Close the server when done
    (``with server:`` or ``server.close()``).
    """
    by_name: dict[str, bytes] = {}
    new_files = []
    for fs in spec.files:
        data = files.get(fs.name, files.get(fs.role)) if fs.role else files.get(fs.name)
        if data is None:
            if fs.optional:
                continue
            raise KeyError(f"serve_dataset_files: no bytes given for {fs.name!r} (role {fs.role!r}) of {spec.name}")
        by_name[fs.name] = data
        new_files.append(fs)
    server = LoopbackServer(by_name, **server_options)
    patched = tuple(
        dataclasses.replace(
            fs,
            urls=(server.url(fs.name),),
            size=len(by_name[fs.name]),
            sha256=hashlib.sha256(by_name[fs.name]).hexdigest(),
            md5=None,
            payload_md5=None,
            payload_sha256=None,
            git_blob=None,
        )
        for fs in new_files
    )
    source = "download" if spec.source == "user" else spec.source
    return server, dataclasses.replace(spec, files=patched, source=source)
