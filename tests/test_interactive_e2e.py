"""`kodo-bot` with no arguments, to the end: the interview with the orchestrator's model sharpens the goal
into acceptance criteria, the confirmed run shows its live table and is accepted (the real Claude Code CLI
against the scripted model server, in a pseudo-terminal)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest

from kodo_bot.sandbox.demo import offline_env
from kodo_bot.sandbox.model_server import ScriptedModelServer
from kodo_bot.sandbox.stories import say
from tests.e2e_support import accepted_roles, make_project

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parent.parent
CRITERIA = "Add hello(name).\n\n## Acceptance criteria\n- hello('x') returns 'hello x'\n- a unit test covers it"


def test_the_interview_sharpens_the_goal_and_the_confirmed_run_is_accepted(tmp_path):
    project = make_project(tmp_path)
    roles = {
        **accepted_roles(),
        "interview": [say("What should hello return?\nWhere should it live?"), say(CRITERIA)],
    }
    with ScriptedModelServer({"roles": roles}) as server:
        env = {**offline_env(os.environ, server.url), "PYTHONPATH": str(ROOT), "CLAUDE_CODE_MAX_RETRIES": "0"}
        env["HOME"] = str(tmp_path / "home")  # where the confirmed goal is kept
        child = pexpect.spawn(
            sys.executable,
            ["-m", "kodo_bot.cli"],
            cwd=str(project),
            env=env,
            encoding="utf-8",
            timeout=180,
            dimensions=(40, 160),
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        child.expect("What should the team do")
        child.sendline("Add hello(name) in hello.py with a unit test.")
        child.sendline("")
        child.expect("Orchestrator")
        child.sendline("")
        child.expect(r"Sharpen the goal .*\(y/N\)")
        child.sendline("y")
        child.expect("What should hello return\\?")
        child.sendline("hello x")
        child.expect("Where should it live\\?")
        child.sendline("hello.py")
        child.expect("## Acceptance criteria")
        child.expect(r"Use this goal\? \(Y/n\)")
        child.sendline("")
        for prompt in ("Team file", "Most cycles", "Most API spend", "Most minutes"):
            child.expect(prompt)
            child.sendline("")
        child.expect(r"Check command .*\[")
        child.sendline("python3 -m unittest -q")
        child.expect("Another check command")
        child.sendline("")
        child.expect(r"goal\s+Add hello\(name\)\. \(…\)")
        child.expect(r"Start the run\? \(Y/n\)")
        child.sendline("y")
        child.expect(r"the goal is kept in (\S+\.md)")
        kept = Path(child.match.group(1))
        child.expect("accepted")
        child.expect(pexpect.EOF)
        child.close()
        server.assert_complete()
    assert child.exitstatus == 0
    assert server.served("interview") == 2
    assert "## Acceptance criteria" in kept.read_text(encoding="utf-8") and kept.is_relative_to(tmp_path / "home")
    (state,) = (project / ".kodo" / "runs").glob("*/state.json")
    assert "hello('x') returns 'hello x'" in state.read_text(encoding="utf-8")  # the sharpened goal was run
    log = subprocess.run(["git", "log", "--all", "--format=%s"], cwd=project, capture_output=True, text=True).stdout
    assert "Added hello()" in log
