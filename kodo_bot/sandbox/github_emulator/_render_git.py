"""GitHub-shaped JSON for what lives in git: pull requests, statuses, commits, refs, branches, files.

Head and base SHAs, commit counts and diff stats are read from the bare repository at render time.
"""

from __future__ import annotations

import base64
import zlib
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from kodo_bot.sandbox.github_emulator._git import CommitInfo, TreeEntry
from kodo_bot.sandbox.github_emulator._models import PullRequest, Repo, Status, iso, node_id

if TYPE_CHECKING:
    from kodo_bot.sandbox.github_emulator._models import Label
    from kodo_bot.sandbox.github_emulator._render import Urls
    from kodo_bot.sandbox.github_emulator._store import Store


# Over 250 lines because each view is a schema-sized dict literal; it is already the git half split off Renderer.
class GitViews:
    """The git-backed half of ``Renderer``, which provides the members declared here."""

    if TYPE_CHECKING:
        store: Store
        urls: Urls

        def user(self, login: str) -> dict[str, Any]: ...
        def label(self, repo: Repo, label: Label) -> dict[str, Any]: ...
        def repo(self, repo: Repo, viewer: str | None = None) -> dict[str, Any]: ...

    # -- pull requests -------------------------------------------------------------------------------

    # Long by nature: GitHub's pull-request schema, field by field, to be read against the OpenAPI description.
    def pull(self, repo: Repo, pull: PullRequest, *, simple: bool = False, observe: bool = True) -> dict[str, Any]:
        """``pull-request`` (or ``pull-request-simple`` for lists, which omits the computed fields).
        ``observe=False`` renders without counting as a read for mergeability (webhook payloads)."""
        issue = repo.issues[pull.number]
        git = self.store.git(repo)
        base_sha = git.branch_sha(pull.base_ref) or pull.head_sha
        api = f"{self.urls.repo(repo)}/pulls/{pull.number}"
        issue_api = f"{self.urls.repo(repo)}/issues/{pull.number}"
        html = f"{self.urls.repo_html(repo)}/pull/{pull.number}"
        out: dict[str, Any] = {
            "url": api,
            "id": pull.id,
            "node_id": node_id("PullRequest", pull.id),
            "html_url": html,
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "issue_url": issue_api,
            "commits_url": f"{api}/commits",
            "review_comments_url": f"{api}/comments",
            "review_comment_url": f"{self.urls.repo(repo)}/pulls/comments{{/number}}",
            "comments_url": f"{issue_api}/comments",
            "statuses_url": f"{self.urls.repo(repo)}/statuses/{pull.head_sha}",
            "number": pull.number,
            "state": issue.state,
            "locked": issue.locked,
            "title": issue.title,
            "user": self.user(issue.user),
            "body": issue.body,
            "labels": [self.label(repo, self.store.label(repo, n)) for n in issue.labels],
            "milestone": None,
            "active_lock_reason": None,
            "created_at": iso(issue.created_at),
            "updated_at": iso(issue.updated_at),
            "closed_at": iso(issue.closed_at),
            "merged_at": None,
            "merge_commit_sha": None,
            "assignee": self.user(issue.assignees[0]) if issue.assignees else None,
            "assignees": [self.user(a) for a in issue.assignees],
            "requested_reviewers": [],
            "requested_teams": [],
            "head": self._pull_end(repo, pull.head_ref, pull.head_sha),
            "base": self._pull_end(repo, pull.base_ref, base_sha),
            "_links": {
                name: {"href": href}
                for name, href in {
                    "self": api,
                    "html": html,
                    "issue": issue_api,
                    "comments": f"{issue_api}/comments",
                    "review_comments": f"{api}/comments",
                    "review_comment": f"{self.urls.repo(repo)}/pulls/comments{{/number}}",
                    "commits": f"{api}/commits",
                    "statuses": f"{self.urls.repo(repo)}/statuses/{pull.head_sha}",
                }.items()
            },
            "author_association": self.store.association(repo, issue.user),
            "auto_merge": None,
            "draft": pull.draft,
        }
        if simple:
            return out
        additions, deletions, changed = git.diff_stats(base_sha, pull.head_sha)
        mergeable, mergeable_state = self._mergeability(repo, pull, base_sha, observe)
        out.update(
            {
                "merged": pull.merged,
                "mergeable": mergeable,
                "rebaseable": mergeable,
                "mergeable_state": mergeable_state,
                "merged_by": None,
                "comments": len(self.store.issue_comments(repo, pull.number)),
                "review_comments": sum(c.number == pull.number for c in repo.review_comments.values()),
                "maintainer_can_modify": pull.maintainer_can_modify,
                "commits": git.count_commits(base_sha, pull.head_sha),
                "additions": additions,
                "deletions": deletions,
                "changed_files": changed,
            }
        )
        return out

    def _pull_end(self, repo: Repo, ref: str, sha: str) -> dict[str, Any]:
        return {
            "label": f"{repo.owner}:{ref}",
            "ref": ref,
            "sha": sha,
            "user": self.user(repo.owner),
            "repo": self.repo(repo),
        }

    def _mergeability(
        self, repo: Repo, pull: PullRequest, base_sha: str, observe: bool = True
    ) -> tuple[bool | None, str]:
        """GitHub answers ``null``/``unknown`` until its background job has run: the first read after
        the head or base moves is unknown, later reads know. Clients must poll, as on GitHub."""
        key = f"{pull.head_sha}:{base_sha}"
        if pull.mergeability_for != key:
            if observe:
                pull.mergeability_for = key
            return None, "unknown"
        if repo.issues[pull.number].state != "open":
            return None, "unknown"
        clean = self.store.git(repo).merges_cleanly(base_sha, pull.head_sha)
        if not clean:
            return False, "dirty"
        if pull.draft:
            return True, "draft"
        state, statuses = self.store.combined_status(repo, pull.head_sha)
        return True, ("unstable" if statuses and state != "success" else "clean")

    # -- statuses ------------------------------------------------------------------------------------

    def status(self, repo: Repo, status: Status, *, with_creator: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "url": f"{self.urls.repo(repo)}/statuses/{status.sha}",
            "avatar_url": f"{self.urls.origin}/avatars/u/{self.store.user(status.creator).id}?v=4",
            "id": status.id,
            "node_id": node_id("StatusContext", status.id),
            "state": status.state,
            "description": status.description,
            "target_url": status.target_url,
            "context": status.context,
            "created_at": iso(status.created_at),
            "updated_at": iso(status.created_at),
        }
        if with_creator:
            out["creator"] = self.user(status.creator)
        return out

    def combined_status(self, repo: Repo, sha: str) -> dict[str, Any]:
        state, statuses = self.store.combined_status(repo, sha)
        return {
            "state": state,
            "statuses": [self.status(repo, s, with_creator=False) for s in statuses],
            "sha": sha,
            "total_count": len(statuses),
            "repository": self.repo(repo),
            "commit_url": f"{self.urls.repo(repo)}/commits/{sha}",
            "url": f"{self.urls.repo(repo)}/commits/{sha}/status",
        }

    # -- commits, refs, branches, contents -----------------------------------------------------------

    # Long by nature: GitHub's commit schema, field by field, to be read against the OpenAPI description.
    def commit(self, repo: Repo, info: CommitInfo, *, with_stats: bool = True) -> dict[str, Any]:
        api = f"{self.urls.repo(repo)}/commits/{info.sha}"
        out: dict[str, Any] = {
            "url": api,
            "sha": info.sha,
            "node_id": node_id("Commit", int(info.sha[:12], 16)),
            "html_url": f"{self.urls.repo_html(repo)}/commit/{info.sha}",
            "comments_url": f"{api}/comments",
            "commit": {
                "url": f"{self.urls.repo(repo)}/git/commits/{info.sha}",
                "author": {"name": info.author.name, "email": info.author.email, "date": info.author.date},
                "committer": {"name": info.committer.name, "email": info.committer.email, "date": info.committer.date},
                "message": info.message,
                "comment_count": 0,
                "tree": {"sha": info.tree, "url": f"{self.urls.repo(repo)}/git/trees/{info.tree}"},
                "verification": {
                    "verified": False,
                    "reason": "unsigned",
                    "signature": None,
                    "payload": None,
                    "verified_at": None,
                },
            },
            # GitHub links a commit to an account by e-mail; unknown e-mails give an empty object.
            "author": self._account_for(info.author.email),
            "committer": self._account_for(info.committer.email),
            "parents": [
                {
                    "sha": p,
                    "url": f"{self.urls.repo(repo)}/commits/{p}",
                    "html_url": f"{self.urls.repo_html(repo)}/commit/{p}",
                }
                for p in info.parents
            ],
        }
        if with_stats:
            git = self.store.git(repo)
            base = info.parents[0] if info.parents else "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
            additions, deletions, _ = git.diff_stats(base, info.sha)
            out["stats"] = {"additions": additions, "deletions": deletions, "total": additions + deletions}
            out["files"] = []
        return out

    def _account_for(self, email: str) -> dict[str, Any]:
        for user in self.store.users.values():
            if email and email.lower() in {
                (user.email or "").lower(),
                f"{user.login}@users.noreply.github.com".lower(),
            }:
                return self.user(user.login)
        return {}

    def git_ref(self, repo: Repo, refname: str, sha: str, kind: str = "commit") -> dict[str, Any]:
        return {
            "ref": refname,
            "node_id": node_id("Ref", zlib.crc32(f"{repo.id}:{refname}".encode())),
            "url": f"{self.urls.repo(repo)}/git/{refname}",
            "object": {"type": kind, "sha": sha, "url": f"{self.urls.repo(repo)}/git/{kind}s/{sha}"},
        }

    def branch(self, repo: Repo, name: str, sha: str) -> dict[str, Any]:
        info = self.store.git(repo).commit(sha)
        api = f"{self.urls.repo(repo)}/branches/{quote(name)}"
        return {
            "name": name,
            "commit": self.commit(repo, info, with_stats=False),
            "_links": {"self": api, "html": f"{self.urls.repo_html(repo)}/tree/{quote(name)}"},
            "protected": False,
            "protection": {
                "enabled": False,
                "required_status_checks": {"enforcement_level": "off", "contexts": [], "checks": []},
            },
            "protection_url": f"{api}/protection",
        }

    def content(self, repo: Repo, entry: TreeEntry, ref: str, *, with_body: bool) -> dict[str, Any]:
        kind = {"blob": "file", "tree": "dir", "commit": "submodule"}[entry.type]
        if entry.mode == "120000":
            kind = "symlink"
        api = f"{self.urls.repo(repo)}/contents/{quote(entry.path)}?ref={quote(ref, safe='')}"
        html = f"{self.urls.repo_html(repo)}/{'blob' if kind == 'file' else 'tree'}/{quote(ref)}/{quote(entry.path)}"
        git_api = f"{self.urls.repo(repo)}/git/{'trees' if kind == 'dir' else 'blobs'}/{entry.sha}"
        out: dict[str, Any] = {
            "type": kind,
            "size": entry.size or 0,
            "name": entry.path.rsplit("/", 1)[-1],
            "path": entry.path,
            "sha": entry.sha,
            "url": api,
            "git_url": git_api,
            "html_url": html,
            "download_url": (
                f"{self.urls.origin}/raw/{repo.full_name}/{quote(ref)}/{quote(entry.path)}" if kind == "file" else None
            ),
            "_links": {"self": api, "git": git_api, "html": html},
        }
        if with_body and kind == "file":
            raw = base64.b64encode(self.store.git(repo).read_blob(entry.sha)).decode()
            # GitHub wraps the base64 body at 60 characters, with a trailing newline.
            out["content"] = "".join(raw[i : i + 60] + "\n" for i in range(0, len(raw), 60))
            out["encoding"] = "base64"
        return out
