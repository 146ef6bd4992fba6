"""The engine run on an issue the trigger holds, with the GitHub sink attached.

    clone (or fetch) -> the branch: the resumed run's, an earlier run's on the remote, or a new one
    -> a continued branch brings its PR and the bot's comments there -> the sink -> the engine, to its end

Whatever fails on the way, the person waiting hears how it ended (an outcome comment, ``kodo:failed``), and
the sink drains what is outstanding before this returns. Everything before (the trust decision, the lease,
the progress comment, which run, the goal) is ``handle``'s; this module only runs what was prepared.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from kodo_bot.engine import events as ev
from kodo_bot.engine.events import EventSink
from kodo_bot.engine.log import read_events
from kodo_bot.engine.models import CostReport, Outcome
from kodo_bot.errors import KodoError
from kodo_bot.github._run_plan import RunPlan
from kodo_bot.github.client import CommentInfo, GitHubClient, PullInfo
from kodo_bot.github.comments import markers_by_slot
from kodo_bot.github.config import KodoConfig
from kodo_bot.github.git_remote import GitRemote
from kodo_bot.github.goal_text import GoalText
from kodo_bot.github.lease import own_comments
from kodo_bot.github.markers import Marker
from kodo_bot.github.progress import ProgressState
from kodo_bot.github.run_inputs import RunOverrides, run_settings
from kodo_bot.github.sink import GitHubSink, IssueRun

if TYPE_CHECKING:
    from kodo_bot.engine.launch import Backends


@dataclass(frozen=True)
class Started:
    """What is in place once the progress comment is up."""

    plan: RunPlan
    progress: ProgressState
    comment: CommentInfo


@dataclass(frozen=True)
class Job:
    """Everything decided before the run."""

    started: Started
    #: what the sink works on; its branch is the new run's, until a resumed or continued run's replaces it
    run: IssueRun
    goal: GoalText
    config: KodoConfig
    overrides: RunOverrides
    #: the bot's comments on the issue (their marker slots are edited, not posted again)
    own: list[CommentInfo]
    #: the PR a follow-up is about, as its trigger read it a moment ago
    pull: PullInfo | None = None


@dataclass(frozen=True)
class Wiring:
    """How the run talks to GitHub and builds its backends."""

    client: GitHubClient
    remote: GitRemote
    backends: Callable[[], Backends]
    clock: Callable[[], datetime]
    extra_sinks: tuple[EventSink, ...] = ()


@dataclass(frozen=True)
class Ended:
    """The run's end as its closed sink knows it."""

    sink: GitHubSink
    #: why it failed, when it failed before the engine could say
    message: str = ""
    log_path: Path | None = None


@dataclass(frozen=True)
class _Branch:
    """The run's branch: a new one, or an earlier run's to continue, with its PR and the bot's comments."""

    name: str
    continuing: bool
    pull: PullInfo | None
    slots: dict[Marker, CommentInfo]

    def round_offset(self, run_id: str) -> int:
        """Verification rounds earlier runs posted on the PR: this run numbers its rounds after theirs."""
        return max((m.round or 0 for m in self.slots if m.kind == "verdicts" and m.run != run_id), default=0)

    def review_round(self, run_id: str) -> int:
        """A follow-up's number: earlier runs that reported their end here (the first run is round 0)."""
        return len({m.run for m in self.slots if m.kind in ("summary", "outcome") and m.run != run_id})


def _back_to_draft(client: GitHubClient, branch: _Branch) -> _Branch:
    """While kodo-bot works on feedback the PR is a draft again; acceptance marks it ready (as a first run's)."""
    if branch.pull is None or branch.pull.draft:
        return branch
    client.convert_to_draft(branch.pull)
    return replace(branch, pull=replace(branch.pull, draft=True))


def run_on_issue(job: Job, wiring: Wiring) -> Ended:
    """Run the engine to its end. A ``KodoError`` is reported on GitHub and returned as the message; any
    other exception is reported, then raised."""
    run, sink, message, log_path = job.run, None, "", None
    try:
        run = replace(run, branch=_choose_branch(job, wiring.remote))
        branch = _open_branch(job, wiring, run.branch)
        run = replace(
            run,
            round_offset=branch.round_offset(job.started.plan.run_id),
            review_round=branch.review_round(job.started.plan.run_id),
        )
        if run.followup is not None:
            branch = _back_to_draft(wiring.client, branch)
        sink = _sink(job, wiring, run, slots=branch.slots, pull=branch.pull)
        log_path = _drive(replace(job, run=run), wiring, branch, [sink, *wiring.extra_sinks])
    except Exception as exc:
        sink = sink or _sink(job, wiring, run, background=False)
        message = _report_failure(sink, exc, run.branch)
        if not isinstance(exc, KodoError):
            raise
    finally:
        if sink is not None:
            sink.close()
    return Ended(sink, message, log_path)


def _choose_branch(job: Job, remote: GitRemote) -> str:
    """Clone, then pick the branch: the resumed run's, an earlier run's on the remote, else a new one."""
    plan = job.started.plan
    remote.clone_or_fetch(plan.clone, job.run.base)
    if plan.resume:
        return plan.store.load(plan.run_id).branch
    return next(iter(remote.remote_branches(plan.clone, f"kodo/issue-{job.run.issue_number}-")), job.run.branch)


def _open_branch(job: Job, wiring: Wiring, name: str) -> _Branch:
    """Check the branch out; one already on the remote brings its PR and the bot's comments there."""
    client = wiring.client
    continuing = wiring.remote.track_branch(job.started.plan.clone, name)
    known = job.pull if job.pull is not None and job.pull.head_ref == name else None
    pull = (known or client.find_pull(name)) if continuing else None
    slots = markers_by_slot(job.own)
    if pull is not None:
        slots |= markers_by_slot(own_comments(client.comments(pull.number), job.started.comment.author))
    return _Branch(name, continuing, pull, slots)


def _sink(
    job: Job,
    wiring: Wiring,
    run: IssueRun,
    *,
    slots: dict[Marker, CommentInfo] | None = None,
    pull: PullInfo | None = None,
    background: bool = True,
) -> GitHubSink:
    started = job.started
    log = started.plan.store.events_path(started.plan.run_id)
    return GitHubSink(
        earlier=read_events(log) if started.plan.resume and log.exists() else None,
        client=wiring.client,
        remote=wiring.remote,
        clone=started.plan.clone,
        run=run,
        progress=started.progress,
        progress_comment=started.comment,
        slots=slots,
        pull=pull,
        clock=wiring.clock,
        background=background,
    )


def _drive(job: Job, wiring: Wiring, branch: _Branch, sinks: list[EventSink]) -> Path:
    """Start the engine run (or resume the dead one) and drive it to its end; returns its event log."""
    from kodo_bot.engine.launch import RunRequest, drive, resume_run, start_run  # slow imports: after the comment

    plan = job.started.plan
    if plan.resume:
        state = drive(resume_run(plan.store, plan.run_id, wiring.backends(), sinks))
    else:
        settings = run_settings(job.config, job.overrides, plan.clone)
        followup = job.run.followup
        request = RunRequest(
            goal=job.goal.text + (f"\n\n{followup.section(job.run.review_round)}" if followup else ""),
            review_points=followup.points if followup else (),
            goal_title=job.goal.title,
            project=plan.clone,
            settings=settings,
            state_dir=plan.store.state_dir,
            branch=branch.name,
            base=job.run.base,
            run_id=plan.run_id,
            continue_branch=branch.continuing,
        )
        state = drive(start_run(request, wiring.backends(), sinks))
    return plan.store.events_path(state.run_id)


def _report_failure(sink: GitHubSink, exc: Exception, branch: str) -> str:
    """The person waiting hears how it ended, whatever failed: an outcome comment, ``kodo:failed``."""
    reason = str(exc) + (f" ({exc.hint})" if isinstance(exc, KodoError) and exc.hint else "")
    if sink.state.outcome is None:
        sink.handle(
            ev.RunFinished(
                run_id=sink.state.run_id,
                outcome=Outcome.error,
                reason=reason,
                cycles=0,
                rounds=0,
                cost=CostReport(),
                duration_s=0.0,
                branch=branch,
            )
        )
    return reason
