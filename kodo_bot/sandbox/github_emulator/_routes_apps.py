"""The GitHub App routes a JWT may use: the app itself, a repository's installation, installation tokens."""

from __future__ import annotations

from kodo_bot.sandbox.github_emulator._apps import App, mint_token
from kodo_bot.sandbox.github_emulator._errors import not_found
from kodo_bot.sandbox.github_emulator._models import iso
from kodo_bot.sandbox.github_emulator._router import Ctx, Response, Router

_DOCS = "https://docs.github.com/rest/apps/apps"
JWT = ("jwt", "read")


def _app(ctx: Ctx) -> App:
    return ctx.store.apps[int(ctx.token.app_id or 0)]


def get_app(ctx: Ctx) -> Response:
    return Response(200, ctx.render.integration(_app(ctx)))


def repo_installation(ctx: Ctx) -> Response:
    app = _app(ctx)
    repo = ctx.store.repo(f"{ctx.params['owner']}/{ctx.params['repo']}")
    if repo.owner.lower() != app.owner.lower() or (app.repos is not None and repo.full_name.lower() not in app.repos):
        raise not_found()
    return Response(200, ctx.render.installation(app))


def create_token(ctx: Ctx) -> Response:
    app = _app(ctx)
    if ctx.number("installation_id") != app.installation_id:
        raise not_found()
    token = mint_token(ctx.store, app)
    body = {
        "token": token.value,
        "expires_at": iso(token.expires_at),
        "permissions": {"metadata": "read", **app.permissions},
        "repository_selection": "all" if app.repos is None else "selected",
    }
    return Response(201, body)


def register(router: Router) -> None:
    router.add("GET", "/app", "apps/get-authenticated", f"{_DOCS}#get-the-authenticated-app", get_app, JWT)
    router.add(
        "GET", "/repos/{owner}/{repo}/installation", "apps/get-repo-installation",
        f"{_DOCS}#get-a-repository-installation-for-the-authenticated-app", repo_installation, JWT,
    )  # fmt: skip
    router.add(
        "POST", "/app/installations/{installation_id}/access_tokens", "apps/create-installation-access-token",
        f"{_DOCS}#create-an-installation-access-token-for-an-app", create_token, JWT,
    )  # fmt: skip
