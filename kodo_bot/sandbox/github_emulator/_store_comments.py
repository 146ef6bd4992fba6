"""Issue and pull request comments: created, read, edited and deleted, each change announced as an
``issue_comment`` event."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kodo_bot.sandbox.github_emulator._errors import not_found
from kodo_bot.sandbox.github_emulator._models import Comment, Issue, PendingEvent, Repo

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable
    from datetime import datetime

    from kodo_bot.sandbox.github_emulator._models import User


class CommentsMixin:
    """The comment part of ``Store``, which provides the members declared here."""

    if TYPE_CHECKING:
        lock: threading.RLock
        clock: Callable[[], datetime]
        comments: dict[int, Comment]

        def next_id(self, kind: str) -> int: ...
        def emit(self, event: PendingEvent) -> None: ...
        def add_user(
            self, login: str, *, type: str | None = None, name: str | None = None, email: str | None = None
        ) -> User: ...
        def user(self, login: str) -> User: ...

    # -- comments ------------------------------------------------------------------------------------

    def add_comment(self, repo: Repo, issue: Issue, body: str, user: str) -> Comment:
        with self.lock:
            now = self.clock()
            self.add_user(user)
            comment = Comment(
                self.next_id("comment"), repo.full_name, issue.number, body, self.user(user).login, now, now
            )
            self.comments[comment.id] = comment
            issue.updated_at = now
            self.emit(
                PendingEvent("issue_comment", "created", repo.full_name, user, issue.number, comment_id=comment.id)
            )
            return comment

    def comment(self, repo: Repo, comment_id: int) -> Comment:
        found = self.comments.get(comment_id)
        if found is None or found.repo.lower() != repo.full_name.lower():
            raise not_found()
        return found

    def issue_comments(self, repo: Repo, number: int) -> list[Comment]:
        return sorted(
            (
                c
                for c in self.comments.values()
                if c.repo.lower() == repo.full_name.lower() and c.issue_number == number
            ),
            key=lambda c: c.id,
        )

    def edit_comment(self, repo: Repo, comment: Comment, body: str, actor: str) -> Comment:
        with self.lock:
            old = comment.body
            comment.body, comment.updated_at = body, self.clock()
            self.emit(
                PendingEvent(
                    "issue_comment",
                    "edited",
                    repo.full_name,
                    actor,
                    comment.issue_number,
                    comment_id=comment.id,
                    changes={"body": {"from": old}},
                )
            )
            return comment

    def delete_comment(self, repo: Repo, comment: Comment, actor: str) -> None:
        with self.lock:
            del self.comments[comment.id]
