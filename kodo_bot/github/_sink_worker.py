"""The GitHub sink's background thread: it makes GitHub match the run between events, and drains on close.

The engine never waits on it. The worker sleeps until an event wakes it or a timer (``_pacing``) is due,
runs one reconcile pass, and repeats. ``close`` lets it drain what is outstanding, bounded by the drain
budget, then ends it. Without a thread (``background=False``: tests, and a sink made only to report a
failure) the caller's thread does the passes, and ``close`` drains there.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from kodo_bot.github._attempts import Attempts
from kodo_bot.github._pacing import Pacing
from kodo_bot.github._sink_state import SinkState


class SinkWorker:
    def __init__(
        self, state: SinkState, pacing: Pacing, attempts: Attempts, reconcile: Callable[[], bool], *, background: bool
    ) -> None:
        self.state, self.pacing, self.attempts = state, pacing, attempts
        #: one pass making GitHub match the run; True if nothing failed
        self.reconcile = reconcile
        self._thread: threading.Thread | None = None
        if background:
            self._thread = threading.Thread(target=self._work, name="kodo-github-sink", daemon=True)
            self._thread.start()

    @property
    def inline(self) -> bool:
        """No thread: the caller's thread reconciles after each event."""
        return self._thread is None

    def close(self) -> None:
        """Drain what is outstanding (for at most the drain budget), then stop the thread. Safe to call again:
        what came after the first close is drained in the caller's thread."""
        s = self.state
        with s.cv:
            first, s.closing = not s.closing, True
            self.attempts.start_closing()
            s.drain_until = time.time() + self.pacing.drain_budget()
            s.cv.notify_all()
        if first and self._thread is not None:
            self._thread.join()  # the worker drains before it ends
        else:
            self._drain()

    def _work(self) -> None:
        s = self.state
        ok = progressed = True
        while True:
            with s.cv:
                if not s.closing:
                    s.cv.wait(timeout=self.pacing.next_wait(ok, progressed))
                closing = s.closing
            before = s.outstanding()
            ok = self.reconcile()
            progressed = s.outstanding() != before
            if closing and (not s.outstanding() or s.drain_over()):
                return
            if closing and not (ok and progressed):
                self.pacing.pause()

    def _drain(self) -> None:
        s = self.state
        while s.outstanding() and not self.reconcile() and not s.drain_over():
            self.pacing.pause()
