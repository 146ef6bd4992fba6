"""Repository, user and permission lookups: what a bot reads before it decides anything."""

from __future__ import annotations

from kodo_bot.sandbox.github_emulator._errors import ApiError, forbidden_for
from kodo_bot.sandbox.github_emulator._models import legacy_permission, role_at_least
from kodo_bot.sandbox.github_emulator._router import Ctx, Response, Router

_DOCS = "https://docs.github.com/rest"


def get_repo(ctx: Ctx) -> Response:
    return Response(200, ctx.render.repo(ctx.repo(), viewer=ctx.login))


def get_permission(ctx: Ctx) -> Response:
    repo = ctx.repo()
    caller = ctx.store.user(ctx.login)
    if caller.type != "Bot" and not role_at_least(ctx.store.role_of(repo, caller.login), "write"):
        raise ApiError(403, "Must have push access to view collaborator permission.")
    user = ctx.store.user(ctx.params["username"])
    role = ctx.store.role_of(repo, user.login)
    body = dict(ctx.render.user(user.login))
    body["permissions"] = {
        "pull": role_at_least(role, "read"),
        "triage": role_at_least(role, "triage"),
        "push": role_at_least(role, "write"),
        "maintain": role_at_least(role, "maintain"),
        "admin": role_at_least(role, "admin"),
    }
    body["role_name"] = role
    # ``permission`` is the legacy base role: maintain reads as write, triage as read. A user who is
    # not a collaborator reads as "read" on a public repository (anyone can read it), "none" otherwise.
    return Response(200, {"permission": legacy_permission(role), "role_name": role, "user": body})


def get_authenticated(ctx: Ctx) -> Response:
    user = ctx.store.user(ctx.login)
    if user.type == "Bot":
        # An installation token is not a user: GitHub refuses ``GET /user`` for it.
        raise forbidden_for("Bot")
    return Response(200, ctx.render.full_user(user.login, private=True))


def get_user(ctx: Ctx) -> Response:
    user = ctx.store.user(ctx.params["username"])
    return Response(200, ctx.render.full_user(user.login, private=False))


def get_rate_limit(ctx: Ctx) -> Response:
    rate = {k: ctx.rate.get(k, 0) for k in ("limit", "used", "remaining", "reset")}
    graphql = {"limit": 5000, "used": 0, "remaining": 5000, "reset": rate["reset"]}
    search = {"limit": 30, "used": 0, "remaining": 30, "reset": rate["reset"]}
    return Response(200, {"resources": {"core": rate, "graphql": graphql, "search": search}, "rate": rate})


def register(router: Router) -> None:
    router.add("GET", "/repos/{owner}/{repo}", "repos/get", f"{_DOCS}/repos/repos#get-a-repository", get_repo)
    router.add(
        "GET",
        "/repos/{owner}/{repo}/collaborators/{username}/permission",
        "repos/get-collaborator-permission-level",
        f"{_DOCS}/collaborators/collaborators#get-repository-permissions-for-a-user",
        get_permission,
    )
    router.add(
        "GET", "/user", "users/get-authenticated", f"{_DOCS}/users/users#get-the-authenticated-user", get_authenticated
    )
    router.add("GET", "/users/{username}", "users/get-by-username", f"{_DOCS}/users/users#get-a-user", get_user)
    router.add(
        "GET",
        "/rate_limit",
        "rate-limit/get",
        f"{_DOCS}/rate-limit/rate-limit#get-rate-limit-status-for-the-authenticated-user",
        get_rate_limit,
    )
