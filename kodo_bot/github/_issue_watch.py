"""Whether the issue still wants the run: read once per committed cycle, after that cycle's push.

A closed issue, a removed trigger label, or the ``kodo:stop`` label (put there by ``/kodo stop``) asks the run
to stop at its next cycle end. The engine's stop
check only reads what was learned here; it never waits on GitHub.
"""

from __future__ import annotations

from kodo_bot.github._delivery import Delivery
from kodo_bot.github._sink_state import SinkState
from kodo_bot.github.client import GitHubClient, IssueInfo
from kodo_bot.github.config import LABEL_STOP


class IssueWatch:
    def __init__(self, state: SinkState, client: GitHubClient) -> None:
        self.state, self.client = state, client

    def deliver(self, d: Delivery) -> bool:
        s = self.state
        if not s.want.issue_check or s.closing:
            return True
        return d.attempt("read the issue", self._read, lambda: setattr(s.want, "issue_check", False))

    def _read(self) -> None:
        reason = stop_reason(self.client.issue(self.state.run.issue_number), self.state.run.trigger_label)
        with self.state.cv:
            self.state.want.issue_check = False
            self.state.request_stop(reason)


def stop_reason(issue: IssueInfo, trigger_label: str) -> str | None:
    """Why the run should stop, as the issue reads now; None: go on."""
    if issue.state == "closed":
        return "the issue was closed"
    if LABEL_STOP in issue.labels:
        return "a maintainer asked it to stop (`/kodo stop`)"
    if trigger_label.lower() not in {label.lower() for label in issue.labels}:  # GitHub ignores case
        return f"the `{trigger_label}` label was removed from the issue"
    return None
