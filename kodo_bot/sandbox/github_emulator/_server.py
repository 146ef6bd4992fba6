"""The socket side: a threading HTTP/1.1 server on 127.0.0.1 that hands requests to the dispatcher.

Standard library only. Keep-alive is supported (PyGithub reuses its connection), every answer carries
a Content-Length, and handler threads are daemons so a stopped emulator never hangs a test run.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from kodo_bot.sandbox.github_emulator._dispatch import Dispatcher
from kodo_bot.sandbox.github_emulator._router import FileBody, RawBody


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    dispatcher: Dispatcher


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 60  # an idle keep-alive connection is closed after this many seconds
    server: _Server

    def do_GET(self) -> None:
        self._handle()

    do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = do_GET

    def version_string(self) -> str:
        return "GitHub.com"

    def log_message(self, format: str, *args: object) -> None:  # the call log replaces access logs
        pass

    def _handle(self) -> None:
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        outcome = self.server.dispatcher.handle(self.command, split.path, query, headers, raw)
        if outcome.drop:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if isinstance(outcome.body, FileBody):
            self._stream(outcome.status, outcome.headers, outcome.body.path)
            return
        if outcome.body is None:
            payload = b""
        elif isinstance(outcome.body, RawBody):
            payload = outcome.body.data
        elif isinstance(outcome.body, str):  # an injected HTML error page
            payload = outcome.body.encode()
            outcome.headers["content-type"] = "text/html; charset=utf-8"
        else:
            payload = json.dumps(outcome.body, separators=(",", ":")).encode()
        self.send_response(outcome.status)
        for name, value in outcome.headers.items():
            if name != "content-length":
                self.send_header(name, value)
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD" and payload:
            self.wfile.write(payload)

    def _stream(self, status: int, headers: dict[str, str], path: str) -> None:
        with open(path, "rb") as source:
            size = os.fstat(source.fileno()).st_size
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("content-length", str(size))
            self.end_headers()
            if self.command != "HEAD":
                shutil.copyfileobj(source, self.wfile, 1 << 20)


class HttpServer:
    """Binds at construction (so URLs are known before ``start``), serves in a daemon thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = _Server((host, port), _Handler)
        self._thread: threading.Thread | None = None

    def attach(self, dispatcher: Dispatcher) -> None:
        self._server.dispatcher = dispatcher

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="github-emulator", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    @property
    def running(self) -> bool:
        return self._thread is not None
