"""A team on three agent CLIs at once, end to end: Claude Code, Codex and the Gemini CLI (all real) against
one scripted model server, through `kodo-bot demo --team mixed` and a `kodo-bot run` killed with -9 and
resumed."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from kodo_bot.engine import events as ev
from kodo_bot.sandbox.mixed_demo import mixed_story, shell
from kodo_bot.sandbox.model_server import ScriptedModelServer
from kodo_bot.sandbox.stories import NEGATIVE_CHECK, TESTS, delegate, say
from tests.backend_cli_support import cli
from tests.e2e_support import (
    agent_test_env,
    all_ended,
    events,
    kill_while_the_orchestrator_thinks,
    make_project,
    processes_in,
    run_cli,
    wait_for,
)

pytestmark = pytest.mark.e2e

TEAM_FILE = os.path.join(os.path.dirname(__file__), "..", "kodo_bot", "data", "teams", "mixed.yaml")


def cli_env() -> dict[str, str]:
    return {
        "KODO_GEMINI_CLI": str(cli("gemini", "KODO_GEMINI_CLI")),
        "KODO_CODEX_CLI": str(cli("codex", "KODO_CODEX_CLI")),
        "KODO_CODEX_RETRIES": "0",
    }


def test_the_mixed_demo_is_rejected_by_the_codex_tester_then_accepted_by_both_verifiers(tmp_path, capsys):
    code, result = run_cli(["demo", "--team", "mixed", "--dir", str(tmp_path)], {**os.environ, **cli_env()}, capsys)
    assert code == 0 and result["outcome"] == "accepted", result
    first, second = result["verification_rounds"]
    assert first["verdicts"] == {"tester": "fail", "reviewer": "pass"} and not first["accepted"]
    assert second["verdicts"] == {"tester": "pass", "reviewer": "pass"} and second["accepted"]
    log = events(tmp_path / "calc", result["run_id"])
    tester = next(e.verdict for e in log if isinstance(e, ev.VerdictReceived) and e.verdict.verifier == "tester")
    # the evidence is what Codex reported running, with its exit statuses
    assert [(e.command, e.exit_code) for e in tester.evidence] == [(TESTS, 0), (NEGATIVE_CHECK, 1)]
    # each under its provider; Codex and the Gemini CLI run on API keys, so they are paid per token
    paid = {a: (c["provider"], c["bucket"]) for a, c in result["cost"]["by_agent"].items() if c["usd"] > 0}
    assert paid == {
        "orchestrator": ("Claude", "api"),
        "worker_fast": ("Codex", "api"),
        "worker_smart": ("Claude", "subscription"),
        "verifier/tester": ("Codex", "api"),
        "verifier/reviewer": ("Gemini", "api"),
    }


def test_kill_9_then_resume_continues_the_codex_workers_own_conversation(tmp_path, capsys):
    story = mixed_story()
    roles = {role: [s.model_dump(exclude_none=True) for s in steps] for role, steps in story.scenario.roles.items()}
    first_task = roles["orchestrator"][0]["tool_calls"][0]["input"]["task"]
    roles["orchestrator"].insert(1, {**delegate(("worker_fast", "Now run the tests once more.")), "delay_s": 60})
    roles["worker_fast"] += [shell("codex", TESTS), say("Still green.")]
    project = make_project(tmp_path, story.files)
    with ScriptedModelServer({"roles": roles}) as server:
        env = {**agent_test_env(server.url), **cli_env()}
        command = [sys.executable, "-m", "kodo_bot.cli", "run", "--goal", story.goal, "--project", str(project),
                   "--team", TEAM_FILE, "--check", TESTS, "--json"]  # fmt: skip
        proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        children = kill_while_the_orchestrator_thinks(server, proc)
        wait_for(lambda: all_ended(children), 20, "the killed run's processes to end")
        served = server.served("worker_fast")

        run_dir = next((project / ".kodo" / "runs").iterdir())
        code, result = run_cli(["resume", run_dir.name, "--project", str(project)], env, capsys)
        server.assert_complete()
        assert server.served("worker_fast") == served + 2  # only the second task, not the first again
        asked = [b for b, r in zip(server.request_bodies, server.requests, strict=True) if r.role == "worker_fast"]
        assert first_task in json.dumps(asked[-2])  # Codex resumed its own thread: the first task is in it

    assert code == 0 and result["outcome"] == "accepted", result
    assert [r["accepted"] for r in result["verification_rounds"]] == [False, True]
    assert processes_in(tmp_path) == []  # no CLI, shell or sandbox of the run is left running
