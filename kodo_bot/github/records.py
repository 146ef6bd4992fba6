"""The plain records the GitHub client reads into: what kodo-bot knows of a repository, an issue and its
comments, a pull request, its reviews and threads, and a failed CI job. No behaviour, no requests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class RepoInfo:
    full_name: str
    default_branch: str
    clone_url: str
    html_url: str


@dataclass(frozen=True)
class IssueInfo:
    number: int
    title: str
    body: str
    state: str
    labels: tuple[str, ...]
    author: str
    is_pull_request: bool
    html_url: str


@dataclass(frozen=True)
class CommentInfo:
    id: int
    author: str
    author_type: str
    body: str
    html_url: str
    created_at: datetime | None = None


@dataclass(frozen=True)
class PullInfo:
    number: int
    node_id: str
    html_url: str
    draft: bool
    head_ref: str


@dataclass(frozen=True)
class PullDetails(PullInfo):
    """A PR as a follow-up needs it: whose, which commits, and whether it is still open."""

    head_sha: str
    base_ref: str
    state: str
    merged: bool
    author: str
    #: the head branch's repository ("" when it was deleted)
    head_repo: str


@dataclass(frozen=True)
class ReviewInfo:
    id: int
    author: str
    author_type: str
    state: str
    body: str
    commit_id: str
    html_url: str
    submitted_at: datetime | None = None


@dataclass(frozen=True)
class ReviewComment:
    id: int
    author: str
    body: str
    path: str
    line: int | None
    diff_hunk: str
    in_reply_to: int | None
    html_url: str


@dataclass(frozen=True)
class ThreadComment:
    id: int
    #: as REST spells it (a bot's login ends in ``[bot]``)
    author: str
    body: str


@dataclass(frozen=True)
class ReviewThread:
    #: the GraphQL node id ``resolveReviewThread`` takes
    id: str
    resolved: bool
    #: its comments, first the one that opened it, then the replies
    comments: tuple[ThreadComment, ...]

    @property
    def comment_ids(self) -> tuple[int, ...]:
        """REST ids of its comments: what a reply is posted to."""
        return tuple(c.id for c in self.comments)


@dataclass(frozen=True)
class FailedJob:
    id: int
    name: str
    conclusion: str
    #: the first step that failed, if the job says
    step: str
    html_url: str


@dataclass(frozen=True)
class Activity:
    """What a live run needs to know of its issue and PR, read in one request: whether the issue still wants
    it, and what people said (the latest comments on both, the latest reviews on the PR), oldest first."""

    issue_state: str
    labels: tuple[str, ...]
    comments: list[CommentInfo]
    reviews: list[ReviewInfo]
