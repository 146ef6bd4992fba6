"""Pull requests: open (draft or not), read, list by head/base/state, edit.

Opening a PR needs the head branch to exist in the bare repository (the client pushes it with git
first) and at least one commit between base and head, as on GitHub. A repository whose setting "Allow GitHub
Actions to create and approve pull requests" is off refuses the workflow token (``github-actions[bot]``).
Marking a draft ready for review is GraphQL-only on GitHub; see ``_graphql``.
"""

from __future__ import annotations

from kodo_bot.sandbox.github_emulator._errors import ApiError, invalid_request
from kodo_bot.sandbox.github_emulator._router import Ctx, Response, Router

_DOCS = "https://docs.github.com/rest/pulls/pulls"


def list_pulls(ctx: Ctx) -> Response:
    repo = ctx.repo()
    state = ctx.query.get("state", "open")
    if state not in ("open", "closed", "all"):
        raise invalid_request(f"For 'state', \"{state}\" is not one of open, closed, all.")
    pulls = ctx.store.pulls_matching(repo, state=state, head=ctx.query.get("head"), base=ctx.query.get("base"))
    if ctx.query.get("direction") == "asc":
        pulls.reverse()
    return ctx.page(pulls, lambda p: ctx.render.pull(repo, p, simple=True))


#: who GitHub says acts for a workflow's GITHUB_TOKEN
ACTIONS_BOT = "github-actions[bot]"


def create_pull(ctx: Ctx) -> Response:
    repo = ctx.repo()
    ctx.require_role(repo, "read")
    if not repo.actions_can_open_prs and ctx.login.lower() == ACTIONS_BOT:
        raise ApiError(403, "GitHub Actions is not permitted to create or approve pull requests.")
    pull = ctx.store.create_pull(
        repo,
        title=ctx.field("title", str),
        body=ctx.field("body", str, nullable=True),
        head=ctx.field("head", str, required=True),
        base=ctx.field("base", str, required=True),
        draft=bool(ctx.field("draft", bool)),
        maintainer_can_modify=bool(ctx.field("maintainer_can_modify", bool)),
        user=ctx.login,
    )
    rendered = ctx.render.pull(repo, pull)
    return Response(201, rendered, {"Location": rendered["url"]})


def get_pull(ctx: Ctx) -> Response:
    repo = ctx.repo()
    pull = ctx.store.pull(repo, ctx.number("pull_number"))
    return Response(200, ctx.render.pull(repo, pull))


def update_pull(ctx: Ctx) -> Response:
    repo = ctx.repo()
    pull = ctx.store.pull(repo, ctx.number("pull_number"))
    ctx.require_role(repo, "write", unless_author=repo.issues[pull.number].user)
    state = ctx.field("state", str)
    if state is not None and state not in ("open", "closed"):
        raise invalid_request(f'For \'properties/state\', "{state}" is not one of ["open", "closed"].')
    ctx.store.update_pull(
        repo,
        pull,
        ctx.login,
        title=ctx.field("title", str),
        body=ctx.field("body", str),
        state=state,
        base=ctx.field("base", str),
        maintainer_can_modify=ctx.field("maintainer_can_modify", bool),
    )
    return Response(200, ctx.render.pull(repo, pull))


def register(router: Router) -> None:
    base = "/repos/{owner}/{repo}/pulls"
    read, write = ("pull_requests", "read"), ("pull_requests", "write")
    router.add("GET", base, "pulls/list", f"{_DOCS}#list-pull-requests", list_pulls, read)
    router.add("POST", base, "pulls/create", f"{_DOCS}#create-a-pull-request", create_pull, write)
    router.add("GET", base + "/{pull_number}", "pulls/get", f"{_DOCS}#get-a-pull-request", get_pull, read)
    router.add("PATCH", base + "/{pull_number}", "pulls/update", f"{_DOCS}#update-a-pull-request", update_pull, write)
