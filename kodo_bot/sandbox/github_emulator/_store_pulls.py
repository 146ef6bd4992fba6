"""Pull requests and commit statuses: the part of the state that leans on the bare git repository.

A pull request is an issue (same number, title, body, labels, state) plus a head and a base branch.
Its head SHA follows the head branch in the bare repo, so a client that pushes more commits sees the
PR move, as on GitHub. Statuses hang off commit SHAs, never off branches.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from kodo_bot.sandbox.github_emulator._errors import ApiError, not_found, validation_failed
from kodo_bot.sandbox.github_emulator._models import Issue, IssueEvent, PendingEvent, PullRequest, Repo, Status

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable, Sequence
    from datetime import datetime

    from kodo_bot.sandbox.github_emulator._git import BareRepo
    from kodo_bot.sandbox.github_emulator._models import User

_HEX = re.compile(r"^[0-9a-f]{7,40}$")
STATUS_STATES = ("error", "failure", "pending", "success")


class PullsMixin:
    """The pull request and status half of ``Store``, which provides the members declared here."""

    if TYPE_CHECKING:
        lock: threading.RLock
        clock: Callable[[], datetime]

        def next_id(self, kind: str) -> int: ...
        def emit(self, event: PendingEvent) -> None: ...
        def user(self, login: str) -> User: ...
        def git(self, repo: Repo) -> BareRepo: ...
        def create_issue(
            self,
            repo: Repo,
            *,
            title: str,
            body: str | None,
            user: str,
            labels: Sequence[str] = (),
            assignees: Sequence[str] = (),
            announce: bool = True,
        ) -> Issue: ...
        def update_issue(
            self,
            repo: Repo,
            issue: Issue,
            actor: str,
            *,
            state: str | None = None,
            state_reason: str | None = None,
            **fields: Any,
        ) -> Issue: ...

    # -- pull requests -------------------------------------------------------------------------------

    def pull(self, repo: Repo, number: int) -> PullRequest:
        found = repo.pulls.get(number)
        if found is None:
            raise not_found()
        return self.refresh_pull(repo, found)

    def refresh_pull(self, repo: Repo, pull: PullRequest) -> PullRequest:
        """Follow the head branch (an open PR tracks it; a deleted branch leaves the last SHA)."""
        if repo.issues[pull.number].state == "open" and not pull.merged:
            sha = self.git(repo).branch_sha(pull.head_ref)
            if sha:
                pull.head_sha = sha
        return pull

    def create_pull(
        self,
        repo: Repo,
        *,
        title: str | None,
        body: str | None,
        head: str,
        base: str,
        user: str,
        draft: bool = False,
        maintainer_can_modify: bool = False,
    ) -> PullRequest:
        with self.lock:
            title, head_ref, head_sha = self._check_new_pull(repo, title=title, head=head, base=base, draft=draft)
            issue = self.create_issue(repo, title=title, body=body, user=user, announce=False)
            issue.is_pull = True
            pull = PullRequest(
                self.next_id("pull"),
                issue.number,
                head_ref,
                base,
                head_sha,
                draft=draft,
                maintainer_can_modify=maintainer_can_modify,
            )
            repo.pulls[pull.number] = pull
            self.emit(PendingEvent("pull_request", "opened", repo.full_name, user, pull.number))
            return pull

    def _check_new_pull(
        self, repo: Repo, *, title: str | None, head: str, base: str, draft: bool
    ) -> tuple[str, str, str]:
        """The title, the head branch and its SHA, or the 422 GitHub answers a pull request it will not open."""
        head_owner, sep, head_ref = head.rpartition(":")
        if sep and head_owner.lower() != repo.owner.lower():
            # Forks are not emulated: a head in another user's namespace cannot resolve.
            raise validation_failed({"resource": "PullRequest", "field": "head", "code": "invalid"})
        git = self.git(repo)
        if not title:
            raise validation_failed({"resource": "PullRequest", "field": "title", "code": "missing_field"})
        base_sha = git.branch_sha(base) if base else None
        if base_sha is None:
            raise validation_failed({"resource": "PullRequest", "field": "base", "code": "invalid"})
        head_sha = git.branch_sha(head_ref) if head_ref else None
        if head_sha is None:
            raise validation_failed({"resource": "PullRequest", "field": "head", "code": "invalid"})
        for other in repo.pulls.values():
            if other.head_ref == head_ref and other.base_ref == base and repo.issues[other.number].state == "open":
                raise _custom("PullRequest", f"A pull request already exists for {repo.owner}:{head_ref}.")
        if git.count_commits(base_sha, head_sha) == 0:
            raise _custom("PullRequest", f"No commits between {base} and {head_ref}")
        if draft and not repo.draft_prs:
            raise _custom("PullRequest", "Draft pull requests are not supported in this repository.")
        return title, head_ref, head_sha

    def update_pull(
        self,
        repo: Repo,
        pull: PullRequest,
        actor: str,
        *,
        title: str | None = None,
        body: str | None = None,
        state: str | None = None,
        base: str | None = None,
        maintainer_can_modify: bool | None = None,
    ) -> PullRequest:
        with self.lock:
            issue: Issue = repo.issues[pull.number]
            if base is not None:
                if self.git(repo).branch_sha(base) is None:
                    raise validation_failed({"resource": "PullRequest", "field": "base", "code": "invalid"})
                pull.base_ref = base
            if maintainer_can_modify is not None:
                pull.maintainer_can_modify = maintainer_can_modify
            if state == "open" and issue.state == "closed" and self.git(repo).branch_sha(pull.head_ref) is None:
                raise validation_failed(
                    {
                        "resource": "PullRequest",
                        "code": "custom",
                        "message": "state cannot be changed. The head branch has been deleted.",
                    }
                )
            fields = {k: v for k, v in (("title", title), ("body", body)) if v is not None}
            self.update_issue(repo, issue, actor, state=state, **fields)
            return pull

    def set_draft(self, repo: Repo, pull: PullRequest, draft: bool, actor: str) -> PullRequest:
        """The GraphQL ``markPullRequestReadyForReview`` / ``convertPullRequestToDraft`` mutations."""
        with self.lock:
            issue = repo.issues[pull.number]
            if issue.state != "open":
                raise ApiError(422, "Pull request is closed")
            if pull.draft != draft:
                pull.draft = draft
                action = "converted_to_draft" if draft else "ready_for_review"
                now = self.clock()
                issue.updated_at = now
                issue.events.append(IssueEvent(self.next_id("event"), action, actor, now))
                self.emit(PendingEvent("pull_request", action, repo.full_name, actor, pull.number))
            return pull

    def pulls_matching(
        self, repo: Repo, *, state: str = "open", head: str | None = None, base: str | None = None
    ) -> list[PullRequest]:
        """``GET /pulls`` filtering: ``head`` is ``owner:branch`` (a bare branch matches nothing, as on
        GitHub, which ignores a head filter without the owner)."""
        out = []
        for pull in sorted(repo.pulls.values(), key=lambda p: -p.number):
            issue = repo.issues[pull.number]
            if state != "all" and issue.state != state:
                continue
            if head is not None:
                owner, sep, ref = head.partition(":")
                if sep and (owner.lower() != repo.owner.lower() or ref != pull.head_ref):
                    continue
            if base is not None and pull.base_ref != base:
                continue
            out.append(self.refresh_pull(repo, pull))
        return out

    # -- commit statuses -----------------------------------------------------------------------------

    def create_status(
        self,
        repo: Repo,
        sha: str,
        *,
        state: str,
        creator: str,
        context: str = "default",
        description: str | None = None,
        target_url: str | None = None,
    ) -> Status:
        with self.lock:
            if state not in STATUS_STATES:
                raise _custom("Status", "state is not included in the list", field="state")
            if description is not None and len(description) > 140:
                raise _custom("Status", "description is too long (maximum is 140 characters)", field="description")
            full = self.git(repo).resolve(sha) if _HEX.match(sha or "") else None
            if full is None:
                raise ApiError(422, f"No commit found for SHA: {sha}")
            status = Status(
                self.next_id("status"),
                full,
                state,
                context or "default",
                self.user(creator).login,
                self.clock(),
                description,
                target_url,
            )
            repo.statuses.append(status)
            return status

    def statuses_for(self, repo: Repo, sha: str) -> list[Status]:
        """Every status on ``sha``, newest first (GitHub's order)."""
        return sorted((s for s in repo.statuses if s.sha == sha), key=lambda s: -s.id)

    def combined_status(self, repo: Repo, sha: str) -> tuple[str, list[Status]]:
        """The latest status per context and the combined state GitHub derives from them."""
        latest: dict[str, Status] = {}
        for status in self.statuses_for(repo, sha):
            latest.setdefault(status.context.lower(), status)
        states = {s.state for s in latest.values()}
        if states & {"error", "failure"}:
            state = "failure"
        elif not states or "pending" in states:
            state = "pending"
        else:
            state = "success"
        return state, sorted(latest.values(), key=lambda s: s.id)


def _custom(resource: str, message: str, *, field: str | None = None) -> ApiError:
    """The 422 for a rule without a standard error code: GitHub says it in ``message``."""
    error: dict[str, Any] = {"resource": resource, "code": "custom"}
    if field is not None:
        error["field"] = field
    error["message"] = message
    return validation_failed(error)
