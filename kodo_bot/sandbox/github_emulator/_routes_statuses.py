"""Commit statuses (the bot's verdict as a check a branch rule can require) and commit lookups.

Statuses attach to a commit SHA; reading them accepts a SHA, branch or tag, resolved in the bare repo.
"""

from __future__ import annotations

from kodo_bot.sandbox.github_emulator._errors import ApiError
from kodo_bot.sandbox.github_emulator._models import Repo
from kodo_bot.sandbox.github_emulator._router import Ctx, Response, Router

_DOCS = "https://docs.github.com/rest/commits"


def _resolve(ctx: Ctx, repo: Repo, status: int) -> str:
    sha = ctx.store.git(repo).resolve(ctx.params["ref"])
    if sha is None:
        raise ApiError(status, f"No commit found for SHA: {ctx.params['ref']}")
    return sha


def create_status(ctx: Ctx) -> Response:
    repo = ctx.repo()
    ctx.require_role(repo, "write")
    status = ctx.store.create_status(
        repo,
        ctx.params["sha"],
        state=ctx.field("state", str, required=True),
        context=ctx.field("context", str) or "default",
        description=ctx.field("description", str, nullable=True),
        target_url=ctx.field("target_url", str, nullable=True),
        creator=ctx.login,
    )
    rendered = ctx.render.status(repo, status)
    return Response(201, rendered, {"Location": rendered["url"]})


def list_statuses(ctx: Ctx) -> Response:
    repo = ctx.repo()
    ctx.params.setdefault("ref", ctx.params.get("sha", ""))
    sha = _resolve(ctx, repo, 404)
    return ctx.page(ctx.store.statuses_for(repo, sha), lambda s: ctx.render.status(repo, s))


def combined_status(ctx: Ctx) -> Response:
    repo = ctx.repo()
    sha = _resolve(ctx, repo, 404)
    return Response(200, ctx.render.combined_status(repo, sha))


def get_commit(ctx: Ctx) -> Response:
    repo = ctx.repo()
    sha = _resolve(ctx, repo, 422)
    return Response(200, ctx.render.commit(repo, ctx.store.git(repo).commit(sha)))


# Long by nature: the module's route table, one router.add per endpoint.
def register(router: Router) -> None:
    router.add(
        "POST",
        "/repos/{owner}/{repo}/statuses/{sha}",
        "repos/create-commit-status",
        f"{_DOCS}/statuses#create-a-commit-status",
        create_status,
        ("statuses", "write"),
    )
    router.add(
        "GET",
        "/repos/{owner}/{repo}/commits/{ref}/statuses",
        "repos/list-commit-statuses-for-ref",
        f"{_DOCS}/statuses#list-commit-statuses-for-a-reference",
        list_statuses,
        ("statuses", "read"),
    )
    # The legacy spelling GitHub still serves and PyGithub's ``Commit.get_statuses()`` uses; it is not
    # in the OpenAPI description (``openapi_check`` maps it onto the operation above).
    router.add(
        "GET",
        "/repos/{owner}/{repo}/statuses/{sha}",
        "repos/list-commit-statuses-for-ref",
        f"{_DOCS}/statuses#list-commit-statuses-for-a-reference",
        list_statuses,
        ("statuses", "read"),
    )
    router.add(
        "GET",
        "/repos/{owner}/{repo}/commits/{ref}/status",
        "repos/get-combined-status-for-ref",
        f"{_DOCS}/statuses#get-the-combined-status-for-a-specific-reference",
        combined_status,
        ("statuses", "read"),
    )
    router.add(
        "GET",
        "/repos/{owner}/{repo}/commits/{ref}",
        "repos/get-commit",
        f"{_DOCS}/commits#get-a-commit",
        get_commit,
        ("contents", "read"),
    )
