"""The environment an agent's Claude Code process runs in: quiet, offline-capable, and without our secrets.

An agent runs arbitrary shell commands, so whatever is in its environment is as good as printed in its
transcript. The claude-agent-sdk starts the CLI with ``{**os.environ, **options.env}``: it cannot be told to
*drop* an inherited variable, only to override it. Scrubbing therefore means overriding every secret-looking
inherited variable with an empty string, which is what ``agent_environment`` computes.

This module is pure: it decides from the mapping it is given and reads nothing itself (the caller passes
``os.environ``, because that is what the SDK merges). Creating the state folders is the session's job.

What it deliberately does not do: hide the CLI's *own* credential from the agent. Claude Code needs
``ANTHROPIC_API_KEY`` (or an OAuth token) in its environment and hands its environment to the Bash tool, so
an agent can read the key it runs on. Keep that key scoped to agent work; kodo-bot's orchestrator key has its
own name (``KODO_ORCHESTRATOR_API_KEY``) precisely so it can be scrubbed. (The CLI's own
``CLAUDE_CODE_SUBPROCESS_ENV_SCRUB`` needs bubblewrap and, as measured with CLI 2.1.330 in
bypassPermissions mode, did not remove ``GITHUB_TOKEN`` from a Bash command's environment; we do not rely
on it.)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from kodo_bot.engine.models import Bucket
from kodo_bot.secret_names import CLI_CREDENTIALS, is_secret_name, secret_values

__all__ = [
    "CLI_CREDENTIALS",
    "agent_environment",
    "claude_billing",
    "config_dir",
    "is_secret_name",
    "secret_values",
    "tmp_dir",
]

#: Non-secret settings the CLI reads, copied through when the parent has them (they would be inherited
#: anyway; listing them makes the returned dict the whole story for a reader and for tests).
_PASS_THROUGH = (
    "ANTHROPIC_BASE_URL",
    "ANTHROPIC_MODEL",
    "ANTHROPIC_SMALL_FAST_MODEL",
    "ANTHROPIC_CUSTOM_HEADERS",
    "CLAUDE_CODE_MAX_RETRIES",
    "API_TIMEOUT_MS",
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "NO_PROXY",
)

#: Keep the CLI from phoning home: no title generation, update checks, telemetry or crash reports.
_QUIET = {
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "DISABLE_TELEMETRY": "1",
    "DISABLE_AUTOUPDATER": "1",
    "DISABLE_ERROR_REPORTING": "1",
}

#: How commands behave in an agent's shell. Every Bash call starts in the agent's own checkout, so a `cd`
#: into a patched copy elsewhere cannot carry over to the next command (a verifier's checks are judged as
#: run in the checkout), and Python writes no bytecode into the tree it is working on or verifying.
SHELL_DEFAULTS = {
    "CLAUDE_BASH_MAINTAIN_PROJECT_WORKING_DIR": "1",
    "PYTHONDONTWRITEBYTECODE": "1",
}


def config_dir(state_dir: Path) -> Path:
    """Where the CLI keeps sessions and settings (CLAUDE_CONFIG_DIR); resuming needs the same folder."""
    return state_dir / "claude-config"


def tmp_dir(state_dir: Path) -> Path:
    """Where the CLI writes scratch files and background tasks' output (CLAUDE_CODE_TMPDIR)."""
    return state_dir / "claude-tmp"


def claude_billing(env: Mapping[str, str]) -> Bucket:
    """Who pays for what a Claude Code CLI with environment ``env`` spends. An API key (or a gateway's
    bearer token) is used before any subscription login and is billed per token: ``api``, which
    ``--max-cost-usd`` limits. Otherwise the subscription pays (``CLAUDE_CODE_OAUTH_TOKEN``)."""
    return "api" if env.get("ANTHROPIC_API_KEY") or env.get("ANTHROPIC_AUTH_TOKEN") else "subscription"


def agent_environment(
    parent_env: Mapping[str, str],
    *,
    state_dir: Path,
    extra: Mapping[str, str] | None = None,
    as_root: bool | None = None,
) -> dict[str, str]:
    """The ``env`` to give ``ClaudeAgentOptions`` for an agent, computed from the parent's environment.

    The result holds, in order of precedence (later wins):

    1. ``""`` for every variable in ``parent_env`` that ``is_secret_name`` calls secret, so the SDK's merge
       overrides the inherited value with nothing;
    2. the CLI's own credentials (``CLI_CREDENTIALS``) and settings such as ``ANTHROPIC_BASE_URL``, copied
       from ``parent_env`` when set there, except ``ANTHROPIC_API_KEY`` beside a subscription token
       (``CLAUDE_CODE_OAUTH_TOKEN``), which the CLI would otherwise use first, per token;
    3. the quiet variables (no telemetry, update checks or side requests), ``SHELL_DEFAULTS``, ``CLAUDE_CONFIG_DIR`` and
       ``CLAUDE_CODE_TMPDIR`` under ``state_dir`` (so sessions stay out of ``~/.claude`` and a resume finds
       them), and ``IS_SANDBOX=1`` when running as root (else bypassPermissions refuses to start);
    4. ``extra``, verbatim: what the caller deliberately sets, such as the scripted model server's URL and
       key in tests. A secret put here on purpose is the caller's decision.

    ``as_root`` defaults to asking the operating system for the effective user id.
    """
    env = {name: "" for name in parent_env if is_secret_name(name)}
    for name in (*sorted(CLI_CREDENTIALS), *_PASS_THROUGH):
        if parent_env.get(name):
            env[name] = parent_env[name]
    if parent_env.get("CLAUDE_CODE_OAUTH_TOKEN"):
        # Claude Code would use an API key first and bill it per token; with a subscription token at hand
        # (the key is there for the orchestrator, say), the agents run on the subscription
        env["ANTHROPIC_API_KEY"] = ""
    env.update(_QUIET)
    env.update(SHELL_DEFAULTS)
    env["CLAUDE_CONFIG_DIR"] = str(config_dir(state_dir))
    env["CLAUDE_CODE_TMPDIR"] = str(tmp_dir(state_dir))
    if _is_root() if as_root is None else as_root:
        env["IS_SANDBOX"] = "1"
    env.update(extra or {})
    return env


def _is_root() -> bool:
    geteuid = getattr(os, "geteuid", None)  # absent on Windows
    return geteuid is not None and geteuid() == 0
