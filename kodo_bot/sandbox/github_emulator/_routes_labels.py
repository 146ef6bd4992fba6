"""Labels: the repository's label set and the labels on one issue or PR.

Adding a label by name creates it in the repository when missing (GitHub does, with colour ``ededed``);
removing a label the issue does not carry answers 404 ``Label does not exist``.
"""

from __future__ import annotations

from typing import Any

from kodo_bot.sandbox.github_emulator._errors import invalid_request
from kodo_bot.sandbox.github_emulator._models import Issue, Repo
from kodo_bot.sandbox.github_emulator._router import Ctx, Response, Router
from kodo_bot.sandbox.github_emulator._routes_issues import issue_for

_DOCS = "https://docs.github.com/rest/issues/labels"
_READ = ("issues|pull_requests", "read")
_WRITE = ("issues|pull_requests", "write")


def _names(body: Any) -> list[str]:
    """Every body form GitHub accepts: ``["a"]``, ``{"labels": ["a"]}``, ``[{"name": "a"}]``, ``"a"``
    (PyGithub's ``add_to_labels`` sends the bare array)."""
    if isinstance(body, dict):
        body = body.get("labels", [])
    if isinstance(body, str):
        body = [body]
    if not isinstance(body, list):
        raise invalid_request("For 'links/0/schema', the body is not a list of labels.")
    names = []
    for entry in body:
        name = entry.get("name") if isinstance(entry, dict) else entry
        if not isinstance(name, str):
            raise invalid_request(f"For 'items', {entry!r} is not a string.")
        names.append(name)
    return names


def _issue_labels(ctx: Ctx, repo: Repo, issue: Issue) -> list[dict[str, Any]]:
    return [ctx.render.label(repo, ctx.store.label(repo, n)) for n in issue.labels]


def list_on_issue(ctx: Ctx) -> Response:
    repo, issue = issue_for(ctx, "read")
    return ctx.page(issue.labels, lambda n: ctx.render.label(repo, ctx.store.label(repo, n)))


def add_labels(ctx: Ctx) -> Response:
    repo, issue = issue_for(ctx, "write")
    ctx.require_role(repo, "triage")
    ctx.store.add_labels(repo, issue, _names(ctx.body), ctx.login)
    return Response(200, _issue_labels(ctx, repo, issue))


def set_labels(ctx: Ctx) -> Response:
    repo, issue = issue_for(ctx, "write")
    ctx.require_role(repo, "triage")
    ctx.store.set_labels(repo, issue, _names(ctx.body if ctx.body is not None else []), ctx.login)
    return Response(200, _issue_labels(ctx, repo, issue))


def remove_all(ctx: Ctx) -> Response:
    repo, issue = issue_for(ctx, "write")
    ctx.require_role(repo, "triage")
    ctx.store.set_labels(repo, issue, [], ctx.login)
    return Response(204)


def remove_label(ctx: Ctx) -> Response:
    repo, issue = issue_for(ctx, "write")
    ctx.require_role(repo, "triage")
    ctx.store.remove_label(repo, issue, ctx.params["name"], ctx.login)
    return Response(200, _issue_labels(ctx, repo, issue))


def list_repo_labels(ctx: Ctx) -> Response:
    repo = ctx.repo()
    labels = sorted(repo.labels.values(), key=lambda label: label.id)
    return ctx.page(labels, lambda label: ctx.render.label(repo, label))


def get_label(ctx: Ctx) -> Response:
    repo = ctx.repo()
    return Response(200, ctx.render.label(repo, ctx.store.label(repo, ctx.params["name"])))


def create_label(ctx: Ctx) -> Response:
    repo = ctx.repo()
    ctx.require_role(repo, "triage")
    name = ctx.field("name", str, required=True)
    color = ctx.field("color", str)
    description = ctx.field("description", str)
    label = ctx.store.create_label(repo, name, color, description)
    rendered = ctx.render.label(repo, label)
    return Response(201, rendered, {"Location": rendered["url"]})


def register(router: Router) -> None:
    on_issue = "/repos/{owner}/{repo}/issues/{issue_number}/labels"
    router.add(
        "GET", on_issue, "issues/list-labels-on-issue", f"{_DOCS}#list-labels-for-an-issue", list_on_issue, _READ
    )
    router.add("POST", on_issue, "issues/add-labels", f"{_DOCS}#add-labels-to-an-issue", add_labels, _WRITE)
    router.add("PUT", on_issue, "issues/set-labels", f"{_DOCS}#set-labels-for-an-issue", set_labels, _WRITE)
    router.add(
        "DELETE", on_issue, "issues/remove-all-labels", f"{_DOCS}#remove-all-labels-from-an-issue", remove_all, _WRITE
    )
    router.add(
        "DELETE",
        on_issue + "/{name}",
        "issues/remove-label",
        f"{_DOCS}#remove-a-label-from-an-issue",
        remove_label,
        _WRITE,
    )
    in_repo = "/repos/{owner}/{repo}/labels"
    router.add(
        "GET",
        in_repo,
        "issues/list-labels-for-repo",
        f"{_DOCS}#list-labels-for-a-repository",
        list_repo_labels,
        ("issues|pull_requests", "read"),
    )
    router.add("POST", in_repo, "issues/create-label", f"{_DOCS}#create-a-label", create_label, _WRITE)
    router.add("GET", in_repo + "/{name}", "issues/get-label", f"{_DOCS}#get-a-label", get_label, _READ)
