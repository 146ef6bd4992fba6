"""Self-hosted runners of a repository: ``GET /repos/{o}/{r}/actions/runners``, which ``kodo-bot doctor`` asks
to find a runner with the ``kodo`` label.

As GitHub: a fine-grained or App token needs ``administration: read``; a person needs the admin role.
"""

from __future__ import annotations

from typing import Any

from kodo_bot.sandbox.github_emulator._models import Runner
from kodo_bot.sandbox.github_emulator._router import Ctx, Response, Router

_DOCS = "https://docs.github.com/rest/actions/self-hosted-runners"
#: the labels GitHub gives a runner itself (type ``read-only``); the rest are ``custom``
_READ_ONLY = {"self-hosted", "linux", "x64", "arm64", "arm", "windows", "macos"}


def render_runner(runner: Runner) -> dict[str, Any]:
    return {
        "id": runner.id,
        "name": runner.name,
        "os": "Linux",
        "status": runner.status,
        "busy": runner.busy,
        "labels": [
            {"id": i + 1, "name": name, "type": "read-only" if name.lower() in _READ_ONLY else "custom"}
            for i, name in enumerate(runner.labels)
        ],
    }


def list_runners(ctx: Ctx) -> Response:
    repo = ctx.repo()
    ctx.require_role(repo, "admin")
    wanted = ctx.query.get("name")
    found = [r for r in repo.runners if wanted is None or r.name == wanted]
    response = ctx.page(found, render_runner)
    response.body = {"total_count": len(found), "runners": response.body}
    return response


def register(router: Router) -> None:
    router.add(
        "GET",
        "/repos/{owner}/{repo}/actions/runners",
        "actions/list-self-hosted-runners-for-repo",
        f"{_DOCS}#list-self-hosted-runners-for-a-repository",
        list_runners,
        ("administration", "read"),
    )
