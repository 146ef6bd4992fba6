"""The one door to GitHub's API: PyGithub, configured for a bot that must not hang, spam or leak.

``GitHubClient`` wraps ``github.Github`` for one repository and offers the handful of operations the bot
performs (comments, labels, the pull request, a commit status, marking the PR ready), returning small
frozen values instead of PyGithub objects, so the rest of the code never triggers a hidden lazy fetch.

What it adds to PyGithub:

- **Base URL** from ``GITHUB_API_URL`` (GitHub Enterprise Server, the emulator) and ``lazy=True``: objects
  are not fetched until a field is read, so "comment on issue 7" is one POST, not a GET and a POST.
- **Bounded retries** (:class:`RetryPolicy`): ``GithubRetry`` retries 5xx and primary/secondary rate limits
  (403 with ``Retry-After`` or a rate-limit message); we add 429, PATCH (progress edits), a cap on every
  single wait (``Retry-After`` included), one budget for all the retries of a request, and
  ``raise_on_status=False`` so the last answer becomes a ``GithubException`` we can explain, rather than
  urllib3's ``MaxRetryError``.
- **Pacing only after the first comment**: PyGithub's own pacing is off; :meth:`GitHubClient.pace` turns on
  GitHub's advice for bots (0.25 s between requests, 1 s between writes) once the person waiting has seen
  the bot answer.
- **Errors that say what to do**: permanent refusals (401, 403 for a permission or a setting, 404, 422, a
  rate limit used up for longer than allowed) become ``GitHubRefused`` naming the permission or setting to
  change (``issues: write`` ...); transient trouble stays ``GitHubError``. The token is redacted from
  every message.
- **Call counting** (:class:`CallCounter`): every request PyGithub sends, by kind, so a test and the
  benchmark can hold the bot to its budget (a two-cycle run stays under 40 REST calls).

It deliberately does not decide anything (who may trigger, what to post), render text or touch git.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import requests
from github import Github, GithubException, GithubRetry
from github.IssueComment import IssueComment
from github.PullRequest import PullRequest
from github.Repository import Repository
from github.Requester import Requester
from pydantic import SecretStr

from kodo_bot.errors import GitHubError
from kodo_bot.github._client_feedback import FeedbackCalls
from kodo_bot.github._transport import CallCounter, RetryPolicy, transient_wait, translate
from kodo_bot.github.records import CommentInfo, IssueInfo, PullInfo, RepoInfo
from kodo_bot.github.tokens import FixedToken, TokenSource
from kodo_bot.redact import redact

#: the permission each kind of write needs, as a workflow's ``permissions:`` block spells it
PERM_ISSUES = "issues: write"
PERM_PULLS = "pull-requests: write"
PERM_STATUSES = "statuses: write"
PERM_CONTENTS_READ = "contents: read"
PERM_CONTENTS = "contents: write"
PERM_METADATA = "metadata: read"


#: PyGithub's private per-request method (name-mangled), the one place every request passes
_REQUEST_ENCODE = "_Requester__requestEncode"


class GitHubClient(FeedbackCalls):
    """One repository on one GitHub (or GHES, or the emulator), through PyGithub. Thread-safe: the sink's
    worker thread and the engine's stop check share it, one request at a time. What it does about reviews,
    threads and CI runs is in ``FeedbackCalls``."""

    def __init__(
        self,
        *,
        token: str | SecretStr | TokenSource,
        repo: str,
        api_url: str = "https://api.github.com",
        retry: RetryPolicy | None = None,
        counter: CallCounter | None = None,
    ) -> None:
        #: where the token comes from (a fixed one, or an App's, renewed as it expires)
        self.tokens = token if isinstance(token, TokenSource) else FixedToken(token)
        self.policy = policy = retry or RetryPolicy()
        self.repo_name = repo
        self.api_url = api_url.rstrip("/")
        self.counter = counter or CallCounter()
        self._gh, self._repo = self._connect(policy.urllib3_retry())
        # Posting a comment is the one write that is not idempotent: a 5xx may come after GitHub saved it,
        # and a blind retry would post it twice. It gets no transport retry; ``create_comment`` looks first.
        self._gh_once, self._repo_once = self._connect(policy.urllib3_retry(post=False))
        self._lock = threading.RLock()
        self._viewer: str | None = None
        self._viewer_known = False
        self._paced = False
        self._last_request = self._last_write = 0.0

    def pace(self) -> None:
        """From now on keep GitHub's advice for bots (``between_requests_s``, ``between_writes_s``). Not
        before: the person who added the label is waiting for the first comment, and the few requests
        before it are not the bursts that advice is about."""
        self._paced = True

    def _pace(self, verb: str) -> None:
        # Called with the client's lock held (every request goes through ``_call`` or takes the lock).
        p, now = self.policy, time.monotonic()
        if self._paced:
            wait = self._last_request + p.between_requests_s - now
            if verb != "GET":
                wait = max(wait, self._last_write + p.between_writes_s - now)
            if wait > 0:
                time.sleep(wait)
                now = time.monotonic()
        self._last_request = now
        if verb != "GET":
            self._last_write = now

    def _connect(self, retry: GithubRetry) -> tuple[Github, Repository]:
        p = self.policy
        # PyGithub's own pacing is off: ours (``_pace``) starts only once the first comment is up.
        gh = Github(
            base_url=self.api_url,
            auth=self.tokens.pygithub_auth(),
            retry=retry,
            timeout=p.timeout_s,
            per_page=100,
            lazy=True,
            seconds_between_requests=None,
            seconds_between_writes=None,
        )
        self._hook_counter(gh.requester)
        return gh, gh.get_repo(self.repo_name)

    def _hook_counter(self, requester: Requester) -> None:
        # Every request PyGithub makes (REST, GraphQL, pagination) passes through this private method once,
        # retries happening below it in urllib3. With lazy=True every object shares this requester. Pinned
        # by the PyGithub<3 requirement; tests fail loudly if PyGithub renames it.
        inner = getattr(requester, _REQUEST_ENCODE)
        prefix = urlparse(self.api_url).path.rstrip("/")

        def counted(cnx: Any, verb: str, url: str, *args: Any, **kwargs: Any) -> Any:
            path = urlparse(url).path if "://" in url else url
            self.counter.record(verb, path.removeprefix(prefix) or "/", self.repo_name)
            self._pace(verb)
            return inner(cnx, verb, url, *args, **kwargs)

        setattr(requester, _REQUEST_ENCODE, counted)

    def close(self) -> None:
        for gh in (self._gh, self._gh_once):
            with contextlib.suppress(Exception):
                gh.close()

    @property
    def secrets(self) -> tuple[str, ...]:
        return self.tokens.secrets

    # ------------------------------------------------------------------ reading
    def repo_info(self) -> RepoInfo:
        with self._call("read the repository", PERM_METADATA):
            r = self._repo
            return RepoInfo(r.full_name, r.default_branch, r.clone_url, r.html_url)

    def viewer_login(self) -> str | None:
        """The token's own login, or None for an installation token (GitHub refuses ``GET /user`` to those)."""
        if self._viewer_known:
            return self._viewer
        try:
            with self._lock:
                self._viewer = str(self._gh.get_user().login)
        except GithubException as exc:
            if exc.status not in (403, 404):
                raise self._translate(exc, "read the token's user", PERM_METADATA) from None
            self._viewer = None
        self._viewer_known = True
        return self._viewer

    def permission(self, login: str) -> str | None:
        """The user's role (``role_name``: admin, maintain, write, triage, read), None if not a collaborator."""
        try:
            with self._lock:
                _, data = self._gh.requester.requestJsonAndCheck(
                    "GET", f"{self._repo.url}/collaborators/{login}/permission"
                )
        except GithubException as exc:
            if exc.status == 404:
                return None  # not a collaborator (or no such user): no permission
            raise self._translate(exc, "read collaborator permissions", PERM_METADATA) from None
        role = data.get("role_name") or data.get("permission")
        return None if role in (None, "none") else str(role)

    def issue(self, number: int) -> IssueInfo:
        with self._call(f"read issue #{number}", "issues: read"):
            i = self._repo.get_issue(number)
            return IssueInfo(
                number=i.number,
                title=i.title or "",
                body=i.body or "",
                state=i.state,
                labels=tuple(label.name for label in i.labels),
                author=i.user.login if i.user else "",
                is_pull_request=i.pull_request is not None,
                html_url=i.html_url,
            )

    def comments(self, number: int) -> list[CommentInfo]:
        """Every comment on an issue or PR, oldest first (one request per 100)."""
        with self._call(f"read the comments of #{number}", "issues: read"):
            return [
                CommentInfo(
                    c.id,
                    c.user.login if c.user else "",
                    c.user.type if c.user else "User",
                    c.body or "",
                    c.html_url,
                    c.created_at,
                )
                for c in self._repo.get_issue(number).get_comments()
            ]

    def file_text(self, path: str, ref: str | None = None) -> str | None:
        """A text file from the repository (default branch unless ``ref``), or None when it is absent."""
        try:
            with self._lock:
                found = self._repo.get_contents(path, **({"ref": ref} if ref else {}))
        except GithubException as exc:
            if exc.status == 404:
                return None
            raise self._translate(exc, f"read {path}", PERM_CONTENTS_READ) from None
        if isinstance(found, list):
            raise GitHubError(f"{path} is a directory in the repository, not a file")
        return found.decoded_content.decode("utf-8", errors="replace")

    def find_pull(self, branch: str) -> PullInfo | None:
        """The open pull request whose head is ``branch`` in this repository, if any."""
        owner = self.repo_name.split("/", 1)[0]
        with self._call(f"list pull requests for {branch}", "pull-requests: read"):
            for p in self._repo.get_pulls(state="open", head=f"{owner}:{branch}"):
                return _pull(p)
        return None

    def head_sha(self, branch: str) -> str:
        """The commit ``branch`` points at on GitHub."""
        with self._call(f"read the branch {branch}", PERM_CONTENTS_READ):
            return self._repo.get_git_ref(f"heads/{branch}").object.sha

    # ------------------------------------------------------------------ writing
    def create_ref(self, ref: str, sha: str) -> bool:
        """Create ``ref`` (``refs/...``) at ``sha`` in one atomic step: False when it already exists."""
        try:
            with self._lock:
                self._repo.create_git_ref(ref, sha)
            return True
        except GithubException as exc:
            message = str(exc.data.get("message", "")) if isinstance(exc.data, dict) else ""
            if exc.status == 422 and "already exists" in message.lower():
                return False
            raise self._translate(exc, f"create the ref {ref}", PERM_CONTENTS) from exc

    def delete_ref(self, ref: str) -> None:
        """Delete ``ref``; one that is not there is not an error."""
        try:
            with self._lock:
                self._gh.requester.requestJsonAndCheck("DELETE", f"{self._repo.url}/git/{ref}")
        except GithubException as exc:
            if exc.status in (404, 422):
                return
            raise self._translate(exc, f"delete the ref {ref}", PERM_CONTENTS) from exc

    def create_comment(self, number: int, body: str) -> CommentInfo:
        """Post a comment exactly once: after a failure that may hide a success (5xx, a dropped connection,
        a rate limit), wait as GitHub asks, then look for the comment before posting again."""
        body, what = self._clean(body), f"comment on #{number}"
        first_failure = None
        for attempt in range(self.policy.retries + 1):
            try:
                with self._call(what, PERM_ISSUES):
                    c = self._repo_once.get_issue(number).create_comment(body)
                    return CommentInfo(
                        c.id, c.user.login if c.user else "", c.user.type if c.user else "Bot", c.body or "", c.html_url
                    )
            except GitHubError as exc:
                wait = transient_wait(exc.__cause__ or exc.__context__, self.policy, attempt)
                first_failure = first_failure or time.monotonic()
                left = self.policy.budget_s - (time.monotonic() - first_failure)
                if wait is None or attempt == self.policy.retries or left <= 0:
                    raise
            time.sleep(min(wait, left))
            found = next((c for c in reversed(self.comments(number)) if c.body.strip() == body.strip()), None)
            if found is not None:
                return found
        raise AssertionError("unreachable")

    def edit_comment(self, comment_id: int, body: str) -> None:
        with self._call("edit a comment", PERM_ISSUES):
            # Lazy: built from its URL, so the edit is one PATCH without a GET first.
            comment = IssueComment(self._gh.requester, url=f"{self._repo.url}/issues/comments/{comment_id}")
            comment.edit(self._clean(body))

    def add_labels(self, number: int, *labels: str) -> None:
        with self._call(f"label #{number}", PERM_ISSUES):
            self._repo.get_issue(number).add_to_labels(*labels)

    def remove_label(self, number: int, label: str) -> None:
        """Remove a label; one that is not there is not an error."""
        try:
            with self._lock:
                self._repo.get_issue(number).remove_from_labels(label)
        except GithubException as exc:
            if exc.status == 404:
                return
            raise self._translate(exc, f"remove a label from #{number}", PERM_ISSUES) from None

    def create_pull(self, *, title: str, body: str, head: str, base: str, draft: bool = True) -> PullInfo:
        with self._call(f"open a pull request from {head}", PERM_PULLS):
            return _pull(self._repo.create_pull(title=title, body=self._clean(body), head=head, base=base, draft=draft))

    def edit_pull_body(self, number: int, body: str) -> None:
        with self._call(f"edit pull request #{number}", PERM_PULLS):
            self._repo.get_pull(number).edit(body=self._clean(body))

    def create_status(
        self, sha: str, *, state: str, context: str, description: str, target_url: str | None = None
    ) -> None:
        with self._call(f"set the {context} status", PERM_STATUSES):
            extra = {"target_url": target_url} if target_url else {}
            self._repo.get_commit(sha).create_status(
                state=state, context=context, description=description[:140], **extra
            )

    def mark_ready(self, pull: PullInfo) -> None:
        """GraphQL ``markPullRequestReadyForReview``: REST cannot take a PR out of draft."""
        with self._call(f"mark pull request #{pull.number} ready for review", PERM_PULLS):
            # PyGithub's PullRequest.mark_ready_for_review sends this same mutation, but needs the PR's node id
            # from a fetch; we already hold it from creating or finding the PR.
            self._gh.requester.graphql_named_mutation(
                mutation_name="markPullRequestReadyForReview",
                mutation_input={"pullRequestId": pull.node_id},
                output_schema="clientMutationId pullRequest { isDraft }",
            )

    # ------------------------------------------------------------------ plumbing
    def _clean(self, text: str) -> str:
        return redact(text, self.secrets)

    @contextlib.contextmanager
    def _call(self, what: str, permission: str) -> Iterator[None]:
        try:
            with self._lock:
                yield
        except GithubException as exc:
            # ``from exc`` keeps the HTTP answer for create_comment's retry decision; the message is redacted.
            raise self._translate(exc, what, permission) from exc
        except (requests.RequestException, OSError) as exc:
            raise GitHubError(
                f"cannot reach GitHub at {self.api_url} to {what}: {self._clean(str(exc))}",
                hint="check GITHUB_API_URL and the runner's network",
            ) from exc

    def _translate(self, exc: GithubException, what: str, permission: str) -> GitHubError:
        return translate(exc, what=what, permission=permission, secrets=self.secrets)


def _pull(p: PullRequest) -> PullInfo:
    return PullInfo(p.number, p.node_id, p.html_url, bool(p.draft), p.head.ref)


__all__ = [
    "CallCounter",
    "CommentInfo",
    "GitHubClient",
    "IssueInfo",
    "PullInfo",
    "RepoInfo",
    "RetryPolicy",
    "translate",
]
