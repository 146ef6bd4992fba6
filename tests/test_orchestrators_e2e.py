"""The same run, whoever orchestrates: each orchestrator kodo-bot offers directs the real Claude Code CLI
agents through ``kodo-bot run`` against the scripted model server (which speaks its API): an accepted run,
a rejection then acceptance, and kill -9 in the middle of a cycle then ``kodo-bot resume``, which repeats no
finished agent call."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from kodo_bot.engine import events as ev
from kodo_bot.sandbox.demo import seed_project
from kodo_bot.sandbox.model_server import ScriptedModelServer
from kodo_bot.sandbox.stories import TESTS, delegate, demo_story, done, say, verifier_passes, write_file
from tests.e2e_support import (
    accepted_roles,
    agent_test_env,
    all_ended,
    events,
    hello_worker_steps,
    kill_while_the_orchestrator_thinks,
    make_project,
    run_cli,
    wait_for,
)

pytestmark = pytest.mark.e2e

ORCHESTRATORS = ["api:gemini:gemini-2.5-flash", "claude-code:sonnet"]


def orchestrator_paths(server: ScriptedModelServer) -> set[str]:
    return {r.path.split("?")[0] for r in server.requests if r.role == "orchestrator"}


def assert_spoke_its_own_api(server: ScriptedModelServer, choice: str) -> None:
    """Gemini's requests went to generateContent; Claude Code's to the Messages API, offering the team's
    tools as the MCP server's."""
    paths = orchestrator_paths(server)
    if choice.startswith("api:gemini"):
        assert paths and all(p.endswith("/models/gemini-2.5-flash:generateContent") for p in paths)
    else:
        assert paths == {"/v1/messages"}
        offered = {t for r in server.requests if r.role == "orchestrator" for t in r.tools}
        assert {"mcp__kodo__delegate_worker_fast", "mcp__kodo__done"} <= offered
        assert not offered & {"Bash", "Write", "Edit", "Read"}  # it directs; only agents touch files


@pytest.mark.parametrize("choice", ORCHESTRATORS)
def test_an_accepted_run(tmp_path, capsys, choice):
    project = make_project(tmp_path)
    with ScriptedModelServer({"roles": accepted_roles()}) as server:
        args = ["run", "--goal", "Add hello", "--project", str(project), "--check", TESTS, "--orchestrator", choice]
        code, result = run_cli(args, agent_test_env(server.url), capsys)
        server.assert_complete()
    assert code == 0 and result["outcome"] == "accepted"
    assert_spoke_its_own_api(server, choice)
    cost, on_api = result["cost"], choice.startswith("api:")
    # an API orchestrator is paid per token; Claude Code is covered by the subscription: no API spend at all
    assert cost["by_agent"]["orchestrator"]["bucket"] == ("api" if on_api else "subscription")
    assert cost["by_agent"]["orchestrator"]["provider"] == ("Gemini" if choice.startswith("api:gemini") else "Claude")
    assert (cost["api_usd"] > 0) is on_api


@pytest.mark.parametrize("choice", ORCHESTRATORS)
def test_a_rejection_then_acceptance(tmp_path, capsys, choice):
    story = demo_story()
    project = tmp_path / "calc"
    seed_project(project, story.files)
    with ScriptedModelServer(story.scenario) as server:
        args = ["run", "--goal", story.goal, "--project", str(project), "--orchestrator", choice]
        for check in story.check_commands:
            args += ["--check", check]
        code, result = run_cli(args, agent_test_env(server.url), capsys)
        server.assert_complete()
    assert code == 0 and result["outcome"] == "accepted"
    log = events(project, result["run_id"])
    rounds = [e.accepted for e in log if isinstance(e, ev.VerificationFinished)]
    assert rounds == [False, True]
    # the second cycle's first request carried the tester's finding to the orchestrator
    second_cycle = [b for b, r in zip(server.request_bodies, server.requests, strict=True) if r.role == "orchestrator"][
        2
    ]
    assert "negative" in str(second_cycle)


@pytest.mark.parametrize("choice", ORCHESTRATORS)
def test_kill_9_in_a_cycle_then_resume_repeats_no_agent_call(tmp_path, capsys, choice):
    orchestrator = [
        delegate(("worker_fast", "Add hello(name) with a test.")),
        {**done("Added hello()."), "delay_s": 60},
    ]
    if choice.startswith("claude-code"):
        # the resumed session is told the results it was waiting for: a new request, a new answer (an API
        # orchestrator asks the same question again, which the server answers from its cache)
        orchestrator.append(done("Added hello()."))
    roles = {
        "orchestrator": orchestrator,
        "worker_fast": hello_worker_steps(),
        "verifier/tester": verifier_passes(TESTS),
        "verifier/architect": verifier_passes("git show --stat HEAD"),
    }
    project = make_project(tmp_path)
    with ScriptedModelServer({"roles": roles}) as server:
        env = agent_test_env(server.url)
        command = [sys.executable, "-m", "kodo_bot.cli", "run", "--goal", "Add hello", "--project", str(project)]
        command += ["--check", TESTS, "--orchestrator", choice, "--json"]
        proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        children = kill_while_the_orchestrator_thinks(server, proc)
        # the killed run's CLI processes end with it: the agents' see their input close, the orchestrator's
        # (mid-request) is killed by the kernel (``claude_code._dies_with_us``)
        wait_for(lambda: all_ended(children), 20, "the killed run's CLI processes to exit")
        worker_requests = server.served("worker_fast")
        run_dir = next((project / ".kodo" / "runs").iterdir())
        code, result = run_cli(["resume", run_dir.name, "--project", str(project)], env, capsys)
        server.assert_complete()
        assert server.served("worker_fast") == worker_requests  # the finished call was not made again
    assert code == 0 and result["outcome"] == "accepted"
    log = events(project, run_dir.name)
    assert [e.task for e in log if isinstance(e, ev.AgentCallStarted)] == ["Add hello(name) with a test."]
    assert [e.resumed for e in log if isinstance(e, ev.RunStarted)] == [False, True]
    assert_spoke_its_own_api(server, choice)
    if choice.startswith("claude-code"):
        # the Claude Code orchestrator resumed its own conversation: the request after the resume carries
        # the call it made before the kill, and then the results it was told
        bodies = [b for b, r in zip(server.request_bodies, server.requests, strict=True) if r.role == "orchestrator"]
        after = json.dumps(bodies[-1]["messages"])
        assert "Add hello(name) with a test." in after and "kodo-bot was restarted" in after


def test_claude_code_told_the_cycle_so_far_when_its_transcript_is_gone(tmp_path, capsys):
    """kill -9, then the killed session's transcript is lost (a reboot cleared the temp dir): the resumed
    run starts a new Claude Code session told the cycle so far, and still repeats no agent call."""
    roles = {
        "orchestrator": [
            delegate(("worker_fast", "Add hello(name) with a test.")),
            {**done("Added hello()."), "delay_s": 60},  # killed while waiting for this
            done("Added hello()."),
        ],
        "worker_fast": hello_worker_steps(),
        "verifier/tester": verifier_passes(TESTS),
        "verifier/architect": verifier_passes("git show --stat HEAD"),
    }
    project, scratch = make_project(tmp_path), tmp_path / "scratch"
    scratch.mkdir()
    with ScriptedModelServer({"roles": roles}) as server:
        env = agent_test_env(server.url)
        command = [sys.executable, "-m", "kodo_bot.cli", "run", "--goal", "Add hello", "--project", str(project)]
        command += ["--check", TESTS, "--orchestrator", "claude-code", "--json"]
        proc = subprocess.Popen(command, env={**env, "TMPDIR": str(scratch)}, stdout=subprocess.PIPE)
        kill_while_the_orchestrator_thinks(server, proc)
        transcripts = scratch / "kodo-bot-orchestrator"
        assert any(transcripts.iterdir())
        shutil.rmtree(transcripts)
        run_dir = next((project / ".kodo" / "runs").iterdir())
        code, result = run_cli(["resume", run_dir.name, "--project", str(project)], env, capsys)
        server.assert_complete()
    assert code == 0 and result["outcome"] == "accepted"
    log = events(project, run_dir.name)
    assert [e.task for e in log if isinstance(e, ev.AgentCallStarted)] == ["Add hello(name) with a test."]
    bodies = [b for b, r in zip(server.request_bodies, server.requests, strict=True) if r.role == "orchestrator"]
    told = json.dumps(bodies[-1]["messages"])
    assert "your session was restarted" in told and "delegate_worker_fast" in told


@pytest.mark.parametrize("choice", ORCHESTRATORS)
def test_delegations_of_one_turn_run_at_the_same_time(tmp_path, capsys, choice):
    """One answer delegates to two agents: both CLI agents work at once, whichever orchestrator asked."""
    slow = {"delay_s": 1.5}
    roles = {
        "orchestrator": [
            delegate(("worker_fast", "Add hello(name) with a test."), ("worker_smart", "Write NOTES.md.")),
            done("Added hello() and notes."),
        ],
        "worker_fast": [{**hello_worker_steps()[0], **slow}, *hello_worker_steps()[1:]],
        "worker_smart": [{**write_file("NOTES.md", "notes\n"), **slow}, say("Wrote NOTES.md.")],
        "verifier/tester": verifier_passes(TESTS),
        "verifier/architect": verifier_passes("git show --stat HEAD"),
    }
    project = make_project(tmp_path)
    with ScriptedModelServer({"roles": roles}) as server:
        args = ["run", "--goal", "Add hello", "--project", str(project), "--check", TESTS, "--orchestrator", choice]
        code, result = run_cli(args, agent_test_env(server.url), capsys)
        server.assert_complete()
    assert code == 0 and result["outcome"] == "accepted"
    log = events(project, result["run_id"])
    started = {e.agent: e.at for e in log if isinstance(e, ev.AgentCallStarted)}
    finished = {e.result.agent: e.at for e in log if isinstance(e, ev.AgentCallFinished)}
    assert started["worker_smart"] < finished["worker_fast"] and started["worker_fast"] < finished["worker_smart"]
