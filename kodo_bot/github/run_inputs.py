"""What the engine is given for an issue: the goal from trusted words, and the run's settings.

The goal is the issue's title and body plus the comments of people who could have triggered the run
themselves (their permission is asked of GitHub, a bounded number of times); the settings come from
``.github/kodo.yml``, with the action's inputs (``RunOverrides``) winning. Pure but for the permission
lookups and reading a team file from the clone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from kodo_bot.engine.orchestrator_choice import orchestrator_fields
from kodo_bot.engine.state import RunSettings
from kodo_bot.engine.team import Team, default_team, load_team
from kodo_bot.errors import ConfigError
from kodo_bot.github.client import CommentInfo, GitHubClient, IssueInfo
from kodo_bot.github.config import KodoConfig
from kodo_bot.github.context import LabelTrigger
from kodo_bot.github.goal_text import GoalText, IssueComment, build_goal_text
from kodo_bot.github.trust import is_bot, is_trusted_commenter

#: commenters whose permission is looked up for the goal; beyond this, comments are left out as untrusted
MAX_PERMISSION_LOOKUPS = 20


@dataclass(frozen=True)
class RunOverrides:
    """Settings given to the action (its inputs) or to ``kodo-bot handle``; they win over ``.github/kodo.yml``."""

    max_cycles: int | None = None
    max_cost_usd: float | None = None
    max_minutes: float | None = None
    orchestrator_model: str | None = None
    #: the action's ``orchestrator`` input (``engine/orchestrator_choice``)
    orchestrator: str | None = None
    #: a team file in the repository (the action's ``team`` input)
    team_path: str | None = None
    #: a team file on this machine (``kodo-bot handle --team``)
    team_file: Path | None = None


def overrides_from_env(env: Mapping[str, str]) -> RunOverrides:
    """The action's inputs as it passes them to the step (``KODO_MAX_CYCLES``, ``KODO_MAX_COST_USD``,
    ``KODO_MAX_MINUTES``, ``KODO_ORCHESTRATOR_MODEL``, ``KODO_ORCHESTRATOR``, ``KODO_TEAM``), read the same
    way by ``kodo-bot action`` and by the runs ``kodo-bot watch`` starts. A bad number is a ``UserError``."""
    from kodo_bot.compose import env_number

    def get(name: str) -> str | None:
        return (env.get(name) or "").strip() or None

    return RunOverrides(
        max_cycles=env_number(env, "KODO_MAX_CYCLES", int),
        max_cost_usd=env_number(env, "KODO_MAX_COST_USD", float),
        max_minutes=env_number(env, "KODO_MAX_MINUTES", float),
        orchestrator_model=get("KODO_ORCHESTRATOR_MODEL"),
        orchestrator=get("KODO_ORCHESTRATOR"),
        team_path=get("KODO_TEAM"),
    )


def issue_goal(
    client: GitHubClient,
    issue: IssueInfo,
    comments: list[CommentInfo],
    own: list[CommentInfo],
    trigger: LabelTrigger,
    sender_permission: str | None,
    config: KodoConfig,
) -> GoalText:
    """The goal from the issue and the comments of people who could have triggered the run themselves."""
    own_ids = {c.id for c in own}
    known = {trigger.sender_login.lower(): sender_permission}
    lookups = 0
    parts = []
    for c in comments:
        if c.id in own_ids:
            parts.append(IssueComment(author=c.author, body=c.body, own=True))
            continue
        key = c.author.lower()
        if key not in known and not is_bot(c.author, c.author_type) and lookups < MAX_PERMISSION_LOOKUPS:
            known[key] = client.permission(c.author)
            lookups += 1
        trusted = is_trusted_commenter(c.author, c.author_type, known.get(key), config)
        parts.append(IssueComment(author=c.author, body=c.body, trusted=trusted))
    return build_goal_text(issue.title, issue.body, parts, max_chars=config.max_goal_chars)


def run_settings(config: KodoConfig, overrides: RunOverrides, clone: Path) -> RunSettings:
    b = config.budgets
    team = _team(config, overrides, clone)
    spec, field = next(
        (
            (s, f)
            for s, f in (
                (overrides.orchestrator, "the orchestrator input"),
                (config.orchestrator, ".github/kodo.yml: orchestrator"),
                (team.orchestrator, "the team file: orchestrator"),
            )
            if s
        ),
        (None, ""),
    )
    model = overrides.orchestrator_model or config.orchestrator_model
    return RunSettings(
        max_cycles=overrides.max_cycles or b.max_cycles,
        max_cost_usd=overrides.max_cost_usd or b.max_cost_usd,
        max_minutes=overrides.max_minutes or b.max_minutes,
        check_commands=list(config.check_commands),
        default_check=config.default_check,
        team=team,
        sandbox=config.sandbox and team.sandbox,
        agent_env=sorted({*config.agent_env, *team.agent_env}),
        **orchestrator_fields(spec, model, field=field),
    )


def _team(config: KodoConfig, overrides: RunOverrides, clone: Path) -> Team:
    if overrides.team_file is not None:
        return load_team(overrides.team_file)
    if overrides.team_path:
        return load_team(_inside(clone, overrides.team_path))
    if isinstance(config.team, Team):
        return config.team
    if isinstance(config.team, str):
        return load_team(_inside(clone, config.team))
    local = clone / "kodo-team.yaml"
    return load_team(local) if local.exists() else default_team()


def _inside(clone: Path, relative: str) -> Path:
    path = (clone / relative).resolve()
    if not path.is_relative_to(clone.resolve()):
        raise ConfigError(f"the team file {relative!r} must be a path inside the repository")
    return path
