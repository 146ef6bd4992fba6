"""How the client talks to GitHub: retry policy, call counting, and GitHub's errors in words people act on.

GitHub's answers fall in two kinds, and everything after depends on telling them apart:

- **transient**: 5xx, secondary rate limits, dropped connections. The transport retries them with backoff
  (``RetryPolicy``); if they outlast that, a ``GitHubError`` says so, and the sink tries again later.
- **permanent**: 401, 403 for a permission or a repository setting, 404, 422, a primary rate limit that
  resets later than the job may wait (``retry_at`` says when), a rejected push. Asking again cannot help, so they raise
  :class:`GitHubRefused`, whose message names what was refused and whose ``hint`` the exact permission or
  setting to change. The sink stops retrying them and ends the run as ``error`` with that reason.

Kept apart from ``client`` so the operations read on their own. Nothing here performs a request.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import requests
from github import GithubException, GithubRetry
from github.GithubException import RateLimitExceededExceedsMaxWait

from kodo_bot.errors import GitHubError
from kodo_bot.redact import redact

#: what GitHub says when a workflow token may not open pull requests (a repository or organisation setting)
ACTIONS_PR_SETTING = "Allow GitHub Actions to create and approve pull requests"
_ACTIONS_PR_REFUSAL = "not permitted to create or approve pull requests"


class GitHubRefused(GitHubError):
    """GitHub refused for good: a permission, a setting, something missing, a rejected push. Retrying cannot
    help; the message says what was refused and ``hint`` what a person must change.

    A used-up rate limit is refused only until ``retry_at`` (``time.time()``): a caller who can wait that
    long (the job's end is later) may treat it as transient."""

    def __init__(self, message: str, *, hint: str | None = None, retry_at: float | None = None) -> None:
        super().__init__(message, hint=hint)
        self.retry_at = retry_at


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try before giving up. Every wait is capped, so the worst case is bounded:
    about ``retries * max_wait_s`` seconds for one call."""

    retries: int = 5
    backoff_s: float = 1.0
    #: cap on any single wait: exponential backoff, ``Retry-After``, a rate-limit reset
    max_wait_s: float = 60.0
    #: cap on all the retries of one request together (waits included), counted from its first failure
    budget_s: float = 60.0
    #: wait after a secondary rate limit that names no time (GitHub asks for at least a minute)
    secondary_wait_s: float = 60.0
    #: seconds PyGithub keeps between requests / between writes (GitHub's advice for bots); 0 in tests
    between_requests_s: float = 0.25
    between_writes_s: float = 1.0
    timeout_s: int = 30

    @classmethod
    def fast(cls) -> RetryPolicy:
        """For tests, the demo and the benchmark against the emulator: no throttling, short waits."""
        return cls(
            retries=5,
            backoff_s=0.05,
            max_wait_s=2.0,
            budget_s=10.0,
            secondary_wait_s=0.5,
            between_requests_s=0.0,
            between_writes_s=0.0,
            timeout_s=30,
        )

    def urllib3_retry(self, *, post: bool = True) -> GithubRetry:
        methods = {"GET", "HEAD", "PATCH", "PUT", "DELETE"} | ({"POST"} if post else set())
        return _BoundedRetry(
            budget_s=self.budget_s,
            total=self.retries,
            backoff_factor=self.backoff_s,
            backoff_max=self.max_wait_s,
            retry_after_max=max(1, int(self.max_wait_s)),
            secondary_rate_wait=self.secondary_wait_s,
            max_rate_limit_wait=self.max_wait_s,
            # GithubRetry adds 403 (rate limits) itself; 429 is how GitHub also signals a secondary limit.
            status_forcelist=[429, *range(500, 600)],
            # PATCH is not retried by default, and progress edits are PATCHes.
            allowed_methods=frozenset(methods),
            raise_on_status=False,
        )


class _BoundedRetry(GithubRetry):
    """``GithubRetry`` with one budget for all the retries of a request: past it, the last answer stands.
    Each wait is cut to what is left of the budget, so one write never retries for longer than it."""

    def __init__(self, *, budget_s: float, first_failure: float | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.budget_s = budget_s
        self.first_failure = first_failure

    def new(self, **kw: Any) -> _BoundedRetry:
        started = self.first_failure if self.first_failure is not None else time.monotonic()
        kw.update(budget_s=self.budget_s, first_failure=started)
        return super().new(**kw)

    def _left(self) -> float:
        return self.budget_s if self.first_failure is None else self.budget_s - (time.monotonic() - self.first_failure)

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        return self._left() > 0 and super().is_retry(method, status_code, has_retry_after)

    def sleep(self, response: Any = None) -> None:
        asked = self.get_retry_after(response) if (self.respect_retry_after_header and response) else None
        wait = asked if asked is not None else self.get_backoff_time()
        time.sleep(max(0.0, min(wait, self._left())))


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


def transient_wait(cause: BaseException | None, policy: RetryPolicy, attempt: int) -> float | None:
    """Seconds to wait before trying again after ``cause``, or None when trying again cannot help."""
    backoff = min(policy.max_wait_s, policy.backoff_s * (2.0**attempt))
    if isinstance(cause, (requests.RequestException, OSError)):
        return backoff
    if not isinstance(cause, GithubException):
        return None
    headers = {k.lower(): v for k, v in (cause.headers or {}).items()}
    message = str((cause.data or {}).get("message", "")) if isinstance(cause.data, dict) else ""
    limited = cause.status == 429 or (
        cause.status == 403 and ("retry-after" in headers or "rate limit" in message.lower())
    )
    if not (cause.status >= 500 or limited):
        return None
    try:
        asked = float(headers.get("retry-after", "nan"))
    except ValueError:
        asked = float("nan")
    if asked == asked:  # not NaN: GitHub said how long
        return min(policy.max_wait_s, max(asked, 0.0))
    if "x-ratelimit-reset" in headers and headers.get("x-ratelimit-remaining") == "0":
        return min(policy.max_wait_s, max(0.0, float(headers["x-ratelimit-reset"]) - time.time() + 1))
    return backoff


def translate(exc: GithubException, *, what: str, permission: str, secrets: tuple[str, ...] = ()) -> GitHubError:
    """A PyGithub error as a ``GitHubError`` that says what failed and what to grant or fix; permanent
    refusals are ``GitHubRefused``."""
    data = exc.data if isinstance(exc.data, dict) else {}
    message = redact(str(data.get("message") or exc.message or exc.data or ""), secrets).strip()
    detail = f"{exc.status} {message}".strip()
    if isinstance(exc, RateLimitExceededExceedsMaxWait):
        return GitHubRefused(
            f"GitHub's rate limit is used up: it refused to {what} until a reset later than "
            f"kodo-bot may wait ({detail})",
            hint="wait for the hourly limit to reset, then add the label again; the run's work "
            "is committed on its branch (a GitHub App token has a higher limit)",
            retry_at=time.time() + (exc.wait or 0.0),
        )
    if exc.status == 401:
        return GitHubRefused(
            f"GitHub rejected the token ({detail}) when trying to {what}",
            hint="the token is missing, expired or revoked: pass a valid `github-token`",
        )
    if exc.status == 403:
        return _forbidden(message, detail, what=what, permission=permission)
    if exc.status == 404:
        return GitHubRefused(
            f"GitHub answered 404 when trying to {what}: it does not exist, or the token cannot "
            f"see it (grant `{permission}`)",
            hint="check the repository name and the token's access to it",
        )
    if exc.status >= 500:
        return GitHubError(
            f"GitHub kept failing ({detail}) when trying to {what}, after retries",
            hint="GitHub may be having an incident; try again later",
        )
    errors = data.get("errors")
    if errors:
        detail += f": {redact(str(errors), secrets)[:500]}"
    return GitHubRefused(f"GitHub refused to {what} ({detail})")


def _forbidden(message: str, detail: str, *, what: str, permission: str) -> GitHubError:
    """A 403: a repository setting, a rate limit that outlasted the retries, or a permission the token lacks."""
    if _ACTIONS_PR_REFUSAL in message.lower():
        return GitHubRefused(
            f"GitHub refused to {what}: this repository does not let GitHub Actions open pull requests ({detail})",
            hint=f'turn on "{ACTIONS_PR_SETTING}" under Settings > Actions > General > '
            "Workflow permissions (for an organisation, in its settings first), or pass "
            "a GitHub App or personal access token as `github-token`",
        )
    if "rate limit" in message.lower():
        return GitHubError(
            f"GitHub kept rate-limiting the request to {what} ({detail})",
            hint="try again later; the run's work is committed on its branch",
        )
    return GitHubRefused(
        f"the token cannot {what} ({detail}): grant `{permission}`",
        hint=f"add `{permission}` under `permissions:` in the workflow (or to the token)",
    )
