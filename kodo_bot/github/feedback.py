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
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from kodo_bot.engine.team import format_validation_error
from kodo_bot.errors import UserError
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


def read_command(body: str, bot_logins: Iterable[str]) -> tuple[Command, str] | None:
    """What a comment asks of the bot: a ``/kodo`` command (``stop``, ``retry``, anything else is ``help``)
    or a mention ``@<bot login> <free text>``, with the rest of the text; None when it is not addressed to
    the bot. Quoted lines (``> ...``) and code blocks are someone else's words, never a command."""
    text = _own_words(body)
    if found := _COMMAND.search(text):
        word = (found.group(1) or "").lower()
        rest = found.group(2).strip()
        if word in ("stop", "retry"):
            return word, rest  # type: ignore[return-value]  # narrowed by the test above
        return "help", " ".join(x for x in (word, rest) if x)
    for login in bot_logins:
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


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _User(_Loose):
    login: str
    type: str = "User"


class _Repo(_Loose):
    full_name: str
    default_branch: str | None = None
    clone_url: str | None = None
    html_url: str | None = None

    def described(self) -> dict[str, Any]:
        return {"default_branch": self.default_branch, "clone_url": self.clone_url, "repo_html_url": self.html_url}


class _Ref(_Loose):
    ref: str
    sha: str
    repo: _Repo | None = None


class _Pull(_Loose):
    number: int
    state: str = "open"
    head: _Ref
    base: _Ref


class _Review(_Loose):
    id: int
    state: str
    body: str | None = None


class _ReviewEvent(_Loose):
    review: _Review
    pull_request: _Pull
    repository: _Repo
    sender: _User


class _Comment(_Loose):
    id: int
    body: str | None = None


class _Issue(_Loose):
    number: int
    pull_request: dict[str, Any] | None = None


class _CommentEvent(_Loose):
    issue: _Issue
    comment: _Comment
    repository: _Repo
    sender: _User


class _PullRef(_Loose):
    number: int


class _WorkflowRun(_Loose):
    id: int
    name: str | None = None
    event: str
    conclusion: str | None = None
    head_branch: str | None = None
    head_sha: str
    path: str | None = None
    pull_requests: list[_PullRef] = []


class _WorkflowRunEvent(_Loose):
    workflow_run: _WorkflowRun
    repository: _Repo
    sender: _User


class _App(_Loose):
    slug: str | None = None
    name: str | None = None


class _CheckSuite(_Loose):
    id: int
    conclusion: str | None = None
    head_branch: str | None = None
    head_sha: str
    app: _App | None = None
    pull_requests: list[_PullRef] = []


class _CheckSuiteEvent(_Loose):
    check_suite: _CheckSuite
    repository: _Repo
    sender: _User


def _validate(model: type[_Loose], event: WebhookEvent) -> Any:
    try:
        return model.model_validate(dict(event.payload))
    except ValidationError as exc:
        raise UserError(
            f"the {event.route} payload is not what GitHub sends:\n{format_validation_error(exc)}",
            hint="check that the event was delivered whole (GITHUB_EVENT_PATH points at GitHub's event file)",
        ) from exc


_feedback = Router()


@_feedback.on("pull_request_review.submitted")
def _review_submitted(event: WebhookEvent) -> FeedbackTrigger | NotForUs:
    p = _validate(_ReviewEvent, event)
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
    p = _validate(_CommentEvent, event)
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
    p = _validate(_WorkflowRunEvent, event)
    run = p.workflow_run
    issue = issue_of_branch(run.head_branch)
    if issue is None:
        return NotForUs(reason=f"workflow run {run.id} is not on a kodo-bot branch")
    if run.event not in CI_EVENTS:
        return NotForUs(reason=f"workflow run {run.id} was started by a {run.event} event, not by CI on a push")
    if run.conclusion not in (*CI_FAILED, "success"):
        return NotForUs(reason=f"workflow run {run.id} ended {run.conclusion or 'without a conclusion'}")
    return CiResultTrigger(
        repo=p.repository.full_name,
        **p.repository.described(),
        sender_login=p.sender.login,
        sender_type=p.sender.type,
        issue_number=issue,
        head_branch=run.head_branch,
        head_sha=run.head_sha,
        source="workflow_run",
        run_id=run.id,
        name=run.name or run.path or f"workflow run {run.id}",
        conclusion=run.conclusion,
        pr_numbers=tuple(pr.number for pr in run.pull_requests),
    )


@_feedback.on("check_suite.completed")
def _check_suite(event: WebhookEvent) -> FeedbackTrigger | NotForUs:
    p = _validate(_CheckSuiteEvent, event)
    suite = p.check_suite
    issue = issue_of_branch(suite.head_branch)
    if issue is None:
        return NotForUs(reason=f"check suite {suite.id} is not on a kodo-bot branch")
    app = suite.app.slug if suite.app and suite.app.slug else ""
    if app == "github-actions":
        return NotForUs(reason="GitHub Actions' check suites are read from their workflow_run events")
    if suite.conclusion not in (*CI_FAILED, "success"):
        return NotForUs(reason=f"check suite {suite.id} ended {suite.conclusion or 'without a conclusion'}")
    return CiResultTrigger(
        repo=p.repository.full_name,
        **p.repository.described(),
        sender_login=p.sender.login,
        sender_type=p.sender.type,
        issue_number=issue,
        head_branch=suite.head_branch,
        head_sha=suite.head_sha,
        source="check_suite",
        run_id=suite.id,
        name=(suite.app.name if suite.app else None) or app or f"check suite {suite.id}",
        conclusion=suite.conclusion,
        pr_numbers=tuple(pr.number for pr in suite.pull_requests),
    )


def _from_fork(pull: _Pull, repo: _Repo) -> bool:
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
