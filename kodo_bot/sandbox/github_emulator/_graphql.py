"""GitHub's GraphQL endpoint, cut to what a labelled-issue-to-PR bot needs.

On GitHub a draft PR can only be marked ready for review through GraphQL
(``markPullRequestReadyForReview``); PyGithub's ``PullRequest.mark_ready_for_review()`` sends exactly
that mutation with the PR's REST ``node_id``. Supported:

* mutations ``markPullRequestReadyForReview`` and ``convertPullRequestToDraft`` (``input:
  {pullRequestId, clientMutationId}``);
* queries ``node(id:)``, ``repository(owner:, name:) { pullRequest(number:) issue(number:) ... }``,
  ``viewer`` and ``rateLimit``.

Answers carry only the fields asked for, as GraphQL does; an unknown field is a validation error
(no ``data``), an unresolvable id a ``NOT_FOUND`` error next to ``data`` with a null, both with
HTTP 200 as on GitHub.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kodo_bot.sandbox.github_emulator._errors import ApiError
from kodo_bot.sandbox.github_emulator._graphql_parse import (
    Field,
    Fragment,
    GraphQLSyntaxError,
    parse,
    substitute,
)
from kodo_bot.sandbox.github_emulator._models import Repo, Token, iso, parse_node_id, role_at_least
from kodo_bot.sandbox.github_emulator._render import Renderer

_INTERFACES = {"Node", "Actor", "UniformResourceLocatable", "Closable", "Labelable", "Comment"}


@dataclass
class Obj:
    typename: str
    fields: dict[str, Any]  # a value, or a callable taking the field's arguments


class GqlError(Exception):
    def __init__(
        self,
        message: str,
        type: str | None = None,
        *,
        validation: bool = False,
        extensions: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message, self.type, self.validation, self.extensions = message, type, validation, extensions

    def as_dict(self, path: list[str]) -> dict[str, Any]:
        out: dict[str, Any] = {"message": self.message, "locations": [{"line": 1, "column": 1}]}
        if self.type:
            out["type"] = self.type
        out["path"] = path
        if self.extensions:
            out["extensions"] = self.extensions
        return out


def execute(render: Renderer, token: Token, payload: Any) -> tuple[dict[str, Any], str | None]:
    """Run one GraphQL request; returns the answer and the top-level field names (for call logs)."""
    if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
        return {"errors": [{"message": "A query attribute must be specified and must be a string."}]}, None
    try:
        op = parse(payload["query"])
    except GraphQLSyntaxError as exc:
        return {"errors": [{"message": str(exc), "locations": [{"line": 1, "column": 1}]}]}, None
    variables = dict(op.variable_defaults)
    variables.update(payload.get("variables") or {})
    root = _Roots(render, token).mutation() if op.kind == "mutation" else _Roots(render, token).query()
    names = ",".join(f.name for f in op.selections if isinstance(f, Field))
    data: dict[str, Any] = {}
    errors: list[dict[str, Any]] = []
    for sel in op.selections:
        try:
            data.update(_select(root, [sel], variables, []))
        except _Located as located:
            if located.error.validation:
                return {"errors": [located.error.as_dict(located.path)]}, names
            data[sel.key if isinstance(sel, Field) else "?"] = None
            errors.append(located.error.as_dict(located.path))
    out: dict[str, Any] = {"data": data}
    if errors:
        out["errors"] = errors
    return out, names


class _Located(Exception):
    def __init__(self, error: GqlError, path: list[str]) -> None:
        self.error, self.path = error, path


def _select(obj: Obj, selections: list[Field | Fragment], variables: dict[str, Any], path: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for sel in selections:
        if isinstance(sel, Fragment):
            if sel.type_condition in (None, obj.typename) or sel.type_condition in _INTERFACES:
                out.update(_select(obj, sel.selections, variables, path))
            continue
        here = path + [sel.key]
        if sel.name == "__typename":
            out[sel.key] = obj.typename
            continue
        if sel.name not in obj.fields or sel.name.startswith("_"):
            raise _Located(
                GqlError(
                    f"Field '{sel.name}' doesn't exist on type '{obj.typename}'",
                    validation=True,
                    extensions={"code": "undefinedField", "typeName": obj.typename, "fieldName": sel.name},
                ),
                here,
            )
        value = obj.fields[sel.name]
        try:
            if callable(value):
                value = value(substitute(sel.arguments, variables))
        except GqlError as exc:
            raise _Located(exc, here) from None
        out[sel.key] = _complete(value, sel, variables, here)
    return out


def _complete(value: Any, sel: Field, variables: dict[str, Any], path: list[str]) -> Any:
    if isinstance(value, list):
        return [_complete(v, sel, variables, path) for v in value]
    if isinstance(value, Obj):
        if not sel.selections:
            raise _Located(
                GqlError(
                    f"Field must have selections (field '{sel.name}' returns {value.typename} but has no selections.)",
                    validation=True,
                ),
                path,
            )
        return _select(value, sel.selections, variables, path)
    if sel.selections:
        raise _Located(GqlError(f"Selections can't be made on scalars (field '{sel.name}')", validation=True), path)
    return value


class _Roots:
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
                "viewer": lambda a: self._actor(self.token.login),
                "rateLimit": lambda a: Obj(
                    "RateLimit",
                    {"limit": 5000, "remaining": 5000, "cost": 1, "used": 0, "resetAt": None, "nodeCount": 0},
                ),
            },
        )

    def mutation(self) -> Obj:
        return Obj(
            "Mutation",
            {
                "markPullRequestReadyForReview": lambda a: self._set_draft(a.get("input") or {}, False),
                "convertPullRequestToDraft": lambda a: self._set_draft(a.get("input") or {}, True),
            },
        )

    # -- resolvers -----------------------------------------------------------------------------------

    def _node(self, ident: Any) -> Obj:
        found = parse_node_id(ident) if isinstance(ident, str) else None
        if found:
            kind, number = found
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
        try:
            self.store.set_draft(repo, pull, draft, user.login)
        except ApiError as exc:
            raise GqlError(exc.message, "UNPROCESSABLE") from None
        return Obj(
            "Payload", {"clientMutationId": payload.get("clientMutationId"), "pullRequest": self._pull(repo, number)}
        )

    # -- objects -------------------------------------------------------------------------------------

    def _actor(self, login: str) -> Obj:
        user = self.store.user(login)
        rendered = self.render.user(login)
        return Obj(
            "Bot" if user.type == "Bot" else user.type,
            {
                "login": user.login,
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
            }
        )
        return Obj("PullRequest", fields)
