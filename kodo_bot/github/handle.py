"""The GitHub flow, performed once, in one place: a labelled issue in, a finished run (or a reply) out.

    trigger -> config (.github/kodo.yml) -> sender's permission -> trust decision
        refused: one polite comment, label removed, nothing started
    -> issue + comments -> lease (live: change nothing, exit `duplicate`; stale: take over)
    -> the claim ref (one atomic create; lost: change nothing, exit `duplicate`)
    -> progress comment + kodo:running  (the first thing a waiting person sees, before any slow step)
    -> goal text from trusted words -> clone -> engine run on kodo/issue-<N>-<slug>, the GitHubSink attached

Decisions are the pure functions of ``trust``, ``lease``, ``goal_text`` and ``config``; this module only
sequences them and performs the side effects. ``kodo-bot action`` and ``kodo-bot handle`` both end here.

A takeover of a stale lease continues the same branch: with the dead run's checkpoint on this machine, the
engine resumes it (same run id, nothing finished is redone); elsewhere, a new engine run continues the branch
(``RunRequest.continue_branch``). Either way the issue keeps its one progress comment (``_run_plan``).

Not here: reading argv, the environment or the event file (``cli``), the engine run once prepared
(``_engine_run``), and anything the sink does.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import SecretStr

if TYPE_CHECKING:
    from kodo_bot.engine.launch import Backends

from kodo_bot.engine import events as ev
from kodo_bot.engine.events import EventSink
from kodo_bot.engine.models import EXIT_BAD_INPUT, Outcome
from kodo_bot.errors import ConfigError
from kodo_bot.github import render
from kodo_bot.github._engine_run import Ended, Job, Started, Wiring, run_on_issue
from kodo_bot.github._run_plan import plan_run
from kodo_bot.github.client import CommentInfo, GitHubClient, IssueInfo, RepoInfo
from kodo_bot.github.config import (
    DEFAULT_CONFIG_PATH,
    LABEL_FAILED,
    LABEL_STOP,
    OUTCOME_LABELS,
    KodoConfig,
    parse_kodo_config,
)
from kodo_bot.github.context import LabelTrigger
from kodo_bot.github.followup import Followup
from kodo_bot.github.git_remote import GitRemote
from kodo_bot.github.goal_text import branch_name
from kodo_bot.github.lease import (
    LeaseCheck,
    acquire,
    has_markers,
    inspect_lease,
    own_comments,
    release_claim,
    take_claim,
)
from kodo_bot.github.markers import find_marker, find_taken, render_marker
from kodo_bot.github.records import PullDetails
from kodo_bot.github.run_inputs import RunOverrides, issue_goal
from kodo_bot.github.sink import IssueRun, utcnow
from kodo_bot.github.tokens import WORKFLOW_TOKEN_NOTE, TokenSource
from kodo_bot.github.trust import Ignore, Refuse, Start, decide_trigger, needs_permission


@dataclass(frozen=True)
class HandleOptions:
    #: where clones (and, inside them, runs' state) live on this runner; kept between jobs so that a run
    #: killed here can be resumed here
    work_root: Path
    runner: str = ""
    job_url: str | None = None
    #: the Actions artifact the run's log and HTML view are uploaded as (``KODO_ARTIFACT``)
    artifact: str | None = None
    #: names this attempt in markers of comments that belong to no run (refusals, duplicates)
    attempt_id: str = ""
    config_path: str = DEFAULT_CONFIG_PATH
    overrides: RunOverrides = RunOverrides()
    #: the trigger label, when the action's ``label`` input names one (else ``.github/kodo.yml``'s)
    label: str | None = None
    #: the bot's login when known (else asked of GitHub when needed)
    bot_login: str | None = None
    #: a trigger by hand (``kodo-bot handle``): the token's holder is the sender, and the label is added
    manual: bool = False
    heartbeat_s: float = 60.0
    #: how long the loser of a claim waits for the winner's progress comment before calling the claim orphaned
    claim_settle_s: float = 10.0
    retry_s: float = 5.0
    drain_s: float = 120.0
    write_retry_s: float = 60.0
    #: ``time.time()`` by which the job ends (``KODO_JOB_DEADLINE``); the drain stops before it
    deadline: float | None = None
    #: None: from the config (``progress_min_interval_s``)
    min_interval_s: float | None = None
    extra_sinks: tuple[EventSink, ...] = ()


@dataclass(frozen=True)
class Known:
    """What handling a follow-up (``feedback_flow``) read and decided already, so the run asks GitHub
    none of it again: the feedback, its sender's permission (judged there), the repository's settings, the
    issue as read a moment ago, and the pull request the feedback is about."""

    followup: Followup | None
    permission: str | None
    config: KodoConfig
    issue: IssueInfo
    pull: PullDetails | None = None


Status = Literal["ignored", "refused", "duplicate", "invalid_config", "finished"]


@dataclass
class HandleResult:
    status: Status
    message: str
    issue_number: int | None = None
    run_id: str | None = None
    outcome: Outcome | None = None
    pr_number: int | None = None
    pr_url: str | None = None
    progress_url: str | None = None
    finished: ev.RunFinished | None = None
    log_path: Path | None = None
    #: seconds from the start of handling to the progress comment being posted
    first_comment_s: float | None = None
    undelivered: list[str] = field(default_factory=list)
    #: what GitHub refused for good, each with what to change
    refusals: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        if self.status == "finished":
            return (self.outcome or Outcome.error).exit_code
        return EXIT_BAD_INPUT if self.status == "invalid_config" else 0


def handle_trigger(
    trigger: LabelTrigger,
    *,
    client: GitHubClient,
    token: SecretStr | TokenSource,
    backends: Callable[[], Backends],
    options: HandleOptions,
    clock: Callable[[], datetime] = utcnow,
    known: Known | None = None,
) -> HandleResult:
    """Handle one trigger to the end: a reply, or a whole run. GitHub refusing early raises ``GitHubError``.

    ``backends`` is called only once the progress comment is up: building them imports the agent and model
    SDKs, which takes longer than a waiting person should wait for the first sign of life. ``known`` (from
    ``feedback_flow``) makes the run a follow-up on the issue's branch and PR: with feedback, its goal gains
    the feedback's "Review round N" section and its verifiers answer each point.
    """
    began = time.monotonic()
    n = trigger.issue_number
    options = replace(options, attempt_id=options.attempt_id or f"attempt-{int(time.time())}")
    repo = _repo_info(client, trigger)
    followup = known.followup if known else None
    config, config_error = (known.config, None) if known else load_settings(client, options, repo.default_branch)
    if options.manual:
        trigger = trigger.model_copy(update={"label": config.label})
    decision: Start | Refuse | Ignore
    permission = known.permission if known else None
    if followup is not None and followup.kind == "ci":
        decision = Start(trigger=trigger)  # the repository's own CI, on the bot's own branch: nobody to trust
    elif known is not None:
        decision = decide_trigger(trigger, permission, config)  # the sender's permission is known already
    else:
        permission, decision = _decide(client, trigger, config, options)
    if (reply := _reply_instead(client, trigger, decision, config_error, options)) is not None:
        return reply

    held = _hold_issue(client, n, repo.default_branch, config, options, clock, known)
    if isinstance(held, HandleResult):
        return held
    found = _Found(trigger, held, permission, config, repo.default_branch, followup, known.pull if known else None)
    started = _first_word(found, client, options, clock, repo.full_name, _token_notes(token))
    result = HandleResult(
        "finished",
        "",
        n,
        run_id=started.plan.run_id,
        progress_url=started.comment.html_url,
        first_comment_s=time.monotonic() - began,
    )
    wiring = Wiring(client, GitRemote(repo.clone_url, token), backends, clock, options.extra_sinks)
    _conclude(result, run_on_issue(_job(found, started, client, options), wiring))
    return result


@dataclass(frozen=True)
class _Held:
    """The issue as this trigger found it, and the claim it won."""

    issue: IssueInfo
    comments: list[CommentInfo]
    own: list[CommentInfo]
    check: LeaseCheck
    claim: int


@dataclass(frozen=True)
class _Found:
    """What this trigger read before the run: the trigger, the issue and the claim it won, the sender's
    permission, the repository's settings and its default branch."""

    trigger: LabelTrigger
    held: _Held
    permission: str | None
    config: KodoConfig
    default_branch: str
    followup: Followup | None = None
    pull: PullDetails | None = None


def _hold_issue(
    client: GitHubClient,
    n: int,
    default_branch: str,
    config: KodoConfig,
    options: HandleOptions,
    clock: Callable[[], datetime],
    known: Known | None = None,
) -> _Held | HandleResult:
    """Read the lease, then take the claim (``lease``); a live run or a lost race is a ``duplicate``, and
    feedback an earlier run took in while it was live (its id in that run's progress comment) is done. The
    claim ref points at the PR's head when a follow-up knows it (any commit of the repository would do)."""

    def own_of(comments: list[CommentInfo]) -> list[CommentInfo]:
        return own_comments(comments, options.bot_login or (client.viewer_login() if has_markers(comments) else None))

    feedback_id = known.followup.id if known and known.followup else None
    issue, comments = known.issue if known else client.issue(n), client.comments(n)
    own = own_of(comments)
    check = inspect_lease(issue, own, now=clock(), stale_after_s=config.lease_stale_s)
    if check.state == "live":
        return _duplicate(n, check)
    if feedback_id and check.progress is not None and feedback_id in find_taken(check.progress.body):
        run = find_marker(check.progress.body, "progress")
        return HandleResult("ignored", f"run {run.run if run else '?'} already took {feedback_id} in", n)
    claim = take_claim(
        client,
        n,
        check,
        sha=known.pull.head_sha if known and known.pull else client.head_sha(default_branch),
        settle_s=options.claim_settle_s,
        reread=lambda: own_of(client.comments(n)),
    )
    if claim is None:
        return _duplicate(n, check)
    return _Held(issue, comments, own, check, claim)


def _repo_info(client: GitHubClient, trigger: LabelTrigger) -> RepoInfo:
    """The repository as the event describes it, or as GitHub does when the event did not say."""
    if trigger.default_branch and trigger.clone_url:
        return RepoInfo(trigger.repo, trigger.default_branch, trigger.clone_url, trigger.repo_html_url or "")
    return client.repo_info()


def _decide(
    client: GitHubClient, trigger: LabelTrigger, config: KodoConfig, options: HandleOptions
) -> tuple[str | None, Start | Refuse | Ignore]:
    """The sender's permission (asked only when it matters) and the trust decision."""
    if options.manual and not trigger.sender_login:
        # By hand with an App/Actions token: whoever holds a token for this repository is the operator.
        return None, Start(trigger=trigger)
    permission = client.permission(trigger.sender_login) if needs_permission(trigger, config) else None
    return permission, decide_trigger(trigger, permission, config)


def _reply_instead(
    client: GitHubClient,
    trigger: LabelTrigger,
    decision: Start | Refuse | Ignore,
    config_error: ConfigError | None,
    options: HandleOptions,
) -> HandleResult | None:
    """Ignore, refuse (one polite comment, the label off), or report broken settings; None: go on."""
    n = trigger.issue_number
    if isinstance(decision, Ignore):
        return HandleResult("ignored", decision.reason, n)
    if isinstance(decision, Refuse):
        client.create_comment(n, render.render_refusal(decision, run_id=options.attempt_id))
        if decision.remove_label:
            client.remove_label(n, trigger.label)
        return HandleResult("refused", decision.reason, n)
    if config_error is not None:
        client.create_comment(n, config_error_comment(config_error, options))
        client.add_labels(n, LABEL_FAILED)
        client.remove_label(n, trigger.label)
        return HandleResult("invalid_config", str(config_error), n)
    return None


def _duplicate(n: int, check: LeaseCheck) -> HandleResult:
    """Another run holds the issue, or won the race for it: change nothing, say so in the job's summary."""
    url = check.progress.html_url if check.progress and check.state == "live" else None
    holder = f"run {check.lease.run}" if check.state == "live" and check.lease else "another runner"
    return HandleResult("duplicate", f"{holder} holds issue #{n}; this trigger changed nothing", n, progress_url=url)


def manual_trigger(
    client: GitHubClient,
    number: int,
    *,
    label: str = "",
    sender: tuple[str, str] | None = None,
    issue: IssueInfo | None = None,
) -> LabelTrigger:
    """The issue (as just read, or read now) as if ``sender`` (login, account type) had just labelled it with
    ``label``: by default the holder of the token (``kodo-bot handle --issue N``); a follow-up names the
    person who asked for it."""
    issue = issue or client.issue(number)
    login, kind = sender or (client.viewer_login() or "", "User")
    return LabelTrigger(
        repo=client.repo_name,
        issue_number=number,
        label=label,
        sender_login=login,
        sender_type=kind,
        is_pull_request=issue.is_pull_request,
        issue_title=issue.title,
        issue_body=issue.body,
        issue_state="closed" if issue.state == "closed" else "open",
        issue_author=issue.author,
    )


def _token_notes(token: SecretStr | TokenSource) -> tuple[str, ...]:
    """What the progress comment says about the token, once: the workflow's own starts no CI."""
    return (f"warning: {WORKFLOW_TOKEN_NOTE}",) if isinstance(token, TokenSource) and token.kind == "workflow" else ()


def _first_word(
    found: _Found,
    client: GitHubClient,
    options: HandleOptions,
    clock: Callable[[], datetime],
    repo: str,
    notes: tuple[str, ...] = (),
) -> Started:
    """Which run, then the first sign of life: the progress comment (the lease) and ``kodo:running``."""
    held, n = found.held, found.trigger.issue_number
    plan = plan_run(options.work_root, repo, n, held.check)
    progress = plan.progress(n, options.job_url)
    progress = progress.model_copy(update={"claim": held.claim, "notices": (*notes, *progress.notices)})
    body = render.render_progress(progress, now=clock(), runner=options.runner)
    comment = acquire(
        client,
        n,
        body,
        held.check.progress if held.check.state == "stale" else None,
        extra_labels=(found.trigger.label,) if options.manual else (),
    )
    client.pace()  # the first word is out: from here on, GitHub's pacing for bots
    release_claim(client, n, held.claim - 1)
    for label in _earlier_outcomes(held.issue.labels):
        client.remove_label(n, label)  # an earlier run's end no longer describes the issue once this one works
    return Started(plan, progress, comment)


def _job(found: _Found, started: Started, client: GitHubClient, options: HandleOptions) -> Job:
    """The goal from trusted words, and what the sink works on."""
    held, config = found.held, found.config
    goal = issue_goal(client, held.issue, held.comments, held.own, found.trigger, found.permission, config)
    n = held.issue.number
    run = IssueRun(
        issue_number=n,
        branch=branch_name(n, held.issue.title),
        base=found.default_branch,
        title=goal.title,
        goal=goal.text,
        trigger_label=config.label,
        runner=options.runner,
        job_url=options.job_url,
        artifact=options.artifact,
        min_interval_s=config.progress_min_interval_s if options.min_interval_s is None else options.min_interval_s,
        heartbeat_s=min(options.heartbeat_s, config.lease_stale_s / 3),
        retry_s=options.retry_s,
        drain_s=options.drain_s,
        write_retry_s=options.write_retry_s,
        deadline=options.deadline,
        followup=found.followup,
        trusted_bots=config.trusted_bots,
    )
    return Job(started, run, goal, config, options.overrides, held.own, found.pull)


def _earlier_outcomes(labels: tuple[str, ...]) -> list[str]:
    """The outcome labels an earlier run left on the issue (GitHub compares labels ignoring case), and a stop
    request that came too late for it."""
    outcomes = {label.lower() for label in (*OUTCOME_LABELS, LABEL_STOP)}
    return [label for label in labels if label.lower() in outcomes]


def _conclude(result: HandleResult, ended: Ended) -> None:
    sink = ended.sink
    result.message, result.log_path = ended.message, ended.log_path
    result.finished = sink.finished
    result.outcome = sink.state.outcome
    result.run_id = sink.state.run_id
    result.undelivered = sink.undelivered
    result.refusals = sink.refusals
    if sink.pull is not None:
        result.pr_number, result.pr_url = sink.pull.number, sink.pull.html_url
    if not result.message and sink.finished is not None:
        result.message = sink.finished.reason


def load_settings(client: GitHubClient, options: HandleOptions, ref: str) -> tuple[KodoConfig, ConfigError | None]:
    """The repository's settings (the action's label wins); an invalid file yields the defaults, to decide
    trust with, and the error."""
    path = options.config_path
    try:
        config, error = parse_kodo_config(client.file_text(path, ref=ref), source=path), None
    except ConfigError as exc:
        config, error = KodoConfig(), exc
    return (config.model_copy(update={"label": options.label}) if options.label else config), error


def config_error_comment(error: ConfigError, options: HandleOptions) -> str:
    hint = f"\n\n{error.hint}" if error.hint else ""
    return (
        f"{render_marker(options.attempt_id or 'config', 'outcome')}\n"
        f"kodo-bot did not start: `{options.config_path}` on the default branch is invalid.\n\n"
        f"```\n{error}\n```{hint}\n\n"
        "**What to do:** fix the file on the default branch, then add the label again. "
        "I removed it and labelled the issue `kodo:failed`."
    )
