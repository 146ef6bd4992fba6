"""Pushing the run's branch after each committed cycle, and showing a failed push until one works.

A push is wanted after every ``CycleCommitted`` (and at a resume: the dead run may have committed without
pushing). It never forces: a branch someone else moved is a refusal (``GitRemote.push``), which ends the
run as ``error``. A transient failure stays wanted and shows in the progress comment meanwhile.
"""

from __future__ import annotations

from pathlib import Path

from kodo_bot.github._delivery import Delivery
from kodo_bot.github._sink_state import SinkState
from kodo_bot.github.git_remote import GitRemote


class BranchPush:
    def __init__(self, state: SinkState, remote: GitRemote, clone: Path) -> None:
        self.state, self.remote, self.clone = state, remote, clone

    def deliver(self, d: Delivery) -> bool:
        s = self.state
        with s.cv:
            wanted, s.want.push = s.want.push, False
        if not wanted or "push" in s.refused:
            return True
        branch = s.run.branch
        pushed: list[str] = []
        what = f"push {branch}"
        ok = d.attempt(what, lambda: pushed.append(self.remote.push(self.clone, branch)), lambda: s.refused.add("push"))
        error = None if pushed else (d.attempts.last_error.get(what) or d.attempts.refusal_reason)
        self._record(ok, pushed[0] if pushed else None, error)
        return ok

    def _record(self, ok: bool, sha: str | None, error: str | None) -> None:
        s = self.state
        with s.cv:
            s.want.push = not ok
            if error != s.push_error:
                s.want.progress_due = True  # a failed push shows in the progress comment until one works
            s.push_error = error
            if sha:
                s.pushed_sha = sha
