"""The orchestrator's HTTP: one JSON POST at a time over a kept-alive connection, on the standard library.

Why not the anthropic SDK: importing it takes about 1.5 s (its thousands of types), more than the whole of
kodo-bot's start-up, and the orchestrator needs none of it: it sends one kind of request and checks what it
reads of the answer itself (``anthropic.py``). This module only moves bytes. Like the SDK's client it keeps
the connection open between requests, verifies TLS (with certifi's bundle when it is installed, as the SDK
does, else the system's), and honours ``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY``.

A request blocks a worker thread; a request given up on (timed out, cancelled) has its socket shut down, so
the thread ends at once rather than when the server answers, and its connection is never used again.
"""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import socket
import ssl
import threading
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit


class ConnectionFailed(Exception):
    """The server could not be reached, or the connection broke before a whole answer came."""


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]  # names in lower case
    body: bytes


class JsonPoster:
    """POSTs JSON to ``base_url``; ``headers`` go with every request."""

    def __init__(self, base_url: str, headers: Mapping[str, str], timeout_s: float) -> None:
        parts = urlsplit(base_url.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self._https = parts.scheme == "https"
        self._host, self._port = parts.hostname, parts.port or (443 if self._https else 80)
        self._prefix = parts.path
        self._headers = {"content-type": "application/json", "accept": "application/json", **headers}
        self._timeout_s = timeout_s
        self._idle: list[http.client.HTTPConnection] = []
        self._proxy_headers: Mapping[str, str] = {}
        self._lock = threading.Lock()

    async def post(self, path: str, payload: Any) -> Answer:
        """One request; raises ``ConnectionFailed``. Cancelling it (``asyncio.wait_for``) ends it at once."""
        body = json.dumps(payload).encode()
        conn, reused = self._take()
        try:
            answer = await self._send(conn, path, body)
        except ConnectionFailed:
            if not reused:
                raise
            conn = self._connection()  # a kept-alive connection the server closed meanwhile: once more, anew
            answer = await self._send(conn, path, body)
        self._give_back(conn, answer)
        return answer

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    # ------------------------------------------------------------------ connections
    def _take(self) -> tuple[http.client.HTTPConnection, bool]:
        with self._lock:
            if self._idle:
                return self._idle.pop(), True
        return self._connection(), False

    def _give_back(self, conn: http.client.HTTPConnection, answer: Answer) -> None:
        if answer.headers.get("connection", "").lower() == "close":
            conn.close()
            return
        with self._lock:
            self._idle.append(conn)

    def _connection(self) -> http.client.HTTPConnection:
        proxy = _proxy_for("https" if self._https else "http", self._host)
        if not self._https:
            if proxy is None:
                return http.client.HTTPConnection(self._host, self._port, timeout=self._timeout_s)
            # a plain-HTTP proxy takes the whole URL as the request target (``_target``), and its credential
            # with each request
            conn = http.client.HTTPConnection(proxy.host, proxy.port, timeout=self._timeout_s)
            self._proxy_headers = proxy.headers
            return conn
        context = _tls_context()
        if proxy is None:
            return http.client.HTTPSConnection(self._host, self._port, timeout=self._timeout_s, context=context)
        conn = http.client.HTTPSConnection(proxy.host, proxy.port, timeout=self._timeout_s, context=context)
        conn.set_tunnel(self._host, self._port, headers=dict(proxy.headers))
        return conn

    def _plain_proxied(self, conn: http.client.HTTPConnection) -> bool:
        return not self._https and (conn.host, conn.port) != (self._host, self._port)

    def _target(self, conn: http.client.HTTPConnection, path: str) -> str:
        if self._plain_proxied(conn):
            return f"http://{self._host}:{self._port}{self._prefix}{path}"
        return f"{self._prefix}{path}"

    async def _send(self, conn: http.client.HTTPConnection, path: str, body: bytes) -> Answer:
        try:
            return await asyncio.to_thread(self._exchange, conn, path, body)
        except BaseException:
            _abort(conn)  # given up on, or failed: its state is unknown, so it is never used again
            raise

    def _exchange(self, conn: http.client.HTTPConnection, path: str, body: bytes) -> Answer:
        try:
            headers = {**self._headers, **(self._proxy_headers if self._plain_proxied(conn) else {})}
            conn.request("POST", self._target(conn, path), body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
        except TimeoutError:
            raise  # the caller's timeout (the socket's is the same length) says what happened
        except (OSError, http.client.HTTPException) as exc:
            raise ConnectionFailed(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__) from exc
        headers = {k.lower(): v for k, v in response.getheaders()}
        return Answer(status=response.status, headers=headers, body=data)


def _abort(conn: http.client.HTTPConnection) -> None:
    """Shut the socket of a connection a thread may still be blocked on: its read returns at once."""
    sock = conn.sock
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    conn.close()


@dataclass(frozen=True)
class _Proxy:
    host: str
    port: int
    #: ``Proxy-Authorization`` when the proxy's URL carries a user and password
    headers: Mapping[str, str]


def _proxy_for(scheme: str, host: str) -> _Proxy | None:
    """The proxy the environment names for ``scheme`` (``HTTPS_PROXY``, ...), unless ``NO_PROXY`` exempts host."""
    url = urllib.request.getproxies().get(scheme)
    if not url or urllib.request.proxy_bypass(host):
        return None
    parts = urlsplit(url if "://" in url else f"http://{url}")
    if not parts.hostname:
        return None
    headers = {}
    if parts.username:
        user = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        headers["Proxy-Authorization"] = "Basic " + base64.b64encode(user.encode()).decode()
    return _Proxy(parts.hostname, parts.port or 80, headers)


_tls: ssl.SSLContext | None = None


def _tls_context() -> ssl.SSLContext:
    global _tls
    if _tls is None:
        try:
            import certifi

            _tls = ssl.create_default_context(cafile=certifi.where())
        except ImportError:
            _tls = ssl.create_default_context()
    return _tls
