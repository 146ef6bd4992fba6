"""The emulator's state and the rules GitHub applies when it changes.

Everything here is HTTP-free: the routes and the Python scene API call the same methods, so a scene
set up in a test obeys the same rules as a request from the bot (shared issue/PR numbers, labels
created on first use, 422s for invalid input). One re-entrant lock guards it all; callers that need
several steps to be atomic (a request handler) hold ``store.lock`` around them.

Each change GitHub would announce with a webhook is queued as a ``PendingEvent``; the emulator renders
and delivers those after the change, outside the lock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from itertools import count
from pathlib import Path
from typing import Any

from kodo_bot.sandbox.github_emulator._apps import App
from kodo_bot.sandbox.github_emulator._errors import not_found
from kodo_bot.sandbox.github_emulator._git import BareRepo
from kodo_bot.sandbox.github_emulator._models import (
    ROLES,
    Comment,
    Issue,
    IssueEvent,
    PendingEvent,
    Repo,
    Token,
    User,
    WorkflowRun,
)
from kodo_bot.sandbox.github_emulator._store_ci import CiMixin
from kodo_bot.sandbox.github_emulator._store_comments import CommentsMixin
from kodo_bot.sandbox.github_emulator._store_labels import LabelsMixin
from kodo_bot.sandbox.github_emulator._store_pulls import PullsMixin
from kodo_bot.sandbox.github_emulator._store_reviews import ReviewsMixin


class Store(LabelsMixin, CommentsMixin, PullsMixin, ReviewsMixin, CiMixin):
    """Users, tokens, repositories and issues here; labels, comments, pull requests, statuses, reviews and
    CI in the mixins."""

    def __init__(self, git_root: Path, clock: Callable[[], datetime] | None = None) -> None:
        self.lock = threading.RLock()
        self.git_root = Path(git_root)
        self.clock = clock or (lambda: datetime.now(UTC))
        self.users: dict[str, User] = {}  # lower-cased login -> user
        self.tokens: dict[str, Token] = {}
        self.repos: dict[str, Repo] = {}  # lower-cased full name -> repo
        self.comments: dict[int, Comment] = {}
        self.apps: dict[int, App] = {}  # app id -> app
        self.downloads: dict[str, str] = {}  # a job log's download key -> the log file
        #: called (under the lock) when a client asks for a re-run; the emulator runs it in the background
        self.on_rerun: Callable[[Repo, WorkflowRun, str], None] | None = None
        self.pending: list[PendingEvent] = []
        # Separate id spaces with distinct magnitudes, so a test that mixes up an issue id with a
        # comment id gets a 404 instead of a lucky hit.
        self._ids = {
            kind: count(start)
            for kind, start in {
                "user": 1001,
                "repo": 200001,
                "issue": 3000001,
                "comment": 4000001,
                "label": 5000001,
                "pull": 6000001,
                "status": 7000001,
                "event": 8000001,
                "review": 9000001,
                "review_comment": 11000001,
                "thread": 12000001,
                "reaction": 13000001,
                "workflow": 14000001,
                "run": 15000001,
                "suite": 16000001,
                "check_run": 17000001,
                "job": 18000001,
                "app": 901,
                "installation": 19000001,
            }.items()
        }

    def next_id(self, kind: str) -> int:
        return next(self._ids[kind])

    def emit(self, event: PendingEvent) -> None:
        self.pending.append(event)

    def take_pending(self) -> list[PendingEvent]:
        with self.lock:
            out, self.pending = self.pending, []
            return out

    # -- users, tokens, repos ----------------------------------------------------------------------

    def add_user(
        self, login: str, *, type: str | None = None, name: str | None = None, email: str | None = None
    ) -> User:
        with self.lock:
            existing = self.users.get(login.lower())
            if existing:
                if type is not None and type != existing.type:
                    raise ValueError(
                        f"{login} already exists as a {existing.type}; add it before anything "
                        f"that creates it (a repository owner is created as a User)"
                    )
                return existing
            kind = type or ("Bot" if login.endswith("[bot]") else "User")
            user = User(login, self.next_id("user"), kind, name, email, created_at=self.clock())
            self.users[login.lower()] = user
            return user

    def user(self, login: str) -> User:
        found = self.users.get(login.lower())
        if found is None:
            raise not_found()
        return found

    def add_token(self, token: Token) -> Token:
        with self.lock:
            self.add_user(token.login)
            self.tokens[token.value] = token
            return token

    def add_repo(
        self, full_name: str, *, default_branch: str, private: bool, description: str | None, draft_prs: bool = True
    ) -> Repo:
        owner, _, name = full_name.partition("/")
        if not owner or not name or "/" in name:
            raise ValueError(f"repository names look like 'owner/name', not {full_name!r}")
        with self.lock:
            if full_name.lower() in self.repos:
                raise ValueError(f"repository {full_name} already exists")
            self.add_user(owner)
            git_dir = self.git_root / owner / f"{name}.git"
            BareRepo.create(git_dir, default_branch)
            repo = Repo(
                owner,
                name,
                self.next_id("repo"),
                default_branch,
                private,
                description,
                self.clock(),
                str(git_dir),
                draft_prs=draft_prs,
            )
            self.repos[full_name.lower()] = repo
            return repo

    def repo(self, full_name: str) -> Repo:
        found = self.repos.get(full_name.lower())
        if found is None:
            raise not_found()
        return found

    def git(self, repo: Repo) -> BareRepo:
        return BareRepo(Path(repo.git_dir))

    def set_role(self, repo: Repo, login: str, role: str) -> None:
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, not {role!r}")
        self.add_user(login)
        if role == "none":
            repo.collaborators.pop(login.lower(), None)
        else:
            repo.collaborators[login.lower()] = role

    def role_of(self, repo: Repo, login: str) -> str:
        """The user's effective role. Non-collaborators can read a public repository."""
        if login.lower() == repo.owner.lower():
            return "admin"
        role = repo.collaborators.get(login.lower())
        if role:
            return role
        return "none" if repo.private else "read"

    def association(self, repo: Repo, login: str) -> str:
        """``author_association`` as GitHub reports it (bots use it to decide who may trigger)."""
        if login.lower() == repo.owner.lower():
            return "OWNER"
        if login.lower() in repo.collaborators:
            return "COLLABORATOR"
        return "NONE"

    # -- issues --------------------------------------------------------------------------------------

    def create_issue(
        self,
        repo: Repo,
        *,
        title: str,
        body: str | None,
        user: str,
        labels: Sequence[str] = (),
        assignees: Sequence[str] = (),
        announce: bool = True,
    ) -> Issue:
        with self.lock:
            now = self.clock()
            self.add_user(user)
            issue = Issue(self.next_id("issue"), repo.next_number, title, body, self.user(user).login, now, now)
            repo.next_number += 1
            repo.issues[issue.number] = issue
            issue.assignees = [self.user(a).login for a in assignees]
            issue.labels = [self.ensure_label(repo, name).name for name in labels]
            if announce:  # a PR announces itself as pull_request.opened instead
                self.emit(PendingEvent("issues", "opened", repo.full_name, user, issue.number))
            return issue

    def issue(self, repo: Repo, number: int) -> Issue:
        found = repo.issues.get(number)
        if found is None:
            raise not_found()
        return found

    def update_issue(
        self,
        repo: Repo,
        issue: Issue,
        actor: str,
        *,
        state: str | None = None,
        state_reason: str | None = None,
        **fields: Any,
    ) -> Issue:
        with self.lock:
            for key in ("title", "body"):
                if key in fields:
                    setattr(issue, key, fields[key])
            if "assignees" in fields:
                issue.assignees = [self.user(a).login for a in fields["assignees"]]
            if "labels" in fields:
                self.set_labels(repo, issue, fields["labels"], actor)
            if state and state != issue.state:
                self._change_state(repo, issue, state, state_reason, actor)
            elif state_reason and issue.state == "closed":
                issue.state_reason = state_reason
            issue.updated_at = self.clock()
            return issue

    def _change_state(self, repo: Repo, issue: Issue, state: str, reason: str | None, actor: str) -> None:
        now = self.clock()
        issue.state = state
        if state == "closed":
            issue.closed_at, issue.closed_by = now, self.user(actor).login
            issue.state_reason = None if issue.is_pull else (reason or "completed")
            action = "closed"
        else:
            issue.closed_at, issue.closed_by = None, None
            issue.state_reason = None if issue.is_pull else "reopened"
            action = "reopened"
        issue.events.append(IssueEvent(self.next_id("event"), action, actor, now))
        event = "pull_request" if issue.is_pull else "issues"
        self.emit(PendingEvent(event, action, repo.full_name, actor, issue.number))
