"""Parse a GitHub event and the Actions environment once, at the edge, into typed values.

Everything after this module works with :class:`LabelTrigger` / :class:`Ignored` and :class:`ActionsContext`
instead of dicts and environment variables, so a missing field is found here, reported as a
``UserError`` that names it, and never surfaces later as a ``KeyError`` traceback.

What this module deliberately does not do: read files or ``os.environ`` (``kodo_bot/cli.py`` reads
``GITHUB_EVENT_PATH`` and passes the bytes and a mapping in), ask GitHub anything, or decide whether a
trigger may start a run (that is ``trust``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, SecretStr

from kodo_bot.errors import UserError
from kodo_bot.github._payload import Loose, Repo, User, validate_payload
from kodo_bot.github.router import Router, WebhookEvent
from kodo_bot.github.tokens import AppToken, FixedToken, TokenSource

_REPO = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
DEFAULT_API_URL = "https://api.github.com"
DEFAULT_SERVER_URL = "https://github.com"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LabelTrigger(_Frozen):
    """A label was added to an issue (or a pull request): the one event that can start a run."""

    kind: Literal["label"] = "label"
    repo: str
    issue_number: int
    label: str
    sender_login: str
    #: GitHub's account type: ``User``, ``Bot`` or ``Organization``
    sender_type: str = "User"
    #: labels on pull requests are refused (kodo-bot works on issues), so they are kept, not dropped here
    is_pull_request: bool = False
    issue_title: str
    issue_body: str = ""
    issue_state: Literal["open", "closed"] = "open"
    issue_author: str = ""
    #: the repository as the payload describes it (saves asking GitHub before the first comment); None
    #: when the event did not say (a trigger by hand)
    default_branch: str | None = None
    clone_url: str | None = None
    repo_html_url: str | None = None


class Ignored(_Frozen):
    """An event kodo-bot does not act on; ``reason`` is what ``kodo-bot action`` prints before exiting 0."""

    kind: Literal["ignored"] = "ignored"
    reason: str


Trigger = LabelTrigger | Ignored


# -- the payload subsets we read: extra fields are GitHub's business, missing ones are an error ------------


class _Label(Loose):
    name: str


class _Issue(Loose):
    number: int
    title: str
    body: str | None = None
    state: Literal["open", "closed"]
    user: User | None = None
    # present (an object) when the "issue" is a pull request
    pull_request: dict[str, Any] | None = None


class _IssuesLabeled(Loose):
    issue: _Issue
    label: _Label
    repository: Repo
    sender: User


class _PullRequestLabeled(Loose):
    pull_request: _Issue
    label: _Label
    repository: Repo
    sender: User


_events = Router()


@_events.on("issues.labeled")
def _issue_labeled(event: WebhookEvent) -> LabelTrigger:
    p = validate_payload(_IssuesLabeled, event)
    return _trigger(p.repository, p.issue, p.label, p.sender, is_pr=p.issue.pull_request is not None)


@_events.on("pull_request.labeled")
def _pull_request_labeled(event: WebhookEvent) -> LabelTrigger:
    p = validate_payload(_PullRequestLabeled, event)
    return _trigger(p.repository, p.pull_request, p.label, p.sender, is_pr=True)


def _trigger(repo: Repo, issue: _Issue, label: _Label, sender: User, *, is_pr: bool) -> LabelTrigger:
    return LabelTrigger(
        repo=repo.full_name,
        issue_number=issue.number,
        label=label.name,
        sender_login=sender.login,
        sender_type=sender.type,
        is_pull_request=is_pr,
        issue_title=issue.title,
        issue_body=issue.body or "",
        issue_state=issue.state,
        issue_author=issue.user.login if issue.user else "",
        default_branch=repo.default_branch,
        clone_url=repo.clone_url,
        repo_html_url=repo.html_url,
    )


def load_payload(raw: bytes | str, source: str = "the event payload") -> dict[str, Any]:
    """Raw bytes (an event file, a webhook body) to the payload dict, or a ``UserError`` saying why not."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise UserError(f"{source} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if not raw.strip():
        raise UserError(f"{source} is empty", hint="GitHub sends a JSON object with every event")
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise UserError(f"{source} is not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    if not isinstance(data, dict):
        raise UserError(f"{source} must be a JSON object, not a JSON {type(data).__name__}")
    return data


def parse_event(event_name: str, payload: Mapping[str, Any] | bytes | str) -> Trigger:
    """The typed meaning of one event: a :class:`LabelTrigger`, or :class:`Ignored` with the reason."""
    if not event_name or not event_name.strip():
        raise UserError("the event name is empty", hint="set GITHUB_EVENT_NAME, e.g. 'issues'")
    data = payload if isinstance(payload, Mapping) else load_payload(payload, f"the {event_name!r} payload")
    event = WebhookEvent(event_name, data)
    if event_name in ("issues", "pull_request") and event.action is None:
        raise UserError(f"the {event_name!r} payload has no 'action' field", hint="GitHub always sends one")
    results = _events.dispatch(event_name, data)
    if results:
        first: LabelTrigger | Ignored = results[0]
        return first
    return Ignored(reason=_ignored_reason(event))


def _ignored_reason(event: WebhookEvent) -> str:
    if event.name in ("issues", "pull_request"):
        return f"kodo-bot starts only on a label being added; '{event.route}' is not that"
    return f"kodo-bot does not act on '{event.route}' events; it starts when an issue is labelled"


# -- the Actions environment ---------------------------------------------------------------------------


class ActionsContext(_Frozen):
    """What a GitHub Actions job tells its steps through the environment."""

    event_name: str
    event_path: Path
    #: ``owner/name``
    repository: str
    #: a SecretStr so that printing the context, or a traceback showing it, never shows the token
    token: SecretStr | None = None
    #: REST base URL; on GitHub Enterprise Server, ``https://HOST/api/v3``
    api_url: str = DEFAULT_API_URL
    server_url: str = DEFAULT_SERVER_URL
    run_id: str | None = None
    step_summary: Path | None = None
    output: Path | None = None
    #: ``KODO_JOB_DEADLINE``: when the job will be killed (Unix time; the action sets it from the job's
    #: start and its timeout), so that delivering what is left never runs past it
    job_deadline: float | None = None
    #: a GitHub App to act as (``KODO_APP_ID``, ``KODO_APP_PRIVATE_KEY``): its installation token replaces
    #: GITHUB_TOKEN, and pushes made with it start the repository's workflows
    app_id: str | None = None
    app_private_key: SecretStr | None = None
    #: ``KODO_WORKFLOW_TOKEN=true``: GITHUB_TOKEN is the workflow's own token (the action compares them)
    workflow_token: bool = False
    #: ``KODO_ARTIFACT``: the artifact the action uploads the run's log and HTML view as (set only where
    #: the upload runs), named in the final comment and the job summary
    artifact: str | None = None

    @property
    def owner(self) -> str:
        return self.repository.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.repository.split("/", 1)[1]

    @property
    def run_url(self) -> str | None:
        """The Actions run's page, linked from the progress comment."""
        if not self.run_id:
            return None
        return f"{self.server_url}/{self.repository}/actions/runs/{self.run_id}"

    def token_source(self) -> TokenSource:
        """The App's installation token when an App is given, else GITHUB_TOKEN."""
        if self.app_id or self.app_private_key:
            if not (self.app_id and self.app_private_key):
                raise UserError(
                    "a GitHub App needs both its id and its private key",
                    hint="pass both the app-id and app-private-key inputs (or neither)",
                )
            return AppToken(
                app_id=self.app_id, private_key=self.app_private_key, repo=self.repository, api_url=self.api_url
            )
        return FixedToken(self.require_token(), kind="workflow" if self.workflow_token else "token")

    def require_token(self) -> SecretStr:
        if self.token is None:
            raise UserError(
                "GITHUB_TOKEN is not set, so kodo-bot cannot comment, push or open the pull request",
                hint="pass `github-token: ${{ secrets.GITHUB_TOKEN }}` to the action (or set GITHUB_TOKEN)",
            )
        return self.token


def parse_actions_env(env: Mapping[str, str]) -> ActionsContext:
    """The Actions environment (a mapping the caller passes in, normally ``os.environ``) as a value."""

    def get(name: str) -> str | None:
        return _env_value(env, name)

    def need(name: str) -> str:
        return _env_required(env, name)

    repository = need("GITHUB_REPOSITORY")
    if not _REPO.match(repository):
        raise UserError(f"GITHUB_REPOSITORY should look like 'owner/name', not {repository!r}")
    urls = {name: _env_url(env, name, default) for name, default in _URL_DEFAULTS.items()}
    token = get("GITHUB_TOKEN")
    summary, output = get("GITHUB_STEP_SUMMARY"), get("GITHUB_OUTPUT")
    job_deadline = _job_deadline(get("KODO_JOB_DEADLINE"))
    return ActionsContext(
        event_name=need("GITHUB_EVENT_NAME"),
        event_path=Path(need("GITHUB_EVENT_PATH")),
        repository=repository,
        token=SecretStr(token) if token else None,
        api_url=urls["GITHUB_API_URL"],
        server_url=urls["GITHUB_SERVER_URL"],
        run_id=get("GITHUB_RUN_ID"),
        step_summary=Path(summary) if summary else None,
        output=Path(output) if output else None,
        job_deadline=job_deadline,
        app_id=get("KODO_APP_ID"),
        app_private_key=SecretStr(key) if (key := get("KODO_APP_PRIVATE_KEY")) else None,
        workflow_token=(get("KODO_WORKFLOW_TOKEN") or "").lower() == "true",
        artifact=_artifact(get("KODO_ARTIFACT")),
    )


def _artifact(name: str | None) -> str | None:
    """An artifact name as upload-artifact accepts it; anything else is a broken workflow, said at once."""
    if name is not None and (len(name) > 200 or not re.fullmatch(r"[^\"\\:<>|*?\r\n/]+", name)):
        raise UserError(
            f"KODO_ARTIFACT {name[:80]!r} is not an artifact name",
            hint="leave it as the kodo-bot action sets it, or unset it",
        )
    return name


_URL_DEFAULTS = {"GITHUB_API_URL": DEFAULT_API_URL, "GITHUB_SERVER_URL": DEFAULT_SERVER_URL}


def _env_value(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    # Actions sets unset expressions to "", and an empty value is never meaningful here.
    return value.strip() if value and value.strip() else None


def _env_required(env: Mapping[str, str], name: str) -> str:
    value = _env_value(env, name)
    if value is None:
        raise UserError(
            f"{name} is not set: `kodo-bot action` runs as a step of a GitHub Actions job",
            hint="outside Actions, use `kodo-bot handle --issue N --repo OWNER/NAME`",
        )
    return value


def _env_url(env: Mapping[str, str], name: str, default: str) -> str:
    url = (_env_value(env, name) or default).rstrip("/")
    if not url.startswith(("https://", "http://")):
        raise UserError(f"{name} should be an http(s) URL, not {url!r}")
    return url


def _job_deadline(deadline: str | None) -> float | None:
    try:
        return float(deadline) if deadline else None
    except ValueError:
        raise UserError(f"KODO_JOB_DEADLINE should be a Unix time in seconds, not {deadline!r}") from None
