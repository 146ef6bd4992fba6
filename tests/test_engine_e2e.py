"""Whole runs through `kodo-bot run`, the real Claude Code CLI and the scripted model server.

Nothing here replaces the SDK or the CLI: agents really write files and run commands in the run's worktree,
checks and verifiers really run in clean checkouts, and git is real git.
"""

from __future__ import annotations

import json

import git
import pytest

from kodo_bot.engine import events as ev
from kodo_bot.sandbox.model_server import ScriptedModelServer
from kodo_bot.sandbox.stories import NEGATIVE_CHECK, TESTS, bash, delegate, demo_story, done, say, verifier_passes, write_file
from tests.e2e_support import (
    HELLO,
    accepted_roles,
    branch_files,
    commit_messages,
    events,
    hello_worker_steps,
    make_project,
    run_cli,
    agent_test_env,
)

pytestmark = pytest.mark.e2e


def test_accepted_run(tmp_path, capsys):
    project = make_project(tmp_path)
    with ScriptedModelServer({"roles": accepted_roles()}) as server:
        code, result = run_cli(["run", "--goal", "Add hello(name) with a test", "--project", str(project),
                                "--check", TESTS], agent_test_env(server.url), capsys)
        server.assert_complete()
    assert code == 0, result
    assert result["outcome"] == "accepted" and result["cycles"] == 1
    branch = result["branch"]
    assert branch == f"kodo/run-{result['run_id']}"
    # The work is on the run's branch, committed with trailers; the user's checkout is untouched.
    assert {"hello.py", "test_hello.py"} <= branch_files(project, branch)
    repo = git.Repo(project)
    assert repo.git.show(f"{branch}:hello.py") == HELLO.rstrip("\n")
    assert not (project / "hello.py").exists() and not repo.is_dirty(untracked_files=True)
    (message,) = commit_messages(project, branch)
    assert f"Kodo-Run: {result['run_id']}" in message and "Kodo-Cycle: 1" in message
    # Verification saw real evidence: the check and each verifier's commands, with observed exit statuses.
    log = events(project, result["run_id"])
    (round1,) = [e for e in log if isinstance(e, ev.VerificationFinished)]
    assert round1.accepted and [c.exit_code for c in round1.checks] == [0]
    tester = next(v for v in round1.verdicts if v.verifier == "tester")
    assert [(e.command, e.exit_code) for e in tester.evidence] == [(TESTS, 0)]
    assert "OK" in tester.evidence[0].output_tail or "Ran" in tester.evidence[0].output_tail
    assert result["cost"]["api_usd"] > 0 and result["cost"]["by_agent"]["worker_fast"]["bucket"] == "subscription"
    assert [e.seq for e in log] == list(range(1, len(log) + 1))


def test_rejection_then_acceptance(tmp_path, capsys):
    story = demo_story()
    project = make_project(tmp_path, story.files)
    with ScriptedModelServer(story.scenario) as server:
        code, result = run_cli(["run", "--goal", story.goal, "--project", str(project), "--check", TESTS],
                               agent_test_env(server.url), capsys)
        server.assert_complete()
        orchestrator_bodies = [b for b, r in zip(server.request_bodies, server.requests) if r.role == "orchestrator"]
    assert code == 0 and result["outcome"] == "accepted"
    assert result["cycles"] == 2
    rounds = result["verification_rounds"]
    assert [r["accepted"] for r in rounds] == [False, True]
    assert rounds[0]["verdicts"] == {"tester": "fail", "architect": "pass"}
    # The rejection reached the orchestrator at the start of cycle 2, with the finding and the failing command.
    cycle2_seed = orchestrator_bodies[2]["messages"][0]["content"]
    assert "multiply(-2, 3) returns 0, expected -6" in cycle2_seed and "calc.py:5" in cycle2_seed
    assert len(orchestrator_bodies[2]["messages"]) == 1  # a fresh, bounded conversation per cycle
    log = events(project, result["run_id"])
    first = next(e for e in log if isinstance(e, ev.VerificationFinished))
    tester = next(v for v in first.verdicts if v.verifier == "tester")
    assert (NEGATIVE_CHECK, 1) in [(e.command, e.exit_code) for e in tester.evidence]
    assert git.Repo(project).git.show(f"{result['branch']}:calc.py").count("return a * b") == 1


def test_repeated_rejection_escalates_to_a_person(tmp_path, capsys):
    story = demo_story()
    project = make_project(tmp_path, story.files)
    with ScriptedModelServer(story.scenario) as server:
        code, result = run_cli(["run", "--goal", story.goal, "--project", str(project), "--max-rejections", "1"],
                               agent_test_env(server.url), capsys)
        assert server.served("orchestrator") == 2  # no second cycle
    assert code == 3 and result["outcome"] == "needs_human"
    (finished,) = [e for e in events(project, result["run_id"]) if isinstance(e, ev.RunFinished)]
    assert "multiply(-2, 3) returns 0" in finished.handoff and result["branch"] in finished.handoff


def test_failing_check_rejects_without_asking_verifiers(tmp_path, capsys):
    broken_test = "import unittest\n\n\nclass T(unittest.TestCase):\n    def test_x(self):\n        self.assertEqual(1, 2)\n"
    roles = {
        "orchestrator": [
            delegate(("worker_fast", "add a test")), done("Added a test."),
            delegate(("worker_fast", "the check fails: fix test_x")), done("Fixed the test."),
        ],
        "worker_fast": [
            write_file("test_x.py", broken_test), say("Added test_x."),
            write_file("test_x.py", broken_test.replace("1, 2", "2, 2")), say("Fixed test_x."),
        ],
        "verifier/tester": verifier_passes(TESTS),
        "verifier/architect": verifier_passes("git show --stat HEAD"),
    }
    project = make_project(tmp_path)
    with ScriptedModelServer({"roles": roles}) as server:
        code, result = run_cli(["run", "--goal", "Add a test", "--project", str(project), "--check", TESTS],
                               agent_test_env(server.url), capsys)
        server.assert_complete()
        verifier_requests = [r for r in server.requests if (r.role or "").startswith("verifier/")]
    assert code == 0 and result["cycles"] == 2
    first, second = result["verification_rounds"]
    assert first["accepted"] is False and first["checks"] == {TESTS: 1} and first["verdicts"] == {}
    assert second["accepted"] is True
    # Verifiers were only ever asked in round 2.
    log = events(project, result["run_id"])
    started = [e for e in log if isinstance(e, ev.VerificationStarted)]
    assert [e.round for e in started] == [2] and len(verifier_requests) == 4
    seed2 = [e for e in log if isinstance(e, ev.ChecksFinished)][0].results[0].output_tail
    assert "AssertionError" in seed2 or "FAILED" in seed2


def test_budget_stop_keeps_the_work(tmp_path, capsys):
    roles = {
        "orchestrator": [delegate(("worker_fast", "Add hello(name) with a test.")), done("never reached")],
        "worker_fast": hello_worker_steps(),
    }
    project = make_project(tmp_path)
    with ScriptedModelServer({"roles": roles}) as server:
        code, result = run_cli(["run", "--goal", "Add hello", "--project", str(project), "--max-cost-usd", "0.000001"],
                               agent_test_env(server.url), capsys)
        assert server.served("orchestrator") == 1
    assert code == 5 and result["outcome"] == "budget_exhausted"
    assert "API spend" in result["reason"]
    # Nothing lost: what the worker wrote is committed on the branch.
    assert {"hello.py", "test_hello.py"} <= branch_files(project, result["branch"])


def test_unreachable_model_api_ends_resumable_with_a_clear_reason(tmp_path):
    import asyncio
    import socket

    from kodo_bot.compose import backends_from_env
    from kodo_bot.engine.launch import RunRequest, start_run
    from kodo_bot.engine.models import Outcome
    from kodo_bot.engine.state import RunSettings
    from kodo_bot.engine.team import default_team

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    project = make_project(tmp_path)
    backends = backends_from_env(agent_test_env(dead), model_retries=1, model_backoff_s=0.01)
    settings = RunSettings(team=default_team(), ui=False)
    state = asyncio.run(start_run(RunRequest(goal="Add hello", project=project, settings=settings), backends))
    assert state.outcome is Outcome.error and state.resumable
    assert f"cannot reach the model API at {dead}" in state.reason and "kodo-bot resume" in state.reason
    assert state.branch in [h.name for h in git.Repo(project).heads]


def test_delegations_in_one_reply_run_concurrently(tmp_path, capsys):
    slow = {"delay_s": 1.5}
    roles = {
        "orchestrator": [
            delegate(("worker_fast", "Write a.txt"), ("worker_smart", "Write b.txt")),
            done("Wrote a.txt and b.txt."),
        ],
        "worker_fast": [{**write_file("a.txt", "a\n"), **slow}, say("wrote a.txt")],
        "worker_smart": [{**write_file("b.txt", "b\n"), **slow}, say("wrote b.txt")],
        "verifier/tester": verifier_passes("cat a.txt b.txt"),
        "verifier/architect": verifier_passes("git show --stat HEAD"),
    }
    project = make_project(tmp_path)
    with ScriptedModelServer({"roles": roles}) as server:
        code, result = run_cli(["run", "--goal", "Write a.txt and b.txt", "--project", str(project)],
                               agent_test_env(server.url), capsys)
        server.assert_complete()
    assert code == 0 and {"a.txt", "b.txt"} <= branch_files(project, result["branch"])
    log = events(project, result["run_id"])
    kinds = [(type(e).__name__, getattr(e, "agent", None)) for e in log
             if isinstance(e, (ev.AgentCallStarted, ev.AgentCallFinished))]
    # Both agents were at work before either finished.
    assert [k for k, _ in kinds] == ["AgentCallStarted", "AgentCallStarted", "AgentCallFinished", "AgentCallFinished"]
    calls = {e.result.agent: e.result for e in log if isinstance(e, ev.AgentCallFinished)}
    started = {e.agent: e.at for e in log if isinstance(e, ev.AgentCallStarted)}
    finished = {e.result.agent: e.at for e in log if isinstance(e, ev.AgentCallFinished)}
    overlap = min(finished.values()) - max(started.values())
    assert overlap.total_seconds() > 1.0, (calls, overlap)


def test_a_verifier_that_edits_the_code_cannot_pass_it(tmp_path, capsys):
    roles = accepted_roles()
    # The tester "fixes" the code in its checkout before running the tests, then claims a pass.
    roles["verifier/tester"] = [bash("echo 'def hello(name):\n    return 1' > hello.py"), *verifier_passes(TESTS)]
    project = make_project(tmp_path)
    with ScriptedModelServer({"roles": roles}) as server:
        code, result = run_cli(["run", "--goal", "Add hello", "--project", str(project), "--max-rejections", "1"],
                               agent_test_env(server.url), capsys)
    assert code == 3 and result["verification_rounds"][0]["verdicts"]["tester"] == "fail"
    (round1,) = [e for e in events(project, result["run_id"]) if isinstance(e, ev.VerificationFinished)]
    tester = next(v for v in round1.verdicts if v.verifier == "tester")
    assert "edited checkout (changed hello.py)" in tester.engine_note


def test_an_agent_that_prints_its_credentials_cannot_leak_them(tmp_path, capsys):
    from kodo_bot.sandbox.demo import DEMO_KEY

    roles = accepted_roles()
    # The CLI's own key is necessarily in the agent's environment; printing it must not put it in the log.
    roles["worker_fast"] = [bash("env | grep -E 'ANTHROPIC_API_KEY|GITHUB_TOKEN'"), *roles["worker_fast"]]
    env = {**agent_test_env(""), "GITHUB_TOKEN": "ghs_" + "x" * 36}
    project = make_project(tmp_path)
    with ScriptedModelServer({"roles": roles}) as server:
        env["ANTHROPIC_BASE_URL"] = server.url
        code, result = run_cli(["run", "--goal", "Add hello", "--project", str(project)], env, capsys)
        server.assert_complete()
        worker_bodies = json.dumps([b for b, r in zip(server.request_bodies, server.requests) if r.role == "worker_fast"])
    assert code == 0
    run_dir = project / ".kodo" / "runs" / result["run_id"]
    (printed,) = [c for e in events(project, result["run_id"]) if isinstance(e, ev.AgentCallFinished)
                  for c in e.result.tool_calls if "grep" in (c.command or "")]
    assert "ANTHROPIC_API_KEY=[redacted]" in printed.output
    assert "GITHUB_TOKEN" not in printed.output  # not even an empty copy: agents get an allowlisted environment
    for path in (run_dir / "events.jsonl", run_dir / "state.json"):
        text = path.read_text()
        assert DEMO_KEY not in text and "ghs_" + "x" * 36 not in text, path
    # (The model itself did see the key in the tool result, as it would with any CLI: the key is the CLI's.)
    assert DEMO_KEY in worker_bodies
