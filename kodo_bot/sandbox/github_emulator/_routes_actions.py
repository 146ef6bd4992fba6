"""Actions and checks: workflow runs (list, get, re-run), jobs and job logs, check suites, check runs,
and the PRs associated with a commit.

A job log answers 302 to a short-lived download URL, as GitHub does; the emulator serves that URL
itself (``/_logs/…``, no authentication, like GitHub's signed blob URLs) and streams the file.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from kodo_bot.sandbox.github_emulator._errors import ApiError
from kodo_bot.sandbox.github_emulator._models import CheckRun, Repo
from kodo_bot.sandbox.github_emulator._router import Ctx, Response, Router

_ACTIONS_DOCS = "https://docs.github.com/rest/actions"
_CHECKS_DOCS = "https://docs.github.com/rest/checks"
LOGS_PREFIX = "/_logs/"


def list_runs(ctx: Ctx) -> Response:
    repo = ctx.repo()
    runs = sorted(repo.runs.values(), key=lambda r: -r.id)
    for key in ("branch", "head_sha", "status", "event"):
        wanted = ctx.query.get(key)
        if wanted:
            attr = {"branch": "head_branch"}.get(key, key)
            runs = [r for r in runs if getattr(r, attr) == wanted or (key == "status" and r.conclusion == wanted)]
    return _counted(ctx, "workflow_runs", runs, lambda r: ctx.render.workflow_run(repo, r))


def get_run(ctx: Ctx) -> Response:
    repo = ctx.repo()
    return Response(200, ctx.render.workflow_run(repo, ctx.store.workflow_run(repo, ctx.number("run_id"))))


def list_jobs(ctx: Ctx) -> Response:
    repo = ctx.repo()
    run = ctx.store.workflow_run(repo, ctx.number("run_id"))
    jobs = [repo.jobs[j] for j in run.job_ids]
    return _counted(ctx, "jobs", jobs, lambda j: ctx.render.job(repo, j))


def get_job(ctx: Ctx) -> Response:
    repo = ctx.repo()
    return Response(200, ctx.render.job(repo, ctx.store.job(repo, ctx.number("job_id"))))


def job_logs(ctx: Ctx) -> Response:
    repo = ctx.repo()
    job = ctx.store.job(repo, ctx.number("job_id"))
    key = secrets.token_urlsafe(16)
    ctx.store.downloads[key] = job.log_path
    return Response(302, None, {"Location": f"{ctx.render.urls.origin}{LOGS_PREFIX}{key}/job-logs.txt"})


def rerun(ctx: Ctx) -> Response:
    repo = ctx.repo()
    ctx.require_role(repo, "write")
    run = ctx.store.workflow_run(repo, ctx.number("run_id"))
    if run.status != "completed":
        raise ApiError(403, "This workflow is already running")
    ctx.store.rerun(repo, run)
    if ctx.store.on_rerun is not None:
        ctx.store.on_rerun(repo, run, ctx.login)
    return Response(201, {})


def _counted(ctx: Ctx, key: str, items: list[Any], render: Callable[[Any], Any]) -> Response:
    """A page wrapped as Actions and checks list it: ``{"total_count": N, key: [...]}``."""
    page = ctx.page(items, render)
    page.body = {"total_count": len(items), key: page.body}
    return page


def _sha(ctx: Ctx, repo: Repo, name: str = "ref") -> str:
    sha = ctx.store.git(repo).resolve(ctx.params[name])
    if sha is None:
        raise ApiError(422, f"No commit found for SHA: {ctx.params[name]}")
    return sha


def suites_for_ref(ctx: Ctx) -> Response:
    repo = ctx.repo()
    sha = _sha(ctx, repo)
    suites = [s for s in repo.suites.values() if s.head_sha == sha]
    if ctx.query.get("app_id"):
        suites = [s for s in suites if str(ctx.render.app_for(s.app_slug)["id"]) == ctx.query["app_id"]]
    return _counted(ctx, "check_suites", suites, lambda s: ctx.render.check_suite(repo, s))


def get_suite(ctx: Ctx) -> Response:
    repo = ctx.repo()
    return Response(200, ctx.render.check_suite(repo, ctx.store.check_suite(repo, ctx.number("check_suite_id"))))


def runs_for_suite(ctx: Ctx) -> Response:
    repo = ctx.repo()
    suite = ctx.store.check_suite(repo, ctx.number("check_suite_id"))
    return _check_runs(ctx, repo, [repo.check_runs[i] for i in suite.run_ids])


def runs_for_ref(ctx: Ctx) -> Response:
    repo = ctx.repo()
    sha = _sha(ctx, repo)
    return _check_runs(ctx, repo, [c for c in repo.check_runs.values() if c.head_sha == sha])


def _check_runs(ctx: Ctx, repo: Repo, found: list[CheckRun]) -> Response:
    for key in ("check_name", "status"):
        if ctx.query.get(key):
            found = [c for c in found if getattr(c, key.removeprefix("check_")) == ctx.query[key]]
    found.sort(key=lambda c: -c.id)
    return _counted(ctx, "check_runs", found, lambda c: ctx.render.check_run(repo, c))


def get_check_run(ctx: Ctx) -> Response:
    repo = ctx.repo()
    return Response(200, ctx.render.check_run(repo, ctx.store.check_run(repo, ctx.number("check_run_id"))))


def pulls_for_commit(ctx: Ctx) -> Response:
    """Open PRs whose head is the commit, then merged-in ones GitHub would add (none: merges are not emulated)."""
    repo = ctx.repo()
    sha = _sha(ctx, repo, "commit_sha")
    numbers = ctx.store.commit_context(repo, sha)[1]
    return ctx.page(numbers, lambda n: ctx.render.pull(repo, ctx.store.pull(repo, n), simple=True))


# Long by nature: the module's route table, one router.add per endpoint.
def register(router: Router) -> None:
    runs = "/repos/{owner}/{repo}/actions/runs"
    read = ("actions", "read")
    docs = f"{_ACTIONS_DOCS}/workflow-runs"
    router.add(
        "GET",
        runs,
        "actions/list-workflow-runs-for-repo",
        f"{docs}#list-workflow-runs-for-a-repository",
        list_runs,
        read,
    )
    router.add("GET", runs + "/{run_id}", "actions/get-workflow-run", f"{docs}#get-a-workflow-run", get_run, read)
    router.add(
        "POST",
        runs + "/{run_id}/rerun",
        "actions/re-run-workflow",
        f"{docs}#re-run-a-workflow",
        rerun,
        ("actions", "write"),
    )
    jobs_docs = f"{_ACTIONS_DOCS}/workflow-jobs"
    router.add(
        "GET", runs + "/{run_id}/jobs", "actions/list-jobs-for-workflow-run",
        f"{jobs_docs}#list-jobs-for-a-workflow-run", list_jobs, read,
    )  # fmt: skip
    job = "/repos/{owner}/{repo}/actions/jobs/{job_id}"
    router.add(
        "GET", job, "actions/get-job-for-workflow-run", f"{jobs_docs}#get-a-job-for-a-workflow-run", get_job, read
    )
    router.add(
        "GET", job + "/logs", "actions/download-job-logs-for-workflow-run",
        f"{jobs_docs}#download-job-logs-for-a-workflow-run", job_logs, read,
    )  # fmt: skip
    checks = ("checks", "read")
    commit = "/repos/{owner}/{repo}/commits/{ref}"
    suites = "/repos/{owner}/{repo}/check-suites/{check_suite_id}"
    router.add(
        "GET",
        commit + "/check-suites",
        "checks/list-suites-for-ref",
        f"{_CHECKS_DOCS}/suites#list-check-suites-for-a-git-reference",
        suites_for_ref,
        checks,
    )
    router.add("GET", suites, "checks/get-suite", f"{_CHECKS_DOCS}/suites#get-a-check-suite", get_suite, checks)
    router.add(
        "GET",
        suites + "/check-runs",
        "checks/list-for-suite",
        f"{_CHECKS_DOCS}/runs#list-check-runs-in-a-check-suite",
        runs_for_suite,
        checks,
    )
    router.add(
        "GET",
        commit + "/check-runs",
        "checks/list-for-ref",
        f"{_CHECKS_DOCS}/runs#list-check-runs-for-a-git-reference",
        runs_for_ref,
        checks,
    )
    router.add(
        "GET", "/repos/{owner}/{repo}/check-runs/{check_run_id}", "checks/get",
        f"{_CHECKS_DOCS}/runs#get-a-check-run", get_check_run, checks,
    )  # fmt: skip
    router.add(
        "GET", "/repos/{owner}/{repo}/commits/{commit_sha}/pulls", "repos/list-pull-requests-associated-with-commit",
        "https://docs.github.com/rest/commits/commits#list-pull-requests-associated-with-a-commit",
        pulls_for_commit, ("pull_requests", "read"),
    )  # fmt: skip
