"""The emulator's state, as plain records.

These are the facts GitHub keeps (who, what, when); everything GitHub derives from them (URLs, counts,
head SHAs, combined status) is computed at render time, so the records never disagree with the bare
git repository behind each repo. Records are mutable inside the store and copied on the way out.
"""

from __future__ import annotations

import base64
import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

#: Collaborator roles, weakest first. GitHub's REST ``permission`` field folds ``maintain`` into
#: ``write`` and ``triage`` into ``read``; ``role_name`` keeps the real role (see ``legacy_permission``).
ROLES = ("none", "read", "triage", "write", "maintain", "admin")

#: Token permission categories (GitHub App names). ``metadata`` is always granted.
CATEGORIES = ("metadata", "issues", "pull_requests", "contents", "statuses", "checks", "actions", "administration")


def role_at_least(role: str, wanted: str) -> bool:
    return ROLES.index(role) >= ROLES.index(wanted)


def legacy_permission(role: str) -> str:
    """The value of the ``permission`` field of ``GET .../collaborators/{u}/permission``."""
    return {"maintain": "write", "triage": "read"}.get(role, role)


def node_id(kind: str, ident: int) -> str:
    """GitHub's legacy global node id: base64 of ``0<len>:<Type><id>`` (e.g. ``MDQ6VXNlcjE=``)."""
    return base64.b64encode(f"0{len(kind)}:{kind}{ident}".encode()).decode()


def parse_node_id(value: str) -> tuple[str, int] | None:
    """Inverse of ``node_id``; None for anything that is not one of ours."""
    try:
        raw = base64.b64decode(value.encode(), validate=True).decode()
        length, rest = raw.split(":", 1)
        size = int(length)
        kind, ident = rest[:size], int(rest[size:])
    except (ValueError, UnicodeDecodeError):
        return None
    return kind, ident


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 with a ``Z``, to the second, as GitHub writes timestamps."""
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class User:
    login: str
    id: int
    type: str = "User"  # "User", "Bot" or "Organization"
    name: str | None = None
    email: str | None = None
    site_admin: bool = False
    created_at: datetime | None = None


@dataclass
class Token:
    """An access token. ``permissions`` None means every category at ``write`` (a classic PAT with
    ``repo``); otherwise a mapping such as ``{"issues": "write", "contents": "read"}``, as an
    installation token carries. ``repos`` None means every repository the user can see."""

    value: str
    login: str
    permissions: dict[str, str] | None = None
    repos: frozenset[str] | None = None
    #: an installation token's end (GitHub's one hour); past it the token answers 401 Bad credentials
    expires_at: datetime | None = None
    #: set for an app's JWT: it may only use the app routes (``GET /app``, installation tokens)
    app_id: int | None = None

    def allows(self, category: str, level: str) -> bool:
        if category == "metadata" and level == "read":
            return True
        if self.permissions is None:
            return True
        granted = self.permissions.get(category, "none")
        return granted == "write" or (level == "read" and granted == "read")


@dataclass
class Runner:
    """A self-hosted Actions runner registered on a repository (``add_runner``)."""

    id: int
    name: str
    labels: tuple[str, ...]
    status: str = "online"  # or "offline"
    busy: bool = False


@dataclass
class Label:
    id: int
    name: str
    color: str = "ededed"
    description: str | None = None
    default: bool = False


@dataclass
class Comment:
    id: int
    repo: str  # "owner/name"
    issue_number: int
    body: str
    user: str
    created_at: datetime
    updated_at: datetime


@dataclass
class IssueEvent:
    id: int
    event: str  # "labeled", "unlabeled", "closed", "reopened", "ready_for_review", ...
    actor: str
    created_at: datetime
    label: str | None = None


@dataclass
class Issue:
    """An issue, or the issue half of a pull request (title, body, labels and state live here)."""

    id: int
    number: int
    title: str
    body: str | None
    user: str
    created_at: datetime
    updated_at: datetime
    state: str = "open"
    state_reason: str | None = None
    labels: list[str] = field(default_factory=list)  # label names, in the order they were added
    assignees: list[str] = field(default_factory=list)
    locked: bool = False
    closed_at: datetime | None = None
    closed_by: str | None = None
    events: list[IssueEvent] = field(default_factory=list)
    is_pull: bool = False


@dataclass
class PullRequest:
    """The pull half of a pull request; ``number`` points at its ``Issue``."""

    id: int
    number: int
    head_ref: str
    base_ref: str
    head_sha: str  # refreshed from the bare repo whenever the branch still exists
    draft: bool = False
    merged: bool = False
    maintainer_can_modify: bool = False
    #: The ``head:base`` SHAs mergeability was last computed for. GitHub computes it in the background,
    #: so the first read after a change answers ``mergeable: null``; clients must poll.
    mergeability_for: str | None = None


@dataclass
class Status:
    id: int
    sha: str
    state: str
    context: str
    creator: str
    created_at: datetime
    description: str | None = None
    target_url: str | None = None


@dataclass
class Review:
    """A submitted pull request review. ``state`` is GitHub's: APPROVED, CHANGES_REQUESTED or COMMENTED."""

    id: int
    number: int
    user: str
    state: str
    body: str
    commit_id: str
    submitted_at: datetime


@dataclass
class ReviewComment:
    """An inline comment on a PR's diff; a reply carries ``in_reply_to_id`` and joins its thread."""

    id: int
    number: int
    review_id: int
    thread_id: int
    user: str
    body: str
    path: str
    line: int
    side: str  # "RIGHT" (the head's lines) or "LEFT" (the base's)
    commit_id: str
    diff_hunk: str
    position: int  # the legacy position: lines below the file's first hunk header
    created_at: datetime
    updated_at: datetime
    in_reply_to_id: int | None = None


@dataclass
class ReviewThread:
    """The comments on one line; resolving it is GraphQL-only on GitHub."""

    id: int
    number: int
    path: str
    line: int
    side: str
    comment_ids: list[int] = field(default_factory=list)
    resolved_by: str | None = None

    @property
    def resolved(self) -> bool:
        return self.resolved_by is not None


@dataclass
class Reaction:
    id: int
    subject: str  # "issue", "issue_comment" or "review_comment"
    subject_id: int  # the issue number, or the comment id
    content: str
    user: str
    created_at: datetime


@dataclass
class Workflow:
    id: int
    name: str
    path: str
    command: str
    job: str
    created_at: datetime


@dataclass
class CheckSuite:
    """A CI app's verdict on a commit; Actions makes one per workflow run."""

    id: int
    app_slug: str
    head_sha: str
    head_branch: str | None
    status: str
    conclusion: str | None
    created_at: datetime
    updated_at: datetime
    run_ids: list[int] = field(default_factory=list)  # its check runs


@dataclass
class CheckRun:
    id: int
    suite_id: int
    name: str
    head_sha: str
    status: str
    conclusion: str | None
    started_at: datetime
    completed_at: datetime | None
    summary: str | None = None


@dataclass
class Step:
    name: str
    number: int
    conclusion: str
    started_at: datetime
    completed_at: datetime


@dataclass
class Job:
    id: int
    run_id: int
    check_run_id: int
    name: str
    conclusion: str
    started_at: datetime
    completed_at: datetime
    steps: list[Step]
    log_path: str  # the job log on disk, served streamed


@dataclass
class WorkflowRun:
    id: int
    workflow_id: int
    run_number: int
    event: str
    head_branch: str | None
    head_sha: str
    actor: str
    suite_id: int
    status: str
    conclusion: str | None
    created_at: datetime
    updated_at: datetime
    pull_numbers: list[int] = field(default_factory=list)
    job_ids: list[int] = field(default_factory=list)
    run_attempt: int = 1


@dataclass
class Repo:
    owner: str
    name: str
    id: int
    default_branch: str
    private: bool
    description: str | None
    created_at: datetime
    git_dir: str
    collaborators: dict[str, str] = field(default_factory=dict)  # login -> role
    labels: dict[str, Label] = field(default_factory=dict)  # lower-cased name -> label
    issues: dict[int, Issue] = field(default_factory=dict)
    pulls: dict[int, PullRequest] = field(default_factory=dict)
    statuses: list[Status] = field(default_factory=list)
    reviews: dict[int, Review] = field(default_factory=dict)
    review_comments: dict[int, ReviewComment] = field(default_factory=dict)
    threads: dict[int, ReviewThread] = field(default_factory=dict)
    reactions: list[Reaction] = field(default_factory=list)
    workflows: dict[int, Workflow] = field(default_factory=dict)
    runs: dict[int, WorkflowRun] = field(default_factory=dict)
    suites: dict[int, CheckSuite] = field(default_factory=dict)
    check_runs: dict[int, CheckRun] = field(default_factory=dict)
    jobs: dict[int, Job] = field(default_factory=dict)
    runners: list[Runner] = field(default_factory=list)
    next_number: int = 1
    #: False makes draft PRs fail with GitHub's 422, as on private repos of free plans.
    draft_prs: bool = True
    #: the setting "Allow GitHub Actions to create and approve pull requests" (off by default on GitHub for
    #: new repositories and organisations): False refuses PR creation by ``github-actions[bot]`` with a 403
    actions_can_open_prs: bool = True

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


_Record = TypeVar("_Record")


def snapshot(record: _Record) -> _Record:
    """A deep copy, so callers of the Python API cannot change the emulator's state by accident."""
    return copy.deepcopy(record)


@dataclass
class PendingEvent:
    """A webhook GitHub would send: ``event`` (``issues``...) and ``action`` (``labeled``...)."""

    event: str
    action: str
    repo: str
    sender: str
    number: int | None = None
    comment_id: int | None = None
    label: str | None = None
    changes: dict[str, Any] = field(default_factory=dict)
    #: what else the payload names: ``review``, ``review_comment``, ``thread``, ``run``, ``suite``, ``check_run``
    subject: dict[str, int] = field(default_factory=dict)
