"""Shared helpers of the agent-backend tests: where the pinned npm CLIs are, and a session on one of them
against the scripted model server."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import git
import pytest

from kodo_bot.agents.backends import BackendSessionFactory
from kodo_bot.engine.checkout_watch import CheckoutWatch
from kodo_bot.engine.models import AgentResult
from kodo_bot.engine.ports import role_marker
from kodo_bot.sandbox.model_server import ScriptedModelServer

ROOT = Path(__file__).resolve().parent.parent
#: where ``.ci/run`` installs the pinned CLIs (``npm install --prefix .clis``)
CLIS = ROOT / ".clis" / "node_modules" / ".bin"
#: what installs the pinned agent CLIs the backend tests drive (README, .ci/run)
NPM_INSTALL = (
    "npm install --prefix .clis --no-audit --no-fund @google/gemini-cli@0.61.0 @openai/codex@0.169.0"
    " @playwright/mcp@0.0.83"
)
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


def watched_checkout(tmp_path: Path) -> CheckoutWatch:
    """A verifier's checkout as the engine gives it: ``tmp_path/worktree`` holding a commit (``calc.py``),
    watched by the engine's own checkout watch."""
    worktree = tmp_path / "worktree"
    worktree.mkdir()
    (worktree / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    repo = git.Repo.init(worktree)
    repo.index.add(["calc.py"])
    repo.index.commit("calc")
    return CheckoutWatch(repo, repo.head.commit.hexsha, worktree)


#: a verifier's four commands: clean, an edit, its undoing, clean again
EDIT_AND_UNDO = ["true", "echo edit >> calc.py", "git checkout -q calc.py", "python3 -c pass"]


def play_edit_and_undo(
    tmp_path: Path, backend: str, env: Callable[[ScriptedModelServer], dict[str, str]], shell: Callable[..., dict]
) -> AgentResult:
    """A verifier on ``backend`` (its environment ``env(server)``, its shell step ``shell``) running
    ``EDIT_AND_UNDO`` in a watched checkout. The model takes a moment per step, as a real one does."""
    watch = watched_checkout(tmp_path)
    steps = [*(shell(command, delay_s=0.3) for command in EDIT_AND_UNDO), {"text": "Judged.", "delay_s": 0.3}]
    with ScriptedModelServer({"roles": {"verifier/tester": steps}}) as server:
        fac = factory(tmp_path, backend, env(server))
        result = asyncio.run(open_on(fac, tmp_path, role="verifier/tester", watch=watch).query("Judge."))
    assert not result.is_error, result.error
    return result


def assert_watched_each_tool(result: AgentResult) -> None:
    """The looks (before, after) ``EDIT_AND_UNDO`` must get. The edit's own before-look may see it already:
    the CLI runs a tool as it announces it, so that look can only come late, never early."""
    looks = [(c.checkout_before, c.checkout_after) for c in result.tool_calls]
    assert [c.command for c in result.commands] == EDIT_AND_UNDO
    assert looks[0] == ("", "") and looks[2:] == [("changed calc.py", ""), ("", "")], looks
    assert looks[1] in (("", "changed calc.py"), ("changed calc.py", "changed calc.py")), looks


#: a tool that makes the CLI itself print something that is not an event (into its stdout, kodo-bot's pipe),
#: and one that kills it after a last word on its stderr
GARBAGE = "echo 'Thinking about it...' > /proc/$PPID/fd/1"
CRASH = "echo 'FATAL ERROR: Reached heap limit' > /proc/$PPID/fd/2; kill -9 $PPID"


def assert_garbage_and_a_crash_fail_only_their_call(
    tmp_path: Path, backend: str, env: Callable[[ScriptedModelServer], dict[str, str]], shell: Callable[..., dict]
) -> None:
    """Garbage on the stream, then a crash, each fail that call with what the CLI said; the next call runs."""
    with ScriptedModelServer({"roles": {ROLE: [shell(GARBAGE), shell(CRASH), {"text": "Back."}]}}) as server:
        session = open_on(factory(tmp_path, backend, env(server)), tmp_path)
        garbled = asyncio.run(session.query("Think."))
        assert garbled.is_error and "not a JSON event: b'Thinking about it...\\n'" in (garbled.error or "")
        crashed = asyncio.run(session.query("Go on."))
        assert crashed.is_error and "exited with code" in (crashed.error or "")
        assert "FATAL ERROR: Reached heap limit" in (crashed.error or "")  # its stderr tail
        back = asyncio.run(session.query("Still there?"))
    assert not back.is_error and back.text == "Back.", back.error
