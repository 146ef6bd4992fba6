"""``kodo-bot view --live``: the page served on 127.0.0.1, following a log that is still being written.

Two routes: ``/`` is the page (the same file ``view`` writes, marked live), and ``/data.json`` is the view
of the log as it is now; the page asks for it every second and redraws when the log grew. The view is
rebuilt only when the file changed (size or mtime). Requests whose ``Host`` is not this server's address
are refused, so a web page elsewhere cannot read a run through DNS rebinding.

Deliberately not here: pushing (server-sent events, websockets). A poll a second is enough for a run whose
steps take seconds to minutes, and it keeps the server a few lines of the standard library.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from kodo_bot.viewer._html import render_page


class _Follower:
    """The view of one log, rebuilt when the file changed since the last request."""

    def __init__(self, path: Path, build: Callable[[Path], dict[str, Any]]) -> None:
        self.path, self.build = path, build
        self._lock = threading.Lock()
        self._key: tuple[int, int] | None = None
        self._view: dict[str, Any] = {}

    def view(self) -> dict[str, Any]:
        with self._lock:
            try:
                st = self.path.stat()
                key = (st.st_size, st.st_mtime_ns)
            except OSError:
                key = (-1, -1)
            if key != self._key:
                self._view, self._key = self.build(self.path), key
            return self._view


class LiveServer:
    """Serves a log's page on ``127.0.0.1:port`` (0: a free port) in a thread; ``stop()`` ends it."""

    def __init__(self, path: Path, build: Callable[[Path], dict[str, Any]], port: int = 0) -> None:
        follower = _Follower(path, build)
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), _handler(follower))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/"

    def start(self) -> LiveServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="kodo-view-live", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket; returns when the serving thread has ended."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _handler(follower: _Follower) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            address = self.server.server_address
            assert isinstance(address, tuple)  # an AF_INET server's (host, port)
            host, port = address[:2]
            if self.headers.get("Host") not in (f"{host!s}:{port}", f"localhost:{port}"):
                return self._send(403, "text/plain", b"wrong Host\n")
            route = self.path.split("?", 1)[0]
            if route == "/":
                view = follower.view() | {"live": True}
                return self._send(200, "text/html; charset=utf-8", render_page(view).encode("utf-8"))
            if route == "/data.json":
                body = json.dumps(follower.view() | {"live": True}, ensure_ascii=False).encode("utf-8")
                return self._send(200, "application/json", body)
            self._send(404, "text/plain", b"not found\n")

        def _send(self, status: int, kind: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # a poll a second would fill the terminal

    return Handler
