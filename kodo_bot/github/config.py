"""The settings a target repository keeps in ``.github/kodo.yml``.

A person writes this file by hand and only sees it fail on a runner, so every mistake becomes a
``ConfigError`` whose message names the field (``budgets.max_cycles: Input should be ...``) and unknown keys
are refused rather than silently ignored (a misspelt ``trusted_bot:`` would otherwise trust nobody and
nobody would notice).

This module only parses text it is given. It does not fetch the file from GitHub, read the disk or the
environment, or merge in the action's inputs: the caller does those and decides which wins.
"""

from __future__ import annotations

import difflib
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError, field_validator

from kodo_bot.engine.orchestrator_choice import checked_spec
from kodo_bot.engine.team import Team, check_agent_env, format_validation_error
from kodo_bot.errors import ConfigError

#: where the file lives in the target repository unless the action's ``config-file`` input says otherwise
DEFAULT_CONFIG_PATH = ".github/kodo.yml"

#: labels kodo-bot applies itself: the lease, and how a run ended
LABEL_RUNNING = "kodo:running"
LABEL_ACCEPTED = "kodo:accepted"
LABEL_NEEDS_HUMAN = "kodo:needs-human"
LABEL_FAILED = "kodo:failed"
#: put on the issue by ``/kodo stop``: the live run stops at its next cycle end, and takes it off as it ends
LABEL_STOP = "kodo:stop"
#: how a run ended; an issue shows at most one, of its latest run
OUTCOME_LABELS = frozenset({LABEL_ACCEPTED, LABEL_NEEDS_HUMAN, LABEL_FAILED})
#: a trigger label equal to one of these would start runs in a loop
RESERVED_LABELS = frozenset({LABEL_RUNNING, LABEL_STOP, *OUTCOME_LABELS})


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Budgets(_Strict):
    """Limits for one run; the engine ends the run with a matching outcome when one is reached."""

    max_cycles: int = Field(default=5, ge=1, le=50)
    #: API spend in USD (subscription-covered usage is reported but not counted); None: no limit
    max_cost_usd: float | None = Field(default=None, gt=0)
    #: wall time for the whole run; keep it below the workflow's ``timeout-minutes`` so the run can
    #: report its own outcome before Actions kills the job
    max_minutes: float | None = Field(default=60, gt=0)


def _team_kind(value: Any) -> str | None:
    # A string is a path to a team file in the repository; a mapping is the team itself. Choosing the
    # branch up front keeps errors about the mapping from being drowned in "should be a string".
    if isinstance(value, str):
        return "path"
    if isinstance(value, (dict, Team)):
        return "inline"
    return None


TeamSetting = Annotated[
    Annotated[str, Tag("path")] | Annotated[Team, Tag("inline")],
    Discriminator(
        _team_kind,
        custom_error_type="team_setting",
        custom_error_message="must be a team file's path in the repository, or a team mapping (agents: ...)",
    ),
]


class KodoConfig(_Strict):
    """Everything ``.github/kodo.yml`` may say. Every field has a default, so an empty file is valid."""

    #: the label that starts a run
    label: str = "kodo"
    #: bot logins (``name`` or ``name[bot]``) allowed to trigger runs and whose comments join the goal
    trusted_bots: tuple[str, ...] = ()
    #: a team file path inside the repository, or the team inline; None: kodo-bot's default team
    team: TeamSetting | None = None
    #: shell commands the engine runs itself, in a clean checkout, before any verifier is asked
    check_commands: tuple[str, ...] = ()
    #: without check_commands, the engine detects the project's test command and runs it; false turns that
    #: off (the summary comment then warns that only the verifiers judged the work)
    default_check: bool = True
    #: confine agents and checks with bubblewrap; ``sandbox: off`` runs them unconfined, with a warning
    sandbox: bool = True
    #: environment variables (names) agents and checks may see beyond the built-in allowlist
    agent_env: tuple[str, ...] = ()
    budgets: Budgets = Budgets()
    #: the orchestrator's model; None: kodo-bot's default
    orchestrator_model: str | None = None
    #: ``api:anthropic:<model>``, ``api:gemini:<model>`` or ``claude-code:<model>`` (``orchestrator_choice``)
    orchestrator: str | None = None
    #: the goal (title, body, trusted comments) is cut to this many characters, with a visible note
    max_goal_chars: int = Field(default=20_000, ge=500, le=200_000)
    #: a lease whose heartbeat is older than this is stale: its runner is presumed dead and may be replaced
    lease_stale_minutes: float = Field(default=15, gt=0)
    #: progress comment edits are coalesced to at most one per this many seconds (plus cycle ends)
    progress_min_interval_s: float = Field(default=10, ge=0)
    #: follow-ups kodo-bot starts by itself to fix the repository's own CI failing on its PR, per branch
    ci_fix_rounds: int = Field(default=2, ge=0, le=10)

    @field_validator("label")
    @classmethod
    def _label(cls, v: str) -> str:
        v = v.strip()
        if not v:
            raise ValueError("must not be empty")
        if len(v) > 50:  # GitHub's own limit on label names
            raise ValueError("must be at most 50 characters (GitHub's limit)")
        if v in RESERVED_LABELS:
            raise ValueError(f"{v!r} is a label kodo-bot sets itself; choose another trigger label")
        return v

    @field_validator("trusted_bots")
    @classmethod
    def _bots(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        out = []
        for login in v:
            login = login.strip()
            if not login:
                raise ValueError("bot logins must not be empty")
            out.append(login)
        return tuple(out)

    @field_validator("team")
    @classmethod
    def _team_path(cls, v: str | Team | None) -> str | Team | None:
        if isinstance(v, str):
            # The file is fetched from the repository by path: keep it inside the repository.
            parts = v.replace("\\", "/").split("/")
            if not v.strip() or v.startswith("/") or ".." in parts:
                raise ValueError("must be a relative path inside the repository (no leading '/', no '..')")
        return v

    @field_validator("orchestrator")
    @classmethod
    def _orchestrator(cls, spec: str | None) -> str | None:
        return checked_spec(spec)

    @field_validator("agent_env")
    @classmethod
    def _agent_env(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        return check_agent_env(names)

    @field_validator("check_commands")
    @classmethod
    def _commands(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if any(not c.strip() for c in v):
            raise ValueError("check commands must not be empty")
        return v

    @property
    def lease_stale_s(self) -> float:
        return self.lease_stale_minutes * 60


def parse_kodo_config(text: str | None, source: str = DEFAULT_CONFIG_PATH) -> KodoConfig:
    """Parse the file's text; ``None`` or an empty file means all defaults (the file is optional)."""
    if text is None or not text.strip():
        return KodoConfig()
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source} is not valid YAML: {exc}") from exc
    if data is None:  # only comments
        return KodoConfig()
    if not isinstance(data, dict):
        raise ConfigError(f"{source} must be a mapping of settings (label:, budgets:, ...), not {type(data).__name__}")
    try:
        return KodoConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{source} is invalid:\n{format_validation_error(exc)}", hint=_hint(exc)) from exc


def _hint(exc: ValidationError) -> str | None:
    """For a misspelt top-level key, the closest real one; that is the mistake people make most."""
    known = list(KodoConfig.model_fields)
    for err in exc.errors():
        if err["type"] == "extra_forbidden" and len(err["loc"]) == 1:
            close = difflib.get_close_matches(str(err["loc"][0]), known, n=1)
            if close:
                return f"did you mean {close[0]!r}? Known settings: {', '.join(known)}"
            return f"known settings: {', '.join(known)}"
    return None
