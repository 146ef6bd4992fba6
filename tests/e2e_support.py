"""Shared pieces of the end-to-end tests: a seeded project, the offline environment, running the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import git
import psutil

from kodo_bot.cli import main
from kodo_bot.engine.log import read_events
from kodo_bot.sandbox.demo import offline_env, seed_project
from kodo_bot.sandbox.stories import TESTS, bash, delegate, done, say, verifier_passes, write_file

HELLO = "def hello(name):\n    return f'hello {name}'\n"
HELLO_TEST = (
    "import unittest\n\nfrom hello import hello\n\n\n"
    "class HelloTest(unittest.TestCase):\n"
    "    def test_hello(self):\n"
    "        self.assertEqual(hello('kodo'), 'hello kodo')\n"
)
BASE_FILES = {
    "README.md": "# demo\n",
    "test_base.py": "import unittest\n\n\nclass T(unittest.TestCase):\n    def test_ok(self):\n        pass\n",
}


def agent_test_env(server_url: str) -> dict[str, str]:
    env = offline_env(os.environ, server_url)
    env["CLAUDE_CODE_MAX_RETRIES"] = "0"
    env["API_TIMEOUT_MS"] = "30000"
    return env


def on_api_key(env: dict[str, str]) -> dict[str, str]:
    """``env`` with the agents' Claude Code on an API key instead of a subscription token: billed per token,
    and visible to the agent's shell (Claude Code keeps a subscription token out of it)."""
    from kodo_bot.sandbox.demo import DEMO_KEY

    return {**env, "ANTHROPIC_API_KEY": DEMO_KEY, "CLAUDE_CODE_OAUTH_TOKEN": ""}


def make_project(tmp_path: Path, files: dict[str, str] | None = None) -> Path:
    project = tmp_path / "project"
    seed_project(project, files or BASE_FILES)
    return project


def hello_worker_steps() -> list[dict]:
    return [
        write_file("hello.py", HELLO),
        write_file("test_hello.py", HELLO_TEST),
        bash(TESTS),
        say("Added hello() with a test."),
    ]


def accepted_roles() -> dict[str, list[dict]]:
    return {
        "orchestrator": [
            delegate(("worker_fast", "Add hello(name) in hello.py with a unit test.")),
            done("Added hello()."),
        ],
        "worker_fast": hello_worker_steps(),
        "verifier/tester": verifier_passes(TESTS),
        "verifier/architect": verifier_passes("git show --stat HEAD"),
    }


def run_cli(args: list[str], env: dict[str, str], capsys) -> tuple[int, dict]:
    """Run ``kodo-bot ARGS --json`` in-process; return the exit status and the JSON result."""
    code = main([*args, "--json"], env=env)
    out = capsys.readouterr().out.strip().splitlines()
    return code, (json.loads(out[-1]) if out else {})


def events(project: Path, run_id: str):
    return read_events(project / ".kodo" / "runs" / run_id / "events.jsonl")


def branch_files(project: Path, branch: str) -> set[str]:
    return set(git.Repo(project).git.ls_tree("-r", "--name-only", branch).splitlines())


def commit_messages(project: Path, branch: str, base: str = "main") -> list[str]:
    repo = git.Repo(project)
    return [c.message for c in repo.iter_commits(f"{base}..{branch}")]


def processes_in(folder: Path) -> list[str]:
    """Processes still running whose working directory or command line is inside ``folder`` (the CLIs, the
    sandbox around them, their shells): after a run, none should be."""
    import psutil

    inside, found = str(folder.resolve()), []
    for proc in psutil.process_iter(["pid", "cmdline", "cwd", "status"]):
        info = proc.info
        if info["status"] == psutil.STATUS_ZOMBIE:
            continue
        if (info["cwd"] or "").startswith(inside) or any(inside in arg for arg in info["cmdline"] or ()):
            found.append(f"{info['pid']} {' '.join(info['cmdline'] or ())[:120]}")
    return found


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def spawn_action(env: dict[str, str], log: Path) -> subprocess.Popen:
    out = open(log, "wb")
    return subprocess.Popen([sys.executable, "-m", "kodo_bot.cli", "action"], env=env, stdout=out, stderr=out)


def kill_while_the_orchestrator_thinks(server, proc) -> list[int]:
    """kill -9 the run once its orchestrator's second (slow) request is in; return the pids it had started."""
    try:
        wait_for(lambda: server.served("orchestrator") == 2, 90, "the orchestrator's second request")
        children = [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    return children


def all_ended(pids: list[int]) -> bool:
    """None of these processes runs any more (a zombie has ended: its parent collects it)."""
    return not any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE for p in pids)
