"""A team is data: which agents exist, on which backend and model, with which role and limits.

Loaded from YAML (the default ships in ``kodo_bot/data/team.yaml``; a project overrides it with its own
file). Validation errors name the field and the problem, because a person wrote the file by hand.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from kodo_bot._files import read_config_text
from kodo_bot.engine.models import BROWSER_TOOLS, INSTALL
from kodo_bot.errors import ConfigError
from kodo_bot.secret_names import is_secret_name

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


def lacking_note(tools: list[str]) -> str:
    """``needs X, Y on PATH``, with how to install those kodo-bot knows."""
    how = [INSTALL[t] for t in tools if t in INSTALL]
    return f"needs {', '.join(tools)} on PATH" + (f" ({'; '.join(how)})" if how else "")


#: words that make a goal a UI goal, so verifiers with ``verify: ui`` join in
_UI_WORDS = re.compile(
    r"\b(ui|ux|frontend|front-end|web ?page|page|browser|button|css|html|layout|screen|form|click|"
    r"react|vue|svelte|dom|playwright|render(?:s|ed|ing)?)\b",
    re.IGNORECASE,
)


class AgentSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    #: which agent CLI runs this agent (``kodo_bot/agents/backends.py``)
    backend: Literal["claude_code", "codex", "gemini_cli", "cursor"] = "claude_code"
    #: model name or alias passed to the backend; None lets the backend choose
    model: str | None = None
    description: str = ""
    #: the role prompt; kodo-bot adds the role marker and the task framing around it
    prompt: str
    max_turns: int = Field(default=40, ge=1, le=1000)
    idle_timeout_s: float = Field(default=600, gt=0)
    timeout_s: float = Field(default=3600, gt=0)
    #: whether this agent verifies finished work: always, only for goals that involve a UI, or never
    verify: Literal["always", "ui", "never"] = "never"
    #: executables that must be on PATH for this agent to be useful (else it is left out with a warning)
    requires: tuple[str, ...] = ()
    #: give the agent a headless Chromium it drives with browser tools (``agents/browser.py``); it then
    #: needs ``BROWSER_TOOLS`` too, and as a verifier its pass needs a screenshot
    browser: bool = False

    @property
    def needs(self) -> tuple[str, ...]:
        """Every executable this agent needs on PATH: its ``requires``, and the browser's when it has one."""
        extra = [tool for tool in BROWSER_TOOLS if self.browser and tool not in self.requires]
        return (*self.requires, *extra)

    @field_validator("name")
    @classmethod
    def _valid_name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError("must be lowercase letters, digits and '_', starting with a letter (max 40)")
        return v

    @field_validator("prompt")
    @classmethod
    def _non_empty(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be empty")
        return v

    @model_validator(mode="after")
    def _timeouts(self) -> AgentSpec:
        if self.idle_timeout_s > self.timeout_s:
            raise ValueError("idle_timeout_s must not exceed timeout_s")
        return self

    @model_validator(mode="after")
    def _browser_on_claude_code(self) -> AgentSpec:
        if self.browser and self.backend != "claude_code":
            raise ValueError("browser: true needs backend claude_code (the browser is an MCP server of Claude Code's)")
        return self


class Team(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = "team"
    agents: dict[str, AgentSpec]
    #: confine agents and checks with bubblewrap; ``sandbox: off`` runs them unconfined (with a warning)
    sandbox: bool = True
    #: environment variables (names) agents and checks may see beyond the built-in allowlist
    agent_env: tuple[str, ...] = ()
    #: who directs this team (``engine/orchestrator_choice``), unless the run says otherwise
    orchestrator: str | None = None

    @field_validator("orchestrator")
    @classmethod
    def _known_orchestrator(cls, spec: str | None) -> str | None:
        from kodo_bot.engine.orchestrator_choice import checked_spec

        return checked_spec(spec)

    @field_validator("agent_env")
    @classmethod
    def _plain_names(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        return check_agent_env(names)

    @model_validator(mode="before")
    @classmethod
    def _names_from_keys(cls, data: object) -> object:
        if isinstance(data, dict) and isinstance(data.get("agents"), (list, tuple)):
            # Team(agents=[Agent(...), ...]) in Python: keyed by their names
            data = {
                **data,
                "agents": {
                    getattr(a, "name", None) or (a.get("name") if isinstance(a, dict) else None): a
                    for a in data["agents"]
                },
            }
        if isinstance(data, dict) and isinstance(data.get("agents"), dict):
            agents = {}
            for key, spec in data["agents"].items():
                if isinstance(spec, dict):
                    spec = {"name": key, **spec}
                agents[key] = spec
            data = {**data, "agents": agents}
        return data

    @model_validator(mode="after")
    def _non_empty(self) -> Team:
        if not self.agents:
            raise ValueError("a team needs at least one agent")
        for key, spec in self.agents.items():
            if spec.name != key:
                raise ValueError(f"agent {key!r} has name {spec.name!r}; leave name out or make them equal")
        return self

    @classmethod
    def default(cls) -> Team:
        """The team kodo-bot ships (``kodo_bot/data/team.yaml``): architect, two workers, two testers."""
        return default_team()

    @classmethod
    def load(cls, path: Path | str) -> Team:
        """A team file; ``ConfigError`` names the field when it is invalid."""
        return load_team(Path(path))

    def verifiers_for(self, goal_text: str, *, ui: bool | None = None) -> list[AgentSpec]:
        """The agents that verify this goal: ``always`` ones, plus ``ui`` ones when the goal involves a UI."""
        is_ui = goal_involves_ui(goal_text) if ui is None else ui
        return [a for a in self.agents.values() if a.verify == "always" or (a.verify == "ui" and is_ui)]

    def without(self, names: set[str]) -> Team:
        return self.model_copy(update={"agents": {k: v for k, v in self.agents.items() if k not in names}})


_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def check_agent_env(names: tuple[str, ...]) -> tuple[str, ...]:
    """``agent_env`` names must be variable names, and none that looks like a secret: an agent can print
    anything it is given, and a secret passed on purpose still ends up in its transcript and the model API."""
    for name in names:
        if not _ENV_NAME.match(name):
            raise ValueError(f"{name!r} is not an environment variable name")
        if is_secret_name(name):
            raise ValueError(
                f"{name} looks like a secret, and secrets never reach agents; pass a non-secret "
                "setting, or give the agent what it needs another way"
            )
    return names


#: the name kodo's library users know an agent's description by
Agent = AgentSpec


def goal_involves_ui(goal_text: str) -> bool:
    return bool(_UI_WORDS.search(goal_text))


def default_team() -> Team:
    text = resources.files("kodo_bot").joinpath("data/team.yaml").read_text(encoding="utf-8")
    return parse_team(text, source="the default team")


def load_team(path: Path) -> Team:
    return parse_team(read_config_text(path, "team file"), source=str(path))


def parse_team(text: str, *, source: str) -> Team:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{source} must be a mapping with an 'agents:' section")
    try:
        return Team.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{source} is invalid:\n{format_validation_error(exc)}") from exc


def format_validation_error(exc: ValidationError) -> str:
    """Pydantic's errors as '  agents.tester.max_turns: Input should be ...' lines a person can act on."""
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        lines.append(f"  {where}: {msg}")
    return "\n".join(lines)
