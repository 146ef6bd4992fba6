"""GitHub-shaped JSON for CI and apps: workflow runs, jobs, check suites, check runs, apps, installations."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kodo_bot.sandbox.github_emulator._models import (
    CheckRun,
    CheckSuite,
    Job,
    Repo,
    Workflow,
    WorkflowRun,
    iso,
    node_id,
)

if TYPE_CHECKING:
    from kodo_bot.sandbox.github_emulator._apps import App
    from kodo_bot.sandbox.github_emulator._render import Urls
    from kodo_bot.sandbox.github_emulator._store import Store

#: the app every Actions run reports as: id, slug, name, owner, and the permissions GitHub gives it
_ACTIONS = (15368, "github-actions", "GitHub Actions", "github")
_ACTIONS_PERMISSIONS = {
    **dict.fromkeys(
        ("actions", "checks", "contents", "deployments", "issues", "organization_packages", "packages", "pages"),
        "write",
    ),
    **dict.fromkeys(
        ("pull_requests", "repository_hooks", "repository_projects", "security_events", "statuses"), "write"
    ),
    "members": "read",
    "vulnerability_alerts": "read",
}


# Over 150 lines because each view is a schema-sized dict literal, to be read against the OpenAPI description.
class CiViews:
    """The CI half of ``Renderer``, which provides the members declared here."""

    if TYPE_CHECKING:
        store: Store
        urls: Urls

        def user(self, login: str) -> dict[str, Any]: ...
        def repo(self, repo: Repo, viewer: str | None = None) -> dict[str, Any]: ...

    def workflow_run(self, repo: Repo, run: WorkflowRun) -> dict[str, Any]:
        workflow = repo.workflows[run.workflow_id]
        api = f"{self.urls.repo(repo)}/actions/runs/{run.id}"
        suite_api = f"{self.urls.repo(repo)}/check-suites/{run.suite_id}"
        minimal = self.minimal_repo(repo)
        return {
            "id": run.id,
            "name": workflow.name,
            "node_id": node_id("WorkflowRun", run.id),
            "head_branch": run.head_branch,
            "head_sha": run.head_sha,
            "path": workflow.path,
            "display_title": self.store.git(repo).commit(run.head_sha).message.split("\n")[0],
            "run_number": run.run_number,
            "event": run.event,
            "status": run.status,
            "conclusion": run.conclusion,
            "workflow_id": workflow.id,
            "check_suite_id": run.suite_id,
            "check_suite_node_id": node_id("CheckSuite", run.suite_id),
            "url": api,
            "html_url": f"{self.urls.repo_html(repo)}/actions/runs/{run.id}",
            "pull_requests": [self.pull_minimal(repo, n) for n in run.pull_numbers],
            "created_at": iso(run.created_at),
            "updated_at": iso(run.updated_at),
            "actor": self.user(run.actor),
            "run_attempt": run.run_attempt,
            "referenced_workflows": [],
            "run_started_at": iso(run.created_at),
            "triggering_actor": self.user(run.actor),
            "jobs_url": f"{api}/jobs",
            "logs_url": f"{api}/logs",
            "check_suite_url": suite_api,
            "artifacts_url": f"{api}/artifacts",
            "cancel_url": f"{api}/cancel",
            "rerun_url": f"{api}/rerun",
            "previous_attempt_url": f"{api}/attempts/{run.run_attempt - 1}" if run.run_attempt > 1 else None,
            "workflow_url": f"{self.urls.repo(repo)}/actions/workflows/{workflow.id}",
            "head_commit": self.simple_commit(repo, run.head_sha),
            "repository": minimal,
            "head_repository": minimal,
        }

    def workflow(self, repo: Repo, workflow: Workflow) -> dict[str, Any]:
        api = f"{self.urls.repo(repo)}/actions/workflows/{workflow.id}"
        return {
            "id": workflow.id,
            "node_id": node_id("Workflow", workflow.id),
            "name": workflow.name,
            "path": workflow.path,
            "state": "active",
            "created_at": iso(workflow.created_at),
            "updated_at": iso(workflow.created_at),
            "url": api,
            "html_url": f"{self.urls.repo_html(repo)}/blob/{repo.default_branch}/{workflow.path}",
            "badge_url": f"{self.urls.repo_html(repo)}/workflows/{workflow.name}/badge.svg",
        }

    def job(self, repo: Repo, job: Job) -> dict[str, Any]:
        run = repo.runs[job.run_id]
        return {
            "id": job.id,
            "run_id": run.id,
            "workflow_name": repo.workflows[run.workflow_id].name,
            "head_branch": run.head_branch,
            "run_url": f"{self.urls.repo(repo)}/actions/runs/{run.id}",
            "run_attempt": run.run_attempt,
            "node_id": node_id("CheckRun", job.id),
            "head_sha": run.head_sha,
            "url": f"{self.urls.repo(repo)}/actions/jobs/{job.id}",
            "html_url": f"{self.urls.repo_html(repo)}/actions/runs/{run.id}/job/{job.id}",
            "status": "completed",
            "conclusion": job.conclusion,
            "created_at": iso(job.started_at),
            "started_at": iso(job.started_at),
            "completed_at": iso(job.completed_at),
            "name": job.name,
            "steps": [
                {
                    "name": s.name,
                    "status": "completed",
                    "conclusion": s.conclusion,
                    "number": s.number,
                    "started_at": iso(s.started_at),
                    "completed_at": iso(s.completed_at),
                }
                for s in job.steps
            ],
            "check_run_url": f"{self.urls.repo(repo)}/check-runs/{job.check_run_id}",
            "labels": ["ubuntu-latest"],
            "runner_id": 1,
            "runner_name": "GitHub Actions 1",
            "runner_group_id": 2,
            "runner_group_name": "GitHub Actions",
        }

    def check_suite(self, repo: Repo, suite: CheckSuite) -> dict[str, Any]:
        commit = self.store.git(repo).commit(suite.head_sha)
        return {
            "id": suite.id,
            "node_id": node_id("CheckSuite", suite.id),
            "head_branch": suite.head_branch,
            "head_sha": suite.head_sha,
            "status": suite.status,
            "conclusion": suite.conclusion,
            "url": f"{self.urls.repo(repo)}/check-suites/{suite.id}",
            "before": commit.parents[0] if commit.parents else "0" * 40,
            "after": suite.head_sha,
            "pull_requests": [self.pull_minimal(repo, n) for n in self.store.commit_context(repo, suite.head_sha)[1]],
            "app": self.app_for(suite.app_slug),
            "repository": self.minimal_repo(repo),
            "created_at": iso(suite.created_at),
            "updated_at": iso(suite.updated_at),
            "head_commit": self.simple_commit(repo, suite.head_sha),
            "latest_check_runs_count": len(suite.run_ids),
            "check_runs_url": f"{self.urls.repo(repo)}/check-suites/{suite.id}/check-runs",
            "rerequestable": True,
            "runs_rerequestable": True,
        }

    def check_run(self, repo: Repo, check: CheckRun) -> dict[str, Any]:
        suite = repo.suites[check.suite_id]
        api = f"{self.urls.repo(repo)}/check-runs/{check.id}"
        html = f"{self.urls.repo_html(repo)}/runs/{check.id}"
        return {
            "id": check.id,
            "head_sha": check.head_sha,
            "node_id": node_id("CheckRun", check.id),
            "external_id": "",
            "url": api,
            "html_url": html,
            "details_url": html,
            "status": check.status,
            "conclusion": check.conclusion,
            "started_at": iso(check.started_at),
            "completed_at": iso(check.completed_at),
            "output": {
                "title": check.summary and check.name,
                "summary": check.summary,
                "text": None,
                "annotations_count": 0,
                "annotations_url": f"{api}/annotations",
            },
            "name": check.name,
            "check_suite": {"id": suite.id},
            "app": self.app_for(suite.app_slug),
            "pull_requests": [self.pull_minimal(repo, n) for n in self.store.commit_context(repo, check.head_sha)[1]],
        }

    # -- pieces --------------------------------------------------------------------------------------

    def app_for(self, slug: str) -> dict[str, Any]:
        """The ``integration`` a check suite names: a registered app, Actions, or an app seen only by slug."""
        for app in self.store.apps.values():
            if app.slug == slug:
                return self.integration(app)
        if slug == _ACTIONS[1]:
            return self._integration_view(*_ACTIONS, _ACTIONS_PERMISSIONS)
        ident = 800 + sum(map(ord, slug))
        return self._integration_view(ident, slug, slug, "octo-apps", {"checks": "write"})

    def integration(self, app: App) -> dict[str, Any]:
        return self._integration_view(app.app_id, app.slug, app.slug, app.owner, app.permissions, app.created_at)

    def _integration_view(
        self, ident: int, slug: str, name: str, owner: str, permissions: dict[str, str], created: Any = None
    ) -> dict[str, Any]:
        self.store.add_user(owner)
        stamp = iso(created) or "2018-07-30T09:30:17Z"
        return {
            "id": ident,
            "slug": slug,
            "client_id": f"Iv1.{ident:016x}",
            "node_id": node_id("Integration", ident),
            "owner": self.user(owner),
            "name": name,
            "description": "",
            "external_url": f"{self.urls.origin}/apps/{slug}",
            "html_url": f"{self.urls.origin}/apps/{slug}",
            "created_at": stamp,
            "updated_at": stamp,
            "permissions": {"metadata": "read", **permissions},
            "events": ["check_run", "check_suite", "pull_request", "pull_request_review", "workflow_run"],
        }

    def installation(self, app: App) -> dict[str, Any]:
        owner = self.store.user(app.owner)
        api = f"{self.urls.api}/app/installations/{app.installation_id}"
        return {
            "id": app.installation_id,
            "account": self.user(owner.login),
            "repository_selection": "all" if app.repos is None else "selected",
            "access_tokens_url": f"{api}/access_tokens",
            "repositories_url": f"{self.urls.api}/installation/repositories",
            "html_url": f"{self.urls.origin}/settings/installations/{app.installation_id}",
            "app_id": app.app_id,
            "client_id": f"Iv1.{app.app_id:016x}",
            "target_id": owner.id,
            "target_type": owner.type if owner.type == "Organization" else "User",
            "permissions": {"metadata": "read", **app.permissions},
            "events": ["check_run", "check_suite", "pull_request", "pull_request_review", "workflow_run"],
            "created_at": iso(app.created_at),
            "updated_at": iso(app.created_at),
            "single_file_name": None,
            "app_slug": app.slug,
            "suspended_by": None,
            "suspended_at": None,
        }

    def minimal_repo(self, repo: Repo) -> dict[str, Any]:
        """``minimal-repository``: the full rendering without what only ``GET /repos`` carries."""
        out = self.repo(repo)
        for key in ("custom_properties", "network_count", "subscribers_count"):
            out.pop(key, None)
        return out

    def simple_commit(self, repo: Repo, sha: str) -> dict[str, Any]:
        info = self.store.git(repo).commit(sha)
        return {
            "id": info.sha,
            "tree_id": info.tree,
            "message": info.message,
            "timestamp": info.committer.date,
            "author": {"name": info.author.name, "email": info.author.email},
            "committer": {"name": info.committer.name, "email": info.committer.email},
        }

    def pull_minimal(self, repo: Repo, number: int) -> dict[str, Any]:
        pull = self.store.pull(repo, number)
        base_sha = self.store.git(repo).branch_sha(pull.base_ref) or pull.head_sha
        ends = {}
        for name, ref, sha in (("head", pull.head_ref, pull.head_sha), ("base", pull.base_ref, base_sha)):
            ends[name] = {
                "ref": ref,
                "sha": sha,
                "repo": {"id": repo.id, "url": self.urls.repo(repo), "name": repo.name},
            }
        return {"id": pull.id, "number": number, "url": f"{self.urls.repo(repo)}/pulls/{number}", **ends}
