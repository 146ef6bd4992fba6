"""When the GitHub sink talks to GitHub: how long the worker waits between passes, when the progress
comment is due, and how long closing may keep trying.

- Progress edits coalesce to one per ``min_interval_s``; with nothing to say, one every ``heartbeat_s``
  refreshes the lease.
- After a failing pass the worker waits ``retry_s``, or until a used-up rate limit resets.
- Closing drains for at most ``drain_s``, and never past ``deadline`` (the job's end, when known); a rate
  limit is waited for only until then.

Reads the sink's state and the attempts' rate-limit wait; changes nothing but the clock's sleep.
"""

from __future__ import annotations

import time

from kodo_bot.github._attempts import Attempts
from kodo_bot.github._sink_state import SinkState


class Pacing:
    def __init__(self, state: SinkState, attempts: Attempts) -> None:
        self.state, self.attempts = state, attempts
        self.run = state.run

    def next_wait(self, last_ok: bool, progressed: bool) -> float:
        """How long the worker sleeps before its next pass (an event wakes it sooner)."""
        w = self.state.want
        if not last_ok:
            return max(self.run.retry_s, self.attempts.wait_s())
        if w.busy():
            # Items waiting on others (a round before its PR exists) must not spin the loop.
            return 0.0 if progressed else self.run.retry_s
        if w.progress_owed:
            return max(0.0, self.run.min_interval_s - self._since_published())
        return max(0.05, self.run.heartbeat_s - self._since_published())

    def progress_now(self) -> bool:
        """Whether this pass edits the progress comment."""
        s, w = self.state, self.state.want
        if w.progress_due or s.last_published is None:
            return True
        if w.progress_owed:
            return self._since_published() >= self.run.min_interval_s or s.closing
        return self._since_published() >= self.run.heartbeat_s and not s.progress.finished

    def _since_published(self) -> float:
        last = self.state.last_published
        return (self.state.clock() - last).total_seconds() if last else 0.0

    def drain_budget(self) -> float:
        left = self.run.deadline - time.time() if self.run.deadline is not None else self.run.drain_s
        return max(0.0, min(self.run.drain_s, left))

    def wait_limit(self) -> float | None:
        """How long a used-up rate limit may be waited for: the job's end, else the drain's once closing."""
        return self.run.deadline if self.run.deadline is not None else self.state.drain_until

    def pause(self) -> None:
        """Between failing passes while closing: the retry interval, or until a rate limit resets."""
        time.sleep(min(max(self.run.retry_s, self.attempts.wait_s()), self.state.drain_left()))
