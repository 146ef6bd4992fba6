"""``GitHubSink``: the engine's events become pushes, comments, a pull request, statuses and labels.

The engine calls ``handle`` inline, so the sink only folds the event into what GitHub *should* show and
wakes a worker thread; the worker makes GitHub match (:meth:`GitHubSink._reconcile`). Working from a desired
state rather than a queue of calls gives three properties cheaply:

- a transient GitHub failure never reaches the run: it is logged, the item stays outstanding, and the next
  pass (the next event, or a retry timer) tries again; a failed push is shown in the progress comment
  meanwhile;
- a permanent refusal (``GitHubRefused``: a permission, a setting, a rejected push) is not retried: the
  item is dropped, the run is asked to stop at its next cycle end, and the run ends as ``error`` with the
  refusal and its fix as the reason, whatever the engine concluded (an "accepted" whose PR could not be
  opened, or whose status could not be set, is not what happened on GitHub);
- nothing is posted twice: every comment has a marker slot (run, kind, round), a slot already filled is
  edited, and a create whose answer was lost is looked up by its marker before it is tried again;
- progress edits coalesce by themselves (at most one per ``min_interval_s``, always one at a cycle end,
  a verification result and the end), and the same timer refreshes the lease heartbeat while an agent
  works for a long time without events.

``stop_requested`` (polled by the engine at each cycle end) never waits on GitHub: it returns what the worker
last learned. The worker reads the issue once per committed cycle, after that cycle's push, so a closed
issue, a removed trigger label or a refusal stops the run at the cycle end, while a slow GitHub delays only
the worker.

``close`` is bounded: each write gets at most ``write_retry_s`` of retries once closing, and the whole drain
at most ``drain_s``, and never past ``deadline`` (the job's end, when known). What is left is listed in
``undelivered``; if that includes anything the outcome depends on, the run's outcome becomes ``error``.

Not here: deciding whether to run, taking the lease, cloning (``handle``, ``lease``), or the words posted
(``render``). Everything posted goes through the client, which redacts the token.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from kodo_bot.engine import events as ev
from kodo_bot.engine.events import EventSink
from kodo_bot.engine.models import Outcome
from kodo_bot.errors import GitHubError
from kodo_bot.github import render
from kodo_bot.github._attempts import Attempts
from kodo_bot.github._want import Want, final_steps
from kodo_bot.github.client import CommentInfo, GitHubClient, PullInfo
from kodo_bot.github.config import LABEL_RUNNING
from kodo_bot.github.git_remote import GitRemote
from kodo_bot.github.comments import CommentSlots
from kodo_bot.github.markers import Marker
from kodo_bot.github.progress import ProgressState, apply, should_publish
from kodo_bot.redact import redact

log = logging.getLogger(__name__)

STATUS_CONTEXT = "kodo/verification"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class IssueRun:
    """What the sink works on: one issue, its branch, and how often to talk to GitHub."""

    issue_number: int
    branch: str
    base: str
    title: str
    goal: str
    trigger_label: str = "kodo"
    runner: str = ""
    job_url: str | None = None
    min_interval_s: float = 10.0
    #: refresh the lease at least this often when nothing else edits the progress comment
    heartbeat_s: float = 60.0
    #: wait before retrying something GitHub refused
    retry_s: float = 5.0
    #: how long ``close`` keeps trying to deliver what is outstanding
    drain_s: float = 120.0
    #: once closing, how long one write may keep failing before it is given up
    write_retry_s: float = 60.0
    #: ``time.time()`` by which the job ends (the drain stops before it); None when unknown
    deadline: float | None = None
    #: verification rounds earlier runs already posted on this PR (a takeover on another machine numbers
    #: its rounds after theirs, so the PR reads round 1, round 2 ... across runners)
    round_offset: int = 0


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
    ) -> None:
        self.client, self.remote, self.clone, self.run = client, remote, clone, run
        self.progress_comment = progress_comment
        self.pull = pull
        self.push_error: str | None = None
        self.pushed_sha: str | None = None
        self.undelivered: list[str] = []
        self._attempts = Attempts(write_retry_s=run.write_retry_s, redact=self._redact)
        self._refused: set[str] = set()  # steps never to try again ("push", "pull", "progress", final steps)
        self._stop: str | None = None
        self._drain_until: float | None = None  # time.time() when closing must end
        self._state = progress
        self._slots = CommentSlots(client, progress_comment.author, slots)
        self._pull_uncertain = False
        self._round_urls: dict[int, str] = {}
        self._clock = clock
        self._want = Want()
        self._last_published: datetime | None = None
        self._cv = threading.Condition()
        self._closing = False
        self._thread: threading.Thread | None = None
        if background:
            self._thread = threading.Thread(target=self._work, name="kodo-github-sink", daemon=True)
            self._thread.start()

    # ------------------------------------------------------------------ EventSink
    def handle(self, event: ev.Event) -> None:
        with self._cv:
            event = self._truthful(event)
            self._state = apply(self._state, event)
            self._fold(event)
            if should_publish(event, last_published=self._last_published, now=self._clock(),
                              min_interval_s=self.run.min_interval_s):
                self._want.progress_due = True
            else:
                self._want.progress_owed = True
            self._cv.notify_all()
        if self._thread is None and not self._closing:
            self._reconcile()

    def _fold(self, event: ev.Event) -> None:
        w = self._want
        match event:
            case ev.CycleCommitted():
                w.push = w.issue_check = True
            case ev.RunStarted(resumed=True):
                w.push = True  # the interrupted run may have committed without pushing before it died
            case ev.VerificationFinished():
                event = event.model_copy(update={"round": event.round + self.run.round_offset})
                w.rounds[event.round] = event
                state, text = render.verification_status(event)
                w.statuses[event.sha] = (state, text, event.round)
            case ev.RunFinished():
                w.finished = event  # its work-in-progress commit, if any, came as a CycleCommitted first
                w.final_steps = final_steps(event.outcome, refused=self._refused)

    def _truthful(self, event: ev.Event) -> ev.Event:
        """The run's end as it happened on GitHub: after a refusal, an error whatever the engine concluded."""
        if isinstance(event, ev.RunFinished) and self.refusals and event.outcome not in (Outcome.error,
                                                                                         Outcome.interrupted):
            return event.model_copy(update={"outcome": Outcome.error, "reason": self.refusal_reason})
        return event

    @property
    def refusals(self) -> list[str]:
        """Permanent refusals, each with what to change: any of them makes the outcome ``error``."""
        return self._attempts.refusals

    @property
    def refusal_reason(self) -> str:
        return "GitHub refused: " + "; ".join(self.refusals)

    def stop_requested(self) -> str | None:
        """What the worker last learned (a refusal, the issue closed, the label removed); never waits."""
        with self._cv:
            return self._stop

    def close(self) -> None:
        """Deliver what is outstanding (for at most ``drain_s``), then stop the worker.

        Safe to call again: events handled after the first close (the caller reporting a failure the engine
        could not) are delivered by the next close, in the caller's thread.
        """
        with self._cv:
            first, self._closing = not self._closing, True
            self._attempts.start_closing()
            self._drain_until = time.time() + self._drain_budget()
            self._cv.notify_all()
        if first and self._thread is not None:
            self._thread.join()  # the worker drains before it ends
        else:
            self._drain()
        with self._cv:
            # Given-up items stay listed: the engine closes its sinks, then the caller closes again.
            self.undelivered = list(dict.fromkeys([*self._attempts.given_up, *self._outstanding()]))
            if [u for u in self.undelivered if u != "progress comment"]:
                self._end_as_error(f"kodo-bot could not deliver to GitHub: {', '.join(self.undelivered)}")
        if self.undelivered:
            log.error("kodo-bot gave up delivering to GitHub: %s", ", ".join(self.undelivered))

    # ------------------------------------------------------------------ results for the caller
    @property
    def state(self) -> ProgressState:
        return self._state

    @property
    def finished(self) -> ev.RunFinished | None:
        return self._want.finished

    # ------------------------------------------------------------------ the worker
    def _work(self) -> None:
        ok = progressed = True
        while True:
            with self._cv:
                if not self._closing:
                    self._cv.wait(timeout=self._next_wait(ok, progressed))
                closing = self._closing
            before = self._outstanding()
            ok = self._reconcile()
            progressed = self._outstanding() != before
            if closing and (not self._outstanding() or time.time() >= self._drain_until):
                return
            if closing and not (ok and progressed):
                self._pause()

    def _drain_budget(self) -> float:
        left = self.run.deadline - time.time() if self.run.deadline is not None else self.run.drain_s
        return max(0.0, min(self.run.drain_s, left))

    def _drain(self) -> None:
        while self._outstanding() and not self._reconcile() and time.time() < self._drain_until:
            self._pause()

    def _pause(self) -> None:
        """Between failing passes while closing: the retry interval, or until a rate limit resets."""
        time.sleep(max(0.0, min(max(self.run.retry_s, self._attempts.wait_s()), self._drain_until - time.time())))

    def _wait_limit(self) -> float | None:
        """How long a used-up rate limit may be waited for: the job's end, else the drain's once closing."""
        return self.run.deadline if self.run.deadline is not None else self._drain_until

    def _next_wait(self, last_ok: bool, progressed: bool) -> float:
        w = self._want
        if not last_ok:
            return max(self.run.retry_s, self._attempts.wait_s())
        if w.busy():
            # Items waiting on others (a round before its PR exists) must not spin the loop.
            return 0.0 if progressed else self.run.retry_s
        since = (self._clock() - self._last_published).total_seconds() if self._last_published else 0.0
        if w.progress_owed:
            return max(0.0, self.run.min_interval_s - since)
        return max(0.05, self.run.heartbeat_s - since)

    def _outstanding(self) -> list[str]:
        return self._want.outstanding(progress_refused="progress" in self._refused)

    def _reconcile(self) -> bool:
        """One pass making GitHub match what the run says, in dependency order; True if nothing failed."""
        w = self._want
        if self._attempts.blocked(self._wait_limit()):
            return False  # a used-up rate limit: nothing gets through before it resets
        ok = self._push()
        # GitHub refuses a PR without commits: open it once a cycle's commit is on the remote.
        if self.pushed_sha and self.pull is None and self._state.commits and "pull" not in self._refused:
            ok = self._step("open the pull request", self._open_pull, lambda: self._refused.add("pull")) and ok
        with self._cv:
            if self.pull is None and ("pull" in self._refused or ("push" in self._refused and not self.pushed_sha)):
                # Verdicts go on the PR, and a status on a commit GitHub has: neither can ever be delivered.
                self._attempts.given_up += w.pr_items()
                w.rounds.clear()
                w.statuses.clear()
            rounds, shas = sorted(w.rounds), list(w.statuses)
        if self.pull is not None and self.pushed_sha:
            for number in rounds:
                ok = self._step(f"post verification round {number}", lambda n=number: self._post_round(n),
                                lambda n=number: w.rounds.pop(n, None)) and ok
            for sha in shas:
                ok = self._step(f"set the status on {sha[:12]}", lambda s=sha: self._post_status(s),
                                lambda s=sha: w.statuses.pop(s, None)) and ok
        if w.issue_check and not self._closing:
            ok = self._step("read the issue", self._check_issue, lambda: setattr(w, "issue_check", False)) and ok
        # The end is reported once earlier items are through, or when closing even if they are stuck:
        # the person waiting must hear how the run ended whatever else failed.
        if w.finished is not None and (self._closing or not (w.push or w.rounds or w.statuses)):
            for step in list(w.final_steps):
                ok = self._step(f"report the end ({step})", lambda s=step: self._final(s),
                                lambda s=step: self._drop_final(s)) and ok
        if self._progress_now() and "progress" not in self._refused:
            ok = self._step("edit the progress comment", self._edit_progress, self._drop_progress) and ok
        return ok

    def _step(self, what: str, action: Callable[[], object], drop: Callable[[], object]) -> bool:
        """Try one item (see ``_attempts``). True when there is nothing to retry: it worked, or it is dropped
        (``drop`` forgets it) because GitHub refused it for good or, when closing, it kept failing."""
        result = self._attempts.run(what, action, closing=self._closing, wait_limit=self._wait_limit())
        if result in ("refused", "given_up"):
            with self._cv:
                drop()
        if result == "refused":
            self._after_refusal()
        return result != "retry"

    def _after_refusal(self) -> None:
        with self._cv:
            self._stop = self._stop or self.refusal_reason
            self._want.progress_due = True
            self._end_as_error(self.refusal_reason)

    def _end_as_error(self, reason: str) -> None:
        """A run already reported as finished ends as ``error`` after all (call with the lock held). An
        interrupted run stays interrupted: the next trigger resumes it, and meets the same trouble then."""
        w = self._want
        if w.finished is None or w.finished.outcome in (Outcome.error, Outcome.interrupted):
            return
        w.finished = w.finished.model_copy(update={"outcome": Outcome.error, "reason": reason})
        self._state = self._state.model_copy(update={"outcome": Outcome.error, "outcome_reason": reason})
        w.final_steps = final_steps(Outcome.error, refused=self._refused)

    def _drop_final(self, step: str) -> None:
        self._refused.add(step)
        if step in self._want.final_steps:
            self._want.final_steps.remove(step)

    def _drop_progress(self) -> None:
        self._refused.add("progress")
        self._want.progress_due = self._want.progress_owed = False

    def _redact(self, text: str) -> str:
        return redact(text, self.client.secrets + self.remote.secrets)

    # ------------------------------------------------------------------ the steps
    def _push(self) -> bool:
        with self._cv:
            wanted, self._want.push = self._want.push, False
        if not wanted or "push" in self._refused:
            return True
        pushed: list[str] = []
        what = f"push {self.run.branch}"
        ok = self._step(what, lambda: pushed.append(self.remote.push(self.clone, self.run.branch)),
                        lambda: self._refused.add("push"))
        with self._cv:
            error = None if pushed else (self._attempts.last_error.get(what) or self.refusal_reason)
            self._want.push = not ok
            if error != self.push_error:
                self._want.progress_due = True  # a failed push shows in the progress comment until one works
            self.push_error = error
            if pushed:
                self.pushed_sha = pushed[0]
        return ok

    def _open_pull(self) -> None:
        # A create whose answer was lost may have opened the PR anyway: look before opening another.
        found = self.client.find_pull(self.run.branch) if self._pull_uncertain else None
        if found is None:
            body = render.render_pr_body(state=self._state, issue_number=self.run.issue_number, goal=self.run.goal)
            self._pull_uncertain = True
            try:
                found = self.client.create_pull(title=self.run.title, body=body, head=self.run.branch,
                                                base=self.run.base, draft=True)
            except GitHubError as exc:
                if "draft" not in str(exc).lower():
                    raise
                # Draft PRs are unavailable on some plans: open a normal one; marking it ready is then moot.
                found = self.client.create_pull(title=self.run.title, body=body, head=self.run.branch,
                                                base=self.run.base, draft=False)
        self.pull, self._pull_uncertain = found, False

    def _post_round(self, number: int) -> None:
        event = self._want.rounds[number]
        marker = Marker(run=event.run_id, kind="verdicts", round=number)
        posted = self._slots.upsert(self.pull.number, marker, render.render_verification_round(event))
        self._round_urls[number] = posted.html_url
        with self._cv:
            if self._want.rounds.get(number) is event:
                del self._want.rounds[number]

    def _check_issue(self) -> None:
        issue = self.client.issue(self.run.issue_number)
        reason = None
        if issue.state == "closed":
            reason = "the issue was closed"
        elif self.run.trigger_label.lower() not in {label.lower() for label in issue.labels}:  # GitHub ignores case
            reason = f"the `{self.run.trigger_label}` label was removed from the issue"
        with self._cv:
            self._want.issue_check = False
            self._stop = self._stop or reason

    def _post_status(self, sha: str) -> None:
        state, text, number = self._want.statuses[sha]
        self.client.create_status(sha, state=state, context=STATUS_CONTEXT, description=text,
                                  target_url=self._round_urls.get(number))
        with self._cv:
            self._want.statuses.pop(sha, None)

    def _final(self, step: str) -> None:
        f = self._want.finished
        n, pr = self.run.issue_number, (self.pull.number if self.pull else None)
        label = render.label_for_outcome(f.outcome)
        if step == "summary":
            body = render.render_accepted(f, pr_number=pr, job_url=self.run.job_url)
            self._slots.upsert(pr or n, Marker(run=f.run_id, kind="summary"), body)
        elif step == "outcome":
            body = render.render_not_accepted(f, label=label, pr_number=pr, job_url=self.run.job_url)
            self._slots.upsert(n, Marker(run=f.run_id, kind="outcome"), body)
        elif step == "ready" and self.pull is not None and self.pull.draft:
            self.client.mark_ready(self.pull)
        elif step == "pr body" and self.pull is not None:
            body = render.render_pr_body(state=self._state, issue_number=n, goal=self.run.goal)
            self.client.edit_pull_body(self.pull.number, body)
        elif step == "labels":
            if label:
                self.client.add_labels(n, label)
            self.client.remove_label(n, LABEL_RUNNING)
        with self._cv:
            if step in self._want.final_steps:
                self._want.final_steps.remove(step)
            self._want.progress_due = True

    def _progress_now(self) -> bool:
        w = self._want
        if w.progress_due:
            return True
        if self._last_published is None:
            return True
        since = (self._clock() - self._last_published).total_seconds()
        if w.progress_owed:
            return since >= self.run.min_interval_s or self._closing
        return since >= self.run.heartbeat_s and not self._state.finished

    def _edit_progress(self) -> None:
        with self._cv:
            now, state = self._clock(), self._state
            self._want.progress_due = self._want.progress_owed = False
        body = render.render_progress(state, now=now, runner=self.run.runner)
        if self.refusals and not state.finished:
            body = render.with_warning(body, "GitHub refused, so the run stops at the end of this cycle.",
                                 " ".join(self.refusals))
        elif self.push_error:
            body = render.with_warning(body, "Pushing the branch failed; kodo-bot keeps retrying.", self.push_error)
        try:
            self.client.edit_comment(self.progress_comment.id, body)
        except Exception:
            with self._cv:
                self._want.progress_due = True
            raise
        with self._cv:
            self._last_published = now
