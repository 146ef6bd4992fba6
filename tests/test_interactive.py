"""`kodo-bot` with no arguments: the conversation in a pseudo-terminal (pexpect), the help without one.

The conversation up to its confirmation is tested here (a real process in a pty, the detected test command
proposed, an empty goal asked again, Ctrl-D and Ctrl-C leaving nothing behind); the interview with the
model and a confirmed run through the real Claude Code CLI are in test_interactive_e2e.py."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest

# each test drives a real kodo-bot process through a pseudo-terminal
pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parent.parent


def _project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_app.py").write_text("import unittest\n", encoding="utf-8")
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    subprocess.run(["git", "add", "."], cwd=project, check=True)
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t"}
    subprocess.run(["git", "commit", "-qm", "seed"], cwd=project, check=True, env={**env, "GIT_COMMITTER_EMAIL": "t@x"})
    return project


def _untouched(project: Path) -> bool:
    status = subprocess.run(["git", "status", "--porcelain", "--ignored"], cwd=project, capture_output=True, text=True)
    return status.stdout == "" and not (project / ".kodo").exists()


def spawn(project: Path, env: dict[str, str] | None = None) -> pexpect.spawn:
    """`kodo-bot` in a pseudo-terminal, with Ctrl-C delivered even when the test runner ignores SIGINT."""
    return pexpect.spawn(
        sys.executable,
        ["-m", "kodo_bot.cli"],
        cwd=str(project),
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        encoding="utf-8",
        timeout=60,
        dimensions=(40, 160),
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def finish(child: pexpect.spawn) -> int:
    child.expect(pexpect.EOF)
    child.close()
    return child.exitstatus


def test_without_a_terminal_it_prints_the_help_and_never_waits(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "kodo_bot.cli"],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "usage: kodo-bot" in done.stdout and "doctor" in done.stdout and "watch" in done.stdout
    assert "run it in a terminal" in done.stderr


def test_ctrl_d_at_the_goal_prompt_leaves_nothing_behind(tmp_path):
    project = _project(tmp_path)
    child = spawn(project)
    child.expect("What should the team do")
    child.sendeof()
    child.expect("cancelled: nothing was started or written")
    assert finish(child) == 130
    assert _untouched(project)


def test_an_empty_goal_is_asked_again_and_ctrl_c_later_leaves_nothing(tmp_path):
    project = _project(tmp_path)
    child = spawn(project)
    child.expect("What should the team do")
    child.sendline("")
    child.expect("the goal is empty")
    child.expect("What should the team do")
    child.sendline("Add hello(name) with a test.")
    child.sendline("")
    child.expect(r"Orchestrator \(")
    child.sendline("")
    child.expect(r"Sharpen the goal .*\(y/N\)")
    child.sendline("n")
    child.expect("Team file")
    child.sendline("")
    child.expect(r"Most cycles \[10\]")
    child.sendintr()
    child.expect("cancelled: nothing was started or written")
    assert finish(child) == 130
    assert _untouched(project)


def test_the_detected_test_command_is_proposed_and_the_summary_waits_for_a_yes(tmp_path):
    project = _project(tmp_path)
    (project / "goal.md").write_text("# Add hello\n\nAdd hello(name).\n", encoding="utf-8")
    child = spawn(project, {"HOME": str(tmp_path / "home")})
    child.expect(r"goal.md is not committed: the run starts from HEAD, which is all it needs")
    child.expect(r"Use the goal in goal.md \(# Add hello\)\? \(Y/n\)")
    child.sendline("")
    for prompt, answer in (
        (r"Orchestrator \(.*\) \[api:anthropic:claude-", "palm"),
        (r"unknown orchestrator 'palm'.*\s+Orchestrator \(.*\) \[api:anthropic:", "claude-code:opus"),
        (r"Sharpen the goal .*\(y/N\)", ""),
        ("Team file", "missing.yaml"),
        ("missing.yaml does not exist", ""),
        (r"Most cycles \[10\]", "zero"),
        (r"'zero' is not a number\s+Most cycles \[10\]", "3"),
        ("Most API spend", "1.5"),
        ("Most minutes", ""),
    ):
        child.expect(prompt)
        child.sendline(answer)
    child.expect("Detected test command: (python3 -m (pytest|unittest)[^\r\n]*)")
    detected = child.match.group(1).strip()
    child.expect(r"Check command .*\[")
    child.sendline("")
    child.expect(r"Another check command \(empty: no more\)")
    child.sendline("git diff --check HEAD")
    child.expect(r"Another check command")
    child.sendline("")
    child.expect("About to start:")
    child.expect(r"goal\s+# Add hello \(…\)")
    child.expect(r"orchestrator\s+claude-code:opus")
    child.expect(r"cycles\s+at most 3")
    child.expect(r"API spend\s+at most \$1.5")
    child.expect(r"checks\s+" + re.escape(f"{detected}, git diff --check HEAD"))
    child.expect(r"Start the run\? \(Y/n\)")
    child.sendline("n")
    child.expect("not started: nothing was written")
    assert finish(child) == 0
    assert subprocess.run(["git", "status", "--porcelain"], cwd=project, capture_output=True, text=True).stdout == (
        "?? goal.md\n"
    )
    assert not (project / ".kodo").exists() and not (tmp_path / "home").exists()


def test_a_dirty_checkout_is_said_before_any_question_and_no_stops_there(tmp_path):
    project = _project(tmp_path)
    (project / "test_app.py").write_text("import unittest  # mine\n", encoding="utf-8")
    child = spawn(project)
    child.expect(r"has uncommitted changes \(test_app.py\)")
    child.expect(r"\(y/N\)")
    child.sendline("")
    child.expect("commit or stash them first; nothing was written")
    assert finish(child) == 2
    assert (project / "test_app.py").read_text(encoding="utf-8") == "import unittest  # mine\n"


def test_outside_a_git_repository_it_says_so(tmp_path):
    child = spawn(tmp_path)
    child.expect("is not a git repository")
    assert finish(child) == 2


def test_the_interview_talks_to_the_orchestrator_chosen_before_it(tmp_path):
    """A Gemini user's interview goes to Gemini, through the adapter a run would use (the scripted server
    speaks its API), not to an Anthropic key they may not have."""
    from kodo_bot.local.interactive import interview_with_model
    from kodo_bot.sandbox.demo import offline_env
    from kodo_bot.sandbox.model_server import ScriptedModelServer

    roles = {"interview": [{"text": "What should hello return?"}, {"text": "# Hello\n\n## Acceptance criteria\n- x"}]}
    with ScriptedModelServer({"roles": roles}) as server:
        env = {k: v for k, v in offline_env(os.environ, server.url).items() if "ANTHROPIC" not in k}
        ask = interview_with_model(env)
        questions = ask("api:gemini:gemini-2.5-flash", "Add hello", None)
        better = ask("api:gemini:gemini-2.5-flash", "Add hello", [(questions, "hello x")])
        server.assert_complete()
    assert questions == "What should hello return?" and "Acceptance criteria" in better
    assert all(r.path.endswith("gemini-2.5-flash:generateContent") for r in server.requests)
