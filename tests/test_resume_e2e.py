"""kill -9 or SIGTERM in the middle of a real `kodo-bot run` process, then `kodo-bot resume`: nothing finished
runs again, nothing is lost, and nothing the killed process started is left running.

SIGTERM (a cancelled Actions job) is sent here: it ends the process with 130 and a resume hint, like Ctrl-C.
Ctrl-C itself is not signalled here: a test run started as a background job inherits SIGINT ignored, so the
signal would not arrive. In process, a KeyboardInterrupt mid-run is saved and resumed by
test_api.py::test_events_reach_on_event_in_order_and_resume_continues_an_interrupted_run, and SIGTERM by
test_run_resume.py::test_sigterm_saves_the_run_as_interrupted_and_it_resumes_to_acceptance. A crash at every
checkpoint write: test_run_resume.py::test_a_crash_at_any_checkpoint_write_resumes_to_the_same_result.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from kodo_bot.cli import main
from kodo_bot.engine import events as ev
from kodo_bot.sandbox.model_server import ScriptedModelServer
from kodo_bot.sandbox.stories import TESTS, bash, delegate, done, say, verifier_passes
from tests.e2e_support import (
    agent_test_env,
    events,
    hello_worker_steps,
    kill_while_the_orchestrator_thinks,
    make_project,
    run_cli,
    wait_for,
)

pytestmark = pytest.mark.e2e


def slow_second_answer() -> dict:
    """The orchestrator's second answer is slow: the run is stopped while waiting for it, after the
    worker's call finished and was checkpointed."""
    return {
        "orchestrator": [
            delegate(("worker_fast", "Add hello(name) with a test.")),
            {**done("Added hello()."), "delay_s": 60},
        ],
        "worker_fast": hello_worker_steps(),
        "verifier/tester": verifier_passes(TESTS),
        "verifier/architect": verifier_passes("git show --stat HEAD"),
    }


def start_run_process(project, env) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kodo_bot.cli",
            "run",
            "--goal",
            "Add hello",
            "--project",
            str(project),
            "--check",
            TESTS,
            "--json",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_kill_9_then_resume_repeats_no_agent_call(tmp_path, capsys):
    roles = slow_second_answer()
    # After the resume the worker gets a second task: it must continue its own conversation from before.
    roles["orchestrator"] = [
        roles["orchestrator"][0],
        {**delegate(("worker_fast", "Now run the tests once more.")), "delay_s": 60},
        done("Added hello()."),
    ]
    roles["worker_fast"] += [bash(TESTS), say("Still green.")]
    project = make_project(tmp_path)
    with ScriptedModelServer({"roles": roles}) as server:
        env = agent_test_env(server.url)
        children = kill_while_the_orchestrator_thinks(server, start_run_process(project, env))
        # The killed engine's Claude Code processes end with it (their stdin closes): nothing left behind.
        wait_for(
            lambda: (
                not any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE for p in children)
            ),
            20,
            "the killed run's CLI processes to exit",
        )
        worker_requests_before = server.served("worker_fast")

        run_dir = next((project / ".kodo" / "runs").iterdir())
        code, result = run_cli(["resume", run_dir.name, "--project", str(project)], env, capsys)
        server.assert_complete()
        # The first task was not run again: the worker was asked only for the second one...
        assert server.served("worker_fast") == worker_requests_before + 2
        bodies = zip(server.request_bodies, server.requests, strict=True)
        resumed = [b for b, r in bodies if r.role == "worker_fast"][-2]
        # ... in its own conversation, restored from its session: the first task is still in it.
        assert "Add hello(name) with a test." in json.dumps(resumed["messages"])

    assert code == 0 and result["outcome"] == "accepted" and result["run_id"] == run_dir.name
    log = events(project, run_dir.name)
    started = [e.task for e in log if isinstance(e, ev.AgentCallStarted)]
    assert started == ["Add hello(name) with a test.", "Now run the tests once more."]  # each exactly once
    assert [e.resumed for e in log if isinstance(e, ev.RunStarted)] == [False, True]
    assert [e.seq for e in log] == sorted({e.seq for e in log})  # numbering continues across the resume


def test_resume_unknown_run_is_a_clear_error(tmp_path, capsys):
    project = make_project(tmp_path)
    code = main(["resume", "no-such-run", "--project", str(project)], env=dict(os.environ))
    assert code == 2
    assert "no run 'no-such-run'" in capsys.readouterr().err


def test_sigterm_saves_an_interrupted_run_that_resumes(tmp_path, capsys):
    project = make_project(tmp_path)
    with ScriptedModelServer({"roles": slow_second_answer()}) as server:
        env = agent_test_env(server.url)
        proc = start_run_process(project, env)
        try:
            wait_for(lambda: server.served("orchestrator") == 2, 90, "the orchestrator's second request")
            os.kill(proc.pid, signal.SIGTERM)
            _, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 130, err.decode()
        assert b"kodo-bot resume" in err
        run_dir = next((project / ".kodo" / "runs").iterdir())
        state = json.loads((run_dir / "state.json").read_text())
        assert state["outcome"] == "interrupted"

        code, result = run_cli(["resume", "--project", str(project)], env, capsys)  # the latest resumable run
        server.assert_complete()
    assert code == 0 and result["run_id"] == run_dir.name and result["outcome"] == "accepted"


def test_kill_9_then_the_checkout_lost_the_resume_restores_the_workers_files(tmp_path, capsys):
    """After kill -9 the worker's edits exist only in its checkout, uncommitted; the checkout is then
    deleted. Resume brings the files back from the snapshot taken when the worker's call finished, and
    nothing the killed run started (a process writing in the background) is still running."""
    import shutil

    roles = slow_second_answer()
    roles["worker_fast"] = [
        bash("(while true; do date >> heartbeat.log; sleep 0.2; done) > /dev/null 2>&1 &"),
        *roles["worker_fast"],
    ]
    project = make_project(tmp_path)
    with ScriptedModelServer({"roles": roles}) as server:
        env = agent_test_env(server.url)
        kill_while_the_orchestrator_thinks(server, start_run_process(project, env))
        checkout = next((project / ".kodo" / "worktrees").iterdir())
        heartbeat = checkout / "heartbeat.log"
        size = heartbeat.stat().st_size
        time.sleep(1)
        assert heartbeat.stat().st_size == size  # the sandbox ended with the killed engine
        assert (checkout / "hello.py").exists()
        shutil.rmtree(checkout)
        run_dir = next((project / ".kodo" / "runs").iterdir())
        code, result = run_cli(["resume", run_dir.name, "--project", str(project)], env, capsys)
        server.assert_complete()
    assert code == 0 and result["outcome"] == "accepted"
    from tests.e2e_support import branch_files

    assert {"hello.py", "test_hello.py"} <= branch_files(project, result["branch"])
    assert [e.task for e in events(project, run_dir.name) if isinstance(e, ev.AgentCallStarted)] == [
        "Add hello(name) with a test."
    ]  # the worker was not asked again
