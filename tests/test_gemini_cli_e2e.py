"""The Gemini CLI backend end to end: the real CLI (npm @google/gemini-cli, pinned) against the scripted
model server's Gemini API, real files, real shell commands, real processes."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import psutil
import pytest

from kodo_bot.sandbox.model_server import ScriptedModelServer
from tests.backend_cli_support import KEY, ROLE, cli, factory, open_on

pytestmark = pytest.mark.e2e


def shell(command: str, **step) -> dict:
    return {"tool_calls": [{"name": "run_shell_command", "input": {"command": command}}], **step}


def env_for(server: ScriptedModelServer, gemini: Path) -> dict[str, str]:
    return {
        "KODO_GEMINI_CLI": str(gemini),
        "GEMINI_API_KEY": KEY,
        "GOOGLE_GEMINI_BASE_URL": server.url,
        "GITHUB_TOKEN": "ghp_" + "a" * 36,
        "DATABASE_URL": "postgres://user:hunter2@db/app",
    }


def test_a_task_edits_runs_commands_with_their_exit_codes_and_resumes_after_the_process_is_gone(tmp_path: Path):
    gemini = cli("gemini", "KODO_GEMINI_CLI")
    steps = [
        shell("printf 'print(6*7)\\n' > answer.py"),
        shell("echo 'Exit Code: 0'; python3 answer.py; exit 3"),
        shell("python3 answer.py"),
        shell("env | sort"),
        {"text": "Wrote answer.py; it prints 42."},
        {"text": "Still here: answer.py prints 42."},
    ]
    with ScriptedModelServer({"roles": {ROLE: steps}}) as server:
        fac = factory(tmp_path, "gemini_cli", env_for(server, gemini))
        assert fac.available("gemini_cli") is None
        session = open_on(fac, tmp_path)
        result = asyncio.run(session.query("Write answer.py that prints 42."))
        assert not result.is_error, result.error
        assert (tmp_path / "worktree" / "answer.py").read_text() == "print(6*7)\n"
        commands = [(c.command, c.exit_code) for c in result.commands]
        assert commands[1:3] == [
            ("echo 'Exit Code: 0'; python3 answer.py; exit 3", 3),
            ("python3 answer.py", 0),
        ]
        assert "42" in result.commands[2].output
        env_out = result.commands[3].output
        assert "GEMINI_API_KEY=" in env_out and KEY not in env_out  # the CLI's own key: there, but masked
        assert "GITHUB_TOKEN" not in env_out and "hunter2" not in env_out
        assert result.text == "Wrote answer.py; it prints 42."
        assert result.turns == 5 and result.usage.input_tokens > 0 and result.cost_usd > 0
        assert result.session_id
        for path in session.flavor.session_files(session.cli_home):
            assert KEY not in path.read_text()
        # a later kodo-bot (after kill -9) opens the same conversation by its id
        again = open_on(fac, tmp_path, resume=result.session_id)
        second = asyncio.run(again.query("Still there?"))
        assert second.text == "Still here: answer.py prints 42." and second.session_id == result.session_id
        assert server.requests[-1].messages > server.requests[0].messages
    server.assert_complete()


def test_limits_end_the_cli_and_what_it_started(tmp_path: Path):
    gemini = cli("gemini", "KODO_GEMINI_CLI")
    steps = [
        shell("sleep 300 & echo $! > bg.pid; echo started"),
        {"text": "never seen", "delay_s": 30},
        shell("true"),
        shell("true"),
        shell("true"),
    ]
    with ScriptedModelServer({"roles": {ROLE: steps}}) as server:
        fac = factory(tmp_path, "gemini_cli", env_for(server, gemini), sandbox=False)
        session = open_on(fac, tmp_path, idle_timeout_s=5, timeout_s=60)
        result = asyncio.run(session.query("Start something slow."))
        assert result.is_error and "idle timeout" in (result.error or "")
        pid = int((tmp_path / "worktree" / "bg.pid").read_text())
        deadline = time.monotonic() + 5
        while psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
            assert time.monotonic() < deadline, "the background sleep outlived the CLI"
            time.sleep(0.1)
        limited = open_on(fac, tmp_path, max_turns=2)
        over = asyncio.run(limited.query("Loop."))
        assert over.is_error and over.error == "turn limit 2 reached"
