"""Issue comments, which are also a PR's conversation comments (the bot's progress comment lives here)."""

from __future__ import annotations

from kodo_bot.sandbox.github_emulator._models import Comment, Repo, iso
from kodo_bot.sandbox.github_emulator._router import Ctx, Response, Router
from kodo_bot.sandbox.github_emulator._routes_issues import issue_for

_DOCS = "https://docs.github.com/rest/issues/comments"
_READ = ("issues|pull_requests", "read")
_WRITE = ("issues|pull_requests", "write")


def _comment_for(ctx: Ctx, level: str) -> tuple[Repo, Comment]:
    repo = ctx.repo()
    comment = ctx.store.comment(repo, ctx.number("comment_id"))
    if not ctx.store.issue(repo, comment.issue_number).is_pull:
        ctx.require_token("issues", level)
    return repo, comment


def list_comments(ctx: Ctx) -> Response:
    repo, issue = issue_for(ctx, "read")
    comments = ctx.store.issue_comments(repo, issue.number)
    since = ctx.query.get("since")
    if since:
        comments = [c for c in comments if (iso(c.updated_at) or "") >= since]
    return ctx.page(comments, lambda c: ctx.render.comment(repo, c))


def create_comment(ctx: Ctx) -> Response:
    repo, issue = issue_for(ctx, "write")
    ctx.require_role(repo, "read")
    body = ctx.field("body", str, required=True)
    comment = ctx.store.add_comment(repo, issue, body, ctx.login)
    rendered = ctx.render.comment(repo, comment)
    return Response(201, rendered, {"Location": rendered["url"]})


def get_comment(ctx: Ctx) -> Response:
    repo, comment = _comment_for(ctx, "read")
    return Response(200, ctx.render.comment(repo, comment))


def update_comment(ctx: Ctx) -> Response:
    repo, comment = _comment_for(ctx, "write")
    ctx.require_role(repo, "write", unless_author=comment.user)
    body = ctx.field("body", str, required=True)
    ctx.store.edit_comment(repo, comment, body, ctx.login)
    return Response(200, ctx.render.comment(repo, comment))


def delete_comment(ctx: Ctx) -> Response:
    repo, comment = _comment_for(ctx, "write")
    ctx.require_role(repo, "write", unless_author=comment.user)
    ctx.store.delete_comment(repo, comment, ctx.login)
    return Response(204)


def register(router: Router) -> None:
    on_issue = "/repos/{owner}/{repo}/issues/{issue_number}/comments"
    router.add("GET", on_issue, "issues/list-comments", f"{_DOCS}#list-issue-comments", list_comments, _READ)
    router.add("POST", on_issue, "issues/create-comment", f"{_DOCS}#create-an-issue-comment", create_comment, _WRITE)
    one = "/repos/{owner}/{repo}/issues/comments/{comment_id}"
    router.add("GET", one, "issues/get-comment", f"{_DOCS}#get-an-issue-comment", get_comment, _READ)
    router.add("PATCH", one, "issues/update-comment", f"{_DOCS}#update-an-issue-comment", update_comment, _WRITE)
    router.add("DELETE", one, "issues/delete-comment", f"{_DOCS}#delete-an-issue-comment", delete_comment, _WRITE)
