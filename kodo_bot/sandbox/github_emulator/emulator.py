"""``GitHubEmulator``: a stateful stand-in for GitHub that the real PyGithub client talks to.

Set the scene in Python (users, tokens, repositories backed by real bare git repositories, issues,
labels), point a client at ``api_url``, then inspect what it did (comments, labels, PRs, statuses,
the call log, webhook deliveries). Scene methods obey GitHub's rules but not its permissions: they act
as the person named, like clicking in the web UI.

    with GitHubEmulator(tmp_path) as emu:
        emu.add_repo("octo/app", files={"README.md": "hi\\n"})
        emu.add_collaborator("octo/app", "alice", "write")
        token = emu.add_token("kodo-bot[bot]", permissions={"issues": "write", "pull_requests": "write"})
        issue = emu.create_issue("octo/app", "Fix the typo", "...", user="alice")
        event = emu.label_issue("octo/app", issue.number, "kodo", actor="alice")  # issues.labeled payload
        gh = Github(base_url=emu.api_url, auth=Auth.Token(token))
"""

from __future__ import annotations

import re
import secrets
import shutil
import tempfile
import threading
import traceback
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from kodo_bot.sandbox.github_emulator import (
    _routes_actions,
    _routes_apps,
    _routes_comments,
    _routes_git,
    _routes_issues,
    _routes_labels,
    _routes_pulls,
    _routes_repos,
    _routes_reviews,
    _routes_runners,
    _routes_statuses,
)
from kodo_bot.sandbox.github_emulator._dispatch import Call, Dispatcher
from kodo_bot.sandbox.github_emulator._models import (
    CATEGORIES,
    Comment,
    Issue,
    PullRequest,
    Repo,
    Runner,
    Status,
    Token,
    User,
    snapshot,
)
from kodo_bot.sandbox.github_emulator._render import Renderer, Urls, repo_clone_url
from kodo_bot.sandbox.github_emulator._router import Router
from kodo_bot.sandbox.github_emulator._scenes_after_pr import AfterPrScenes
from kodo_bot.sandbox.github_emulator._server import HttpServer
from kodo_bot.sandbox.github_emulator._store import Store
from kodo_bot.sandbox.github_emulator._webhooks import Delivery
from kodo_bot.sandbox.github_emulator.faults import Faults

_ROUTE_MODULES = (
    _routes_repos,
    _routes_issues,
    _routes_comments,
    _routes_labels,
    _routes_pulls,
    _routes_statuses,
    _routes_git,
    _routes_reviews,
    _routes_actions,
    _routes_apps,
    _routes_runners,
)
_T = TypeVar("_T")


# Over 250 lines as the tests' one facade: many short methods that delegate to Store, Dispatcher and Server.
class GitHubEmulator(AfterPrScenes):
    """See the module docstring. ``root`` holds the bare repositories (a temporary directory, removed
    on ``stop``, when not given). ``validate`` names GitHub's REST OpenAPI description: every request
    and response is then checked against it and the findings collected in ``validation``.
    ``rate_limit`` is the per-token primary limit per hour (403 beyond it). ``installation_id`` adds the
    ``installation`` key to webhook payloads, as a GitHub App receives them. ``clock`` returns the
    current UTC time (for deterministic timestamps)."""

    # Long for its keyword signature and the wiring of store, router, server and dispatcher, done once here.
    def __init__(
        self,
        root: str | Path | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        validate: str | Path | None = None,
        rate_limit: int = 5000,
        installation_id: int | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._owned_root = root is None
        self.root = Path(tempfile.mkdtemp(prefix="github-emulator-") if root is None else root)
        self._store = Store(self.root, clock)
        self.faults = Faults()
        self.calls: list[Call] = []
        self.deliveries: list[Delivery] = []
        self._subscribers: list[Callable[[Delivery], None]] = []
        self._log_lock = threading.Lock()
        self.validation = None
        if validate is not None:
            from kodo_bot.sandbox.github_emulator.openapi_check import OpenAPIChecker, Recorder

            self.validation = Recorder(OpenAPIChecker(validate))
        router = Router()
        for module in _ROUTE_MODULES:
            module.register(router)
        self._server = HttpServer(host, port)  # binds now, so URLs are known before start()
        bound_host, bound_port = self._server.address
        self._render = Renderer(self._store, Urls(f"http://{bound_host}:{bound_port}"))
        self._dispatcher = Dispatcher(
            self._render,
            router,
            self.faults,
            rate_limit=rate_limit,
            on_call=self._record_call,
            on_deliveries=self._deliver,
            validator=self.validation,
            installation_id=installation_id,
        )
        self._server.attach(self._dispatcher)
        self._ci_threads = []
        self._store.on_rerun = self._start_rerun

    # -- lifecycle -----------------------------------------------------------------------------------

    def start(self) -> GitHubEmulator:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()
        if self._owned_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> GitHubEmulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def api_url(self) -> str:
        """``base_url`` for PyGithub: ``http://127.0.0.1:PORT/api/v3`` (GitHub Enterprise layout)."""
        return self._render.urls.api

    @property
    def graphql_url(self) -> str:
        """Where PyGithub sends GraphQL for that ``base_url`` (``/api/graphql``; ``/graphql`` works too)."""
        return self._render.urls.graphql

    @property
    def html_url(self) -> str:
        return self._render.urls.origin

    # -- scene: accounts and repositories ------------------------------------------------------------

    def add_user(
        self, login: str, *, type: str | None = None, name: str | None = None, email: str | None = None
    ) -> User:
        """A user; logins ending in ``[bot]`` default to type ``Bot``. Existing users are returned."""
        return snapshot(self._store.add_user(login, type=type, name=name, email=email))

    def add_token(
        self,
        login: str,
        *,
        value: str | None = None,
        permissions: dict[str, str] | None = None,
        repos: list[str] | None = None,
    ) -> str:
        """A token acting as ``login`` (created if needed). ``permissions`` None grants everything; a
        mapping such as ``{"issues": "write", "contents": "read"}`` limits it like an installation
        token (categories: issues, pull_requests, contents, statuses). ``repos`` limits which
        repositories it sees (others answer 404). Returns the token string."""
        value = value or f"ghs_{secrets.token_hex(18)}"
        limit = frozenset(r.lower() for r in repos) if repos is not None else None
        self._store.add_token(Token(value, login, _permissions(permissions), limit))
        return value

    def add_repo(
        self,
        full_name: str,
        *,
        default_branch: str = "main",
        private: bool = False,
        description: str | None = None,
        draft_prs: bool = True,
        files: Mapping[str, str | bytes] | None = None,
    ) -> Repo:
        """A repository with an empty bare git repository; ``files`` seeds the default branch."""
        self._store.add_repo(
            full_name, default_branch=default_branch, private=private, description=description, draft_prs=draft_prs
        )
        if files:
            self.seed(full_name, files)
        return self.repo(full_name)

    def seed(
        self,
        repo: str,
        files: Mapping[str, str | bytes],
        *,
        branch: str | None = None,
        message: str = "Initial commit",
        author: tuple[str, str] = ("Octo Cat", "octocat@example.com"),
    ) -> str:
        """Commit ``files`` (path -> content) on ``branch`` (default branch), returning the SHA."""
        with self._store.lock:
            found = self._store.repo(repo)
            git = self._store.git(found)
            return git.commit_files(branch or found.default_branch, files, message, author)

    def allow_actions_to_open_prs(self, repo: str, allowed: bool) -> None:
        """The repository setting "Allow GitHub Actions to create and approve pull requests"."""
        with self._store.lock:
            self._store.repo(repo).actions_can_open_prs = allowed

    def add_collaborator(self, repo: str, login: str, role: str = "write") -> None:
        """Give ``login`` a role: none, read, triage, write, maintain or admin."""
        with self._store.lock:
            self._store.set_role(self._store.repo(repo), login, role)

    def add_runner(
        self, repo: str, name: str, labels: tuple[str, ...] = ("self-hosted", "Linux", "X64"), *, online: bool = True
    ) -> None:
        """Register a self-hosted runner on ``repo`` (``GET …/actions/runners`` lists it)."""
        with self._store.lock:
            runners = self._store.repo(repo).runners
            runners.append(Runner(len(runners) + 1, name, tuple(labels), "online" if online else "offline"))

    def git_url(self, repo: str) -> str:
        """The ``file://`` URL of the bare repository: a push remote for plain git (and ``clone_url``)."""
        return repo_clone_url(self._store.repo(repo))

    def git_path(self, repo: str) -> Path:
        return Path(self._store.repo(repo).git_dir)

    # -- scene: what people do -----------------------------------------------------------------------

    def create_issue(
        self, repo: str, title: str, body: str | None = "", *, user: str, labels: Sequence[str] = ()
    ) -> Issue:
        """Open an issue as ``user`` (an ``issues.opened`` delivery is recorded)."""

        def act(found: Repo) -> Issue:
            return self._store.create_issue(found, title=title, body=body, user=user, labels=list(labels))

        return snapshot(self._act(repo, act)[0])

    def label_issue(self, repo: str, number: int, label: str, actor: str) -> dict[str, Any]:
        """Add ``label`` as ``actor`` would in the web UI (creating it if missing); returns the
        ``issues.labeled`` (or ``pull_request.labeled``) webhook payload GitHub sends for it."""

        def act(found: Repo) -> None:
            self._store.add_labels(found, self._store.issue(found, number), [label], actor)

        return self._act(repo, act)[1][-1].payload

    def unlabel_issue(self, repo: str, number: int, label: str, actor: str) -> dict[str, Any]:
        def act(found: Repo) -> None:
            self._store.remove_label(found, self._store.issue(found, number), label, actor)

        return self._act(repo, act)[1][-1].payload

    def add_comment(self, repo: str, number: int, body: str, user: str) -> dict[str, Any]:
        """Comment as ``user``; returns the ``issue_comment.created`` payload."""

        def act(found: Repo) -> None:
            self._store.add_comment(found, self._store.issue(found, number), body, user)

        return self._act(repo, act)[1][-1].payload

    def close_issue(self, repo: str, number: int, actor: str, reason: str = "completed") -> dict[str, Any]:
        def act(found: Repo) -> None:
            self._store.update_issue(
                found, self._store.issue(found, number), actor, state="closed", state_reason=reason
            )

        return self._act(repo, act)[1][-1].payload

    def _act(self, repo: str, change: Callable[[Repo], _T]) -> tuple[_T, list[Delivery]]:
        """Apply a change under the lock, then deliver its webhooks outside it (a subscriber may call
        the emulator over HTTP from another thread without deadlocking)."""
        with self._store.lock:
            result = change(self._store.repo(repo))
            deliveries = self._dispatcher.render_pending()
        self._deliver(deliveries)
        return result, deliveries

    # -- inspection ----------------------------------------------------------------------------------

    def repo(self, repo: str) -> Repo:
        with self._store.lock:
            return snapshot(self._store.repo(repo))

    def issue(self, repo: str, number: int) -> Issue:
        with self._store.lock:
            found = self._store.repo(repo)
            return snapshot(self._store.issue(found, number))

    def comments(self, repo: str, number: int) -> list[Comment]:
        with self._store.lock:
            return snapshot(self._store.issue_comments(self._store.repo(repo), number))

    def labels(self, repo: str, number: int) -> list[str]:
        return list(self.issue(repo, number).labels)

    def pull(self, repo: str, number: int) -> PullRequest:
        with self._store.lock:
            return snapshot(self._store.pull(self._store.repo(repo), number))

    def pulls(self, repo: str, *, state: str = "all") -> list[PullRequest]:
        with self._store.lock:
            return snapshot(self._store.pulls_matching(self._store.repo(repo), state=state))

    def statuses(self, repo: str, ref: str) -> list[Status]:
        """Statuses on the commit ``ref`` (SHA, branch or tag) points at, newest first."""
        with self._store.lock:
            found = self._store.repo(repo)
            sha = self._store.git(found).resolve(ref)
            return snapshot(self._store.statuses_for(found, sha)) if sha else []

    def combined_state(self, repo: str, ref: str) -> str:
        with self._store.lock:
            found = self._store.repo(repo)
            sha = self._store.git(found).resolve(ref)
            return self._store.combined_status(found, sha)[0] if sha else "pending"

    def branches(self, repo: str) -> dict[str, str]:
        """Branch name -> SHA, read from the bare repository."""
        git = self._store.git(self._store.repo(repo))
        return {name.removeprefix("refs/heads/"): sha for name, sha, _ in git.refs("refs/heads/")}

    # -- observability -------------------------------------------------------------------------------

    def rest_call_count(self, method: str | None = None, path_regex: str | None = None) -> int:
        return len(self.calls_matching(method, path_regex, kind="rest"))

    def rate_used(self, token: str) -> int:
        """Requests ``token`` used of its primary rate limit this hour (an authorised 304 uses none)."""
        return self._dispatcher.rate_bucket(token)["used"]

    def graphql_call_count(self) -> int:
        return sum(c.kind == "graphql" for c in list(self.calls))

    def calls_matching(
        self, method: str | None = None, path_regex: str | None = None, *, kind: str | None = None
    ) -> list[Call]:
        return [
            c
            for c in list(self.calls)
            if (method is None or c.method == method.upper())
            and (kind is None or c.kind == kind)
            and (path_regex is None or re.search(path_regex, c.path))
        ]

    def on_webhook(self, callback: Callable[[Delivery], None]) -> None:
        """Call ``callback(delivery)`` for every webhook, after the change (outside the lock). A callback
        that raises is reported in ``internal_errors``; the request that caused the event still succeeds."""
        self._subscribers.append(callback)

    @property
    def internal_errors(self) -> list[str]:
        """Tracebacks of emulator bugs answered with 500, and of webhook subscribers that raised; tests
        should assert this stays empty."""
        return self._dispatcher.internal_errors

    def _record_call(self, call: Call) -> None:
        with self._log_lock:
            self.calls.append(call)

    def _deliver(self, deliveries: list[Delivery]) -> None:
        with self._log_lock:
            self.deliveries.extend(deliveries)
        for delivery in deliveries:
            for callback in list(self._subscribers):
                try:
                    callback(delivery)
                except Exception:  # noqa: BLE001 - a failing subscriber must not fail the request that caused it
                    self.internal_errors.append(
                        f"webhook subscriber failed on {delivery.name}:\n" + traceback.format_exc()
                    )


def _permissions(given: dict[str, str] | None) -> dict[str, str] | None:
    """Token permissions, accepting the workflow spelling (``pull-requests``) and refusing typos, which
    would otherwise silently deny everything in that category."""
    if given is None:
        return None
    out = {}
    for category, level in given.items():
        name = category.replace("-", "_")
        if name not in CATEGORIES:
            raise ValueError(f"unknown token permission {category!r}; use one of {', '.join(CATEGORIES)}")
        if level not in ("none", "read", "write"):
            raise ValueError(f"token permission {category!r} must be none, read or write, not {level!r}")
        out[name] = level
    return out
