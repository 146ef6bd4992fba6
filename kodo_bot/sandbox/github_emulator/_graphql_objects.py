"""The object graph GraphQL answers are executed over: ``Obj`` records built lazily from the store.

Every field reads current state when a query asks for it. graphql-core executes the document against
GitHub's schema over these objects, so an answer can only carry what the schema allows; a field the
schema has but the emulator does not fill answers a GraphQL error naming it, never a made-up value.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from kodo_bot.sandbox.github_emulator._errors import ApiError
from kodo_bot.sandbox.github_emulator._models import (
    Comment,
    Repo,
    Review,
    ReviewThread,
    Token,
    User,
    iso,
    node_id,
    parse_node_id,
    role_at_least,
)
from kodo_bot.sandbox.github_emulator._render import Renderer


@dataclass
class Obj:
    typename: str
    fields: dict[str, Any]  # a value, or a callable taking the field's arguments


class GqlError(Exception):
    """A resolver's error, answered beside ``data`` with GitHub's ``type`` (NOT_FOUND, FORBIDDEN...)."""

    def __init__(self, message: str, type: str | None = None) -> None:
        super().__init__(message)
        self.message, self.type = message, type


class Roots:
    """Builds the object graph lazily from the store; every field reads current state."""

    def __init__(self, render: Renderer, token: Token) -> None:
        self.render, self.store, self.token = render, render.store, token

    # -- roots ---------------------------------------------------------------------------------------

    def query(self) -> Obj:
        return Obj(
            "Query",
            {
                "node": lambda a: self._node(a.get("id")),
                "repository": lambda a: self._repository(a.get("owner"), a.get("name")),
                "viewer": lambda a: self._actor(self.token.login, as_viewer=True),
                "rateLimit": lambda a: Obj(
                    "RateLimit",
                    {
                        "limit": 5000,
                        "remaining": 5000,
                        "cost": 1,
                        "used": 0,
                        "resetAt": iso(self.store.clock() + timedelta(hours=1)),
                        "nodeCount": 0,
                    },
                ),
            },
        )

    def mutation(self) -> Obj:
        return Obj(
            "Mutation",
            {
                "markPullRequestReadyForReview": lambda a: self._set_draft(a.get("input") or {}, False),
                "convertPullRequestToDraft": lambda a: self._set_draft(a.get("input") or {}, True),
                "resolveReviewThread": lambda a: self._resolve_thread(a.get("input") or {}, True),
                "unresolveReviewThread": lambda a: self._resolve_thread(a.get("input") or {}, False),
            },
        )

    # -- resolvers -----------------------------------------------------------------------------------

    def _node(self, ident: Any) -> Obj:
        found = parse_node_id(ident) if isinstance(ident, str) else None
        if found:
            kind, number = found
            if kind == "PullRequestReviewThread" and (located := self._thread_by_id(number)):
                return self._thread(*located)
            for repo in self.store.repos.values():
                if kind == "PullRequest":
                    for pull in repo.pulls.values():
                        if pull.id == number and self._visible(repo, "pull_requests"):
                            return self._pull(repo, pull.number)
                if kind == "Issue":
                    for issue in repo.issues.values():
                        if issue.id == number and self._visible(repo, "issues"):
                            return self._issue(repo, issue.number)
                if kind == "Repository" and repo.id == number and self._visible(repo, "metadata"):
                    return self._repo_obj(repo)
        raise GqlError(f"Could not resolve to a node with the global id of '{ident}'", "NOT_FOUND")

    def _repository(self, owner: Any, name: Any) -> Obj:
        repo = self.store.repos.get(f"{owner}/{name}".lower())
        if repo is None or not self._visible(repo, "metadata"):
            raise GqlError(f"Could not resolve to a Repository with the name '{owner}/{name}'.", "NOT_FOUND")
        return self._repo_obj(repo)

    def _visible(self, repo: Repo, category: str) -> bool:
        if self.token.repos is not None and repo.full_name.lower() not in self.token.repos:
            return False
        if not self.token.allows(category, "read"):
            return False
        user = self.store.user(self.token.login)
        return user.type == "Bot" or self.store.role_of(repo, user.login) != "none"

    def _set_draft(self, payload: dict[str, Any], draft: bool) -> Obj:
        target = self._node(payload.get("pullRequestId"))
        if target.typename != "PullRequest":
            raise GqlError(
                f"Could not resolve to a PullRequest with the global id of '{payload.get('pullRequestId')}'",
                "NOT_FOUND",
            )
        repo, number = target.fields["_repo"], target.fields["number"]
        pull = self.store.pull(repo, number)
        user = self._may_write_pull(repo, number)
        try:
            self.store.set_draft(repo, pull, draft, user.login)
        except ApiError as exc:
            raise GqlError(exc.message, "UNPROCESSABLE") from None
        return Obj(
            "Payload", {"clientMutationId": payload.get("clientMutationId"), "pullRequest": self._pull(repo, number)}
        )

    def _resolve_thread(self, payload: dict[str, Any], resolved: bool) -> Obj:
        """``resolveReviewThread`` / ``unresolveReviewThread``."""
        ident = payload.get("threadId")
        found = parse_node_id(ident) if isinstance(ident, str) else None
        located = self._thread_by_id(found[1]) if found and found[0] == "PullRequestReviewThread" else None
        if located is None:
            raise GqlError(f"Could not resolve to a node with the global id of '{ident}'", "NOT_FOUND")
        repo, thread = located
        user = self._may_write_pull(repo, thread.number)
        self.store.set_thread_resolved(repo, thread, user.login, resolved)
        return Obj(
            "Payload", {"clientMutationId": payload.get("clientMutationId"), "thread": self._thread(repo, thread)}
        )

    def _may_write_pull(self, repo: Repo, number: int) -> User:
        """The caller, if it may change the PR: pull_requests write, and for a person the write role or
        authorship of the PR (GitHub's ``viewerCanUpdate`` / ``viewerCanResolve``); FORBIDDEN otherwise."""
        user = self.store.user(self.token.login)
        author = repo.issues[number].user
        allowed = self.token.allows("pull_requests", "write") and (
            user.type == "Bot"
            or author.lower() == user.login.lower()
            or role_at_least(self.store.role_of(repo, user.login), "write")
        )
        if not allowed:
            who = "integration" if user.type == "Bot" else "personal access token"
            raise GqlError(f"Resource not accessible by {who}", "FORBIDDEN")
        return user

    def _thread_by_id(self, ident: int) -> tuple[Repo, ReviewThread] | None:
        for repo in self.store.repos.values():
            if ident in repo.threads and self._visible(repo, "pull_requests"):
                return repo, repo.threads[ident]
        return None

    def _thread(self, repo: Repo, thread: ReviewThread) -> Obj:
        comments = [self._review_comment(repo, i) for i in thread.comment_ids]
        return Obj(
            "PullRequestReviewThread",
            {
                "id": node_id("PullRequestReviewThread", thread.id),
                "isResolved": thread.resolved,
                "isOutdated": False,
                "isCollapsed": thread.resolved,
                "path": thread.path,
                "line": thread.line,
                "originalLine": thread.line,
                "startLine": None,
                "diffSide": thread.side,
                "subjectType": "LINE",
                "resolvedBy": self._actor(thread.resolved_by) if thread.resolved_by else None,
                "viewerCanResolve": self.token.allows("pull_requests", "write"),
                "viewerCanUnresolve": self.token.allows("pull_requests", "write"),
                "viewerCanReply": True,
                "comments": lambda a: _connection("PullRequestReviewCommentConnection", comments, a),
                "pullRequest": lambda a: self._pull(repo, thread.number),
                "repository": lambda a: self._repo_obj(repo),
            },
        )

    def _review_comment(self, repo: Repo, comment_id: int) -> Obj:
        comment = repo.review_comments[comment_id]
        rendered = self.render.review_comment(repo, comment)
        return Obj(
            "PullRequestReviewComment",
            {
                "id": rendered["node_id"],
                "databaseId": comment.id,
                "fullDatabaseId": str(comment.id),
                "body": comment.body,
                "bodyText": comment.body,
                "path": comment.path,
                "line": comment.line,
                "originalLine": comment.line,
                "diffHunk": comment.diff_hunk,
                "author": self._actor(comment.user),
                "authorAssociation": rendered["author_association"],
                "createdAt": iso(comment.created_at),
                "updatedAt": iso(comment.updated_at),
                "url": rendered["html_url"],
                "outdated": False,
                "replyTo": (lambda a: self._review_comment(repo, comment.in_reply_to_id))
                if comment.in_reply_to_id
                else None,
            },
        )

    # -- objects -------------------------------------------------------------------------------------

    def _actor(self, login: str, *, as_viewer: bool = False) -> Obj:
        """A user, or a bot as GitHub's GraphQL names an author: without the ``[bot]`` REST gives its login
        (``viewer`` keeps it, as GitHub answers an installation token)."""
        user = self.store.user(login)
        rendered = self.render.user(login)
        return Obj(
            "Bot" if user.type == "Bot" else user.type,
            {
                "login": user.login.removesuffix("[bot]") if user.type == "Bot" and not as_viewer else user.login,
                "id": rendered["node_id"],
                "databaseId": user.id,
                "url": rendered["html_url"],
                "avatarUrl": rendered["avatar_url"],
                "name": user.name,
            },
        )

    def _repo_obj(self, repo: Repo) -> Obj:
        return Obj(
            "Repository",
            {
                "id": self.render.repo(repo)["node_id"],
                "databaseId": repo.id,
                "name": repo.name,
                "nameWithOwner": repo.full_name,
                "owner": self._actor(repo.owner),
                "url": self.render.urls.repo_html(repo),
                "isPrivate": repo.private,
                "defaultBranchRef": Obj("Ref", {"name": repo.default_branch, "prefix": "refs/heads/"}),
                "pullRequest": lambda a: self._numbered(repo, a.get("number"), "PullRequest"),
                "issue": lambda a: self._numbered(repo, a.get("number"), "Issue"),
                "issueOrPullRequest": lambda a: self._numbered(repo, a.get("number"), None),
            },
        )

    def _numbered(self, repo: Repo, number: Any, kind: str | None) -> Obj:
        issue = repo.issues.get(number) if isinstance(number, int) else None
        if issue is None or (kind == "PullRequest" and not issue.is_pull):
            raise GqlError(
                f"Could not resolve to a {kind or 'issue or pull request'} with the number of {number}.", "NOT_FOUND"
            )
        if issue.is_pull and kind != "Issue":
            return self._pull(repo, issue.number)
        return self._issue(repo, issue.number)

    def _issue_fields(self, repo: Repo, number: int) -> dict[str, Any]:
        issue = repo.issues[number]
        rendered = self.render.issue(repo, issue)
        labels = [
            Obj("Label", {"name": n, "id": self.render.label(repo, self.store.label(repo, n))["node_id"]})
            for n in issue.labels
        ]
        return {
            "_repo": repo,
            "number": issue.number,
            "title": issue.title,
            "body": issue.body or "",
            "url": rendered["html_url"],
            "author": self._actor(issue.user),
            "closed": issue.state == "closed",
            "createdAt": iso(issue.created_at),
            "updatedAt": iso(issue.updated_at),
            "repository": lambda a: self._repo_obj(repo),
            "labels": lambda a: Obj("LabelConnection", {"nodes": labels, "totalCount": len(labels)}),
            "comments": lambda a: _connection(
                "IssueCommentConnection",
                [self._issue_comment(repo, c) for c in self.store.issue_comments(repo, number)],
                a,
            ),
        }

    def _issue_comment(self, repo: Repo, comment: Comment) -> Obj:
        rendered = self.render.comment(repo, comment)
        fields = self._said(rendered, comment.id, comment.body, comment.user)
        return Obj("IssueComment", fields | {"updatedAt": iso(comment.updated_at)})

    def _review(self, repo: Repo, review: Review) -> Obj:
        rendered = self.render.review(repo, review)
        fields = self._said(rendered, review.id, review.body, review.user)
        return Obj(
            "PullRequestReview",
            fields
            | {
                "state": review.state,
                "submittedAt": iso(review.submitted_at),
                "commit": Obj("Commit", {"oid": review.commit_id}),
            },
        )

    def _said(self, rendered: dict[str, Any], ident: int, body: str, user: str) -> dict[str, Any]:
        """What every kind of comment has in GraphQL (its ``Comment`` interface), from its REST rendering."""
        return {
            "id": rendered["node_id"],
            "databaseId": ident,
            "fullDatabaseId": str(ident),
            "body": body,
            "bodyText": body,
            "createdAt": rendered.get("created_at") or rendered.get("submitted_at"),
            "url": rendered["html_url"],
            "author": self._actor(user),
            "authorAssociation": rendered["author_association"],
        }

    def _issue(self, repo: Repo, number: int) -> Obj:
        fields = self._issue_fields(repo, number)
        issue = repo.issues[number]
        fields.update({"id": self.render.issue(repo, issue)["node_id"], "state": issue.state.upper()})
        return Obj("Issue", fields)

    def _pull(self, repo: Repo, number: int) -> Obj:
        fields = self._issue_fields(repo, number)
        pull = self.store.pull(repo, number)
        git = self.store.git(repo)
        base_sha = git.branch_sha(pull.base_ref) or pull.head_sha
        state = "MERGED" if pull.merged else repo.issues[number].state.upper()

        def mergeable(args: dict[str, Any]) -> str:  # resolved only when a query asks for it
            return "MERGEABLE" if git.merges_cleanly(base_sha, pull.head_sha) else "CONFLICTING"

        fields.update(
            {
                "id": self.render.pull(repo, pull, simple=True)["node_id"],
                "isDraft": pull.draft,
                "state": state,
                "merged": pull.merged,
                "headRefName": pull.head_ref,
                "baseRefName": pull.base_ref,
                "headRefOid": pull.head_sha,
                "baseRefOid": base_sha,
                "permalink": fields["url"],
                "mergeable": mergeable,
                "reviews": lambda a: _connection(
                    "PullRequestReviewConnection",
                    [
                        self._review(repo, r)
                        for r in sorted(repo.reviews.values(), key=lambda r: r.id)
                        if r.number == number
                    ],
                    a,
                ),
                "reviewThreads": lambda a: _connection(
                    "PullRequestReviewThreadConnection",
                    [self._thread(repo, t) for t in repo.threads.values() if t.number == number],
                    a,
                ),
            }
        )
        return Obj("PullRequest", fields)


def _by_id(review: Review) -> int:
    return review.id


def _connection(typename: str, nodes: list[Obj], args: dict[str, Any]) -> Obj:
    """A connection page: ``first``/``last`` cut the list, ``after`` starts past a cursor; cursors are
    positions (GitHub's are opaque strings: clients only hand them back)."""
    first, last = args.get("first"), args.get("last")
    start = int(after) if (after := args.get("after")) and str(after).isdigit() else 0
    rest = nodes[start:]
    page = rest[:first] if first is not None else rest
    page = page[-last:] if last else page
    return Obj(
        typename,
        {
            "nodes": page,
            "totalCount": len(nodes),
            "pageInfo": Obj(
                "PageInfo",
                {
                    "hasNextPage": start + len(page) < len(nodes) and first is not None,
                    "hasPreviousPage": bool(last) and len(page) < len(nodes),
                    "startCursor": "MQ" if page else None,
                    "endCursor": f"{start + len(page)}" if page else None,
                },
            ),
        },
    )
