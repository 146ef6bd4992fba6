"""Pull request reviews, inline review comments and replies, and reactions on comments and issues.

A review with inline comments is all or nothing: a comment on a line outside the PR's diff answers
GitHub's 422 and records nothing. Resolving a review thread is GraphQL-only (see ``_graphql_objects``).
"""

from __future__ import annotations

from kodo_bot.sandbox.github_emulator._errors import invalid_request, not_found
from kodo_bot.sandbox.github_emulator._models import Repo
from kodo_bot.sandbox.github_emulator._router import Ctx, Response, Router

_DOCS = "https://docs.github.com/rest/pulls"
_REACTION_DOCS = "https://docs.github.com/rest/reactions/reactions"
_READ, _WRITE = ("pull_requests", "read"), ("pull_requests", "write")


def _pull_number(ctx: Ctx) -> tuple[Repo, int]:
    repo = ctx.repo()
    number = ctx.number("pull_number")
    ctx.store.pull(repo, number)
    return repo, number


def list_reviews(ctx: Ctx) -> Response:
    repo, number = _pull_number(ctx)
    reviews = sorted((r for r in repo.reviews.values() if r.number == number), key=lambda r: r.id)
    return ctx.page(reviews, lambda r: ctx.render.review(repo, r))


def create_review(ctx: Ctx) -> Response:
    repo, number = _pull_number(ctx)
    ctx.require_role(repo, "read")
    comments = ctx.field("comments", list) or []
    if not all(isinstance(c, dict) for c in comments):
        raise invalid_request("For 'items', the comments are not objects.")
    review = ctx.store.submit_review(
        repo,
        number,
        user=ctx.login,
        event=ctx.field("event", str) or "COMMENT",
        body=ctx.field("body", str) or "",
        comments=comments,
        commit_id=ctx.field("commit_id", str),
    )
    return Response(200, ctx.render.review(repo, review))


def get_review(ctx: Ctx) -> Response:
    repo, number = _pull_number(ctx)
    review = repo.reviews.get(ctx.number("review_id"))
    if review is None or review.number != number:
        raise not_found()
    return Response(200, ctx.render.review(repo, review))


def list_review_comments_of_review(ctx: Ctx) -> Response:
    get_review(ctx)
    repo, review_id = ctx.repo(), ctx.number("review_id")
    found = [c for c in repo.review_comments.values() if c.review_id == review_id]
    return ctx.page(found, lambda c: ctx.render.review_comment(repo, c))


def list_review_comments(ctx: Ctx) -> Response:
    repo, number = _pull_number(ctx)
    found = sorted((c for c in repo.review_comments.values() if c.number == number), key=lambda c: c.id)
    if ctx.query.get("direction") == "desc":
        found.reverse()
    return ctx.page(found, lambda c: ctx.render.review_comment(repo, c))


def get_review_comment(ctx: Ctx) -> Response:
    repo = ctx.repo()
    return Response(200, ctx.render.review_comment(repo, ctx.store.review_comment(repo, ctx.number("comment_id"))))


def update_review_comment(ctx: Ctx) -> Response:
    repo = ctx.repo()
    comment = ctx.store.review_comment(repo, ctx.number("comment_id"))
    ctx.require_role(repo, "write", unless_author=comment.user)
    ctx.store.edit_review_comment(repo, comment, ctx.field("body", str, required=True), ctx.login)
    return Response(200, ctx.render.review_comment(repo, comment))


def create_reply(ctx: Ctx) -> Response:
    repo, number = _pull_number(ctx)
    ctx.require_role(repo, "read")
    body = ctx.field("body", str, required=True)
    reply = ctx.store.reply_to_review_comment(repo, number, ctx.number("comment_id"), ctx.login, body)
    rendered = ctx.render.review_comment(repo, reply)
    return Response(201, rendered, {"Location": rendered["url"]})


def _react(ctx: Ctx, subject: str, subject_id: int) -> Response:
    repo = ctx.repo()
    ctx.require_role(repo, "read")
    content = ctx.field("content", str, required=True)
    reaction, created = ctx.store.add_reaction(repo, subject, subject_id, content, ctx.login)
    return Response(201 if created else 200, ctx.render.reaction(reaction))


def react_to_issue_comment(ctx: Ctx) -> Response:
    comment = ctx.store.comment(ctx.repo(), ctx.number("comment_id"))
    return _react(ctx, "issue_comment", comment.id)


def list_issue_comment_reactions(ctx: Ctx) -> Response:
    repo = ctx.repo()
    comment = ctx.store.comment(repo, ctx.number("comment_id"))
    found = ctx.store.reactions_on(repo, "issue_comment", comment.id)
    return ctx.page(found, ctx.render.reaction)


def react_to_review_comment(ctx: Ctx) -> Response:
    comment = ctx.store.review_comment(ctx.repo(), ctx.number("comment_id"))
    return _react(ctx, "review_comment", comment.id)


def react_to_issue(ctx: Ctx) -> Response:
    issue = ctx.store.issue(ctx.repo(), ctx.number("issue_number"))
    return _react(ctx, "issue", issue.number)


# Long by nature: the module's route table, one router.add per endpoint.
def register(router: Router) -> None:
    pull = "/repos/{owner}/{repo}/pulls/{pull_number}"
    docs = f"{_DOCS}/reviews"
    router.add(
        "GET", pull + "/reviews", "pulls/list-reviews", f"{docs}#list-reviews-for-a-pull-request", list_reviews, _READ
    )
    router.add(
        "POST",
        pull + "/reviews",
        "pulls/create-review",
        f"{docs}#create-a-review-for-a-pull-request",
        create_review,
        _WRITE,
    )
    router.add(
        "GET",
        pull + "/reviews/{review_id}",
        "pulls/get-review",
        f"{docs}#get-a-review-for-a-pull-request",
        get_review,
        _READ,
    )
    router.add(
        "GET",
        pull + "/reviews/{review_id}/comments",
        "pulls/list-comments-for-review",
        f"{docs}#list-comments-for-a-pull-request-review",
        list_review_comments_of_review,
        _READ,
    )
    comments = f"{_DOCS}/comments"
    router.add(
        "GET", pull + "/comments", "pulls/list-review-comments", f"{comments}#list-review-comments-on-a-pull-request",
        list_review_comments, _READ,
    )  # fmt: skip
    one = "/repos/{owner}/{repo}/pulls/comments/{comment_id}"
    router.add(
        "GET",
        one,
        "pulls/get-review-comment",
        f"{comments}#get-a-review-comment-for-a-pull-request",
        get_review_comment,
        _READ,
    )
    router.add(
        "PATCH", one, "pulls/update-review-comment", f"{comments}#update-a-review-comment-for-a-pull-request",
        update_review_comment, _WRITE,
    )  # fmt: skip
    router.add(
        "POST", pull + "/comments/{comment_id}/replies", "pulls/create-reply-for-review-comment",
        f"{comments}#create-a-reply-for-a-review-comment", create_reply, _WRITE,
    )  # fmt: skip
    issues = ("issues|pull_requests", "write")
    router.add(
        "POST", "/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions", "reactions/create-for-issue-comment",
        f"{_REACTION_DOCS}#create-reaction-for-an-issue-comment", react_to_issue_comment, issues,
    )  # fmt: skip
    router.add(
        "GET", "/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions", "reactions/list-for-issue-comment",
        f"{_REACTION_DOCS}#list-reactions-for-an-issue-comment", list_issue_comment_reactions,
        ("issues|pull_requests", "read"),
    )  # fmt: skip
    router.add(
        "POST", one + "/reactions", "reactions/create-for-pull-request-review-comment",
        f"{_REACTION_DOCS}#create-reaction-for-a-pull-request-review-comment", react_to_review_comment, _WRITE,
    )  # fmt: skip
    router.add(
        "POST", "/repos/{owner}/{repo}/issues/{issue_number}/reactions", "reactions/create-for-issue",
        f"{_REACTION_DOCS}#create-reaction-for-an-issue", react_to_issue, issues,
    )  # fmt: skip
