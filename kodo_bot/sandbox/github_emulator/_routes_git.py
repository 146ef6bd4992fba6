"""Git refs, branches and file contents, all read from (and written to) the bare repository.

This is how a bot reads ``.github/kodo.yml`` from the default branch and checks that the branch it
pushed is where it expects, without trusting anything but real git.
"""

from __future__ import annotations

import re
from typing import Any

from kodo_bot.sandbox.github_emulator._errors import ApiError, not_found
from kodo_bot.sandbox.github_emulator._models import Repo
from kodo_bot.sandbox.github_emulator._router import Ctx, Response, Router

_DOCS = "https://docs.github.com/rest"
_SHA = re.compile(r"^[0-9a-f]{40}$")
_READ, _WRITE = ("contents", "read"), ("contents", "write")


def _full_ref(ctx: Ctx) -> str:
    return "refs/" + ctx.params["ref"].strip("/")


def _ref_answer(ctx: Ctx, repo: Repo, refname: str) -> dict[str, Any]:
    for name, sha, kind in ctx.store.git(repo).refs(refname):
        if name == refname:
            return ctx.render.git_ref(repo, name, sha, kind)
    raise not_found()


def get_ref(ctx: Ctx) -> Response:
    repo = ctx.repo()
    return Response(200, _ref_answer(ctx, repo, _full_ref(ctx)))


def matching_refs(ctx: Ctx) -> Response:
    repo = ctx.repo()
    prefix = _full_ref(ctx)
    refs = [r for r in ctx.store.git(repo).refs() if r[0].startswith(prefix)]
    return Response(200, [ctx.render.git_ref(repo, *r) for r in refs])


def create_ref(ctx: Ctx) -> Response:
    repo = ctx.repo()
    ctx.require_role(repo, "write")
    ref = ctx.field("ref", str, required=True)
    sha = ctx.field("sha", str, required=True)
    git = ctx.store.git(repo)
    if not ref.startswith("refs/") or ref.count("/") < 2:
        raise ApiError(422, "Reference name is not valid; it must start with 'refs' and have at least two slashes.")
    if any(name == ref for name, _, _ in git.refs(ref)):
        raise ApiError(422, "Reference already exists")
    if not _SHA.match(sha) or git.resolve(sha) is None:
        raise ApiError(422, "Object does not exist")
    git.update_ref(ref, sha)
    rendered = _ref_answer(ctx, repo, ref)
    return Response(201, rendered, {"Location": rendered["url"]})


def update_ref(ctx: Ctx) -> Response:
    repo = ctx.repo()
    ctx.require_role(repo, "write")
    sha = ctx.field("sha", str, required=True)
    force = bool(ctx.field("force", bool))
    git, ref = ctx.store.git(repo), _full_ref(ctx)
    current = next((s for name, s, _ in git.refs(ref) if name == ref), None)
    if current is None:
        raise ApiError(422, "Reference does not exist")
    if not _SHA.match(sha) or git.resolve(sha) is None:
        raise ApiError(422, "Object does not exist")
    if not force and not git.is_ancestor(current, sha):
        raise ApiError(422, "Update is not a fast forward")
    git.update_ref(ref, sha)
    return Response(200, _ref_answer(ctx, repo, ref))


def delete_ref(ctx: Ctx) -> Response:
    repo = ctx.repo()
    ctx.require_role(repo, "write")
    git, ref = ctx.store.git(repo), _full_ref(ctx)
    if not any(name == ref for name, _, _ in git.refs(ref)):
        raise ApiError(422, "Reference does not exist")
    git.delete_ref(ref)
    return Response(204)


def list_branches(ctx: Ctx) -> Response:
    repo = ctx.repo()
    heads = [(name.removeprefix("refs/heads/"), sha) for name, sha, _ in ctx.store.git(repo).refs("refs/heads/")]
    api = ctx.render.urls.repo(repo)
    return ctx.page(
        heads, lambda b: {"name": b[0], "protected": False, "commit": {"sha": b[1], "url": f"{api}/commits/{b[1]}"}}
    )


def get_branch(ctx: Ctx) -> Response:
    repo = ctx.repo()
    sha = ctx.store.git(repo).branch_sha(ctx.params["branch"])
    if sha is None:
        raise ApiError(404, "Branch not found")
    return Response(200, ctx.render.branch(repo, ctx.params["branch"], sha))


def get_content(ctx: Ctx) -> Response:
    repo = ctx.repo()
    git = ctx.store.git(repo)
    ref = ctx.query.get("ref") or repo.default_branch
    if git.branch_sha(repo.default_branch) is None and not git.refs("refs/heads/"):
        raise ApiError(404, "This repository is empty.")
    commit = git.resolve(ref)
    if commit is None:
        raise ApiError(404, f"No commit found for the ref {ref}")
    path = ctx.params["path"].strip("/")
    entry = git.entry(commit, path)
    if entry is None:
        raise not_found()
    if entry.type == "tree":
        children = git.list_dir(commit, path)
        return Response(200, [ctx.render.content(repo, e, ref, with_body=False) for e in children])
    return Response(200, ctx.render.content(repo, entry, ref, with_body=True))


# Long by nature: the module's route table, one router.add per endpoint.
def register(router: Router) -> None:
    git = "/repos/{owner}/{repo}/git"
    router.add("GET", git + "/ref/{ref}", "git/get-ref", f"{_DOCS}/git/refs#get-a-reference", get_ref, _READ)
    router.add(
        "GET",
        git + "/matching-refs/{ref}",
        "git/list-matching-refs",
        f"{_DOCS}/git/refs#list-matching-references",
        matching_refs,
        _READ,
    )
    router.add("POST", git + "/refs", "git/create-ref", f"{_DOCS}/git/refs#create-a-reference", create_ref, _WRITE)
    router.add(
        "PATCH", git + "/refs/{ref}", "git/update-ref", f"{_DOCS}/git/refs#update-a-reference", update_ref, _WRITE
    )
    router.add(
        "DELETE", git + "/refs/{ref}", "git/delete-ref", f"{_DOCS}/git/refs#delete-a-reference", delete_ref, _WRITE
    )
    router.add(
        "GET",
        "/repos/{owner}/{repo}/branches",
        "repos/list-branches",
        f"{_DOCS}/branches/branches#list-branches",
        list_branches,
        _READ,
    )
    router.add(
        "GET",
        "/repos/{owner}/{repo}/branches/{branch}",
        "repos/get-branch",
        f"{_DOCS}/branches/branches#get-a-branch",
        get_branch,
        _READ,
    )
    router.add(
        "GET",
        "/repos/{owner}/{repo}/contents/{path}",
        "repos/get-content",
        f"{_DOCS}/repos/contents#get-repository-content",
        get_content,
        _READ,
    )
