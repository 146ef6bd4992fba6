"""A crash at every checkpoint write, in turn, resumes to what an uninterrupted run reaches.

The real `kodo-bot` command line (``cli.main``) runs in a process of its own with ``KODO_CRASH_AT_SAVE`` /
``KODO_CRASH_BEFORE_SAVE``, which SIGKILL it right after (or right before) a checkpoint write; the real
Claude Code CLI plays the agents against the scripted model server; git is real. The run is a short story:
one worker call, one verifier, who accepts the work, or rejects it in the last cycle allowed (the run then
ends at max cycles: the window in which a killed run used to start a cycle more than allowed). Each process is forked from a helper that imported kodo-bot once (``Forks``):
importing it takes seconds on a busy machine, and there are about twenty processes.

The crashes form one chain, so every write is crashed at without replaying the whole run each time: the run
is killed just after its first write, each `kodo-bot resume` is killed just after the first write it adds
(its own first write only re-saves what it read), and, where the step before a write did work that is not an
agent call (a commit, a model reply, a verification verdict), a resume is first killed just *before* that
write, so the step's work is done but not recorded. (Killed before the write that records a finished agent
call, the call is lost and runs again: that window is inherent, and left out.) After every crash the saved
state must be the one the uninterrupted run saved at the same write, and at the end the outcome, the commits
and the transition events must be the same, with no agent call made twice.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import git
import pytest

from kodo_bot.engine import events as ev
from kodo_bot.engine.state import RunStore
from kodo_bot.sandbox.model_server import ScriptedModelServer
from kodo_bot.sandbox.stories import TESTS, bash, delegate, done, say, verdict, verifier_passes, write_file
from tests.e2e_support import HELLO, agent_test_env, events, make_project, run_cli

pytestmark = pytest.mark.e2e

TEAM = """\
name: crash
agents:
  worker_fast:
    model: haiku
    description: Implements small changes.
    prompt: You implement the task you are given.
  tester:
    model: haiku
    verify: always
    prompt: You verify the team's work.
"""

#: the events that make up the run's transitions, each told exactly once whatever crashed
TRANSITIONS = (ev.CycleStarted, ev.OrchestratorReplied, ev.AgentCallFinished, ev.CycleCommitted,
               ev.VerdictReceived, ev.VerificationFinished, ev.CycleEnded, ev.RunFinished)
AGENT_ROLES = ("worker_fast", "verifier/tester")


@dataclass(frozen=True)
class Story:
    verifier: tuple
    extra_args: tuple[str, ...]
    outcome: str
    exit_code: int

    def roles(self) -> dict:
        return {
            "orchestrator": [delegate(("worker_fast", "Add hello(name) in hello.py.")), done("Added hello().")],
            "worker_fast": [write_file("hello.py", HELLO), say("Added hello().")],
            "verifier/tester": list(self.verifier),
        }


ACCEPTED = Story(tuple(verifier_passes(TESTS)), (), "accepted", 0)
REJECTED_AT_THE_LIMIT = Story(
    (bash(TESTS), verdict(False, "hello() has no test.", checks=[(TESTS, 0)],
                          findings=[{"severity": "high", "file": "hello.py", "message": "no test for hello()"}])),
    ("--cycles", "1"), "max_cycles", 4)


def phase(state: dict) -> tuple:
    """Where a saved run stands, without what legitimately differs between two runs (ids, times, costs)."""
    return (
        state["cycle"], state["cycle_open"], state["exchange"], [m["role"] for m in state["messages"]],
        sorted("verify" if k.startswith("verify:") else "call" for k in state["completed_calls"]), state["rounds"],
        state["verifying"] is not None, len(state["summaries"]), state["head_sha"] is not None,
        (state["finishing"] or {}).get("outcome"), state["outcome"], [e["type"] for e in state["outbox"]],
    )


def run_args(project: Path, team: Path, story: Story) -> list[str]:
    return ["run", "--goal", "Add hello(name)", "--project", str(project), "--team", str(team), "--check", TESTS,
            *story.extra_args]


def reference_run(tmp_path: Path, story: Story, monkeypatch, capsys) -> dict:
    """The uninterrupted run, in-process, with every checkpoint it writes recorded."""
    project, team = setup(tmp_path / "reference")
    saved: list[dict] = []
    original = RunStore.save

    def recording(store, state):
        original(store, state)
        saved.append(state.model_dump(mode="json"))

    monkeypatch.setattr(RunStore, "save", recording)
    with ScriptedModelServer({"roles": story.roles()}) as server:
        code, result = run_cli(run_args(project, team, story), agent_test_env(server.url), capsys)
        server.assert_complete()
    monkeypatch.undo()
    assert code == story.exit_code and result["outcome"] == story.outcome and result["cycles"] == 1, result
    return {"phases": [phase(s) for s in saved], "outboxes": [s["outbox"] for s in saved], "project": project,
            "run_id": result["run_id"], "branch": result["branch"]}


def setup(where: Path) -> tuple[Path, Path]:
    where.mkdir(parents=True)
    project = make_project(where)
    team = where / "team.yaml"
    team.write_text(TEAM)
    return project, team


def serve_forks() -> None:
    """The helper's loop: one JSON request a line; fork, run ``kodo-bot ARGS`` in the child with its output in
    files, answer with how the child ended (-9 when it was SIGKILLed)."""
    import kodo_bot.agents.claude  # noqa: F401 - imported once here, not in every child
    from kodo_bot.cli import main

    for line in sys.stdin:
        req = json.loads(line)
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                with open(req["out"], "w") as out, open(req["err"], "w") as err:
                    os.dup2(out.fileno(), 1)
                    os.dup2(err.fileno(), 2)
                os.environ.clear()
                os.environ.update(req["env"])
                code = main(req["args"], env=req["env"])
            except BaseException as exc:  # noqa: BLE001 - the child must never return into the loop
                print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"status": os.waitstatus_to_exitcode(status)}), flush=True)


class Forks:
    def __init__(self, where: Path) -> None:
        self.where, self.n = where, 0
        self.proc = subprocess.Popen([sys.executable, "-c", f"from {__name__} import serve_forks; serve_forks()"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     cwd=Path(__file__).parent.parent)

    def kodo(self, args: list[str], env: dict[str, str], **crash: int) -> SimpleNamespace:
        self.n += 1
        out, err = self.where / f"{self.n}.out", self.where / f"{self.n}.err"
        extra = {f"KODO_CRASH_{k.upper()}_SAVE": str(v) for k, v in crash.items()}
        req = {"args": [*args, "--json"], "env": {**env, **extra}, "out": str(out), "err": str(err)}
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        status = json.loads(self.proc.stdout.readline())["status"]
        return SimpleNamespace(returncode=status, stdout=out.read_text(), stderr=err.read_text())

    def close(self) -> None:
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()  # by its PID: only the helper this test started
            self.proc.wait()


def killed(proc: SimpleNamespace, what: str) -> None:
    assert proc.returncode == -9, f"{what}: expected a SIGKILL, got exit {proc.returncode}\n{proc.stderr[-3000:]}"


def commits(project: Path, branch: str, run_id: str) -> list[tuple[str, str]]:
    """Each commit of the run's branch as (message with the run id taken out, tree): content, not ids."""
    repo = git.Repo(project)
    return [(str(c.message).replace(run_id, "RUN"), c.tree.hexsha) for c in repo.iter_commits(f"main..{branch}")]


def transitions(project: Path, run_id: str) -> list[tuple]:
    def key(e: ev.Event) -> object:
        match e:
            case ev.AgentCallFinished():
                return e.result.agent
            case ev.VerdictReceived():
                return e.verdict.verifier, e.verdict.passed
            case ev.VerificationFinished():
                return e.accepted
            case ev.CycleCommitted():
                return tuple(e.files_changed)
            case ev.RunFinished():
                return e.outcome.value
        return getattr(e, "cycle", None)

    return [(e.type, key(e)) for e in events(project, run_id) if isinstance(e, TRANSITIONS)]


def crash_at_every_write(forks, server, project, team, story, writes, agent_writes, ref):
    kodo, env = forks.kodo, agent_test_env(server.url)
    state_file = lambda: json.loads(next((project / ".kodo" / "runs").glob("*/state.json")).read_text())  # noqa: E731
    killed(kodo(run_args(project, team, story), env, at=1), "run, at write 1")
    seen, run_id, crashes = [phase(state_file())], state_file()["run_id"], 1
    for write in range(2, writes + 1):
        if write not in agent_writes:
            killed(kodo(["resume", run_id, "--project", str(project)], env, before=2), f"before write {write}")
            crashes += 1
            # The step's work was done, but not recorded: the checkpoint is still the previous write's.
            assert phase(state_file()) == seen[-1], f"a crash before write {write} changed the checkpoint"
        killed(kodo(["resume", run_id, "--project", str(project)], env, at=2), f"after write {write}")
        crashes += 1
        seen.append(phase(state_file()))
        assert seen[-1] == ref["phases"][write - 1], f"after a crash at write {write - 1}, resume went elsewhere"
    return seen, crashes, run_id, kodo(["resume", run_id, "--project", str(project)], env)


@pytest.mark.parametrize("story", [ACCEPTED, REJECTED_AT_THE_LIMIT], ids=["accepted", "rejected-at-the-limit"])
def test_a_crash_at_every_checkpoint_write_resumes_to_the_same_end(tmp_path, monkeypatch, capsys, story):
    started = time.monotonic()
    ref = reference_run(tmp_path, story, monkeypatch, capsys)
    reference_s = time.monotonic() - started
    writes = len(ref["phases"])
    # Writes that record a finished agent call: killed before them, the call would be lost and run again.
    agent_writes = {i + 1 for i, box in enumerate(ref["outboxes"])
                    if any(e["type"] in ("agent_call_finished", "verdict_received") for e in box)}
    assert writes >= 10 and len(agent_writes) == 2, (writes, agent_writes)

    project, team = setup(tmp_path / "crashed")
    forks = Forks(tmp_path)
    try:
        with ScriptedModelServer({"roles": story.roles()}) as server:
            seen, crashes, run_id, final = crash_at_every_write(forks, server, project, team, story, writes,
                                                                agent_writes, ref)
            server.assert_complete()
            agent_requests = [r for r in server.requests if r.role in AGENT_ROLES]
    finally:
        forks.close()

    assert final.returncode == story.exit_code, final.stderr[-3000:]
    result = json.loads(final.stdout.strip().splitlines()[-1])
    assert result["outcome"] == story.outcome and result["cycles"] == 1
    assert seen == ref["phases"]
    # No agent call made twice: each agent step served once, none answered again from the replay cache.
    assert not [r for r in agent_requests if r.replay]
    assert len(agent_requests) == sum(len(story.roles()[r]) for r in AGENT_ROLES)
    log = events(project, run_id)
    assert len([e for e in log if isinstance(e, ev.AgentCallStarted)]) == 1
    # The same commits, with the same content, and the same transitions told once each.
    assert commits(project, result["branch"], run_id) == commits(ref["project"], ref["branch"], ref["run_id"])
    assert len(commits(project, result["branch"], run_id)) == 1
    assert transitions(project, run_id) == transitions(ref["project"], ref["run_id"])
    assert [e.seq for e in log] == sorted({e.seq for e in log})
    print(f"\nreference run {reference_s:.1f}s; {crashes} crashes over {writes} writes, {time.monotonic() - started:.1f}s in all")
