"""kill -9 at representative checkpoint writes of a real process, then `kodo-bot resume`: the run reaches the
end an uninterrupted run reaches.

The real `kodo-bot` command line (``cli.main``) runs in a process of its own with ``KODO_CRASH_AT_SAVE`` /
``KODO_CRASH_BEFORE_SAVE``, which SIGKILL it right after (or right before) a checkpoint write; the real
Claude Code CLI plays the agents against the scripted model server; git is real. The run is a short story:
one worker call, one verifier, who accepts the work. Each process is forked from a helper that imported
kodo-bot once (``Forks``): importing it takes seconds on a busy machine.

The crashes form one chain, each resume killed at the next window: just after the run's first write, just
after the write that records the worker's finished CLI call, just before and just after the write that
records the cycle's commit (the commit made but not recorded), just after the verifier's verdict, and just
before the run's end is written. After every crash the saved state must be the one the uninterrupted run
saved at the same write, and at the end the outcome, the commits and the transition events must be the same,
with no agent call made twice.

Every other window is covered in process, where a crash costs milliseconds:

- each write of the two-cycle demo story, crashed just before and just after it:
  test_run_resume.py::test_a_crash_at_any_checkpoint_write_resumes_to_the_same_result;
- a crash just as the last cycle allowed closes, which must end at max cycles rather than start one more (the
  rejected-at-the-limit story once played here):
  test_run_resume.py::test_a_crash_as_the_last_allowed_cycle_closes_resumes_to_the_limit_not_another_cycle.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import git
import pytest

from kodo_bot.engine import events as ev
from kodo_bot.engine.state import RunStore
from kodo_bot.sandbox.model_server import ScriptedModelServer
from kodo_bot.sandbox.stories import TESTS, delegate, done, say, verifier_passes, write_file
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
TRANSITIONS = (
    ev.CycleStarted,
    ev.OrchestratorReplied,
    ev.AgentCallFinished,
    ev.CycleCommitted,
    ev.VerdictReceived,
    ev.VerificationFinished,
    ev.CycleEnded,
    ev.RunFinished,
)
AGENT_ROLES = ("worker_fast", "verifier/tester")
#: the event a write records, which names the write
AGENT_CALL, COMMIT, VERDICT, END = "agent_call_finished", "cycle_committed", "verdict_received", "run_finished"
#: the windows, in order: (the write that records this event, None for the first; killed before it, not after).
#: Never before a write that records a finished agent call: killed there, the call is lost and runs again
#: (inherent, and left out).
WINDOWS = ((None, False), (AGENT_CALL, False), (COMMIT, True), (COMMIT, False), (VERDICT, False), (END, True))


def roles() -> dict:
    return {
        "orchestrator": [delegate(("worker_fast", "Add hello(name) in hello.py.")), done("Added hello().")],
        "worker_fast": [write_file("hello.py", HELLO), say("Added hello().")],
        "verifier/tester": verifier_passes(TESTS),
    }


def phase(state: dict) -> tuple:
    """Where a saved run stands, without what legitimately differs between two runs (ids, times, costs)."""
    return (
        state["cycle"],
        state["cycle_open"],
        state["exchange"],
        [m["role"] for m in state["messages"]],
        sorted("verify" if k.startswith("verify:") else "call" for k in state["completed_calls"]),
        state["rounds"],
        state["verifying"] is not None,
        len(state["summaries"]),
        state["head_sha"] is not None,
        (state["finishing"] or {}).get("outcome"),
        state["outcome"],
        [e["type"] for e in state["outbox"]],
    )


def run_args(project: Path, team: Path) -> list[str]:
    return ["run", "--goal", "Add hello(name)", "--project", str(project), "--team", str(team), "--check", TESTS]


def reference_run(tmp_path: Path, monkeypatch, capsys) -> dict:
    """The uninterrupted run, in-process, with every checkpoint it writes recorded."""
    project, team = setup(tmp_path / "reference")
    saved: list[dict] = []
    original = RunStore.save

    def recording(store, state):
        original(store, state)
        saved.append(state.model_dump(mode="json"))

    monkeypatch.setattr(RunStore, "save", recording)
    with ScriptedModelServer({"roles": roles()}) as server:
        code, result = run_cli(run_args(project, team), agent_test_env(server.url), capsys)
        server.assert_complete()
    monkeypatch.undo()
    assert code == 0 and result["outcome"] == "accepted" and result["cycles"] == 1, result
    return {
        "phases": [phase(s) for s in saved],
        "outboxes": [s["outbox"] for s in saved],
        "project": project,
        "run_id": result["run_id"],
        "branch": result["branch"],
    }


def setup(where: Path) -> tuple[Path, Path]:
    where.mkdir(parents=True)
    project = make_project(where)
    team = where / "team.yaml"
    team.write_text(TEAM)
    return project, team


def serve_forks() -> None:
    """The helper's loop: one JSON request a line; fork, run ``kodo-bot ARGS`` in the child with its output in
    files, answer with how the child ended (-9 when it was SIGKILLed)."""
    import kodo_bot.agents._claude_session  # noqa: F401 - the agents' SDK imported once here, not in every child
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
        self.proc = subprocess.Popen(
            [sys.executable, "-c", f"from {__name__} import serve_forks; serve_forks()"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).parent.parent,
        )

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


def windows(outboxes: list[list[dict]]) -> list[tuple[int, bool]]:
    """``WINDOWS`` as (write, before): the write numbers come from what each write of the reference recorded."""

    def write_of(kind: str | None) -> int:
        return 1 if kind is None else next(i for i, box in enumerate(outboxes, 1) if kind in [e["type"] for e in box])

    return [(write_of(kind), before) for kind, before in WINDOWS]


def crash_at_the_windows(forks, server, project, team, ref) -> tuple[dict[int, tuple], str, SimpleNamespace]:
    """Kill the run, then each resume, at the next window; return the phase saved after each crash (by the
    write it stands at), the run id and the last, uninterrupted resume.

    A process's writes count from 1; a resume's first write only re-saves what it read, so its write k is
    the reference's write ``at + k - 1`` when the checkpoint stood at write ``at``."""
    kodo, env = forks.kodo, agent_test_env(server.url)
    state_file = lambda: json.loads(next((project / ".kodo" / "runs").glob("*/state.json")).read_text())  # noqa: E731
    seen: dict[int, tuple] = {}
    run_id, at = None, 0
    for write, before in windows(ref["outboxes"]):
        nth = write - at + (1 if run_id else 0)  # the process's own count of that write
        crash = {"before": nth} if before else {"at": nth}
        args = ["resume", run_id, "--project", str(project)] if run_id else run_args(project, team)
        killed(kodo(args, env, **crash), f"{'before' if before else 'after'} write {write}")
        run_id, at = state_file()["run_id"], write - 1 if before else write
        # Killed before a write, the step's work was done but not recorded: the checkpoint is the write before.
        seen[at] = phase(state_file())
        assert seen[at] == ref["phases"][at - 1], f"after a crash {'before' if before else 'at'} write {write}"
    return seen, run_id, kodo(["resume", run_id, "--project", str(project)], env)


def test_a_crash_at_representative_checkpoint_writes_resumes_to_the_same_end(tmp_path, monkeypatch, capsys):
    started = time.monotonic()
    ref = reference_run(tmp_path, monkeypatch, capsys)
    reference_s = time.monotonic() - started
    # Writes that record a finished agent call: killed before them, the call would be lost and run again.
    agent_writes = {
        i for i, box in enumerate(ref["outboxes"], 1) if any(e["type"] in (AGENT_CALL, VERDICT) for e in box)
    }
    crashed = windows(ref["outboxes"])
    assert len(ref["phases"]) >= 10 and len(agent_writes) == 2, (len(ref["phases"]), agent_writes)
    assert not [w for w, before in crashed if before and w in agent_writes], crashed
    assert crashed == sorted(crashed, key=lambda w: (w[0], not w[1])), crashed  # before a write, then after it

    project, team = setup(tmp_path / "crashed")
    forks = Forks(tmp_path)
    try:
        with ScriptedModelServer({"roles": roles()}) as server:
            seen, run_id, final = crash_at_the_windows(forks, server, project, team, ref)
            server.assert_complete()
            agent_requests = [r for r in server.requests if r.role in AGENT_ROLES]
    finally:
        forks.close()

    assert final.returncode == 0, final.stderr[-3000:]
    result = json.loads(final.stdout.strip().splitlines()[-1])
    assert result["outcome"] == "accepted" and result["cycles"] == 1
    assert len(seen) == len(WINDOWS)  # each crash left the checkpoint at a write of its own
    # No agent call made twice: each agent step served once, none answered again from the replay cache.
    assert not [r for r in agent_requests if r.replay]
    assert len(agent_requests) == sum(len(roles()[r]) for r in AGENT_ROLES)
    log = events(project, run_id)
    assert len([e for e in log if isinstance(e, ev.AgentCallStarted)]) == 1
    # The same commits, with the same content, and the same transitions told once each.
    assert commits(project, result["branch"], run_id) == commits(ref["project"], ref["branch"], ref["run_id"])
    assert len(commits(project, result["branch"], run_id)) == 1
    assert transitions(project, run_id) == transitions(ref["project"], ref["run_id"])
    assert [e.seq for e in log] == sorted({e.seq for e in log})
    print(f"\nreference run {reference_s:.1f}s; {len(WINDOWS)} crashes, {time.monotonic() - started:.1f}s in all")
