"""Finding the Claude Code CLI: the one bundled in the claude-agent-sdk wheel, one on PATH, or the one
configured. It imports nothing of the SDK (about a second): a run checks that agents can run before it
opens any session, and most commands never open one.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

from kodo_bot.errors import AgentError


def _sdk_folder() -> Path:
    """The claude_agent_sdk package's folder, found without importing it."""
    spec = importlib.util.find_spec("claude_agent_sdk")
    origin = spec.origin if spec is not None else None
    return Path(origin).parent if origin else Path("claude_agent_sdk-not-installed")


#: the CLI binary the claude-agent-sdk wheel carries (the SDK's first choice when no cli_path is given)
BUNDLED_CLI = _sdk_folder() / "_bundled" / ("claude.exe" if os.name == "nt" else "claude")

CLI_HINT = "pass cli_path (kodo-bot: KODO_CLAUDE_CLI) or reinstall claude-agent-sdk, whose wheel bundles the CLI"


def cli_problem(cli_path: Path | str | None) -> str | None:
    """None when the Claude Code CLI can be run, else a sentence saying why not.

    Without ``cli_path`` the SDK runs the CLI bundled in its wheel, else ``claude`` on PATH.
    """
    if cli_path is None:
        if _executable(BUNDLED_CLI) or shutil.which("claude"):
            return None
        return f"no Claude Code CLI: claude-agent-sdk bundles none at {BUNDLED_CLI} and `claude` is not on PATH"
    path = Path(cli_path)
    if not path.is_file():
        return f"the configured Claude Code CLI {path} does not exist"
    if not _executable(path):
        return f"the configured Claude Code CLI {path} is not executable"
    return None


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def real_cli(cli_path: Path | str | None) -> Path:
    """The binary to run: the configured one, the bundled one, or `claude` on PATH."""
    if cli_path is not None:
        return Path(cli_path).resolve()
    if _executable(BUNDLED_CLI):
        return BUNDLED_CLI
    found = shutil.which("claude")
    if found is None:
        raise AgentError(cli_problem(None) or "no Claude Code CLI", hint=CLI_HINT)
    return Path(found).resolve()
