"""Pull request reviews, inline review comments, their threads, and reactions.

An inline comment sits on a line of the PR's diff (``base...head`` in the bare repository): its
``diff_hunk`` is the hunk up to that line and its ``position`` the legacy count of diff lines, both
computed from git, so a comment on a line outside the diff gets GitHub's 422. A reply joins the thread
of the comment it answers; resolving a thread is GraphQL-only, as on GitHub.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from kodo_bot.sandbox.github_emulator._errors import ApiError, not_found
from kodo_bot.sandbox.github_emulator._models import (
    PendingEvent,
    Reaction,
    Repo,
    Review,
    ReviewComment,
    ReviewThread,
)

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable
    from datetime import datetime

    from kodo_bot.sandbox.github_emulator._git import BareRepo
    from kodo_bot.sandbox.github_emulator._models import PullRequest, User

#: the review ``event`` a client sends -> the ``state`` GitHub stores
REVIEW_EVENTS = {"APPROVE": "APPROVED", "REQUEST_CHANGES": "CHANGES_REQUESTED", "COMMENT": "COMMENTED"}
REACTIONS = ("+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes")
_HUNK = re.compile(r"^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@")
_OUTSIDE_DIFF = (
    "Pull request review thread line must be part of the diff and Pull request review thread diff hunk can't be blank"
)


def unprocessable(*errors: str) -> ApiError:
    """GitHub's 422 for review rules: ``Unprocessable Entity`` with plain-string ``errors``."""
    return ApiError(422, "Unprocessable Entity", errors=list(errors))


def locate_line(diff: str, line: int, side: str) -> tuple[str, int] | None:
    """``(diff_hunk, position)`` for ``line`` on ``side`` of one file's unified diff, None outside it."""
    hunk: list[str] | None = None
    position = old = new = 0
    for raw in diff.splitlines():
        header = _HUNK.match(raw)
        if header:
            position += 0 if hunk is None else 1
            hunk, old, new = [raw], int(header[1]), int(header[2])
            continue
        if hunk is None or raw.startswith("\\"):
            continue
        position += 1
        hunk.append(raw)
        tag = raw[:1]
        hit = (side == "RIGHT" and tag != "-" and new == line) or (side == "LEFT" and tag != "+" and old == line)
        if hit:
            return "\n".join(hunk), position
        old += tag != "+"
        new += tag != "-"
    return None


class ReviewsMixin:
    """The review half of ``Store``, which provides the members declared here."""

    if TYPE_CHECKING:
        lock: threading.RLock
        clock: Callable[[], datetime]

        def next_id(self, kind: str) -> int: ...
        def emit(self, event: PendingEvent) -> None: ...
        def user(self, login: str) -> User: ...
        def add_user(self, login: str) -> User: ...
        def git(self, repo: Repo) -> BareRepo: ...
        def pull(self, repo: Repo, number: int) -> PullRequest: ...

    def submit_review(
        self,
        repo: Repo,
        number: int,
        *,
        user: str,
        event: str,
        body: str = "",
        comments: Sequence[dict[str, Any]] = (),
        commit_id: str | None = None,
    ) -> Review:
        """Submit a review with its inline comments, all or nothing (a bad line answers 422 and
        records nothing)."""
        with self.lock:
            pull = self.pull(repo, number)
            login = self.add_user(user).login
            state = self._review_state(repo, number, login, event, body, comments)
            sha = commit_id or pull.head_sha
            placed = [self._place(repo, pull, c) for c in comments]
            review = Review(self.next_id("review"), number, login, state, body or "", sha, self.clock())
            repo.reviews[review.id] = review
            self.emit(_event("pull_request_review", "submitted", repo, login, number, review=review.id))
            for spec, (hunk, position) in zip(comments, placed, strict=True):
                thread = ReviewThread(
                    self.next_id("thread"), number, spec["path"], spec["line"], spec.get("side") or "RIGHT"
                )
                repo.threads[thread.id] = thread
                self._add_review_comment(repo, review, thread, spec["body"], hunk, position)
            return review

    def _review_state(
        self, repo: Repo, number: int, login: str, event: str, body: str, comments: Sequence[dict[str, Any]]
    ) -> str:
        if event not in REVIEW_EVENTS:
            raise unprocessable(f"Unknown review event {event!r}; use APPROVE, REQUEST_CHANGES or COMMENT")
        author = repo.issues[number].user.lower() == login.lower()
        if author and event == "APPROVE":
            raise unprocessable("Can not approve your own pull request")
        if author and event == "REQUEST_CHANGES":
            raise unprocessable("Can not request changes on your own pull request")
        if event != "APPROVE" and not body and not comments:
            raise unprocessable(f"Review Body is required when using the {event} event")
        return REVIEW_EVENTS[event]

    def _place(self, repo: Repo, pull: PullRequest, spec: dict[str, Any]) -> tuple[str, int]:
        """The hunk and position of an inline comment's line, or GitHub's 422."""
        path, line, side = spec.get("path"), spec.get("line"), spec.get("side") or "RIGHT"
        if not isinstance(path, str) or not isinstance(line, int) or not isinstance(spec.get("body"), str):
            raise unprocessable("Review comments need a path, a line and a body")
        git = self.git(repo)
        base = git.branch_sha(pull.base_ref) or pull.head_sha
        found = locate_line(git.file_diff(base, pull.head_sha, path), line, side)
        if found is None:
            raise unprocessable(_OUTSIDE_DIFF)
        return found

    def _add_review_comment(
        self,
        repo: Repo,
        review: Review,
        thread: ReviewThread,
        body: str,
        hunk: str,
        position: int,
        reply_to: int | None = None,
    ) -> ReviewComment:
        now = self.clock()
        comment = ReviewComment(
            self.next_id("review_comment"),
            review.number,
            review.id,
            thread.id,
            review.user,
            body,
            thread.path,
            thread.line,
            thread.side,
            review.commit_id,
            hunk,
            position,
            now,
            now,
            in_reply_to_id=reply_to,
        )
        repo.review_comments[comment.id] = comment
        thread.comment_ids.append(comment.id)
        self.emit(
            _event(
                "pull_request_review_comment",
                "created",
                repo,
                review.user,
                review.number,
                review=review.id,
                review_comment=comment.id,
            )
        )
        return comment

    def reply_to_review_comment(self, repo: Repo, number: int, comment_id: int, user: str, body: str) -> ReviewComment:
        """A reply joins the thread of the comment it answers (of the thread's first comment, as GitHub
        answers a reply to a reply) in a review of its own."""
        with self.lock:
            target = repo.review_comments.get(comment_id)
            if target is None or target.number != number:
                raise not_found()
            thread = repo.threads[target.thread_id]
            first = repo.review_comments[thread.comment_ids[0]]
            login = self.add_user(user).login
            pull = self.pull(repo, number)
            review = Review(self.next_id("review"), number, login, "COMMENTED", "", pull.head_sha, self.clock())
            repo.reviews[review.id] = review
            self.emit(_event("pull_request_review", "submitted", repo, login, number, review=review.id))
            return self._add_review_comment(repo, review, thread, body, first.diff_hunk, first.position, first.id)

    def review_comment(self, repo: Repo, comment_id: int) -> ReviewComment:
        found = repo.review_comments.get(comment_id)
        if found is None:
            raise not_found()
        return found

    def edit_review_comment(self, repo: Repo, comment: ReviewComment, body: str, actor: str) -> ReviewComment:
        with self.lock:
            before = comment.body
            comment.body, comment.updated_at = body, self.clock()
            self.emit(
                _event(
                    "pull_request_review_comment",
                    "edited",
                    repo,
                    actor,
                    comment.number,
                    changes={"body": {"from": before}},
                    review=comment.review_id,
                    review_comment=comment.id,
                )
            )
            return comment

    def set_thread_resolved(self, repo: Repo, thread: ReviewThread, actor: str, resolved: bool) -> ReviewThread:
        with self.lock:
            if thread.resolved != resolved:
                thread.resolved_by = self.user(actor).login if resolved else None
                action = "resolved" if resolved else "unresolved"
                self.emit(_event("pull_request_review_thread", action, repo, actor, thread.number, thread=thread.id))
            return thread

    def add_reaction(self, repo: Repo, subject: str, subject_id: int, content: str, user: str) -> tuple[Reaction, bool]:
        """A reaction, and whether it is new (GitHub answers 200 with the existing one otherwise)."""
        if content not in REACTIONS:
            raise ApiError(
                422,
                "Validation Failed",
                errors=[{"resource": "Reaction", "code": "invalid", "field": "content"}],
            )
        with self.lock:
            login = self.add_user(user).login
            for reaction in repo.reactions:
                key = (reaction.subject, reaction.subject_id, reaction.content, reaction.user.lower())
                if key == (subject, subject_id, content, login.lower()):
                    return reaction, False
            reaction = Reaction(self.next_id("reaction"), subject, subject_id, content, login, self.clock())
            repo.reactions.append(reaction)
            return reaction, True

    def reactions_on(self, repo: Repo, subject: str, subject_id: int) -> list[Reaction]:
        return [r for r in repo.reactions if r.subject == subject and r.subject_id == subject_id]


def _event(
    event: str,
    action: str,
    repo: Repo,
    sender: str,
    number: int,
    *,
    changes: dict[str, Any] | None = None,
    **subject: int,
) -> PendingEvent:
    return PendingEvent(event, action, repo.full_name, sender, number, changes=changes or {}, subject=subject)
