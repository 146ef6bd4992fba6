"""What a Claude Code CLI process is started with: which binary, which environment, which SDK options.

``LaunchSpec`` is what stays the same for every process of one session; ``sdk_options`` turns it into the
``ClaudeAgentOptions`` of one process, new or resuming the conversation. The environment is computed
afresh for each process, from ``os.environ``'s names and the mapping ``cli.py`` read (``agents/env.py``
decides what is scrubbed); ``cli_credentials`` then names the CLI's own credentials in it, which the session
masks in whatever comes back.

It deliberately starts nothing (``_claude_process.py`` does). It touches the filesystem only to find the
CLI binary and, for a confined session, to write the launcher script that starts it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from claude_agent_sdk import ClaudeAgentOptions, HookMatcher
from claude_agent_sdk.types import HookEvent

from kodo_bot.agents._claude_cli import real_cli
from kodo_bot.agents.env import CLI_CREDENTIALS, agent_environment
from kodo_bot.confine import Confinement

#: one JSON line from the CLI may carry a whole file a tool read; the SDK's 1 MB default ends the stream
_MAX_LINE = 32 * 1024 * 1024


@dataclass(frozen=True)
class LaunchSpec:
    """What every CLI process of one session is started with."""

    agent: str
    system_prompt: str
    cwd: Path
    state_dir: Path
    model: str | None
    #: the CLI's own turn limit; None leaves it off (kodo-bot's hooks count turns either way)
    cli_max_turns: int | None
    cli_path: Path | str | None
    #: the environment kodo-bot was started with, when it is not ``os.environ`` (``ClaudeSessionFactory``)
    parent_env: Mapping[str, str] | None
    #: added verbatim to the agent's environment (``agent_environment``'s ``extra``)
    env: Mapping[str, str]
    #: what the CLI may touch; None runs it unconfined, with the caller's HOME
    confinement: Confinement | None
    #: load no settings file at all (a verifier: the commit under review may carry a .claude/settings.json
    #: whose env or hooks would change what its checks run)
    isolated: bool
    #: MCP servers the CLI starts for this agent (``agents/browser.py``: the browser tester's); none by default
    mcp_servers: Mapping[str, Any] = field(default_factory=dict)


def sdk_options(
    spec: LaunchSpec, *, session_id: str, resume: bool, hooks: dict[HookEvent, list[HookMatcher]]
) -> ClaudeAgentOptions:
    """The options of one CLI process, which resumes conversation ``session_id`` or starts it afresh."""
    inherited, env = _environment(spec)
    return ClaudeAgentOptions(
        system_prompt=spec.system_prompt,
        cwd=spec.cwd,
        permission_mode="bypassPermissions",
        model=spec.model,
        max_turns=spec.cli_max_turns,
        resume=session_id if resume else None,
        session_id=None if resume else session_id,
        env=env,
        cli_path=_launcher(spec, inherited, env) if spec.confinement is not None else spec.cli_path,
        max_buffer_size=_MAX_LINE,
        setting_sources=[] if spec.isolated else None,
        hooks=hooks,
        mcp_servers=dict(spec.mcp_servers),
    )


def cli_credentials(env: Mapping[str, str]) -> tuple[str, ...]:
    """The CLI's own credentials in its environment: it needs them, and so can show them to the agent
    (`env`); they must not come back in a result or a transcript."""
    return tuple(v for k, v in env.items() if k in CLI_CREDENTIALS and v)


def _environment(spec: LaunchSpec) -> tuple[dict[str, str], dict[str, str]]:
    """What the CLI would inherit, and the ``env`` that overrides it."""
    # The SDK starts the CLI with os.environ plus options.env, so the scrub must see os.environ's names
    # even when kodo-bot was handed a different mapping (which wins where both have a value).
    inherited = {**os.environ, **(spec.parent_env or {})}
    env = agent_environment(inherited, state_dir=spec.state_dir, extra=spec.env)
    # git never looks above the checkout: without its .git, git fails rather than find the user's project
    env["GIT_CEILING_DIRECTORIES"] = str(spec.cwd.resolve().parent)
    return inherited, env


def _launcher(spec: LaunchSpec, inherited: Mapping[str, str], env: Mapping[str, str]) -> Path:
    """A script that starts the real CLI inside the session's confinement."""
    assert spec.confinement is not None
    # Everything set in ``env`` on purpose is kept; of the rest, only the allowlist reaches the CLI.
    confinement = replace(spec.confinement, keep_env=spec.confinement.keep_env | {k for k, v in env.items() if v})
    script = spec.state_dir / "launchers" / f"{spec.agent}-{uuid.uuid4().hex[:8]}.sh"
    return confinement.launcher(real_cli(spec.cli_path), script, {**inherited, **env})
