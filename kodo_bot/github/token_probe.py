"""What a GitHub token is and what it may do on one repository, found by asking GitHub, for ``kodo-bot doctor``.

The kind comes from the token's shape and from ``GET /user``: the workflow's own ``GITHUB_TOKEN`` (posts as
``github-actions[bot]``; its pushes start no workflow), a GitHub App installation token (``ghs_``, a
``[bot]``), or a person's token (classic ``ghp_``, fine-grained ``github_pat_``, OAuth ``gho_``).

The permissions are probed, not guessed: a write permission is tested with a request GitHub must refuse
either way, a body missing a required field. A token without the permission gets 403 (GitHub checks the
permission first); one with it gets 422 for the body. Nothing is ever created. Read permissions are tested
with a read.

Deliberately not here: the token itself in any message (it is never printed), or deciding what is enough
(``doctor`` does, from ``NEEDED``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import requests

#: what kodo-bot needs, as a workflow's ``permissions:`` block spells it
NEEDED = ("contents: write", "issues: write", "pull-requests: write", "statuses: write", "actions: read")

ProbeKind = Literal["workflow", "app", "personal", "unknown"]


@dataclass(frozen=True)
class TokenReport:
    """What GitHub said about the token. ``reachable`` False: the repository could not be read at all."""

    kind: ProbeKind
    login: str | None
    reachable: bool
    #: permission -> True (has it), False (refused), None (could not tell)
    permissions: dict[str, bool | None] = field(default_factory=dict)
    problem: str | None = None

    @property
    def missing(self) -> list[str]:
        return [p for p in NEEDED if self.permissions.get(p) is False]

    @property
    def starts_workflows(self) -> bool:
        """GitHub starts no workflow for pushes and PRs made with the workflow's own token."""
        return self.kind != "workflow"


def rest_session(token: str, user_agent: str) -> requests.Session:
    """A ``requests`` session for GitHub's REST API with the token (never logged by requests) and headers."""
    session = requests.Session()
    session.headers.update(
        {
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "User-Agent": user_agent,
            "X-GitHub-Api-Version": "2022-11-28",
        }
    )
    return session


class _Api:
    def __init__(self, api_url: str, token: str, timeout_s: float) -> None:
        self.base, self.timeout = api_url.rstrip("/"), timeout_s
        self.session = rest_session(token, "kodo-bot-doctor")

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        answer = self.session.request(method, self.base + path, json=body, timeout=self.timeout)
        try:
            return answer.status_code, answer.json()
        except ValueError:
            return answer.status_code, None


def token_kind(token: str, login: str | None, *, in_actions: bool) -> ProbeKind:
    """The token's kind from its prefix and its login (None: ``GET /user`` was refused, as for an App)."""
    if login == "github-actions[bot]" or (in_actions and token.startswith("ghs_") and login is None):
        return "workflow"
    if token.startswith("ghs_") or (login or "").endswith("[bot]"):
        return "app"
    if token.startswith(("ghp_", "github_pat_", "gho_", "ghu_")) or login:
        return "personal"
    return "unknown"


def probe_token(api_url: str, token: str, repo: str, *, in_actions: bool = False, timeout_s: float = 15) -> TokenReport:
    """Ask GitHub what ``token`` is and may do on ``repo`` (OWNER/NAME). Network errors raise ``OSError``."""
    api = _Api(api_url, token, timeout_s)
    try:
        status, user = api.call("GET", "/user")
        login = user.get("login") if status == 200 and isinstance(user, dict) else None
        if status == 401:
            return TokenReport(
                "unknown", None, False, problem="GitHub answered 401 Bad credentials: the token is wrong or expired"
            )
        kind = token_kind(token, login, in_actions=in_actions)
        status, info = api.call("GET", f"/repos/{repo}")
        if status != 200 or not isinstance(info, dict):
            why = "not found, or the token cannot see it" if status == 404 else f"GitHub answered {status}"
            return TokenReport(kind, login, False, {p: False for p in NEEDED}, problem=f"cannot read {repo}: {why}")
        return TokenReport(kind, login, True, _permissions(api, repo, info))
    except requests.RequestException as exc:
        raise OSError(f"GitHub at {api_url} did not answer: {type(exc).__name__}") from None
    finally:
        api.session.close()


def _permissions(api: _Api, repo: str, info: dict[str, Any]) -> dict[str, bool | None]:
    base = f"/repos/{repo}"
    branch = info.get("default_branch") or "main"
    status, ref = api.call("GET", f"{base}/git/ref/heads/{branch}")
    sha = ((ref or {}).get("object") or {}).get("sha") if status == 200 and isinstance(ref, dict) else None
    found: dict[str, bool | None] = {
        # invalid bodies: refused (403) without the permission, 422 with it; never created
        "contents: write": _write(api, "POST", f"{base}/git/refs", {"sha": "0" * 40}),
        "issues: write": _write(api, "POST", f"{base}/labels", {"color": "zz"}),
        "pull-requests: write": _write(api, "POST", f"{base}/pulls", {"base": branch}),
        "statuses: write": _write(api, "POST", f"{base}/statuses/{sha}", {}) if sha else None,
        "actions: read": _read(api, f"{base}/actions/runs?per_page=1"),
    }
    return found


def _write(api: _Api, method: str, path: str, body: dict[str, Any]) -> bool | None:
    status, _ = api.call(method, path, body)
    if status in (401, 403):
        return False
    if status in (400, 422):
        return True
    return None  # 404 (a fine-grained token without the repository), 5xx: cannot tell


def _read(api: _Api, path: str) -> bool | None:
    status, _ = api.call("GET", path)
    return True if status == 200 else False if status in (401, 403, 404) else None


def list_runners(api_url: str, token: str, repo: str, *, timeout_s: float = 15) -> list[dict[str, Any]] | None:
    """The repository's self-hosted runners (name, status, label names); None when the token may not list
    them (it needs ``administration: read``, which kodo-bot's own tokens do not have). Network errors raise
    ``OSError``."""
    api = _Api(api_url, token, timeout_s)
    try:
        status, body = api.call("GET", f"/repos/{repo}/actions/runners?per_page=100")
    except requests.RequestException as exc:
        raise OSError(f"GitHub at {api_url} did not answer: {type(exc).__name__}") from None
    finally:
        api.session.close()
    if status != 200 or not isinstance(body, dict):
        return None
    return [
        {
            "name": r.get("name"),
            "status": r.get("status"),
            "labels": [label.get("name") for label in r.get("labels") or []],
        }
        for r in body.get("runners") or []
    ]
