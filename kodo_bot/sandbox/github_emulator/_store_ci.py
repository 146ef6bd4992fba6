"""CI as GitHub records it: workflows, workflow runs, check suites, check runs and jobs.

The store only records; running a workflow's command happens outside the lock (``_ci_runner``), and
its result comes back through ``record_run``. A run's event is ``pull_request`` when an open PR has
the commit as its head, ``push`` otherwise, as Actions would have triggered it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from kodo_bot.sandbox.github_emulator._errors import not_found
from kodo_bot.sandbox.github_emulator._models import (
    CheckRun,
    CheckSuite,
    Job,
    PendingEvent,
    Repo,
    Step,
    Workflow,
    WorkflowRun,
)

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable
    from datetime import datetime

    from kodo_bot.sandbox.github_emulator._ci_runner import RunResult
    from kodo_bot.sandbox.github_emulator._git import BareRepo
    from kodo_bot.sandbox.github_emulator._models import User

ACTIONS_APP = "github-actions"
_T = TypeVar("_T")
CONCLUSIONS = ("success", "failure", "neutral", "cancelled", "skipped", "timed_out", "action_required", "stale")


class CiMixin:
    """The CI half of ``Store``, which provides the members declared here."""

    if TYPE_CHECKING:
        lock: threading.RLock
        clock: Callable[[], datetime]

        def next_id(self, kind: str) -> int: ...
        def emit(self, event: PendingEvent) -> None: ...
        def git(self, repo: Repo) -> BareRepo: ...
        def add_user(self, login: str) -> User: ...

    def add_workflow(self, repo: Repo, *, name: str, command: str, path: str, job: str) -> Workflow:
        with self.lock:
            workflow = Workflow(self.next_id("workflow"), name, path, command, job, self.clock())
            repo.workflows[workflow.id] = workflow
            return workflow

    def commit_context(self, repo: Repo, sha: str) -> tuple[str | None, list[int]]:
        """The branch a run on ``sha`` reports, and the open PRs whose head it is."""
        pulls = [
            p.number
            for p in sorted(repo.pulls.values(), key=lambda p: p.number)
            if repo.issues[p.number].state == "open" and self.git(repo).branch_sha(p.head_ref) == sha
        ]
        if pulls:
            return repo.pulls[pulls[0]].head_ref, pulls
        for name, ref_sha, _ in self.git(repo).refs("refs/heads/"):
            if ref_sha == sha:
                return name.removeprefix("refs/heads/"), []
        return None, []

    def record_run(
        self, repo: Repo, workflow: Workflow, sha: str, actor: str, result: RunResult, run: WorkflowRun | None = None
    ) -> WorkflowRun:
        """A completed workflow run (or a new attempt of ``run``), with its check suite, check run and
        job; queues the ``check_run``, ``check_suite`` and ``workflow_run`` completed webhooks."""
        with self.lock:
            branch, pulls = self.commit_context(repo, sha)
            now = self.clock()
            if run is None:
                suite = self._suite(repo, ACTIONS_APP, sha, branch, result.conclusion)
                number = 1 + sum(r.workflow_id == workflow.id for r in repo.runs.values())
                event = "pull_request" if pulls else "push"
                run = WorkflowRun(
                    self.next_id("run"),
                    workflow.id,
                    number,
                    event,
                    branch,
                    sha,
                    actor,
                    suite.id,
                    "completed",
                    None,
                    now,
                    now,
                )
                repo.runs[run.id] = run
            suite = repo.suites[run.suite_id]
            suite.status, suite.conclusion, suite.updated_at = "completed", result.conclusion, now
            run.status, run.conclusion, run.updated_at, run.pull_numbers = "completed", result.conclusion, now, pulls
            check = self._check_run(
                repo, suite, workflow.job, result.conclusion, result.started_at, result.completed_at
            )
            job = Job(
                self.next_id("job"),
                run.id,
                check.id,
                workflow.job,
                result.conclusion,
                result.started_at,
                result.completed_at,
                _steps(workflow, result),
                str(result.log_path),
            )
            repo.jobs[job.id] = job
            run.job_ids = [job.id]
            for event, subject in (("check_run", {"check_run": check.id}), ("check_suite", {"suite": suite.id})):
                self.emit(PendingEvent(event, "completed", repo.full_name, actor, subject=subject))
            self.emit(PendingEvent("workflow_run", "completed", repo.full_name, actor, subject={"run": run.id}))
            return run

    def add_check_suite(
        self, repo: Repo, sha: str, *, app_slug: str, conclusion: str, name: str, summary: str | None, sender: str
    ) -> CheckSuite:
        """A completed check suite with one check run, as a CI app other than Actions reports it."""
        if conclusion not in CONCLUSIONS:
            raise ValueError(f"conclusion must be one of {CONCLUSIONS}, not {conclusion!r}")
        with self.lock:
            self.add_user(sender)
            branch, _ = self.commit_context(repo, sha)
            suite = self._suite(repo, app_slug, sha, branch, conclusion)
            now = self.clock()
            check = self._check_run(repo, suite, name, conclusion, now, now)
            check.summary = summary
            for event, subject in (("check_run", {"check_run": check.id}), ("check_suite", {"suite": suite.id})):
                self.emit(PendingEvent(event, "completed", repo.full_name, sender, subject=subject))
            return suite

    def rerun(self, repo: Repo, run: WorkflowRun) -> WorkflowRun:
        """A new attempt, queued; the emulator's runner completes it through ``record_run``."""
        with self.lock:
            run.run_attempt += 1
            run.status, run.conclusion, run.updated_at = "queued", None, self.clock()
            suite = repo.suites[run.suite_id]
            suite.status, suite.conclusion = "queued", None
            return run

    def _suite(self, repo: Repo, app_slug: str, sha: str, branch: str | None, conclusion: str) -> CheckSuite:
        now = self.clock()
        suite = CheckSuite(self.next_id("suite"), app_slug, sha, branch, "completed", conclusion, now, now)
        repo.suites[suite.id] = suite
        return suite

    def _check_run(
        self, repo: Repo, suite: CheckSuite, name: str, conclusion: str, started: datetime, completed: datetime
    ) -> CheckRun:
        check = CheckRun(
            self.next_id("check_run"), suite.id, name, suite.head_sha, "completed", conclusion, started, completed
        )
        repo.check_runs[check.id] = check
        suite.run_ids.append(check.id)
        return check

    # -- reading -------------------------------------------------------------------------------------

    def workflow_run(self, repo: Repo, run_id: int) -> WorkflowRun:
        return _get(repo.runs, run_id)

    def job(self, repo: Repo, job_id: int) -> Job:
        return _get(repo.jobs, job_id)

    def check_suite(self, repo: Repo, suite_id: int) -> CheckSuite:
        return _get(repo.suites, suite_id)

    def check_run(self, repo: Repo, check_run_id: int) -> CheckRun:
        return _get(repo.check_runs, check_run_id)


def _get(records: dict[int, _T], ident: int) -> _T:
    found = records.get(ident)
    if found is None:
        raise not_found()
    return found


def _steps(workflow: Workflow, result: RunResult) -> list[Step]:
    """Set up, the command (the failing step when it fails), complete: what the job page lists."""
    start, end = result.started_at, result.completed_at
    command = workflow.command.splitlines()[0] if workflow.command.strip() else workflow.command
    return [
        Step("Set up job", 1, "success", start, start),
        Step(f"Run {command}", 2, result.conclusion, start, end),
        Step("Complete job", 3, "success", end, end),
    ]
