"""Issues: read, list, open, edit (state, labels, title), and their event log.

Pull requests are issues too: ``GET /issues/{n}`` answers for a PR number with a ``pull_request`` key,
and closing it through this route closes the PR, as on GitHub.
"""

from __future__ import annotations

from typing import Any

from kodo_bot.sandbox.github_emulator._errors import invalid_request
from kodo_bot.sandbox.github_emulator._models import Issue, IssueEvent, Repo, iso, node_id, role_at_least
from kodo_bot.sandbox.github_emulator._router import Ctx, Response, Router

_DOCS = "https://docs.github.com/rest/issues"
_READ = ("issues|pull_requests", "read")
_WRITE = ("issues|pull_requests", "write")


def issue_for(ctx: Ctx, level: str) -> tuple[Repo, Issue]:
    """The issue in the path; a plain issue needs the ``issues`` permission, a PR either one."""
    repo = ctx.repo()
    issue = ctx.store.issue(repo, ctx.number("issue_number"))
    if not issue.is_pull:
        ctx.require_token("issues", level)
    return repo, issue


def list_issues(ctx: Ctx) -> Response:
    repo = ctx.repo()
    state = ctx.query.get("state", "open")
    wanted = {n.strip().lower() for n in ctx.query.get("labels", "").split(",") if n.strip()}
    creator = ctx.query.get("creator", "").lower()
    found = [
        i
        for i in repo.issues.values()
        if (state == "all" or i.state == state)
        and wanted <= {n.lower() for n in i.labels}
        and (not creator or i.user.lower() == creator)
    ]
    key = "updated_at" if ctx.query.get("sort") == "updated" else "created_at"
    found.sort(key=lambda i: (getattr(i, key), i.number), reverse=ctx.query.get("direction", "desc") == "desc")
    return ctx.page(found, lambda i: ctx.render.issue(repo, i))


def create_issue(ctx: Ctx) -> Response:
    repo = ctx.repo()
    ctx.require_token("issues", "write")
    ctx.require_role(repo, "read")
    title = ctx.field("title", (str, int), required=True)
    body = ctx.field("body", str, nullable=True)
    labels = ctx.field("labels", list) or []
    assignees = ctx.field("assignees", list) or []
    if not role_at_least(ctx.store.role_of(repo, ctx.login), "write") and not ctx.is_app():
        labels, assignees = [], []  # GitHub silently drops these without push access
    names = [entry["name"] if isinstance(entry, dict) else entry for entry in labels]
    issue = ctx.store.create_issue(repo, title=str(title), body=body, user=ctx.login, labels=names, assignees=assignees)
    rendered = ctx.render.issue(repo, issue)
    return Response(201, rendered, {"Location": rendered["url"]})


def get_issue(ctx: Ctx) -> Response:
    repo, issue = issue_for(ctx, "read")
    return Response(200, ctx.render.issue(repo, issue))


def update_issue(ctx: Ctx) -> Response:
    repo, issue = issue_for(ctx, "write")
    ctx.require_role(repo, "triage", unless_author=issue.user)
    changes: dict[str, Any] = {}
    title = ctx.field("title", (str, int), nullable=True)
    if title is not None:
        changes["title"] = str(title)
    if "body" in ctx.obj():
        changes["body"] = ctx.field("body", str, nullable=True)
    state = ctx.field("state", str)
    if state is not None and state not in ("open", "closed"):
        raise invalid_request(f'For \'properties/state\', "{state}" is not one of ["open", "closed"].')
    reason = ctx.field("state_reason", str, nullable=True)
    if reason is not None and reason not in ("completed", "not_planned", "duplicate", "reopened"):
        raise invalid_request(f"For 'properties/state_reason', \"{reason}\" is not a valid state reason.")
    labels = ctx.field("labels", list)
    if labels is not None:
        changes["labels"] = [e["name"] if isinstance(e, dict) else e for e in labels]
    assignees = ctx.field("assignees", list)
    if assignees is not None:
        changes["assignees"] = assignees
    ctx.store.update_issue(repo, issue, ctx.login, state=state, state_reason=reason, **changes)
    return Response(200, ctx.render.issue(repo, issue))


def list_events(ctx: Ctx) -> Response:
    repo, issue = issue_for(ctx, "read")
    return ctx.page(issue.events, lambda e: render_event(ctx, repo, issue, e))


def render_event(ctx: Ctx, repo: Repo, issue: Issue, event: IssueEvent) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": event.id,
        "node_id": node_id("IssueEvent", event.id),
        "url": f"{ctx.render.urls.repo(repo)}/issues/events/{event.id}",
        "actor": ctx.render.user(event.actor),
        "event": event.event,
        "commit_id": None,
        "commit_url": None,
        "created_at": iso(event.created_at),
        "performed_via_github_app": None,
    }
    if event.label is not None:
        label = repo.labels.get(event.label.lower())
        out["label"] = {"name": event.label, "color": label.color if label else "ededed"}
    if event.event in ("closed", "reopened"):
        out["state_reason"] = issue.state_reason if event.event == "closed" else "reopened"
    return out


def register(router: Router) -> None:
    base = "/repos/{owner}/{repo}/issues"
    router.add(
        "GET", base, "issues/list-for-repo", f"{_DOCS}/issues#list-repository-issues", list_issues, ("issues", "read")
    )
    router.add("POST", base, "issues/create", f"{_DOCS}/issues#create-an-issue", create_issue, _WRITE)
    router.add("GET", base + "/{issue_number}", "issues/get", f"{_DOCS}/issues#get-an-issue", get_issue, _READ)
    router.add(
        "PATCH", base + "/{issue_number}", "issues/update", f"{_DOCS}/issues#update-an-issue", update_issue, _WRITE
    )
    router.add(
        "GET",
        base + "/{issue_number}/events",
        "issues/list-events",
        f"{_DOCS}/events#list-issue-events",
        list_events,
        _READ,
    )
