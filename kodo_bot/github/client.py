"""The one door to GitHub's API: PyGithub, configured for a bot that must not hang, spam or leak.

``GitHubClient`` wraps ``github.Github`` for one repository and offers the handful of operations the bot
performs (comments, labels, the pull request, a commit status, marking the PR ready), returning small
frozen values instead of PyGithub objects, so the rest of the code never triggers a hidden lazy fetch.

What it adds to PyGithub:

- **Base URL** from ``GITHUB_API_URL`` (GitHub Enterprise Server, the emulator) and ``lazy=True``: objects
  are not fetched until a field is read, so "comment on issue 7" is one POST, not a GET and a POST.
- **Bounded retries** (:class:`RetryPolicy`): ``GithubRetry`` retries 5xx and primary/secondary rate limits
  (403 with ``Retry-After`` or a rate-limit message); we add 429, PATCH (progress edits), a cap on every
  single wait (``Retry-After`` included) and ``raise_on_status=False`` so the last answer becomes a
  ``GithubException`` we can explain, rather than urllib3's ``MaxRetryError``.
- **Errors that say what to do**: 401/403/404 become ``GitHubError`` naming the permission the workflow
  must grant (``issues: write`` ...), with the token redacted from every message.
- **Call counting** (:class:`CallCounter`): every request PyGithub sends, by kind, so a test and the
  benchmark can hold the bot to its budget (a two-cycle run stays under 40 REST calls).

It deliberately does not decide anything (who may trigger, what to post), render text or touch git.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import requests
from github import Auth, Github, GithubException, GithubRetry
from github.GithubException import RateLimitExceededExceedsMaxWait
from github.IssueComment import IssueComment
from pydantic import SecretStr

from kodo_bot.errors import GitHubError
from kodo_bot.github.redact import redact

#: the permission each kind of write needs, as a workflow's ``permissions:`` block spells it
PERM_ISSUES = "issues: write"
PERM_PULLS = "pull-requests: write"
PERM_STATUSES = "statuses: write"
PERM_CONTENTS_READ = "contents: read"
PERM_METADATA = "metadata: read"


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try before giving up. Every wait is capped, so the worst case is bounded:
    about ``retries * max_wait_s`` seconds for one call."""

    retries: int = 5
    backoff_s: float = 1.0
    #: cap on any single wait: exponential backoff, ``Retry-After``, a rate-limit reset
    max_wait_s: float = 60.0
    #: wait after a secondary rate limit that names no time (GitHub asks for at least a minute)
    secondary_wait_s: float = 60.0
    #: seconds PyGithub keeps between requests / between writes (GitHub's advice for bots); 0 in tests
    between_requests_s: float = 0.25
    between_writes_s: float = 1.0
    timeout_s: int = 30

    @classmethod
    def fast(cls) -> RetryPolicy:
        """For tests, the demo and the benchmark against the emulator: no throttling, short waits."""
        return cls(retries=5, backoff_s=0.05, max_wait_s=2.0, secondary_wait_s=0.5,
                   between_requests_s=0.0, between_writes_s=0.0, timeout_s=30)

    def urllib3_retry(self) -> GithubRetry:
        return GithubRetry(
            total=self.retries,
            backoff_factor=self.backoff_s,
            backoff_max=self.max_wait_s,
            retry_after_max=max(1, int(self.max_wait_s)),
            secondary_rate_wait=self.secondary_wait_s,
            max_rate_limit_wait=self.max_wait_s,
            # GithubRetry adds 403 (rate limits) itself; 429 is how GitHub also signals a secondary limit.
            status_forcelist=[429, *range(500, 600)],
            # PATCH is not retried by default, and progress edits are PATCHes.
            allowed_methods=frozenset({"GET", "HEAD", "POST", "PATCH", "PUT", "DELETE"}),
            raise_on_status=False,
        )


@dataclass(frozen=True)
class RepoInfo:
    full_name: str
    default_branch: str
    clone_url: str
    html_url: str


@dataclass(frozen=True)
class IssueInfo:
    number: int
    title: str
    body: str
    state: str
    labels: tuple[str, ...]
    author: str
    is_pull_request: bool
    html_url: str


@dataclass(frozen=True)
class CommentInfo:
    id: int
    author: str
    author_type: str
    body: str
    html_url: str


@dataclass(frozen=True)
class PullInfo:
    number: int
    node_id: str
    html_url: str
    draft: bool
    head_ref: str


class CallCounter:
    """REST and GraphQL requests as PyGithub sent them (a retried request counts once), by kind."""

    _RULES = (
        (re.compile(r"/\d+(?=/|$)"), "/:n"),
        (re.compile(r"/statuses/[0-9a-fA-F]+$"), "/statuses/:sha"),
        (re.compile(r"/(labels|contents|collaborators)/[^?]+$"), r"/\1/:name"),
    )

    def __init__(self) -> None:
        self.by_kind: Counter[str] = Counter()
        self._lock = threading.Lock()

    def record(self, verb: str, path: str, repo: str) -> None:
        path = path.split("?", 1)[0].replace(f"/repos/{repo}", "/repos/:repo")
        for pattern, replacement in self._RULES:
            path = pattern.sub(replacement, path)
        with self._lock:
            self.by_kind[f"{verb} {path}"] += 1

    @property
    def graphql(self) -> int:
        return sum(n for kind, n in self.by_kind.items() if kind.endswith("/graphql"))

    @property
    def rest(self) -> int:
        return sum(self.by_kind.values()) - self.graphql


class GitHubClient:
    """One repository on one GitHub (or GHES, or the emulator), through PyGithub. Thread-safe: the sink's
    worker thread and the engine's stop check share it, one request at a time."""

    def __init__(self, *, token: str | SecretStr, repo: str, api_url: str = "https://api.github.com",
                 retry: RetryPolicy | None = None, counter: CallCounter | None = None) -> None:
        self._token = token.get_secret_value() if isinstance(token, SecretStr) else token
        if not self._token:
            raise GitHubError("no GitHub token", hint="set GITHUB_TOKEN (or GH_TOKEN)")
        policy = retry or RetryPolicy()
        self.repo_name = repo
        self.api_url = api_url.rstrip("/")
        self.counter = counter or CallCounter()
        self._gh = Github(
            base_url=self.api_url, auth=Auth.Token(self._token), retry=policy.urllib3_retry(),
            timeout=policy.timeout_s, per_page=100, lazy=True,
            seconds_between_requests=policy.between_requests_s or None,
            seconds_between_writes=policy.between_writes_s or None,
        )
        self._hook_counter(self._gh.requester)
        self._repo = self._gh.get_repo(repo)
        self._lock = threading.RLock()

    def _hook_counter(self, requester) -> None:
        # Every request PyGithub makes (REST, GraphQL, pagination) passes through this private method once,
        # retries happening below it in urllib3. With lazy=True every object shares this requester. Pinned
        # by the PyGithub<3 requirement; tests fail loudly if PyGithub renames it.
        inner = requester._Requester__requestEncode  # noqa: SLF001
        prefix = requests.utils.urlparse(self.api_url).path.rstrip("/")

        def counted(cnx, verb, url, *args, **kwargs):
            path = requests.utils.urlparse(url).path if "://" in url else url
            self.counter.record(verb, path.removeprefix(prefix) or "/", self.repo_name)
            return inner(cnx, verb, url, *args, **kwargs)

        requester._Requester__requestEncode = counted  # noqa: SLF001

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._gh.close()

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self._token,)

    # ------------------------------------------------------------------ reading
    def repo_info(self) -> RepoInfo:
        with self._call("read the repository", PERM_METADATA):
            r = self._repo
            return RepoInfo(r.full_name, r.default_branch, r.clone_url, r.html_url)

    def viewer_login(self) -> str | None:
        """The token's own login, or None for an installation token (GitHub refuses ``GET /user`` to those)."""
        try:
            with self._lock:
                return self._gh.get_user().login
        except GithubException as exc:
            if exc.status in (403, 404):
                return None
            raise self._translate(exc, "read the token's user", PERM_METADATA) from None

    def permission(self, login: str) -> str | None:
        """The user's role (``role_name``: admin, maintain, write, triage, read), None if not a collaborator."""
        try:
            with self._lock:
                _, data = self._gh.requester.requestJsonAndCheck(
                    "GET", f"{self._repo.url}/collaborators/{login}/permission")
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
                number=i.number, title=i.title or "", body=i.body or "", state=i.state,
                labels=tuple(label.name for label in i.labels), author=i.user.login if i.user else "",
                is_pull_request=i.pull_request is not None, html_url=i.html_url,
            )

    def comments(self, number: int) -> list[CommentInfo]:
        """Every comment on an issue or PR, oldest first (one request per 100)."""
        with self._call(f"read the comments of #{number}", "issues: read"):
            return [
                CommentInfo(c.id, c.user.login if c.user else "", c.user.type if c.user else "User",
                            c.body or "", c.html_url)
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

    # ------------------------------------------------------------------ writing
    def create_comment(self, number: int, body: str) -> CommentInfo:
        with self._call(f"comment on #{number}", PERM_ISSUES):
            c = self._repo.get_issue(number).create_comment(self._clean(body))
            return CommentInfo(c.id, c.user.login if c.user else "", c.user.type if c.user else "Bot",
                               c.body or "", c.html_url)

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

    def create_status(self, sha: str, *, state: str, context: str, description: str,
                      target_url: str | None = None) -> None:
        with self._call(f"set the {context} status", PERM_STATUSES):
            extra = {"target_url": target_url} if target_url else {}
            self._repo.get_commit(sha).create_status(state=state, context=context,
                                                     description=description[:140], **extra)

    def mark_ready(self, pull: PullInfo) -> None:
        """GraphQL ``markPullRequestReadyForReview``: REST cannot take a PR out of draft."""
        with self._call(f"mark pull request #{pull.number} ready for review", PERM_PULLS):
            # PyGithub's PullRequest.mark_ready_for_review sends this same mutation, but needs the PR's node id
            # from a fetch; we already hold it from creating or finding the PR.
            self._gh.requester.graphql_named_mutation(
                mutation_name="markPullRequestReadyForReview", mutation_input={"pullRequestId": pull.node_id},
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
            raise self._translate(exc, what, permission) from None
        except (requests.RequestException, OSError) as exc:
            raise GitHubError(
                f"cannot reach GitHub at {self.api_url} to {what}: {self._clean(str(exc))}",
                hint="check GITHUB_API_URL and the runner's network",
            ) from None

    def _translate(self, exc: GithubException, what: str, permission: str) -> GitHubError:
        return translate(exc, what=what, permission=permission, secrets=self.secrets)


def _pull(p) -> PullInfo:
    return PullInfo(p.number, p.node_id, p.html_url, bool(p.draft), p.head.ref)


def translate(exc: GithubException, *, what: str, permission: str, secrets: tuple[str, ...] = ()) -> GitHubError:
    """A PyGithub error as a ``GitHubError`` that says what failed and what to grant or fix."""
    data = exc.data if isinstance(exc.data, dict) else {}
    message = redact(str(data.get("message") or exc.message or exc.data or ""), secrets).strip()
    detail = f"{exc.status} {message}".strip()
    if isinstance(exc, RateLimitExceededExceedsMaxWait):
        return GitHubError(f"GitHub rate-limited the request to {what} and asked to wait longer than allowed ({detail})",
                           hint="try again later; the run's work is committed on its branch")
    if exc.status == 401:
        return GitHubError(f"GitHub rejected the token ({detail}) when trying to {what}",
                           hint="the token is missing, expired or revoked: pass a valid `github-token`")
    if exc.status == 403 and "rate limit" in message.lower():
        return GitHubError(f"GitHub kept rate-limiting the request to {what} ({detail})",
                           hint="try again later; the run's work is committed on its branch")
    if exc.status == 403:
        return GitHubError(f"the token cannot {what} ({detail}): grant `{permission}`",
                           hint=f"add `{permission}` under `permissions:` in the workflow (or to the token)")
    if exc.status == 404:
        return GitHubError(f"GitHub answered 404 when trying to {what}: it does not exist, or the token cannot "
                           f"see it (grant `{permission}`)",
                           hint="check the repository name and the token's access to it")
    if exc.status >= 500:
        return GitHubError(f"GitHub kept failing ({detail}) when trying to {what}, after retries",
                           hint="GitHub may be having an incident; try again later")
    errors = data.get("errors")
    if errors:
        detail += f": {redact(str(errors), secrets)[:500]}"
    return GitHubError(f"GitHub refused to {what} ({detail})")


__all__ = [
    "CallCounter", "CommentInfo", "GitHubClient", "IssueInfo", "PullInfo", "RepoInfo", "RetryPolicy", "translate",
]
