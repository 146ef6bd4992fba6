"""After the pull request opens: what a review, a comment addressed to the bot, or the repository's CI failing
does. Performed once, in one place, like ``handle`` for a label:

    feedback trigger -> the bot's own? ignored -> the sender may steer (write access, or a trusted bot)?
        else ignored, without a word (their text never reaches a prompt)
    -> the PR and issue it is about: kodo-bot's? open? else ignored, or one clear comment and no run
    -> /kodo help: a reply listing the commands      /kodo stop: the live run is asked to stop
    -> /kodo retry, a review, a mention, a CI failure: a follow-up run on the same branch and PR, through
       ``handle_trigger`` (same lease, claim and progress comment), whose goal is the issue's plus a
       "Review round N" section, and whose verifiers answer each point

A follow-up that finds a run live on the issue leaves its trigger acknowledged (a 👀 reaction) and changes
nothing else. Not here: reading payloads (``feedback``), what is read from GitHub for the goal
(``followup``), and anything the run does once started.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import SecretStr

from kodo_bot.github.client import GitHubClient, IssueInfo, RepoInfo
from kodo_bot.github.config import LABEL_ACCEPTED, LABEL_RUNNING, LABEL_STOP, KodoConfig
from kodo_bot.github.feedback import (
    CiResultTrigger,
    CommentTrigger,
    FeedbackTrigger,
    ReviewTrigger,
    issue_of_branch,
    read_command,
)
from kodo_bot.github.followup import Followup, from_ci, from_mention, from_review
from kodo_bot.github.handle import (
    HandleOptions,
    HandleResult,
    Known,
    config_error_comment,
    handle_trigger,
    load_settings,
    manual_trigger,
)
from kodo_bot.github.lease import inspect_lease, latest_progress, own_comments
from kodo_bot.github.markers import find_marker, render_marker
from kodo_bot.github.records import PullDetails
from kodo_bot.github.render import with_ci_result
from kodo_bot.github.sink import utcnow
from kodo_bot.github.tokens import ACTIONS_BOT_LOGIN, TokenSource
from kodo_bot.github.trust import is_bot, is_trusted_commenter, same_account

if TYPE_CHECKING:
    from kodo_bot.engine.launch import Backends

#: outcomes ``/kodo retry`` continues (an accepted or live run has nothing to retry)
RETRYABLE = ("needs_human", "max_cycles", "budget_exhausted", "error")

HELP = """\
kodo-bot takes these commands from people with write access, on this pull request or its issue:

- `/kodo stop`: the live run stops at its next cycle end (outcome `stopped`; it can be continued)
- `/kodo retry`: continue a run that ended `needs_human`, `max_cycles`, `budget_exhausted` or `error`
- `@{bot} <what to do>`: a follow-up on the same branch and pull request
- a review with **Request changes**, or a **Comment** review with inline comments: a follow-up that answers
  every comment in its thread once verified
"""


@dataclass(frozen=True)
class _Target:
    """The issue and pull request a trigger is about."""

    issue: int
    pull: PullDetails | None


def handle_feedback(
    trigger: FeedbackTrigger,
    *,
    client: GitHubClient,
    token: SecretStr | TokenSource,
    backends: Callable[[], Backends],
    options: HandleOptions,
    clock: Callable[[], datetime] = utcnow,
) -> HandleResult:
    """Handle one feedback trigger to its end: nothing, a reply, a stop request, or a whole follow-up run."""
    bot = options.bot_login or client.viewer_login() or ACTIONS_BOT_LOGIN
    number = _number(trigger)
    if isinstance(trigger, CiResultTrigger):
        return _ci(trigger, client, token, backends, options, clock, bot)
    if same_account(trigger.sender_login, bot):
        return HandleResult("ignored", "the bot's own activity", number)
    command = None
    if isinstance(trigger, CommentTrigger):
        command = read_command(trigger.body, bot)
        if command is None:
            return HandleResult("ignored", "the comment is not addressed to the bot", number)
    repo = _repo_info(client, trigger)
    config, config_error = load_settings(client, options, repo.default_branch)
    permission = None if is_bot(trigger.sender_login, trigger.sender_type) else client.permission(trigger.sender_login)
    if not is_trusted_commenter(trigger.sender_login, trigger.sender_type, permission, config):
        return HandleResult("ignored", f"{trigger.sender_login} may not steer the bot here", number)
    target = _target(client, trigger, bot)
    if isinstance(target, HandleResult):
        return target
    if config_error is not None:
        client.create_comment(target.issue, config_error_comment(config_error, options))
        return HandleResult("invalid_config", str(config_error), target.issue)
    run = _RunFollowup(client, token, backends, options, clock, config, permission, trigger, target, bot)
    if isinstance(trigger, CommentTrigger) and command is not None:
        word, text = command
        if word == "help":
            client.create_comment(number, HELP.format(bot=bot.removesuffix("[bot]")))
            return HandleResult("ignored", "answered with the list of commands", target.issue)
        if word == "stop":
            return _stop(client, trigger, target, config)
        if word == "retry":
            return run.retry()
        return run.follow(from_mention(trigger.comment_id, trigger.sender_login, text), ack=trigger.comment_id)
    assert isinstance(trigger, ReviewTrigger)  # CI went its own way above, comments just now
    return run.follow(_review_followup(client, trigger))


def _ci(
    trigger: CiResultTrigger,
    client: GitHubClient,
    token: SecretStr | TokenSource,
    backends: Callable[[], Backends],
    options: HandleOptions,
    clock: Callable[[], datetime],
    bot: str,
) -> HandleResult:
    """The repository's own CI failed on the bot's branch. Its sender is whoever pushed (often the bot
    itself), so no person's trust is at stake: the workflow is the repository's own, and the branch is the
    bot's (checked against the PR)."""
    repo = _repo_info(client, trigger)
    config, config_error = load_settings(client, options, repo.default_branch)
    target = _target(client, trigger, bot)
    if isinstance(target, HandleResult):
        return target
    if config_error is not None:
        return HandleResult("invalid_config", str(config_error), target.issue)
    if trigger.passed:
        return _ci_passed(client, trigger, target, bot)
    return _RunFollowup(client, token, backends, options, clock, config, None, trigger, target, bot).ci(trigger)


def _ci_passed(client: GitHubClient, trigger: CiResultTrigger, target: _Target, bot: str) -> HandleResult:
    """A green CI on the PR's head shows in the bot's latest summary there (one line per workflow, kept up to
    date), so a reviewer sees the repository's own checks beside kodo-bot's."""
    pull = target.pull
    if pull is None or pull.head_sha != trigger.head_sha:
        return HandleResult("ignored", "the CI run is not on the pull request's head any more", target.issue)
    own = own_comments(client.comments(pull.number), bot)
    summary = next((c for c in reversed(own) if find_marker(c.body, "summary")), None)
    if summary is None:
        return HandleResult("ignored", f"{trigger.name} passed; no summary to show it in yet", target.issue)
    client.edit_comment(summary.id, with_ci_result(summary.body, trigger.name, trigger.head_sha, passed=True))
    return HandleResult("ignored", f"{trigger.name} passed on {trigger.head_sha[:12]}: shown in the summary")


def _repo_info(client: GitHubClient, trigger: FeedbackTrigger) -> RepoInfo:
    """The repository as the payload describes it, or as GitHub does when the payload did not say."""
    if trigger.default_branch and trigger.clone_url:
        return RepoInfo(trigger.repo, trigger.default_branch, trigger.clone_url, trigger.repo_html_url or "")
    return client.repo_info()


def _number(trigger: FeedbackTrigger) -> int:
    if isinstance(trigger, CommentTrigger):
        return trigger.number
    return trigger.pr_number if isinstance(trigger, ReviewTrigger) else trigger.issue_number


def _target(client: GitHubClient, trigger: FeedbackTrigger, bot: str) -> _Target | HandleResult:
    """The issue and PR, when they are kodo-bot's and open; else why not (a clear comment when it matters)."""
    if isinstance(trigger, CommentTrigger) and not trigger.is_pull_request:
        return _Target(trigger.number, None)
    if isinstance(trigger, CommentTrigger):
        pr_number = trigger.number
    elif isinstance(trigger, ReviewTrigger):
        pr_number = trigger.pr_number
    else:
        found = trigger.pr_numbers[0] if trigger.pr_numbers else None
        pull_info = client.find_pull(trigger.head_branch) if found is None else None
        pr_number = found or (pull_info.number if pull_info else 0)
        if not pr_number:
            return HandleResult("ignored", f"no open pull request has the branch {trigger.head_branch}")
    pull = client.pull(pr_number)
    issue = issue_of_branch(pull.head_ref)
    if issue is None or not same_account(pull.author, bot) or pull.head_repo != client.repo_name:
        return HandleResult("ignored", f"pull request #{pr_number} is not kodo-bot's", pr_number)
    if pull.state != "open" or not pull.head_repo:
        why = "was merged" if pull.merged else "is closed" if pull.state != "open" else "lost its branch"
        client.create_comment(
            pr_number,
            f"{render_marker(f'pr-{pr_number}', 'refused')}\nkodo-bot did not start: this pull request {why}. "
            f"Reopen it (or label issue #{issue} again for a fresh branch) to have kodo-bot work on it.",
        )
        return HandleResult("refused", f"pull request #{pr_number} {why}", issue)
    return _Target(issue, pull)


def _review_followup(client: GitHubClient, trigger: ReviewTrigger) -> Followup:
    comments, total = client.review_comments(trigger.pr_number, trigger.review_id)
    return from_review(trigger.review_id, trigger.sender_login, trigger.body, comments, total)


def _stop(client: GitHubClient, trigger: CommentTrigger, target: _Target, config: KodoConfig) -> HandleResult:
    issue = client.issue(target.issue)
    if LABEL_RUNNING not in issue.labels:
        client.create_comment(trigger.number, "kodo-bot: no run is working on this right now; nothing to stop.")
        return HandleResult("ignored", "no live run to stop", target.issue)
    client.react("issue_comment", trigger.comment_id)
    client.add_labels(target.issue, LABEL_STOP)
    return HandleResult("ignored", f"asked the live run on issue #{target.issue} to stop", target.issue)


@dataclass(frozen=True)
class _RunFollowup:
    """A follow-up run through ``handle_trigger``, as if a writer had labelled the issue again."""

    client: GitHubClient
    token: SecretStr | TokenSource
    backends: Callable[[], Backends]
    options: HandleOptions
    clock: Callable[[], datetime]
    config: KodoConfig
    permission: str | None
    trigger: FeedbackTrigger
    target: _Target
    bot: str

    def follow(self, followup: Followup, *, ack: int | None = None) -> HandleResult:
        if ack is not None:
            self.client.react("issue_comment", ack)  # the first sign it was heard, before anything slow
        # a live run on the issue makes this a duplicate (handle_trigger): that run reads the feedback after
        # its next commit and takes it in; one that took it in already is named in its progress comment
        return self._start(followup)

    def retry(self) -> HandleResult:
        assert isinstance(self.trigger, CommentTrigger)
        self.client.react("issue_comment", self.trigger.comment_id)
        issue = self.client.issue(self.target.issue)
        if LABEL_ACCEPTED in issue.labels:
            self.client.create_comment(
                self.trigger.number,
                f"kodo-bot: the last run was accepted, so there is nothing to retry. To ask for more, write "
                f"`@{self.bot.removesuffix('[bot]')} <what to do>` or review the pull request.",
            )
            return HandleResult("ignored", "the last run was accepted: nothing to retry", self.target.issue)
        return self._start(None, issue)

    def ci(self, trigger: CiResultTrigger) -> HandleResult:
        pull = self.target.pull
        if pull is None or pull.head_sha != trigger.head_sha:
            return HandleResult("ignored", "the CI run is not on the pull request's head any more", self.target.issue)
        done = self._ci_rounds(pull.number)
        if done >= self.config.ci_fix_rounds:
            return HandleResult("ignored", f"CI fix rounds used up ({done} of {self.config.ci_fix_rounds})")
        if self.client.workflow_conclusion(pull.base_ref, trigger.name) in ("failure", "timed_out"):
            self.client.create_comment(
                pull.number,
                f"{render_marker(f'ci-{trigger.run_id}', 'outcome')}\nkodo-bot: `{trigger.name}` fails on "
                f"`{pull.base_ref}` too, so this pull request did not break it; kodo-bot leaves it alone.",
            )
            return HandleResult("ignored", f"{trigger.name} fails on {pull.base_ref} too", self.target.issue)
        if self._live():
            return HandleResult("duplicate", "a run is live on this issue; CI is read again after it")
        jobs = [(j, *self.client.job_log_tail(j.id)) for j in self.client.failed_jobs(trigger.run_id)]
        self.client.create_comment(
            pull.number,
            f"{render_marker(f'ci-{trigger.run_id}', 'ci')}\nkodo-bot: `{trigger.name}` failed on "
            f"{pull.head_sha[:12]}; working on a fix (CI fix round {done + 1} of {self.config.ci_fix_rounds}).",
        )
        return self._start(from_ci(trigger.name, trigger.run_id, jobs))

    def _ci_rounds(self, pr: int) -> int:
        """CI fixes already started on this PR: the bot's own ``ci`` notes (a person can copy a marker, not
        an author)."""
        own = own_comments(self.client.comments(pr), self.bot)
        return sum(1 for c in own if (m := find_marker(c.body, "ci")) is not None and m.run.startswith("ci-"))

    def _live(self) -> bool:
        """Checked before a CI fix's note is posted (which uses up a round); other follow-ups let
        ``handle_trigger`` find the live run."""
        issue = self.client.issue(self.target.issue)
        own = own_comments(self.client.comments(self.target.issue), self.bot)
        check = inspect_lease(issue, own, now=self.clock(), stale_after_s=self.config.lease_stale_s)
        return check.state == "live" or (latest_progress(own) is None and LABEL_RUNNING in issue.labels)

    def _start(self, followup: Followup | None, issue: IssueInfo | None = None) -> HandleResult:
        # CI has no person behind it: the run is started as by the bot (trust was decided by feedback_flow)
        sender = (self.trigger.sender_login, self.trigger.sender_type)
        if isinstance(self.trigger, CiResultTrigger):
            sender = (self.bot, "Bot")
        described = {k: getattr(self.trigger, k) for k in ("default_branch", "clone_url", "repo_html_url")}
        issue = issue or self.client.issue(self.target.issue)
        as_label = manual_trigger(self.client, issue.number, label=self.config.label, sender=sender, issue=issue)
        return handle_trigger(
            as_label.model_copy(update=described),
            client=self.client,
            token=self.token,
            backends=self.backends,
            options=self.options,
            clock=self.clock,
            known=Known(followup, self.permission, self.config, issue, self.target.pull),
        )
