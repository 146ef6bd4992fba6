"""The events that steer work after the pull request opens, as typed triggers: a review, a comment addressed
to the bot (a mention or a ``/kodo`` command), and the repository's own CI failing on the bot's branch.

Like ``context``, this only reads payloads. Whether the sender may steer the bot is ``trust``'s decision and
whether the PR or issue is the bot's is decided against GitHub (its comments, its PR), so a trigger here only
names what it is about: the issue number comes from the branch name kodo-bot gives its work
(``kodo/issue-<N>-<slug>``), and a payload about any other branch is ignored at once, without a request.

Deliberately not triggers: inline review comments one by one (``pull_request_review_comment``): a review's
comments arrive with its ``pull_request_review.submitted`` event and become one follow-up, never one run per
comment; edited and deleted comments; approvals without a body; check suites of GitHub Actions itself (its
``workflow_run`` event says the same with the job logs at hand).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from kodo_bot.github._payload import Loose, Repo, User, validate_payload
from kodo_bot.github.router import Router, WebhookEvent

#: the branches kodo-bot works on: ``kodo/issue-<N>-<slug>``
_BOT_BRANCH = re.compile(r"^kodo/issue-(\d+)-[A-Za-z0-9._-]+$")
#: ``/kodo <word> [rest]`` at the start of a line
_COMMAND = re.compile(r"^/kodo(?:[ \t]+(\S+))?[ \t]*(.*)$", re.MULTILINE)
#: a CI run on a pull request's branch, not one kodo-bot's own workflow or a person's command started
CI_EVENTS = frozenset({"push", "pull_request", "pull_request_target", "merge_group"})
#: conclusions that mean the repository's CI found something wrong (``cancelled``/``skipped`` do not)
CI_FAILED = frozenset({"failure", "timed_out", "startup_failure"})

Command = Literal["stop", "retry", "help", "mention"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _Sender(_Frozen):
    repo: str
    sender_login: str
    #: GitHub's account type: ``User``, ``Bot`` or ``Organization``
    sender_type: str = "User"
    #: the repository as the payload describes it (saves asking GitHub); None when it did not say
    default_branch: str | None = None
    clone_url: str | None = None
    repo_html_url: str | None = None


class ReviewTrigger(_Sender):
    """A review submitted on a pull request: "Request changes", or "Comment" with a body or inline comments
    (which one cannot tell from the payload: the flow asks for the review's comments)."""

    kind: Literal["review"] = "review"
    pr_number: int
    #: the issue the branch works on
    issue_number: int
    head_branch: str
    head_sha: str
    review_id: int
    state: Literal["changes_requested", "commented"]
    body: str = ""


class CommentTrigger(_Sender):
    """A comment on the issue or its pull request that may be addressed to the bot. ``command`` is read
    against the bot's login later (``read_command``): the payload does not know who the bot is."""

    kind: Literal["comment"] = "comment"
    #: the issue or pull request the comment is on
    number: int
    is_pull_request: bool
    comment_id: int
    body: str
    #: for a comment on a pull request: the issue its branch works on, when the payload names the branch
    issue_number: int | None = None


class CiResultTrigger(_Sender):
    """The repository's own CI finished on the head of a branch kodo-bot works on: failed (a fix follow-up)
    or passed (the summary says so)."""

    kind: Literal["ci"] = "ci"
    issue_number: int
    head_branch: str
    head_sha: str
    source: Literal["workflow_run", "check_suite"]
    #: the workflow run's id, or the check suite's
    run_id: int
    name: str
    conclusion: str
    pr_numbers: tuple[int, ...] = ()

    @property
    def passed(self) -> bool:
        return self.conclusion == "success"


class NotForUs(_Frozen):
    """A feedback event kodo-bot does not act on, and why (printed by ``kodo-bot action``)."""

    reason: str


FeedbackTrigger = ReviewTrigger | CommentTrigger | CiResultTrigger


def issue_of_branch(branch: str | None) -> int | None:
    """The issue a kodo-bot branch works on, or None for any other branch."""
    found = _BOT_BRANCH.match(branch or "")
    return int(found.group(1)) if found else None


def read_command(body: str, bot: str) -> tuple[Command, str] | None:
    """What a comment asks of the bot (login ``bot``): a ``/kodo`` command (``stop``, ``retry``, anything
    else is ``help``) or a mention, ``@name[bot]`` or ``@name``, with the rest of the text; None when it is
    not addressed to the bot. Quoted lines (``> ...``) and code blocks are someone else's words, never a
    command."""
    text = _own_words(body)
    if found := _COMMAND.search(text):
        word = (found.group(1) or "").lower()
        rest = found.group(2).strip()
        if word in ("stop", "retry"):
            return word, rest  # type: ignore[return-value]  # narrowed by the test above
        return "help", " ".join(x for x in (word, rest) if x)
    for login in dict.fromkeys((bot, bot.removesuffix("[bot]"))):
        mention = re.compile(rf"(?<![\w/-])@{re.escape(login)}(?![\w-])", re.IGNORECASE)
        if mention.search(text):
            return "mention", mention.sub("", text, count=1).strip()
    return None


def _own_words(body: str) -> str:
    """The comment without quoted lines and fenced code."""
    kept, fenced = [], False
    for line in (body or "").splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if not fenced and not line.lstrip().startswith(">"):
            kept.append(line)
    return "\n".join(kept)


# -- the payload subsets read: extra fields are GitHub's business, missing ones are an error ------------


class _Ref(Loose):
    ref: str
    sha: str
    repo: Repo | None = None


class _Pull(Loose):
    number: int
    state: str = "open"
    head: _Ref
    base: _Ref


class _Review(Loose):
    id: int
    state: str
    body: str | None = None


class _ReviewEvent(Loose):
    review: _Review
    pull_request: _Pull
    repository: Repo
    sender: User


class _Comment(Loose):
    id: int
    body: str | None = None


class _Issue(Loose):
    number: int
    pull_request: dict[str, Any] | None = None


class _CommentEvent(Loose):
    issue: _Issue
    comment: _Comment
    repository: Repo
    sender: User


class _PullRef(Loose):
    number: int


class _WorkflowRun(Loose):
    id: int
    name: str | None = None
    event: str
    conclusion: str | None = None
    head_branch: str | None = None
    head_sha: str
    path: str | None = None
    pull_requests: list[_PullRef] = []


class _WorkflowRunEvent(Loose):
    workflow_run: _WorkflowRun
    repository: Repo
    sender: User


class _App(Loose):
    slug: str | None = None
    name: str | None = None


class _CheckSuite(Loose):
    id: int
    conclusion: str | None = None
    head_branch: str | None = None
    head_sha: str
    app: _App | None = None
    pull_requests: list[_PullRef] = []


class _CheckSuiteEvent(Loose):
    check_suite: _CheckSuite
    repository: Repo
    sender: User


_feedback = Router()


@_feedback.on("pull_request_review.submitted")
def _review_submitted(event: WebhookEvent) -> FeedbackTrigger | NotForUs:
    p = validate_payload(_ReviewEvent, event)
    pull, review = p.pull_request, p.review
    issue = issue_of_branch(pull.head.ref)
    if issue is None or _from_fork(pull, p.repository):
        return NotForUs(reason=f"pull request #{pull.number} is not on a kodo-bot branch")
    state = review.state.lower()
    if state not in ("changes_requested", "commented"):
        return NotForUs(reason=f"review {review.id} is {state}: only requested changes and comments steer the work")
    return ReviewTrigger(
        repo=p.repository.full_name,
        **p.repository.described(),
        sender_login=p.sender.login,
        sender_type=p.sender.type,
        pr_number=pull.number,
        issue_number=issue,
        head_branch=pull.head.ref,
        head_sha=pull.head.sha,
        review_id=review.id,
        state=state,
        body=review.body or "",
    )


@_feedback.on("pull_request_review_comment")
def _review_comment(event: WebhookEvent) -> NotForUs:
    return NotForUs(reason="an inline comment is taken with its review (pull_request_review.submitted)")


@_feedback.on("issue_comment.created")
def _comment_created(event: WebhookEvent) -> CommentTrigger:
    p = validate_payload(_CommentEvent, event)
    return CommentTrigger(
        repo=p.repository.full_name,
        **p.repository.described(),
        sender_login=p.sender.login,
        sender_type=p.sender.type,
        number=p.issue.number,
        is_pull_request=p.issue.pull_request is not None,
        comment_id=p.comment.id,
        body=p.comment.body or "",
    )


@_feedback.on("workflow_run.completed")
def _workflow_run(event: WebhookEvent) -> FeedbackTrigger | NotForUs:
    p = validate_payload(_WorkflowRunEvent, event)
    run = p.workflow_run
    issue = issue_of_branch(run.head_branch)
    if issue is None:
        return NotForUs(reason=f"workflow run {run.id} is not on a kodo-bot branch")
    if run.event not in CI_EVENTS:
        return NotForUs(reason=f"workflow run {run.id} was started by a {run.event} event, not by CI on a push")
    if run.conclusion not in (*CI_FAILED, "success"):
        return NotForUs(reason=f"workflow run {run.id} ended {run.conclusion or 'without a conclusion'}")
    name = run.name or run.path or f"workflow run {run.id}"
    return _ci_result(p, issue, "workflow_run", run, name)


@_feedback.on("check_suite.completed")
def _check_suite(event: WebhookEvent) -> FeedbackTrigger | NotForUs:
    p = validate_payload(_CheckSuiteEvent, event)
    suite = p.check_suite
    issue = issue_of_branch(suite.head_branch)
    if issue is None:
        return NotForUs(reason=f"check suite {suite.id} is not on a kodo-bot branch")
    app = suite.app.slug if suite.app and suite.app.slug else ""
    if app == "github-actions":
        return NotForUs(reason="GitHub Actions' check suites are read from their workflow_run events")
    if suite.conclusion not in (*CI_FAILED, "success"):
        return NotForUs(reason=f"check suite {suite.id} ended {suite.conclusion or 'without a conclusion'}")
    name = (suite.app.name if suite.app else None) or app or f"check suite {suite.id}"
    return _ci_result(p, issue, "check_suite", suite, name)


def _ci_result(
    p: _WorkflowRunEvent | _CheckSuiteEvent,
    issue: int,
    source: Literal["workflow_run", "check_suite"],
    ran: _WorkflowRun | _CheckSuite,
    name: str,
) -> CiResultTrigger:
    return CiResultTrigger(
        repo=p.repository.full_name,
        **p.repository.described(),
        sender_login=p.sender.login,
        sender_type=p.sender.type,
        issue_number=issue,
        head_branch=ran.head_branch or "",
        head_sha=ran.head_sha,
        source=source,
        run_id=ran.id,
        name=name,
        conclusion=ran.conclusion or "",
        pr_numbers=tuple(pr.number for pr in ran.pull_requests),
    )


def _from_fork(pull: _Pull, repo: Repo) -> bool:
    return pull.head.repo is not None and pull.head.repo.full_name != repo.full_name


FEEDBACK_EVENTS = frozenset(
    {"pull_request_review", "pull_request_review_comment", "issue_comment", "workflow_run", "check_suite"}
)


def parse_feedback(event_name: str, payload: Mapping[str, Any]) -> FeedbackTrigger | NotForUs | None:
    """The typed meaning of a feedback event, or None for an event that is not one (``context`` reads it)."""
    if event_name not in FEEDBACK_EVENTS:
        return None
    results = _feedback.dispatch(event_name, payload)
    if not results:
        action = payload.get("action")
        return NotForUs(reason=f"{event_name}.{action} does not steer the work")
    first: FeedbackTrigger | NotForUs = results[0]
    return first
