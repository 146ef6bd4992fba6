"""How hard the GitHub sink tries one write: the bookkeeping behind "transient: again later; permanent: stop".

Every item the sink delivers (a push, the PR, a comment, a status, a label) goes through :meth:`Attempts.run`,
which says what became of it:

- ``done``;
- ``retry``: a transient failure (5xx past the transport's retries, a dropped connection), or a used-up
  rate limit that resets before ``wait_limit`` (the job's end, or the drain's): try again later, and for a
  rate limit not before it resets (``not_before``);
- ``refused``: GitHub refused for good (``GitHubRefused``); the refusal and its fix are recorded, one line per
  cause (a used-up rate limit refuses every write alike);
- ``given_up``: once closing, the item kept failing for ``write_retry_s``.

It performs no request itself and takes no lock: the sink calls it from one thread at a time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Literal

from kodo_bot.github._transport import GitHubRefused

log = logging.getLogger("kodo_bot.github.sink")

Result = Literal["done", "retry", "refused", "given_up"]


class Attempts:
    def __init__(self, *, write_retry_s: float, redact: Callable[[str], str]) -> None:
        self.write_retry_s = write_retry_s
        self._redact = redact
        #: permanent refusals, each with what to change
        self.refusals: list[str] = []
        #: items given up on while closing, by name
        self.given_up: list[str] = []
        #: ``time.time()`` before which nothing is worth trying (a rate limit resets then)
        self.not_before = 0.0
        self.last_error: dict[str, str] = {}
        self._failing: dict[str, float] = {}

    def run(self, what: str, action: Callable[[], object], *, closing: bool, wait_limit: float | None) -> Result:
        try:
            action()
        except GitHubRefused as exc:
            if exc.retry_at is not None and (wait_limit is None or exc.retry_at < wait_limit):
                self.not_before = max(self.not_before, exc.retry_at)
                return self._failed(what, exc, closing, note="waiting for the rate limit to reset")
            self.refuse(exc)
            return "refused"
        except Exception as exc:  # noqa: BLE001 - GitHub trouble must never break the run
            return self._failed(what, exc, closing)
        self._failing.pop(what, None)
        self.last_error.pop(what, None)
        return "done"

    @property
    def refusal_reason(self) -> str:
        """The refusals as one reason for the run's end."""
        return "GitHub refused: " + "; ".join(self.refusals)

    def refuse(self, exc: GitHubRefused) -> None:
        text = self._redact(str(exc)) + (f" (to fix: {exc.hint})" if exc.hint else "")
        log.error("GitHub refused, and retrying cannot help: %s", text)
        if not any(text == r or (exc.hint and exc.hint in r) for r in self.refusals):
            self.refusals.append(text)

    def start_closing(self) -> None:
        """From here each write gets its own ``write_retry_s``."""
        self._failing.clear()

    def wait_s(self) -> float:
        return max(0.0, self.not_before - time.time())

    def blocked(self, wait_limit: float | None) -> bool:
        """Whether to wait for a used-up rate limit. One resetting after ``wait_limit`` is not waited for:
        the next answers then become refusals."""
        if self.wait_s() == 0:
            return False
        if wait_limit is None or self.not_before < wait_limit:
            return True
        self.not_before = 0.0
        return False

    def _failed(self, what: str, exc: Exception, closing: bool, note: str = "will retry") -> Result:
        error = self.last_error[what] = self._redact(str(exc))
        first = self._failing.setdefault(what, time.monotonic())
        if closing and time.monotonic() - first >= self.write_retry_s:
            self.given_up.append(what)
            log.error("kodo-bot gave up trying to %s: %s", what, error)
            return "given_up"
        log.warning("kodo-bot could not %s (%s): %s", what, note, error)
        return "retry"
