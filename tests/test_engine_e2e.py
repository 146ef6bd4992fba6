"""Whole runs through `kodo-bot run`, the real Claude Code CLI and the scripted model server.

Nothing here replaces the SDK or the CLI: agents really write files and run commands in the run's worktree,
checks and verifiers really run in clean checkouts, and git is real git.

Kept here is what only that transport shows: an accepted run end to end (real edits, commits, evidence with
the exit statuses the CLI reported, the API cost from the wire), the exit code and reason of a budget stop,
an unreachable model API, two real CLI processes at work at once, a verifier that edits its checkout through
the CLI, and credentials the CLI prints. The run loop's behaviour is proven in process on a ``Script``
(a fraction of a second a run):

- a rejection, its findings in the next cycle's fresh seed, then acceptance:
  test_run_verification.py::test_rejection_findings_reach_the_next_cycles_first_message,
  test_run_loop.py::test_the_orchestrator_context_does_not_grow_with_the_cycles;
- escalation to a person after ``max_rejections`` (its handoff, no further cycle):
  test_run_verification.py::test_max_rejections_hands_the_run_to_a_person, and its exit code 3 on GitHub in
  test_github_scripted.py::test_a_run_rejected_five_times_asks_for_a_person;
- a failing check rejecting before any verifier is asked:
  test_run_verification.py::test_a_failing_check_rejects_before_any_verifier_is_asked;
- the work kept when the API budget runs out:
  test_run_loop.py::test_the_api_cost_limit_stops_the_run_and_keeps_the_work;
- delegations of one reply running concurrently, one task at a time per agent:
  test_run_loop.py::test_delegations_of_one_turn_run_concurrently_but_one_agent_takes_one_task_at_a_time
  (kept here too: only real CLI sessions show that the transport does not serialise them).
"""

from __future__ import annotations

import json

import git
import pytest

from kodo_bot.engine import events as ev
from kodo_bot.sandbox.model_server import ScriptedModelServer
from kodo_bot.sandbox.stories import TESTS, bash, delegate, done, say, verifier_passes, write_file
from tests.e2e_support import (
    HELLO,
    accepted_roles,
    agent_test_env,
    branch_files,
    commit_messages,
    events,
    make_project,
    on_api_key,
    processes_in,
    run_cli,
)

pytestmark = pytest.mark.e2e


def test_accepted_run(tmp_path, capsys):
    project = make_project(tmp_path)
    with ScriptedModelServer({"roles": accepted_roles()}) as server:
        code, result = run_cli(
            ["run", "--goal", "Add hello(name) with a test", "--project", str(project), "--check", TESTS],
            agent_test_env(server.url),
            capsys,
        )
        server.assert_complete()
    # every process the run started has ended by the time it returns: the CLIs, the sandboxes, their shells, git
    assert processes_in(project) == []
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


def test_budget_stop_exits_5_with_the_api_spend_as_reason(tmp_path, capsys):
    """What only the command line and the model server's wire show: the spend read from the orchestrator's
    real API answer stops the run, and `kodo-bot run` exits 5. (That the work is kept, and the reason's
    wording: test_run_loop.py::test_the_api_cost_limit_stops_the_run_and_keeps_the_work.)"""
    project = make_project(tmp_path)
    with ScriptedModelServer({"roles": {"orchestrator": [say("Looking around."), done("never reached")]}}) as server:
        code, result = run_cli(
            ["run", "--goal", "Add hello", "--project", str(project), "--max-cost-usd", "0.000001"],
            agent_test_env(server.url),
            capsys,
        )
        assert server.served("orchestrator") == 1
    assert code == 5 and result["outcome"] == "budget_exhausted" and result["exit_code"] == 5
    assert result["reason"].startswith("API spend $") and result["cost"]["api_usd"] > 0.000001


def test_agents_on_an_api_key_are_paid_per_token_and_spend_the_runs_budget(tmp_path, capsys):
    """Claude Code bills an API key per token: the agents' cost goes
    to the api bucket, which --max-cost-usd limits, so a budget the orchestrator alone stays under stops the
    run once the worker's cost is counted."""
    project = make_project(tmp_path)
    env = on_api_key(agent_test_env(""))
    with ScriptedModelServer({"roles": accepted_roles()}) as server:
        env["ANTHROPIC_BASE_URL"] = server.url
        code, result = run_cli(["run", "--goal", "Add hello", "--project", str(project)], env, capsys)
    assert code == 0, result
    cost = result["cost"]
    assert {who: c["bucket"] for who, c in cost["by_agent"].items()} == dict.fromkeys(cost["by_agent"], "api")
    assert cost["subscription_usd"] == 0
    assert cost["api_usd"] == pytest.approx(sum(c["usd"] for c in cost["by_agent"].values()), abs=1e-6)
    orchestrator_usd = cost["by_agent"]["orchestrator"]["usd"]

    again = make_project(tmp_path / "again")
    with ScriptedModelServer({"roles": accepted_roles()}) as server:
        env["ANTHROPIC_BASE_URL"] = server.url
        limit = f"{orchestrator_usd * 1.5:.6f}"  # what the orchestrator alone would never reach in one cycle
        code, result = run_cli(
            ["run", "--goal", "Add hello", "--project", str(again), "--max-cost-usd", limit], env, capsys
        )
    assert code == 5 and result["outcome"] == "budget_exhausted", result


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
        code, result = run_cli(
            ["run", "--goal", "Write a.txt and b.txt", "--project", str(project)], agent_test_env(server.url), capsys
        )
        server.assert_complete()
    assert code == 0 and {"a.txt", "b.txt"} <= branch_files(project, result["branch"])
    log = events(project, result["run_id"])
    kinds = [
        (type(e).__name__, getattr(e, "agent", None))
        for e in log
        if isinstance(e, (ev.AgentCallStarted, ev.AgentCallFinished))
    ]
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
        code, result = run_cli(
            ["run", "--goal", "Add hello", "--project", str(project), "--max-rejections", "1"],
            agent_test_env(server.url),
            capsys,
        )
    assert code == 3 and result["verification_rounds"][0]["verdicts"]["tester"] == "fail"
    (round1,) = [e for e in events(project, result["run_id"]) if isinstance(e, ev.VerificationFinished)]
    tester = next(v for v in round1.verdicts if v.verifier == "tester")
    assert "edited checkout (changed hello.py)" in tester.engine_note


def test_an_agent_that_prints_its_credentials_cannot_leak_them(tmp_path, capsys):
    from kodo_bot.sandbox.demo import DEMO_KEY

    roles = accepted_roles()
    # The CLI's own key is necessarily in the agent's environment; printing it must not put it in the log.
    # (A subscription token never reaches the agent's shell: Claude Code drops CLAUDE_CODE_OAUTH_TOKEN from
    # it. An API key does, so this run's agents run on one.)
    roles["worker_fast"] = [bash("env | grep -E 'ANTHROPIC_API_KEY|GITHUB_TOKEN'"), *roles["worker_fast"]]
    env = {**on_api_key(agent_test_env("")), "GITHUB_TOKEN": "ghs_" + "x" * 36}
    project = make_project(tmp_path)
    with ScriptedModelServer({"roles": roles}) as server:
        env["ANTHROPIC_BASE_URL"] = server.url
        code, result = run_cli(["run", "--goal", "Add hello", "--project", str(project)], env, capsys)
        server.assert_complete()
        bodies = zip(server.request_bodies, server.requests, strict=True)
        worker_bodies = json.dumps([b for b, r in bodies if r.role == "worker_fast"])
    assert code == 0
    run_dir = project / ".kodo" / "runs" / result["run_id"]
    (printed,) = [
        c
        for e in events(project, result["run_id"])
        if isinstance(e, ev.AgentCallFinished)
        for c in e.result.tool_calls
        if "grep" in (c.command or "")
    ]
    assert "ANTHROPIC_API_KEY=[redacted]" in printed.output
    assert "GITHUB_TOKEN" not in printed.output  # not even an empty copy: agents get an allowlisted environment
    for path in (run_dir / "events.jsonl", run_dir / "state.json"):
        text = path.read_text()
        assert DEMO_KEY not in text and "ghs_" + "x" * 36 not in text, path
    # (The model itself did see the key in the tool result, as it would with any CLI: the key is the CLI's.)
    assert DEMO_KEY in worker_bodies
