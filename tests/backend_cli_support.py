"""Shared helpers of the agent-backend tests: where the pinned npm CLIs are, and a session on one of them
against the scripted model server."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from kodo_bot.agents.backends import BackendSessionFactory
from kodo_bot.engine.ports import role_marker

ROOT = Path(__file__).resolve().parent.parent
#: where ``.ci/run`` installs the pinned CLIs (``npm install --prefix .clis``)
CLIS = ROOT / ".clis" / "node_modules" / ".bin"
#: what installs the pinned agent CLIs the backend tests drive (README, .ci/run)
NPM_INSTALL = "npm install --prefix .clis --no-audit --no-fund @google/gemini-cli@0.61.0 @openai/codex@0.169.0"
ROLE = "worker"
KEY = "AIzaSy-scripted-placeholder-key-0123456789"


def cli(name: str, variable: str) -> Path:
    """The pinned CLI. Missing, the test fails saying how to install it (as `.ci/run` does): a skipped backend
    would pass unproven."""
    found = os.environ.get(variable) or (str(CLIS / name) if (CLIS / name).exists() else shutil.which(name))
    if not found:
        pytest.fail(f"{name} is not installed: {NPM_INSTALL}")
    return Path(found)


def factory(
    tmp_path: Path, backend: str, env: dict[str, str], *, sandbox: bool = True, extra: dict[str, str] | None = None
) -> BackendSessionFactory:
    parent = {"PATH": os.environ["PATH"], "HOME": str(tmp_path / "real-home"), **env}

    def no_claude():  # these tests open no Claude Code session
        raise AssertionError("no Claude Code session expected")

    return BackendSessionFactory(
        backends={ROLE: backend, "tester": backend},
        state_dir=tmp_path / "state",
        parent_env=parent,
        claude=no_claude,
        alive=tmp_path / "alive",
        sandbox=sandbox,
        env=extra,
    )


def open_on(fac: BackendSessionFactory, tmp_path: Path, *, role: str = ROLE, resume: str | None = None, **limits):
    worktree = tmp_path / "worktree"
    worktree.mkdir(exist_ok=True)
    options = {"max_turns": 10, "idle_timeout_s": 60, "timeout_s": 120, **limits}
    return fac.open(
        agent=role.removeprefix("verifier/"),
        role=role,
        system_prompt=f"{role_marker(role)}\n\nYou write code.",
        model=None,
        cwd=worktree,
        resume=resume,
        **options,
    )
