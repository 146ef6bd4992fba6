"""What GitHub should show for one run, and what the sink has learned from GitHub, under one lock.

The engine's thread folds events in (:meth:`SinkState.fold`); the worker's steps (``_branch_push``,
``_pull_request``, ``_round_reports``, ``_run_watch``, ``_end_report``, ``_progress_comment``) take items out
of :attr:`SinkState.want` as they deliver them. Everything here is changed with :attr:`SinkState.cv` held.

The run's end is kept truthful here: after a permanent refusal, or when something the outcome depends on
could not be delivered, a run that had finished otherwise ends as ``error`` (an interrupted run stays
interrupted: the next trigger resumes it, and meets the same trouble then).

Not here: any request to GitHub, timing (``_pacing``), or how hard a write is tried (``_attempts``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime

from kodo_bot.engine import events as ev
from kodo_bot.engine.models import Outcome
from kodo_bot.github import render
from kodo_bot.github._issue_run import IssueRun
from kodo_bot.github._want import Want, final_steps
from kodo_bot.github.client import PullInfo
from kodo_bot.github.followup import Followup
from kodo_bot.github.progress import ProgressState, apply, should_publish
from kodo_bot.morning import KEPT

#: outcomes that stay as they are whatever GitHub refused
_KEPT = (Outcome.error, Outcome.interrupted)


class SinkState:
    def __init__(
        self, run: IssueRun, progress: ProgressState, *, pull: PullInfo | None, clock: Callable[[], datetime]
    ) -> None:
        self.cv = threading.Condition()
        self.run, self.clock = run, clock
        #: what the progress comment shows
        self.progress = progress
        #: what GitHub does not show yet
        self.want = Want()
        #: steps never to try again ("push", "pull", "progress", final steps)
        self.refused: set[str] = set()
        #: why the run should stop at its next cycle end (a refusal, the issue closed, the label removed)
        self.stop: str | None = None
        self.pull = pull
        self.pushed_sha: str | None = None
        #: why the last push failed, shown in the progress comment until a push works
        self.push_error: str | None = None
        self.last_published: datetime | None = None
        self.closing = False
        #: ``time.time()`` when closing must end
        self.drain_until: float | None = None
        #: the round that accepted the work: its verdicts answer the review points, in their threads
        self.accepted_round: ev.VerificationFinished | None = None
        #: when that round's result came in: the run's end follows within moments
        self.accepted_at: datetime | None = None
        #: feedback found while the run is live, by id, offered to the engine until it takes it
        self.offered: dict[str, Followup] = {}
        #: feedback the run took in (its threads are answered at the end, as the follow-up's own are)
        self.taken: list[Followup] = []
        #: when the run started here: feedback older than this is the follow-up's own, or a later run's
        self.started_at = clock()
        #: the events the final comment's morning report reads (``morning.KEPT``), rounds numbered as on the
        #: PR; a resumed run's start with those its log had before (``remember``)
        self.history: list[ev.Event] = []

    def fold(self, event: ev.Event, *, refusal: str | None) -> None:
        """Take in one event; ``refusal`` is why GitHub refused for good, if it did."""
        event = self._truthful(event, refusal)
        self.remember([event])
        self.progress = apply(self.progress, event)
        self._want_after(event)
        if should_publish(
            event, last_published=self.last_published, now=self.clock(), min_interval_s=self.run.min_interval_s
        ):
            self.want.progress_due = True
        else:
            self.want.progress_owed = True

    def _truthful(self, event: ev.Event, refusal: str | None) -> ev.Event:
        """The run's end as it happened on GitHub: after a refusal, an error whatever the engine concluded."""
        if isinstance(event, ev.RunFinished) and refusal and event.outcome not in _KEPT:
            return event.model_copy(update={"outcome": Outcome.error, "reason": refusal})
        return event

    def _want_after(self, event: ev.Event) -> None:
        w = self.want
        match event:
            case ev.CycleCommitted():
                # once per cycle, after its push (and the PR it opens): while the checks and verification take
                # their time, what people said during the cycle comes in before the boundary the engine takes
                # it at
                w.push = w.watch = True
            case ev.SteeringTaken():
                ids = {x.id for x in event.steering}
                self.taken += [f for i, f in self.offered.items() if i in ids]
                self.offered = {i: f for i, f in self.offered.items() if i not in ids}
            case ev.RunStarted(resumed=True):
                w.push = True  # the interrupted run may have committed without pushing before it died
            case ev.VerificationFinished():
                self._want_round(event.model_copy(update={"round": event.round + self.run.round_offset}))
                if event.accepted:
                    self.accepted_round, self.accepted_at = event, self.clock()
            case ev.RunFinished():
                w.finished = event  # its work-in-progress commit, if any, came as a CycleCommitted first
                w.final_steps = final_steps(event.outcome, refused=self.refused, threads=self._answers_threads())

    def remember(self, events: list[ev.Event]) -> None:
        """Keep what the morning report reads; an event seen before (by ``seq``) is not kept twice."""
        last = max((e.seq for e in self.history), default=0)
        for e in events:
            if not isinstance(e, KEPT) or (e.seq and e.seq <= last):
                continue
            if isinstance(e, ev.VerificationFinished):
                e = e.model_copy(update={"round": e.round + self.run.round_offset})
            self.history.append(e)
            last = max(last, e.seq)

    def followups(self) -> list[Followup]:
        """The feedback the run works on: the follow-up it started as, and what it took in while live."""
        return [*([self.run.followup] if self.run.followup else []), *self.taken]

    def _answers_threads(self) -> bool:
        return any(f.threads for f in self.followups())

    def _want_round(self, event: ev.VerificationFinished) -> None:
        """The round's comment on the PR, and the commit status that goes with it."""
        self.want.rounds[event.round] = event
        state, text = render.verification_status(event)
        self.want.statuses[event.sha] = (state, text, event.round)

    def refused_for_good(self, reason: str) -> None:
        """GitHub refused something for good: stop at the next cycle end, say so, end as ``error``."""
        self.stop = self.stop or reason
        self.want.progress_due = True
        self.end_as_error(reason)

    def end_as_error(self, reason: str) -> None:
        """A run already reported as finished ends as ``error`` after all."""
        w = self.want
        if w.finished is None or w.finished.outcome in _KEPT:
            return
        w.finished = w.finished.model_copy(update={"outcome": Outcome.error, "reason": reason})
        self.progress = self.progress.model_copy(update={"outcome": Outcome.error, "outcome_reason": reason})
        w.final_steps = final_steps(Outcome.error, refused=self.refused)

    def request_stop(self, reason: str | None) -> None:
        self.stop = self.stop or reason

    def drain_over(self) -> bool:
        """Closing has used up its time."""
        return self.drain_until is not None and time.time() >= self.drain_until

    def drain_left(self) -> float:
        return max(0.0, self.drain_until - time.time()) if self.drain_until is not None else 0.0

    def outstanding(self) -> list[str]:
        return self.want.outstanding(progress_refused="progress" in self.refused)

    def pull_unreachable(self) -> bool:
        """No PR, and none can be opened: what belongs on it can never be delivered."""
        return self.pull is None and ("pull" in self.refused or ("push" in self.refused and not self.pushed_sha))

    def final_step_done(self, step: str) -> None:
        if step in self.want.final_steps:
            self.want.final_steps.remove(step)

    def drop_final(self, step: str) -> None:
        self.refused.add(step)
        self.final_step_done(step)

    def drop_progress(self) -> None:
        self.refused.add("progress")
        self.want.progress_due = self.want.progress_owed = False
