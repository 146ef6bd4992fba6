"""What happened on the issue and its PR while the run works: read once per committed cycle, after that
cycle's push, in one request (``GitHubClient.activity``). The engine only reads what was learned here, at its
next cycle boundary; it never waits on GitHub.

- **Whether the issue still wants the run.** A closed issue, a removed trigger label, or the ``kodo:stop``
  label (put there by ``/kodo stop``) asks the run to stop at its next cycle end.
- **Feedback for the live run**: reviews on its PR and comments addressed to the bot, given since the run
  started, from people who may steer it. The same rules as a trigger (``feedback_flow``): the bot's own words
  and those of people without write access (or bots outside ``trusted_bots``) are never read into the run,
  and each review's inline comments come as one piece. The engine takes what was found at its next cycle
  boundary (``GitHubSink.steering``). What the run took is recorded in its progress comment, so the job that
  GitHub queued for the same feedback behind this run finds it done instead of starting it again.
"""

from __future__ import annotations

from datetime import datetime

from kodo_bot.github._delivery import Delivery
from kodo_bot.github._sink_state import SinkState
from kodo_bot.github.client import GitHubClient
from kodo_bot.github.config import LABEL_STOP
from kodo_bot.github.feedback import read_command
from kodo_bot.github.followup import Followup, from_mention, from_review
from kodo_bot.github.records import Activity
from kodo_bot.github.trust import is_bot, may_steer, same_account


class RunWatch:
    def __init__(self, state: SinkState, client: GitHubClient, bot_login: str) -> None:
        self.state, self.client, self.bot = state, client, bot_login
        self._may: dict[str, bool] = {}

    def deliver(self, d: Delivery) -> bool:
        s = self.state
        if not s.want.watch or s.closing:
            return True
        return d.attempt("read the issue and its feedback", self._read, lambda: setattr(s.want, "watch", False))

    def _read(self) -> None:
        s = self.state
        seen = self.client.activity(s.run.issue_number, s.pull.number if s.pull else None)
        found = self._reviews(seen) + self._mentions(seen)
        own = s.run.followup.id if s.run.followup else None
        with s.cv:
            s.want.watch = False
            reason = stop_reason(seen.issue_state, seen.labels, s.run.trigger_label)
            if reason and s.stop is None:
                # said at once in the progress comment: the run stops at this cycle's end, not now
                notice = f"stopping at the end of this cycle: {reason}"
                s.progress = s.progress.model_copy(update={"notices": (*s.progress.notices, notice)})
                s.want.progress_due = True
            s.request_stop(reason)
            known = {f.id for f in s.taken} | {own}
            for followup in found:
                if followup.id not in known and followup.items:
                    s.offered.setdefault(followup.id, followup)

    def _reviews(self, seen: Activity) -> list[Followup]:
        pull = self.state.pull
        if pull is None:
            return []
        found = []
        for r in seen.reviews:
            if r.state not in ("changes_requested", "commented") or not self._new(r.submitted_at):
                continue
            if self._steers(r.author, r.author_type):
                comments, total = self.client.review_comments(pull.number, r.id)
                found.append(from_review(r.id, r.author, r.body, comments, total))
        return found

    def _mentions(self, seen: Activity) -> list[Followup]:
        found = []
        for c in seen.comments:
            said = read_command(c.body, self.bot) if self._new(c.created_at) else None
            if said is not None and said[0] == "mention" and self._steers(c.author, c.author_type):
                found.append(from_mention(c.id, c.author, said[1]))
        return found

    def _new(self, when: datetime | None) -> bool:
        # GitHub's times are whole seconds: a comment in the run's first second counts as new
        return when is not None and when >= self.state.started_at.replace(microsecond=0)

    def _steers(self, login: str, kind: str) -> bool:
        """May this account steer the run: a writer, or a listed bot; never the bot itself."""
        if same_account(login, self.bot):
            return False
        key = login.lower()
        if key not in self._may:
            permission = None if is_bot(login, kind) else self.client.permission(login)
            self._may[key] = may_steer(login, kind, permission, self.state.run.trusted_bots)
        return self._may[key]


def stop_reason(state: str, labels: tuple[str, ...], trigger_label: str) -> str | None:
    """Why the run should stop, as the issue reads now; None: go on."""
    if state == "closed":
        return "the issue was closed"
    if LABEL_STOP in labels:
        return "a maintainer asked it to stop (`/kodo stop`)"
    if trigger_label.lower() not in {label.lower() for label in labels}:  # GitHub ignores case
        return f"the `{trigger_label}` label was removed from the issue"
    return None
