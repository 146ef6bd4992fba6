"""Fault injection: make chosen requests fail, stall or hit a rate limit, a set number of times.

Rules match on method and a regular expression searched in the API path as the client sent it, less
the ``/api/v3`` prefix (``/repos/octo/app/issues/1/comments``; GraphQL is ``/graphql``). The first
matching rule that still has uses left fires. Faults fire before authentication, as a proxy or GitHub's
rate limiter would, and each fired fault is recorded in ``emulator.calls`` like any other answer.

    emu.faults.add(method="POST", path_regex=r"/comments$", status=502, times=2)
    emu.faults.add(method="POST", path_regex=r"/comments$", status=502, applied=True)  # write, then 502
    emu.faults.rate_limit(times=1)                   # primary: 403, x-ratelimit-remaining: 0
    emu.faults.secondary_rate_limit(retry_after_s=0) # 403 + retry-after + GitHub's message
    emu.faults.slow(path_regex=r"/pulls", delay_s=0.5)
    emu.faults.hold(parties=3, method="GET", path_regex=r"/comments$")  # three readers, one moment
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

RATE_LIMIT_DOCS = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
SECONDARY_DOCS = (
    "https://docs.github.com/free-pro-team@latest/rest/overview/rate-limits-for-the-rest-api"
    "#about-secondary-rate-limits"
)


@dataclass
class FaultRule:
    """One rule. ``times`` None fires forever; ``skip`` lets the first N matches through."""

    method: str | None = None
    path_regex: str | None = None
    status: int | None = 502
    body: Any = None  # dict/list (JSON) or str (sent as text/html, like GitHub's 502 page)
    headers: dict[str, str] = field(default_factory=dict)
    times: int | None = 1
    skip: int = 0
    delay_s: float = 0.0
    drop_connection: bool = False  # close the socket without answering
    #: the request takes effect, but the client sees the fault (GitHub's 502 after a write went through:
    #: a client that retries a POST blindly posts twice)
    applied: bool = False
    kind: str = "error"  # "error", "primary_rate_limit", "secondary_rate_limit", "delay", "disconnect", "hold"
    reset_in_s: int = 60  # primary rate limit: seconds until ``x-ratelimit-reset``
    hits: int = 0  # how many times it fired
    seen: int = 0  # how many requests matched (fired or skipped)
    #: "hold": the requests wait here until all ``parties`` have arrived (or ``delay_s`` passed)
    barrier: threading.Barrier | None = None

    def wait_for_the_others(self) -> None:
        if self.barrier is not None:
            try:
                self.barrier.wait(timeout=self.delay_s)
            except threading.BrokenBarrierError:
                pass  # not all came in time: answer anyway, as a slow GitHub would

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.path_regex is None or re.search(self.path_regex, path) is not None

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.hits >= self.times

    def answer(self, user_id: int | None) -> tuple[int, Any, dict[str, str]]:
        """Status, body and headers to send. Only a rule with a status answers; one without only delays."""
        status = self.status
        if status is None:
            raise ValueError(f"a {self.kind!r} rule has no status, so no answer of its own")
        request_id = f"EMU0:{self.hits:04X}:{id(self) & 0xFFFF:04X}"
        headers = dict(self.headers)
        if self.kind == "primary_rate_limit":
            return self._primary_rate_limit(status, headers, request_id, user_id)
        if self.kind == "secondary_rate_limit":
            return self._secondary_rate_limit(status, headers, request_id)
        if self.body is not None:
            return status, self.body, headers
        phrase = HTTPStatus(status).phrase if status else ""
        return (
            status,
            {"message": phrase, "documentation_url": "https://docs.github.com/rest", "status": str(status)},
            headers,
        )

    def _primary_rate_limit(
        self, status: int, headers: dict[str, str], request_id: str, user_id: int | None
    ) -> tuple[int, Any, dict[str, str]]:
        """GitHub's answer when the token's hourly limit is used up: headers that say when it resets."""
        reset = int(time.time()) + self.reset_in_s
        headers.update(
            {
                "x-ratelimit-limit": "5000",
                "x-ratelimit-remaining": "0",
                "x-ratelimit-used": "5000",
                "x-ratelimit-reset": str(reset),
                "x-ratelimit-resource": "core",
            }
        )
        message = (
            f"API rate limit exceeded for user ID {user_id or 0}. If you reach out to GitHub "
            f"Support for help, please include the request ID {request_id} and timestamp "
            f"{time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}."
        )
        return _limited(status, message, RATE_LIMIT_DOCS, headers)

    def _secondary_rate_limit(
        self, status: int, headers: dict[str, str], request_id: str
    ) -> tuple[int, Any, dict[str, str]]:
        message = (
            "You have exceeded a secondary rate limit. Please wait a few minutes before you try "
            f"again. If you reach out to GitHub Support for help, please include the request ID "
            f"{request_id}."
        )
        return _limited(status, message, SECONDARY_DOCS, headers)


def _limited(status: int, message: str, docs: str, headers: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
    return status or 403, {"message": message, "documentation_url": docs, "status": str(status or 403)}, headers


class Faults:
    """The emulator's fault rules. Thread-safe; rules fire in the order they were added."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.rules: list[FaultRule] = []

    def add(
        self,
        *,
        method: str | None = None,
        path_regex: str | None = None,
        status: int | None = 502,
        body: Any = None,
        headers: dict[str, str] | None = None,
        times: int | None = 1,
        skip: int = 0,
        delay_s: float = 0.0,
        drop_connection: bool = False,
        applied: bool = False,
    ) -> FaultRule:
        """A plain failure: answer ``status`` (with GitHub's error shape unless ``body`` is given).
        ``applied=True`` performs the request first, then answers with the fault."""
        return self._add(
            FaultRule(
                method,
                path_regex,
                status,
                body,
                dict(headers or {}),
                times,
                skip,
                delay_s,
                drop_connection,
                applied,
                "disconnect" if drop_connection else "error" if status else "delay",
            )
        )

    def rate_limit(
        self,
        *,
        method: str | None = None,
        path_regex: str | None = None,
        times: int | None = 1,
        reset_in_s: int = 60,
        skip: int = 0,
    ) -> FaultRule:
        """Primary rate limit: 403, ``x-ratelimit-remaining: 0``, ``x-ratelimit-reset`` in the future."""
        return self._add(
            FaultRule(method, path_regex, 403, None, {}, times, skip, kind="primary_rate_limit", reset_in_s=reset_in_s)
        )

    def secondary_rate_limit(
        self,
        *,
        method: str | None = None,
        path_regex: str | None = None,
        times: int | None = 1,
        retry_after_s: int = 60,
        status: int = 403,
        skip: int = 0,
    ) -> FaultRule:
        """Secondary (abuse) rate limit: 403 or 429 with ``retry-after`` and GitHub's message."""
        return self._add(
            FaultRule(
                method,
                path_regex,
                status,
                None,
                {"retry-after": str(retry_after_s)},
                times,
                skip,
                kind="secondary_rate_limit",
            )
        )

    def slow(
        self, *, delay_s: float, method: str | None = None, path_regex: str | None = None, times: int | None = None
    ) -> FaultRule:
        """Answer normally, ``delay_s`` late."""
        return self._add(FaultRule(method, path_regex, None, None, {}, times, 0, delay_s, kind="delay"))

    def hold(
        self, *, parties: int, method: str | None = None, path_regex: str | None = None, timeout_s: float = 30.0
    ) -> FaultRule:
        """Hold the next ``parties`` matching requests until all of them have arrived, then answer them
        normally, all from the same state: a race between clients made certain rather than likely."""
        return self._add(
            FaultRule(
                method,
                path_regex,
                None,
                None,
                {},
                parties,
                0,
                timeout_s,
                kind="hold",
                barrier=threading.Barrier(parties),
            )
        )

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()

    def take(self, method: str, path: str) -> FaultRule | None:
        """The rule that fires for this request, if any (consumes one of its uses)."""
        with self._lock:
            for rule in self.rules:
                if rule.exhausted or not rule.matches(method, path):
                    continue
                rule.seen += 1
                if rule.seen <= rule.skip:
                    continue
                rule.hits += 1
                return rule
            return None

    def _add(self, rule: FaultRule) -> FaultRule:
        if rule.path_regex is not None:
            re.compile(rule.path_regex)  # fail at the call site, not inside the server thread
        with self._lock:
            self.rules.append(rule)
        return rule
