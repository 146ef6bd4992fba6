"""The issue's one progress comment, edited as the run goes (``_pacing`` says when).

It shows the state folded from the events (``render.render_progress``), and above it a warning while a
push keeps failing or after GitHub refused something for good. Each edit also refreshes the lease's
heartbeat, which the comment carries.
"""

from __future__ import annotations

from datetime import datetime

from kodo_bot.github import render
from kodo_bot.github._delivery import Delivery
from kodo_bot.github._pacing import Pacing
from kodo_bot.github._sink_state import SinkState
from kodo_bot.github.client import CommentInfo, GitHubClient
from kodo_bot.github.progress import ProgressState

#: how long an accepted round's edit waits for the run's end, which usually follows within milliseconds
END_GRACE_S = 3.0


class ProgressComment:
    def __init__(self, state: SinkState, client: GitHubClient, comment: CommentInfo, pacing: Pacing) -> None:
        self.state, self.client, self.comment, self.pacing = state, client, comment, pacing

    def deliver(self, d: Delivery) -> bool:
        if not self.pacing.progress_now() or "progress" in self.state.refused or self._end_comes():
            return True
        return d.attempt("edit the progress comment", lambda: self._edit(d.attempts.refusals), self.state.drop_progress)

    def _end_comes(self) -> bool:
        """The run has ended, or verification accepted it and its end follows within moments: the edit
        after the end's report shows everything, so one now would be overwritten a moment later. Closing
        edits regardless (the report may be stuck), and so does a run whose end is slow to come."""
        s, w = self.state, self.state.want
        if s.closing:
            return False
        if w.finished is not None:
            return bool(w.final_steps)
        return s.accepted_at is not None and (s.clock() - s.accepted_at).total_seconds() < END_GRACE_S

    def _edit(self, refusals: list[str]) -> None:
        s = self.state
        with s.cv:
            now, progress, push_error = s.clock(), s.progress, s.push_error
            s.want.progress_due = s.want.progress_owed = False
        body = self._body(progress, now, refusals, push_error)
        try:
            self.client.edit_comment(self.comment.id, body)
        except Exception:
            with s.cv:
                s.want.progress_due = True
            raise
        with s.cv:
            s.last_published = now

    def _body(self, progress: ProgressState, now: datetime, refusals: list[str], push_error: str | None) -> str:
        pull = self.state.pull
        body = render.render_progress(
            progress, now=now, runner=self.state.run.runner, pr_number=pull.number if pull else None
        )
        if refusals and not progress.finished:
            return render.with_warning(
                body, "GitHub refused, so the run stops at the end of this cycle.", " ".join(refusals)
            )
        if push_error:
            return render.with_warning(body, "Pushing the branch failed; kodo-bot keeps retrying.", push_error)
        return body
