"""``GitHubSink``: the engine's events become pushes, comments, a pull request, statuses and labels.

The engine calls ``handle`` inline, so the sink only folds the event into what GitHub *should* show
(``_sink_state``) and wakes a worker thread (``_sink_worker``); the worker makes GitHub match, one pass at a
time, in dependency order (:meth:`GitHubSink._reconcile`). Working from a desired state rather than a queue of
calls gives these properties cheaply:

- a transient GitHub failure never reaches the run: it is logged, the item stays outstanding, and the next
  pass (the next event, or a retry timer) tries again; a failed push is shown in the progress comment
  meanwhile;
- a permanent refusal (``GitHubRefused``: a permission, a setting, a rejected push) is not retried: the
  item is dropped, the run is asked to stop at its next cycle end, and the run ends as ``error`` with the
  refusal and its fix as the reason, whatever the engine concluded (an "accepted" whose PR could not be
  opened, or whose status could not be set, is not what happened on GitHub) (``_delivery``);
- nothing is posted twice: every comment has a marker slot (run, kind, round), a slot already filled is
  edited, and a create whose answer was lost is looked up by its marker before it is tried again
  (``comments``);
- progress edits coalesce by themselves (at most one per ``min_interval_s``, always one at a cycle end,
  a verification result and the end), and the same timer refreshes the lease heartbeat while an agent
  works for a long time without events (``_pacing``).

``stop_requested`` (polled by the engine at each cycle end) never waits on GitHub: it returns what the worker
last learned. The worker reads the issue and its PR once per committed cycle, after that cycle's push, in one
request (``_run_watch``), so a closed issue, a removed trigger label or a refusal stops the run at the cycle
end, feedback given meanwhile reaches the next cycle, and a slow GitHub delays only the worker.

``close`` is bounded: each write gets at most ``write_retry_s`` of retries once closing, and the whole drain
at most ``drain_s``, and never past ``deadline`` (the job's end, when known). What is left is listed in
``undelivered``; if that includes anything the outcome depends on, the run's outcome becomes ``error``.

The steps, each in its own module: ``_branch_push``, ``_pull_request``, ``_round_reports``, ``_run_watch``,
``_end_report``, ``_progress_comment``. Not here: deciding whether to run, taking the lease, cloning
(``handle``, ``lease``), or the words posted (``render``). Everything posted goes through the client, which
redacts the token.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from kodo_bot.engine import events as ev
from kodo_bot.engine.events import EventSink
from kodo_bot.engine.models import Steering
from kodo_bot.github._attempts import Attempts
from kodo_bot.github._branch_push import BranchPush
from kodo_bot.github._delivery import Delivery, Step
from kodo_bot.github._end_report import EndReport
from kodo_bot.github._evidence import EvidencePush
from kodo_bot.github._issue_run import IssueRun
from kodo_bot.github._pacing import Pacing
from kodo_bot.github._progress_comment import ProgressComment
from kodo_bot.github._pull_request import PullRequest
from kodo_bot.github._round_reports import STATUS_CONTEXT, RoundReports
from kodo_bot.github._run_watch import RunWatch
from kodo_bot.github._sink_state import SinkState
from kodo_bot.github._sink_worker import SinkWorker
from kodo_bot.github._thread_replies import ThreadReplies
from kodo_bot.github.client import CommentInfo, GitHubClient, PullInfo
from kodo_bot.github.comments import CommentSlots
from kodo_bot.github.git_remote import GitRemote
from kodo_bot.github.markers import Marker
from kodo_bot.github.progress import ProgressState
from kodo_bot.redact import redact

__all__ = ["STATUS_CONTEXT", "GitHubSink", "IssueRun", "utcnow"]

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


class GitHubSink(EventSink):
    def __init__(
        self,
        *,
        client: GitHubClient,
        remote: GitRemote,
        clone: Path,
        run: IssueRun,
        progress: ProgressState,
        progress_comment: CommentInfo,
        slots: dict[Marker, CommentInfo] | None = None,
        pull: PullInfo | None = None,
        clock: Callable[[], datetime] = utcnow,
        background: bool = True,
        earlier: list[ev.Event] | None = None,
    ) -> None:
        """``earlier``: a resumed run's events from before (its log), for the final comment's report."""
        self.client, self.remote, self.clone, self.run = client, remote, clone, run
        self.progress_comment = progress_comment
        #: what could not be delivered when the sink closed, by name
        self.undelivered: list[str] = []
        self._state = SinkState(run, progress, pull=pull, clock=clock)
        self._state.remember(earlier or [])
        # ``handle`` has just posted (or taken over) the progress comment: what comes before the run starts
        # (an agent left out) waits for the run's start instead of costing an edit of its own
        self._state.last_published = clock()
        self._attempts = Attempts(write_retry_s=run.write_retry_s, redact=self._redact)
        pacing = Pacing(self._state, self._attempts)
        self._delivery = Delivery(self._state, self._attempts, pacing)
        self._steps = self._make_steps(CommentSlots(client, progress_comment.author, slots), pacing)
        self._worker = SinkWorker(self._state, pacing, self._attempts, self._reconcile, background=background)

    def _make_steps(self, slots: CommentSlots, pacing: Pacing) -> tuple[Step, ...]:
        """The steps of one pass, in dependency order: the PR needs a pushed commit, a round's comment the
        PR, and the end is reported after them; the progress comment goes last, showing all of it."""
        s, client = self._state, self.client
        pull_request = PullRequest(s, client)
        return (
            BranchPush(s, self.remote, self.clone),
            pull_request,
            RoundReports(s, client, slots, EvidencePush(self.remote, self.clone, client)),
            RunWatch(s, client, self.progress_comment.author),
            EndReport(s, client, slots, pull_request, ThreadReplies(s, client, self.progress_comment.author)),
            ProgressComment(s, client, self.progress_comment, pacing),
        )

    # ------------------------------------------------------------------ EventSink
    def handle(self, event: ev.Event) -> None:
        s = self._state
        with s.cv:
            s.fold(event, refusal=self.refusal_reason if self.refusals else None)
            s.cv.notify_all()
        if self._worker.inline and not s.closing:
            self._reconcile()

    def steering(self) -> list[Steering]:
        """Feedback the worker found since the run started, until the run takes it; never waits."""
        with self._state.cv:
            return [f.steering() for f in self._state.offered.values()]

    def stop_requested(self) -> str | None:
        """What the worker last learned (a refusal, the issue closed, the label removed); never waits."""
        with self._state.cv:
            return self._state.stop

    def close(self) -> None:
        """Deliver what is outstanding (for at most ``drain_s``), then stop the worker.

        Safe to call again: events handled after the first close (the caller reporting a failure the engine
        could not) are delivered by the next close, in the caller's thread.
        """
        self._worker.close()
        s = self._state
        with s.cv:
            # Given-up items stay listed: the engine closes its sinks, then the caller closes again.
            self.undelivered = list(dict.fromkeys([*self._attempts.given_up, *s.outstanding()]))
            if [u for u in self.undelivered if u != "progress comment"]:
                s.end_as_error(f"kodo-bot could not deliver to GitHub: {', '.join(self.undelivered)}")
        if self.undelivered:
            log.error("kodo-bot gave up delivering to GitHub: %s", ", ".join(self.undelivered))

    def _reconcile(self) -> bool:
        """One pass making GitHub match what the run says, in dependency order; True if nothing failed."""
        if self._delivery.blocked():
            return False  # a used-up rate limit: nothing gets through before it resets
        ok = True
        for step in self._steps:
            ok = step.deliver(self._delivery) and ok
        return ok

    def _redact(self, text: str) -> str:
        return redact(text, self.client.secrets + self.remote.secrets)

    # ------------------------------------------------------------------ results for the caller
    @property
    def state(self) -> ProgressState:
        return self._state.progress

    @property
    def finished(self) -> ev.RunFinished | None:
        return self._state.want.finished

    @property
    def refusals(self) -> list[str]:
        """Permanent refusals, each with what to change: any of them makes the outcome ``error``."""
        return self._attempts.refusals

    @property
    def refusal_reason(self) -> str:
        return self._attempts.refusal_reason

    @property
    def pull(self) -> PullInfo | None:
        return self._state.pull

    @property
    def pushed_sha(self) -> str | None:
        return self._state.pushed_sha

    @property
    def push_error(self) -> str | None:
        return self._state.push_error
