"""The scene and read-back methods for what happens after a PR opens: reviews, review threads,
reactions, CI (workflow runs that really run a command, check suites from other apps) and GitHub Apps.

A mixin of ``GitHubEmulator``, kept apart so the facade stays readable. Scene methods act as a person
in the web UI (or as Actions), record the webhooks GitHub would send and return the main payload.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from kodo_bot.sandbox.github_emulator._apps import App, new_key_pair
from kodo_bot.sandbox.github_emulator._ci_runner import RunResult, run_workflow
from kodo_bot.sandbox.github_emulator._models import (
    CheckSuite,
    Reaction,
    Repo,
    Review,
    ReviewComment,
    Workflow,
    WorkflowRun,
    node_id,
    snapshot,
)

if TYPE_CHECKING:
    from kodo_bot.sandbox.github_emulator._dispatch import Call, Dispatcher
    from kodo_bot.sandbox.github_emulator._store import Store
    from kodo_bot.sandbox.github_emulator._webhooks import Delivery

_T = TypeVar("_T")


@dataclass(frozen=True)
class ReviewThreadView:
    """A review thread as read back: ``id`` is its GraphQL node id (what ``resolveReviewThread`` takes)."""

    id: str
    database_id: int
    path: str
    line: int
    is_resolved: bool
    resolved_by: str | None
    comments: list[ReviewComment]


class AfterPrScenes:
    """Reviews, CI and apps; ``GitHubEmulator`` provides the members declared here."""

    if TYPE_CHECKING:
        root: Path
        calls: list[Call]
        _store: Store
        _dispatcher: Dispatcher

        def _act(self, repo: str, change: Callable[[Repo], _T]) -> tuple[_T, list[Delivery]]: ...
        def _deliver(self, deliveries: list[Delivery]) -> None: ...

    ci_timeout_s: float = 600.0
    _ci_threads: list[threading.Thread]

    # -- reviews -------------------------------------------------------------------------------------

    def submit_review(
        self,
        repo: str,
        number: int,
        *,
        user: str,
        event: str = "COMMENT",
        body: str = "",
        comments: Sequence[dict[str, Any]] = (),
    ) -> dict[str, Any]:
        """Submit a review as ``user`` (``event``: REQUEST_CHANGES, COMMENT or APPROVE) with inline
        ``comments`` (``{"path", "line", "body"[, "side"]}``, lines of the PR's diff). Returns the
        ``pull_request_review.submitted`` payload; one ``pull_request_review_comment.created`` per
        comment follows it. A line outside the diff raises ``ApiError`` (GitHub's 422)."""

        def act(found: Repo) -> None:
            self._store.submit_review(found, number, user=user, event=event, body=body, comments=comments)

        return self._act(repo, act)[1][0].payload

    def reply_to_review_comment(
        self, repo: str, number: int, comment_id: int, body: str, *, user: str
    ) -> dict[str, Any]:
        """Reply in the thread of ``comment_id``; returns the ``pull_request_review_comment.created`` payload."""

        def act(found: Repo) -> None:
            self._store.reply_to_review_comment(found, number, comment_id, user, body)

        return self._act(repo, act)[1][-1].payload

    def resolve_review_thread(self, repo: str, thread_id: str, *, actor: str, resolved: bool = True) -> dict[str, Any]:
        """Resolve (or unresolve) a thread by its node id; returns the ``pull_request_review_thread`` payload."""

        def act(found: Repo) -> None:
            self._store.set_thread_resolved(found, found.threads[_thread_key(found, thread_id)], actor, resolved)

        return self._act(repo, act)[1][-1].payload

    def add_reaction(
        self,
        repo: str,
        content: str,
        *,
        user: str,
        issue_comment: int | None = None,
        review_comment: int | None = None,
        issue: int | None = None,
    ) -> Reaction:
        """React (``+1``, ``eyes``, …) to one issue comment, review comment or issue."""
        subject, subject_id = _reaction_subject(issue_comment, review_comment, issue)
        with self._store.lock:
            found = self._store.repo(repo)
            return snapshot(self._store.add_reaction(found, subject, subject_id, content, user)[0])

    def reviews(self, repo: str, number: int) -> list[Review]:
        with self._store.lock:
            found = self._store.repo(repo)
            return snapshot(sorted((r for r in found.reviews.values() if r.number == number), key=lambda r: r.id))

    def review_comments(self, repo: str, number: int) -> list[ReviewComment]:
        """Every inline comment on the PR, replies included, oldest first."""
        with self._store.lock:
            found = self._store.repo(repo)
            comments = (c for c in found.review_comments.values() if c.number == number)
            return snapshot(sorted(comments, key=lambda c: c.id))

    def review_threads(self, repo: str, number: int) -> list[ReviewThreadView]:
        with self._store.lock:
            found = self._store.repo(repo)
            return [
                ReviewThreadView(
                    node_id("PullRequestReviewThread", t.id),
                    t.id,
                    t.path,
                    t.line,
                    t.resolved,
                    t.resolved_by,
                    snapshot([found.review_comments[i] for i in t.comment_ids]),
                )
                for t in found.threads.values()
                if t.number == number
            ]

    def reactions(
        self,
        repo: str,
        *,
        issue_comment: int | None = None,
        review_comment: int | None = None,
        issue: int | None = None,
    ) -> list[Reaction]:
        subject, subject_id = _reaction_subject(issue_comment, review_comment, issue)
        with self._store.lock:
            return snapshot(self._store.reactions_on(self._store.repo(repo), subject, subject_id))

    # -- CI ------------------------------------------------------------------------------------------

    def add_workflow(
        self, repo: str, *, name: str, command: str, path: str = ".github/workflows/ci.yml", job: str = "test"
    ) -> Workflow:
        """A workflow whose one job runs ``command`` with bash in a checkout of the commit (``run_ci``)."""
        with self._store.lock:
            found = self._store.repo(repo)
            return snapshot(self._store.add_workflow(found, name=name, command=command, path=path, job=job))

    def run_ci(self, repo: str, ref: str, *, actor: str | None = None) -> list[dict[str, Any]]:
        """Run every registered workflow on the commit ``ref`` resolves to, for real (``ci_timeout_s``),
        and record runs, check suites, check runs, jobs and logs; returns the ``workflow_run.completed``
        payloads (``check_run`` and ``check_suite`` completed deliveries are recorded too)."""
        with self._store.lock:
            found = self._store.repo(repo)
            sha = self._store.git(found).resolve(ref)
            if sha is None:
                raise ValueError(f"{ref!r} does not name a commit in {repo}")
            workflows = list(found.workflows.values())
            who = actor or self._pusher(found, sha)
        payloads = []
        for workflow in workflows:
            result = self._execute(found, workflow, sha)
            deliveries = self._record(repo, _recorder(self._store, workflow, sha, who, result))
            payloads += [d.payload for d in deliveries if d.event == "workflow_run"]
        return payloads

    def add_check_suite(
        self,
        repo: str,
        sha: str,
        *,
        app_slug: str,
        conclusion: str,
        name: str | None = None,
        summary: str | None = None,
    ) -> dict[str, Any]:
        """A completed check suite (with one check run, ``name`` defaulting to the slug) from a CI app
        other than Actions; returns the ``check_suite.completed`` payload."""

        def act(found: Repo) -> None:
            full = self._store.git(found).resolve(sha)
            if full is None:
                raise ValueError(f"{sha!r} does not name a commit in {repo}")
            self._store.add_check_suite(
                found,
                full,
                app_slug=app_slug,
                conclusion=conclusion,
                name=name or app_slug,
                summary=summary,
                sender=f"{app_slug}[bot]",
            )

        return self._act(repo, act)[1][-1].payload

    def workflow_runs(self, repo: str) -> list[WorkflowRun]:
        with self._store.lock:
            return snapshot(sorted(self._store.repo(repo).runs.values(), key=lambda r: r.id))

    def check_suites(self, repo: str, ref: str) -> list[CheckSuite]:
        with self._store.lock:
            found = self._store.repo(repo)
            sha = self._store.git(found).resolve(ref)
            return snapshot([s for s in found.suites.values() if s.head_sha == sha])

    def job_log(self, repo: str, job_id: int) -> Path:
        """The job log's file (GitHub's line format); read it, do not change it."""
        with self._store.lock:
            return Path(self._store.job(self._store.repo(repo), job_id).log_path)

    def wait_for_ci(self, timeout_s: float = 60.0) -> None:
        """Wait for re-runs clients requested (``POST …/rerun``), which run in the background as on GitHub."""
        for thread in list(self._ci_threads):
            thread.join(timeout_s)

    def _start_rerun(self, found: Repo, run: WorkflowRun, actor: str) -> None:
        workflow, sha = found.workflows[run.workflow_id], run.head_sha

        def go() -> None:
            result = self._execute(found, workflow, sha)
            self._record(found.full_name, lambda r: self._store.record_run(r, workflow, sha, actor, result, run))

        thread = threading.Thread(target=go, name=f"emulator-rerun-{run.id}", daemon=True)
        self._ci_threads.append(thread)
        thread.start()

    def _execute(self, found: Repo, workflow: Workflow, sha: str) -> RunResult:
        """Outside the lock: a workflow's command may take a while, and the emulator keeps answering."""
        log = self.root / "_actions-logs" / found.full_name / f"{workflow.id}-{datetime.now(UTC):%H%M%S%f}.log"
        git = self._store.git(found)
        step = workflow.command.splitlines()[0] if workflow.command.strip() else workflow.command
        return run_workflow(git, sha, workflow.command, log, timeout_s=self.ci_timeout_s, step=step)

    def _record(self, repo: str, change: Callable[[Repo], object]) -> list[Delivery]:
        return self._act(repo, change)[1]

    def _pusher(self, found: Repo, sha: str) -> str:
        numbers = self._store.commit_context(found, sha)[1]
        return found.issues[numbers[0]].user if numbers else found.owner

    # -- apps ----------------------------------------------------------------------------------------

    def add_app(
        self,
        slug: str,
        *,
        permissions: dict[str, str],
        repos: list[str] | None = None,
        token_lifetime_s: int = 3600,
        owner: str | None = None,
    ) -> App:
        """A GitHub App installed on ``owner``'s account (default: the first repository's owner) for
        ``repos`` (None: all). Its JWT mints installation tokens acting as ``<slug>[bot]``."""
        from kodo_bot.sandbox.github_emulator.emulator import _permissions

        private, public = new_key_pair()
        with self._store.lock:
            account = owner or (repos[0].split("/")[0] if repos else next(iter(self._store.repos.values())).owner)
            self._store.add_user(account)
            self._store.add_user(f"{slug}[bot]", type="Bot")
            app = App(
                self._store.next_id("app"),
                slug,
                account,
                private,
                self._store.next_id("installation"),
                _permissions(permissions) or {},
                frozenset(r.lower() for r in repos) if repos is not None else None,
                token_lifetime_s,
                self._store.clock(),
                public_key_pem=public,
            )
            self._store.apps[app.app_id] = app
            return snapshot(app)

    # -- observability -------------------------------------------------------------------------------

    @property
    def graphql_documents(self) -> list[str]:
        """Every GraphQL document received, in order (validate a bot's queries against the schema with them)."""
        return [
            c.request_body["query"]
            for c in list(self.calls)
            if c.kind == "graphql" and isinstance(c.request_body, dict) and isinstance(c.request_body.get("query"), str)
        ]


def _recorder(store: Store, workflow: Workflow, sha: str, actor: str, result: RunResult) -> Callable[[Repo], object]:
    return lambda found: store.record_run(found, workflow, sha, actor, result)


def _thread_key(found: Repo, thread_id: str | int) -> int:
    from kodo_bot.sandbox.github_emulator._models import parse_node_id

    if isinstance(thread_id, int):
        return thread_id
    parsed = parse_node_id(thread_id)
    if parsed is None or parsed[1] not in found.threads:
        raise KeyError(f"no review thread {thread_id!r} in {found.full_name}")
    return parsed[1]


def _reaction_subject(issue_comment: int | None, review_comment: int | None, issue: int | None) -> tuple[str, int]:
    given = [
        (k, v)
        for k, v in (("issue_comment", issue_comment), ("review_comment", review_comment), ("issue", issue))
        if v is not None
    ]
    if len(given) != 1:
        raise ValueError("name exactly one of issue_comment=, review_comment= or issue=")
    return given[0]
