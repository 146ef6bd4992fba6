"""`kodo-bot action` as a separate process: one run per issue, kill -9 and takeover, and the token's secrecy.

Runs go through ``python -m kodo_bot.cli action`` with GITHUB_TOKEN in the real process environment, as on
a runner, against the GitHub emulator and the scripted model server.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime

import psutil
import pytest

from kodo_bot.engine import events as ev
from kodo_bot.engine.log import read_events
from kodo_bot.github.markers import find_lease, find_marker
from kodo_bot.sandbox.model_server import ScriptedModelServer
from kodo_bot.sandbox.scenario import Scenario
from kodo_bot.sandbox.stories import TESTS, bash, demo_story
from tests.e2e_support import BASE_FILES, accepted_roles, spawn_action, wait_for
from tests.github_support import REPO, action, kodo_yml, make_scene

pytestmark = pytest.mark.e2e

STALE_MINUTES = 0.15  # stale after 9 s without a heartbeat; the runner beats every 3 s, so a loaded machine can lag 6 s


def progress_comment(scene, n):
    return next(c for c in scene.bot_comments(n) if find_marker(c.body, "progress"))


def killed_in_cycle_two(tmp_path):
    """The demo story with cycle 2's first orchestrator answer slow: a runner is killed while waiting for
    it, after cycle 1 was committed, pushed, verified (rejected) and reported. Returns the scenario,
    the scene, the issue number and the labelling event."""
    story = demo_story()
    roles = {role: list(steps) for role, steps in story.scenario.model_dump()["roles"].items()}
    roles["orchestrator"][2] = {**roles["orchestrator"][2], "delay_s": 120}
    scene = make_scene(tmp_path, {**story.files, ".github/kodo.yml": kodo_yml([TESTS], stale_minutes=STALE_MINUTES)})
    n = scene.issue("Add multiplication to the calculator", story.goal)
    return Scenario.from_dict({"roles": roles}), scene, n, scene.label(n)


def wait_for_cycle_two(server, scene) -> None:
    wait_for(lambda: server.served("orchestrator") == 3, 120, "cycle 2's first orchestrator request")
    wait_for(
        lambda: scene.pulls() and scene.kinds(scene.pulls()[0].number).get("verdicts:1"),
        30,
        "round 1's verdicts on the PR",
    )
    # the round's commit status follows its comment: on a loaded machine it can still be on its way
    wait_for(
        lambda: any(c.operation == "repos/create-commit-status" for c in scene.emu.calls),
        30,
        "round 1's commit status",
    )


def test_duplicate_trigger_then_kill_9_then_takeover(tmp_path, capsys):
    scenario, scene, n, event = killed_in_cycle_two(tmp_path)
    try:
        with ScriptedModelServer(scenario) as server:
            runner_a = spawn_action(scene.env(event, model_url=server.url, name="a"), tmp_path / "a.log")
            try:
                wait_for_cycle_two(server, scene)
                # A second delivery of the event while the run is alive: nothing changes, the summary points.
                calls, comments = len(scene.emu.calls), scene.bot_comments(n)
                assert action(scene.env(event, model_url=server.url, name="b")) == 0
                assert scene.outputs("b")["outcome"] == "duplicate"
                # (runner a, waiting on its model, only edits its progress comment meanwhile)
                meanwhile = {(c.method, c.operation) for c in scene.emu.calls[calls:]}
                assert {method for method, _ in meanwhile} <= {"GET", "PATCH"}, meanwhile
                assert [c.id for c in scene.bot_comments(n)] == [c.id for c in comments]
                assert f"issuecomment-{progress_comment(scene, n).id}" in scene.summary("b")
                children = [c.pid for c in psutil.Process(runner_a.pid).children(recursive=True)]
                os.kill(runner_a.pid, signal.SIGKILL)
                runner_a.wait(timeout=10)
            finally:
                if runner_a.poll() is None:
                    runner_a.kill()
            wait_for(
                lambda: (
                    not any(
                        psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE for p in children
                    )
                ),
                20,
                "the killed runner's CLI processes to exit",
            )
            lease = find_lease(progress_comment(scene, n).body)
            wait_for(
                lambda: (datetime.now(UTC) - lease.heartbeat).total_seconds() > STALE_MINUTES * 60 + 1,
                30,
                "the lease to go stale",
            )

            # The next delivery takes over on the same runner: the dead run resumes where it stopped.
            code = action(scene.env(event, model_url=server.url, name="c"))
            server.assert_complete()
        assert code == 0, capsys.readouterr()
        assert scene.outputs("c")["run-id"] == lease.run
        (pull,) = scene.pulls()
        assert scene.kinds(n) == {"progress": 1}
        assert scene.kinds(pull.number) == {"verdicts:1": 1, "verdicts:2": 1, "summary": 1}
        assert sorted(scene.emu.labels(REPO, n)) == ["kodo", "kodo:accepted"]
        assert "Resumed" in progress_comment(scene, n).body
        log = read_events(next((tmp_path / "runner-work").rglob(f"runs/{lease.run}/events.jsonl")))
        assert [e.resumed for e in log if isinstance(e, ev.RunStarted)] == [False, True]
        assert len([e for e in log if isinstance(e, ev.AgentCallStarted)]) == 2  # no agent call repeated
        scene.assert_valid()
    finally:
        scene.emu.stop()


def test_takeover_on_another_runner_continues_the_branch(tmp_path, capsys):
    """The dead run's checkpoint is not on this machine: a new run continues its branch and its comment."""
    scenario, scene, n, event = killed_in_cycle_two(tmp_path)
    roles = scenario.model_dump()["roles"]
    try:
        with ScriptedModelServer(scenario) as first:
            runner_a = spawn_action(scene.env(event, model_url=first.url, name="a"), tmp_path / "a.log")
            try:
                wait_for_cycle_two(first, scene)
            finally:
                os.kill(runner_a.pid, signal.SIGKILL)
                runner_a.wait(timeout=10)
        old_run = find_lease(progress_comment(scene, n).body).run
        time.sleep(STALE_MINUTES * 60 + 1.5)
        # Another machine: the second cycle's script only.
        rest = {
            "orchestrator": roles["orchestrator"][2:],
            "worker_fast": roles["worker_fast"][4:],
            "verifier/tester": roles["verifier/tester"][3:],
            "verifier/architect": roles["verifier/architect"][2:],
        }
        rest["orchestrator"][0] = {k: v for k, v in rest["orchestrator"][0].items() if k != "delay_s"}
        with ScriptedModelServer({"roles": rest}) as second:
            env = scene.env(event, model_url=second.url, name="c", KODO_WORK_DIR=str(tmp_path / "other-runner"))
            code = action(env)
            second.assert_complete()
            seed = next(
                b for b, r in zip(second.request_bodies, second.requests, strict=True) if r.role == "orchestrator"
            )
        assert code == 0, capsys.readouterr()
        new_run = scene.outputs("c")["run-id"]
        assert new_run != old_run
        # It knew what the branch held: cycle 2, with cycle 1's summary.
        assert "cycle 2" in seed["messages"][0]["content"].lower()
        (pull,) = scene.pulls()
        assert scene.kinds(n) == {"progress": 1}
        # The new run's round follows the dead run's on the PR: round 1 (rejected), round 2 (accepted).
        assert scene.kinds(pull.number) == {"verdicts:1": 1, "verdicts:2": 1, "summary": 1}
        round2 = next(
            c
            for c in scene.bot_comments(pull.number)
            if (find_marker(c.body) or None) and find_marker(c.body).round == 2
        )
        assert find_marker(round2.body).run == new_run and "Verification round 2: passed" in round2.body
        assert find_marker(progress_comment(scene, n).body, "progress").run == new_run
        assert sorted(scene.emu.labels(REPO, n)) == ["kodo", "kodo:accepted"]
        scene.assert_valid()
    finally:
        scene.emu.stop()


def test_the_token_never_leaks(tmp_path):
    roles = accepted_roles()
    snoop = [
        bash("env | sort"),
        bash('cat "$(git rev-parse --git-common-dir)/config"'),
        bash("git config --list --show-origin"),
    ]
    roles["worker_fast"] = snoop + roles["worker_fast"]
    # Unconfined on purpose: the sandbox hides .git/config from agents; here the agent may look everywhere
    # the run's own git config and environment are, and must still find no token.
    scene = make_scene(tmp_path, {**BASE_FILES, ".github/kodo.yml": kodo_yml([TESTS], extra="sandbox: off\n")})
    try:
        n = scene.issue("Add hello(name)", "Add hello(name) with a test.")
        with ScriptedModelServer({"roles": roles}) as server:
            proc = subprocess.run(
                [sys.executable, "-m", "kodo_bot.cli", "action"],
                env=scene.env(scene.label(n), model_url=server.url),
                capture_output=True,
                timeout=300,
            )
            server.assert_complete()
        assert proc.returncode == 0, proc.stderr.decode()[-3000:]
        token = scene.token
        log = next((tmp_path / "runner-work").rglob("events.jsonl"))
        outputs = [
            c.output for e in read_events(log) if isinstance(e, ev.AgentCallFinished) for c in e.result.tool_calls
        ]
        assert any("PATH=" in o for o in outputs) and any("[core]" in o for o in outputs)  # the agent did look
        clone = next((tmp_path / "runner-work").rglob(".git/config")).parent.parent
        places = {
            "the event log": log.read_text(),
            "the clone's .git/config": (clone / ".git" / "config").read_text(),
            "what the agent saw": "\n".join(outputs),
            "stdout and stderr": (proc.stdout + proc.stderr).decode(),
            "the step summary": scene.summary(),
            "the uploaded run log": "".join(p.read_text() for p in (tmp_path / "job" / "runs").rglob("*.jsonl")),
        }
        places |= {
            f"comment {c.id}": c.body
            for number in (n, scene.pulls()[0].number)
            for c in scene.emu.comments(REPO, number)
        }
        places["the PR body"] = scene.emu.issue(REPO, scene.pulls()[0].number).body or ""
        for where, text in places.items():
            assert token not in text, f"the token leaked into {where}"
            assert "extraheader" not in text.lower() or where == "stdout and stderr", where
        scene.assert_valid()
    finally:
        scene.emu.stop()
