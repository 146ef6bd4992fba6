"""Where kodo-bot's GitHub token comes from: one fixed token, or a GitHub App's installation token, minted
from the App's id and private key and renewed before it expires on a long run.

Which one matters beyond permissions: GitHub starts no workflow for pushes and pull requests made with the
workflow's own ``GITHUB_TOKEN``, so with it the repository's CI never runs on kodo-bot's PR. An App's token
(or a person's) does not have that limit. ``kind`` says which, so the run can tell people once.

Every token a source hands out is remembered in ``secrets``, so redaction masks an expired one that is
still quoted in some error text. The private key itself is never a token and never leaves this module.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Literal

import jwt
from github import Auth, GithubException, GithubIntegration
from pydantic import SecretStr

from kodo_bot.errors import GitHubError

TokenKind = Literal["workflow", "app", "token"]

#: who the workflow's own GITHUB_TOKEN posts as
ACTIONS_BOT_LOGIN = "github-actions[bot]"

#: an installation token lives an hour; a new one is minted when less than this is left
RENEW_BEFORE_S = 300.0

WORKFLOW_TOKEN_NOTE = (
    "kodo-bot pushes with the workflow's GITHUB_TOKEN, and GitHub starts no workflow for pushes made with it: "
    "the repository's own CI will not run on this pull request. Give the action a GitHub App "
    "(`app-id` and `app-private-key` inputs) so CI runs and its failures come back to kodo-bot."
)


class TokenSource:
    """The token to use now (``current``), its kind, and every token handed out so far (``secrets``)."""

    kind: TokenKind = "token"

    @property
    def bot_login(self) -> str | None:
        """Who GitHub says wrote what this token posts, when that is known without asking (``GET /user``,
        which installation tokens may not call): the workflow's token posts as github-actions[bot]."""
        return ACTIONS_BOT_LOGIN if self.kind == "workflow" else None

    def current(self) -> str:
        raise NotImplementedError

    @property
    def secrets(self) -> tuple[str, ...]:
        raise NotImplementedError

    def pygithub_auth(self) -> Auth.Auth:
        """PyGithub's view: it asks for the token on every request, so a renewed one is used at once."""
        return _Current(self)


class FixedToken(TokenSource):
    def __init__(self, token: str | SecretStr, *, kind: TokenKind = "token") -> None:
        self._token = token.get_secret_value() if isinstance(token, SecretStr) else token
        if not self._token:
            raise GitHubError("no GitHub token", hint="set GITHUB_TOKEN (or GH_TOKEN)")
        self.kind = kind

    def current(self) -> str:
        return self._token

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self._token,)


class AppToken(TokenSource):
    """An App installation's token for one repository, minted on first use and again shortly before expiry."""

    kind: TokenKind = "app"

    def __init__(
        self,
        *,
        app_id: str,
        private_key: SecretStr,
        repo: str,
        api_url: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._app_id, self._key, self._repo, self._api_url = app_id, private_key, repo, api_url.rstrip("/")
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires = 0.0
        self._issued: list[str] = []
        self._slug: str | None = None

    def current(self) -> str:
        with self._lock:
            if self._token is None or self._expires - self._clock() < RENEW_BEFORE_S:
                self._token, self._expires = self._mint()
                self._issued.append(self._token)
            return self._token

    @property
    def secrets(self) -> tuple[str, ...]:
        with self._lock:
            return tuple(self._issued)

    @property
    def bot_login(self) -> str | None:
        """``<app slug>[bot]``, as GitHub names the App's posts (known once the first token is minted)."""
        self.current()
        return f"{self._slug}[bot]" if self._slug else None

    @property
    def expires_at(self) -> float:
        """When the current token expires, as GitHub said (Unix time; 0 before the first)."""
        return self._expires

    def _mint(self) -> tuple[str, float]:
        owner, name = self._repo.split("/", 1)
        try:
            auth = Auth.AppAuth(self._app_id, self._key.get_secret_value())
            with GithubIntegration(auth=auth, base_url=self._api_url) as integration:
                installation = integration.get_repo_installation(owner, name)
                access = integration.get_access_token(installation.id)
                self._slug = installation.app_slug
        except GithubException as exc:
            raise GitHubError(
                f"GitHub refused the App's credentials for {self._repo} ({exc.status})",
                hint="check the app-id and app-private-key inputs, and that the App is installed on the repository",
            ) from None
        except (ValueError, jwt.exceptions.PyJWTError) as exc:  # a key that is not a PEM private key
            raise GitHubError(
                f"the App's private key cannot be read: {type(exc).__name__}",
                hint="pass the App's whole .pem file as app-private-key",
            ) from None
        return access.token, access.expires_at.timestamp()


class _Current(Auth.Auth):
    def __init__(self, source: TokenSource) -> None:
        self._source = source

    @property
    def token_type(self) -> str:
        return "token"

    @property
    def token(self) -> str:
        return self._source.current()
