"""Records to GitHub-shaped JSON: users, repositories, labels, issues and comments.

Shapes follow GitHub's own response examples (``tests/github_spec``); every ``url`` points back at the
emulator (PyGithub follows them and refuses another host), every ``html_url`` at the emulator's root,
as a GitHub Enterprise server lays them out (``/api/v3`` for the API, ``/`` for the web).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, overload

from kodo_bot.sandbox.github_emulator._models import (
    Comment,
    Issue,
    Label,
    Repo,
    User,
    iso,
    node_id,
    role_at_least,
)
from kodo_bot.sandbox.github_emulator._render_ci import CiViews
from kodo_bot.sandbox.github_emulator._render_git import GitViews
from kodo_bot.sandbox.github_emulator._render_reviews import ReviewViews
from kodo_bot.sandbox.github_emulator._store import Store

API_PREFIX = "/api/v3"
GRAPHQL_PATH = "/api/graphql"


@dataclass(frozen=True)
class Urls:
    origin: str  # http://127.0.0.1:PORT

    @property
    def api(self) -> str:
        return self.origin + API_PREFIX

    @property
    def graphql(self) -> str:
        return self.origin + GRAPHQL_PATH

    def repo(self, repo: Repo) -> str:
        return f"{self.api}/repos/{repo.full_name}"

    def repo_html(self, repo: Repo) -> str:
        return f"{self.origin}/{repo.full_name}"


class Renderer(GitViews, ReviewViews, CiViews):
    def __init__(self, store: Store, urls: Urls) -> None:
        self.store = store
        self.urls = urls

    # -- users ---------------------------------------------------------------------------------------

    @overload
    def user(self, login: str) -> dict[str, Any]: ...
    @overload
    def user(self, login: None) -> None: ...
    @overload
    def user(self, login: str | None) -> dict[str, Any] | None: ...

    def user(self, login: str | None) -> dict[str, Any] | None:
        """A ``simple-user``; None for None (GitHub's ``nullable-simple-user``)."""
        if login is None:
            return None
        user = self.store.user(login)
        api = f"{self.urls.api}/users/{user.login}"
        return {
            "login": user.login,
            "id": user.id,
            "node_id": node_id(_user_kind(user), user.id),
            "avatar_url": f"{self.urls.origin}/avatars/u/{user.id}?v=4",
            "gravatar_id": "",
            "url": api,
            "html_url": f"{self.urls.origin}/{user.login}",
            "followers_url": f"{api}/followers",
            "following_url": f"{api}/following{{/other_user}}",
            "gists_url": f"{api}/gists{{/gist_id}}",
            "starred_url": f"{api}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{api}/subscriptions",
            "organizations_url": f"{api}/orgs",
            "repos_url": f"{api}/repos",
            "events_url": f"{api}/events{{/privacy}}",
            "received_events_url": f"{api}/received_events",
            "type": user.type,
            "user_view_type": "public",
            "site_admin": user.site_admin,
        }

    def full_user(self, login: str, *, private: bool) -> dict[str, Any]:
        """``public-user`` for ``GET /users/{u}``; ``private-user`` (a few more fields) for ``/user``."""
        user: User = self.store.user(login)
        owned = [r for r in self.store.repos.values() if r.owner.lower() == user.login.lower()]
        out = dict(self.user(login))
        out.update(
            {
                "name": user.name,
                "company": None,
                "blog": "",
                "location": None,
                "email": user.email,
                "hireable": None,
                "bio": None,
                "twitter_username": None,
                "public_repos": sum(not r.private for r in owned),
                "public_gists": 0,
                "followers": 0,
                "following": 0,
                "created_at": iso(user.created_at),
                "updated_at": iso(user.created_at),
            }
        )
        if private:
            out.update(
                {
                    "private_gists": 0,
                    "total_private_repos": sum(r.private for r in owned),
                    "owned_private_repos": sum(r.private for r in owned),
                    "disk_usage": 0,
                    "collaborators": 0,
                    "two_factor_authentication": True,
                    "notification_email": user.email,
                    "plan": {"name": "free", "space": 976562499, "collaborators": 0, "private_repos": 10000},
                }
            )
        return out

    # -- repositories --------------------------------------------------------------------------------

    # Long by nature: GitHub's full-repository schema, field by field, to be read against the OpenAPI description.
    def repo(self, repo: Repo, viewer: str | None = None) -> dict[str, Any]:
        """A ``full-repository``; it also satisfies ``minimal-repository`` and ``repository``."""
        api, html = self.urls.repo(repo), self.urls.repo_html(repo)
        git_url = repo_clone_url(repo)
        stamp = iso(repo.created_at)
        out: dict[str, Any] = {
            "id": repo.id,
            "node_id": node_id("Repository", repo.id),
            "name": repo.name,
            "full_name": repo.full_name,
            "owner": self.user(repo.owner),
            "private": repo.private,
            "html_url": html,
            "description": repo.description,
            "fork": False,
            "url": api,
        }
        out.update(_repo_template_urls(api))
        out.update(
            {
                # The clone URLs name the bare repository on disk: git pushes there with no server.
                "git_url": git_url,
                "ssh_url": git_url,
                "clone_url": git_url,
                "svn_url": html,
                "mirror_url": None,
                "homepage": None,
                "language": None,
                "forks_count": 0,
                "stargazers_count": 0,
                "watchers_count": 0,
                "size": 0,
                "default_branch": repo.default_branch,
                "open_issues_count": sum(i.state == "open" for i in repo.issues.values()),
                "is_template": False,
                "topics": [],
                "has_issues": True,
                "has_projects": False,
                "has_wiki": False,
                "has_pages": False,
                "has_downloads": True,
                "has_discussions": False,
                "archived": False,
                "disabled": False,
                "visibility": "private" if repo.private else "public",
                "pushed_at": stamp,
                "created_at": stamp,
                "updated_at": stamp,
                "allow_rebase_merge": True,
                "allow_squash_merge": True,
                "allow_merge_commit": True,
                "allow_auto_merge": False,
                "delete_branch_on_merge": False,
                "allow_update_branch": False,
                "allow_forking": True,
                "web_commit_signoff_required": False,
                "subscribers_count": 0,
                "network_count": 0,
                "license": None,
                "forks": 0,
                "open_issues": sum(i.state == "open" for i in repo.issues.values()),
                "watchers": 0,
                "custom_properties": {},
            }
        )
        if viewer is not None:
            role = self.store.role_of(repo, viewer)
            out["permissions"] = {
                "admin": role_at_least(role, "admin"),
                "maintain": role_at_least(role, "maintain"),
                "push": role_at_least(role, "write"),
                "triage": role_at_least(role, "triage"),
                "pull": role_at_least(role, "read"),
            }
        return out

    # -- labels, issues, comments --------------------------------------------------------------------

    def label(self, repo: Repo, label: Label) -> dict[str, Any]:
        from urllib.parse import quote

        return {
            "id": label.id,
            "node_id": node_id("Label", label.id),
            "url": f"{self.urls.repo(repo)}/labels/{quote(label.name, safe='')}",
            "name": label.name,
            "color": label.color,
            "default": label.default,
            "description": label.description,
        }

    # Long by nature: GitHub's issue schema, field by field, to be read against the OpenAPI description.
    def issue(self, repo: Repo, issue: Issue) -> dict[str, Any]:
        api = f"{self.urls.repo(repo)}/issues/{issue.number}"
        html_kind = "pull" if issue.is_pull else "issues"
        out: dict[str, Any] = {
            "url": api,
            "repository_url": self.urls.repo(repo),
            "labels_url": f"{api}/labels{{/name}}",
            "comments_url": f"{api}/comments",
            "events_url": f"{api}/events",
            "html_url": f"{self.urls.repo_html(repo)}/{html_kind}/{issue.number}",
            "id": issue.id,
            "node_id": node_id("Issue", issue.id),
            "number": issue.number,
            "title": issue.title,
            "user": self.user(issue.user),
            "labels": [self.label(repo, self.store.label(repo, n)) for n in issue.labels],
            "state": issue.state,
            "locked": issue.locked,
            "assignee": self.user(issue.assignees[0]) if issue.assignees else None,
            "assignees": [self.user(a) for a in issue.assignees],
            "milestone": None,
            "comments": len(self.store.issue_comments(repo, issue.number)),
            "created_at": iso(issue.created_at),
            "updated_at": iso(issue.updated_at),
            "closed_at": iso(issue.closed_at),
            "author_association": self.store.association(repo, issue.user),
            "active_lock_reason": None,
            "body": issue.body,
            "closed_by": self.user(issue.closed_by),
            "reactions": self.reaction_rollup(repo, "issue", issue.number, api),
            "timeline_url": f"{api}/timeline",
            "performed_via_github_app": None,
            "state_reason": issue.state_reason,
        }
        if issue.is_pull:
            pull = repo.pulls[issue.number]
            pull_api = f"{self.urls.repo(repo)}/pulls/{issue.number}"
            out["draft"] = pull.draft
            out["pull_request"] = {
                "url": pull_api,
                "html_url": out["html_url"],
                "diff_url": f"{out['html_url']}.diff",
                "patch_url": f"{out['html_url']}.patch",
                "merged_at": None,
            }
        return out

    def comment(self, repo: Repo, comment: Comment) -> dict[str, Any]:
        issue = self.store.issue(repo, comment.issue_number)
        html_kind = "pull" if issue.is_pull else "issues"
        api = f"{self.urls.repo(repo)}/issues/comments/{comment.id}"
        return {
            "url": api,
            "html_url": f"{self.urls.repo_html(repo)}/{html_kind}/{comment.issue_number}#issuecomment-{comment.id}",
            "issue_url": f"{self.urls.repo(repo)}/issues/{comment.issue_number}",
            "id": comment.id,
            "node_id": node_id("IssueComment", comment.id),
            "user": self.user(comment.user),
            "created_at": iso(comment.created_at),
            "updated_at": iso(comment.updated_at),
            "body": comment.body,
            "author_association": self.store.association(repo, comment.user),
            "reactions": self.reaction_rollup(repo, "issue_comment", comment.id, api),
            "performed_via_github_app": None,
        }


def repo_clone_url(repo: Repo) -> str:
    from pathlib import Path

    return Path(repo.git_dir).resolve().as_uri()


def _user_kind(user: User) -> str:
    return {"Bot": "Bot", "Organization": "Organization"}.get(user.type, "User")


def _repo_template_urls(api: str) -> dict[str, str]:
    names = {
        "archive_url": "/{archive_format}{/ref}",
        "assignees_url": "/assignees{/user}",
        "blobs_url": "/git/blobs{/sha}",
        "branches_url": "/branches{/branch}",
        "collaborators_url": "/collaborators{/collaborator}",
        "comments_url": "/comments{/number}",
        "commits_url": "/commits{/sha}",
        "compare_url": "/compare/{base}...{head}",
        "contents_url": "/contents/{+path}",
        "contributors_url": "/contributors",
        "deployments_url": "/deployments",
        "downloads_url": "/downloads",
        "events_url": "/events",
        "forks_url": "/forks",
        "git_commits_url": "/git/commits{/sha}",
        "git_refs_url": "/git/refs{/sha}",
        "git_tags_url": "/git/tags{/sha}",
        "hooks_url": "/hooks",
        "issue_comment_url": "/issues/comments{/number}",
        "issue_events_url": "/issues/events{/number}",
        "issues_url": "/issues{/number}",
        "keys_url": "/keys{/key_id}",
        "labels_url": "/labels{/name}",
        "languages_url": "/languages",
        "merges_url": "/merges",
        "milestones_url": "/milestones{/number}",
        "notifications_url": "/notifications{?since,all,participating}",
        "pulls_url": "/pulls{/number}",
        "releases_url": "/releases{/id}",
        "stargazers_url": "/stargazers",
        "statuses_url": "/statuses/{sha}",
        "subscribers_url": "/subscribers",
        "subscription_url": "/subscription",
        "tags_url": "/tags",
        "teams_url": "/teams",
        "trees_url": "/git/trees{/sha}",
    }
    return {key: api + suffix for key, suffix in names.items()}
