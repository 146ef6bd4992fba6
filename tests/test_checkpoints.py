"""Checkpoints read back by people: a corrupt one is named in `resume`, `report` and `runs` alike (exit 2), a
run whose process died is shown as interrupted, not running, and a run that fails on a bug says so."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kodo_bot.cli import main
from kodo_bot.engine.state import RunSettings, RunState, RunStore
from kodo_bot.engine.team import default_team
from kodo_bot.sandbox.model_server import ScriptedModelServer
from kodo_bot.sandbox.stories import delegate
from tests.e2e_support import agent_test_env, make_project


def saved_run(store: RunStore, run_id: str, **fields) -> RunState:
    state = RunState(
        run_id=run_id,
        created_at=datetime.now(UTC),
        goal="Add hello",
        goal_title="Add hello",
        project="/nowhere",
        worktree="/nowhere/wt",
        branch=f"kodo/run-{run_id}",
        base_sha="0" * 40,
        settings=RunSettings(team=default_team()),
        **fields,
    )
    store.save(state)
    return state


@pytest.fixture
def project_with_runs(tmp_path: Path):
    """Three runs: one accepted, one whose checkpoint was cut short, one that is not JSON at all."""
    project = tmp_path / "project"
    store = RunStore(project / ".kodo")
    saved_run(store, "20260101-000000-aaaa", outcome="accepted", cycle=2)
    saved_run(store, "20260102-000000-bbbb", cycle=1)
    whole = (store.run_dir("20260102-000000-bbbb") / "state.json").read_text()
    (store.run_dir("20260102-000000-bbbb") / "state.json").write_text(whole[: len(whole) // 2])
    store.run_dir("20260103-000000-cccc").mkdir(parents=True)
    (store.run_dir("20260103-000000-cccc") / "state.json").write_text("{not json")
    return project


@pytest.mark.parametrize(
    "command",
    [["resume", "20260102-000000-bbbb"], ["report", "20260102-000000-bbbb"], ["resume"]],
    ids=["resume", "report", "resume-latest"],
)
def test_a_corrupt_checkpoint_is_named_with_exit_2(project_with_runs, capsys, command):
    code = main([*command, "--project", str(project_with_runs)], env={})
    err = capsys.readouterr().err
    assert code == 2
    run_id = "20260103-000000-cccc" if command == ["resume"] else "20260102-000000-bbbb"  # latest: the newest
    assert f"the checkpoint of run {run_id} is corrupt" in err
    assert "Traceback" not in err


def test_runs_lists_the_readable_runs_and_flags_the_corrupt_ones(project_with_runs, capsys):
    code = main(["runs", "--project", str(project_with_runs), "--json"], env={})
    out, err = capsys.readouterr()
    assert code == 2
    assert json.loads(out) == [
        {"run_id": "20260101-000000-aaaa", "status": "accepted", "cycles": 2},
        {"run_id": "20260102-000000-bbbb", "status": "corrupt", "cycles": None},
        {"run_id": "20260103-000000-cccc", "status": "corrupt", "cycles": None},
    ]
    assert "the checkpoint of run 20260102-000000-bbbb is corrupt" in err
    assert "the checkpoint of run 20260103-000000-cccc is corrupt" in err


def test_the_table_shows_the_corrupt_run_too(project_with_runs, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # rich wraps a narrow table's cells
    code = main(["runs", "--project", str(project_with_runs)], env={})
    out = capsys.readouterr().out
    assert code == 2
    assert "20260101-000000-aaaa" in out and "accepted" in out
    assert out.count("corrupt") == 2


def status_of(project: Path, run_id: str, capsys) -> tuple[str, str]:
    assert main(["runs", "--project", str(project), "--json"], env={}) == 0
    listed = {r["run_id"]: r["status"] for r in json.loads(capsys.readouterr().out)}
    assert main(["report", run_id, "--project", str(project), "--json"], env={}) == 0
    report = json.loads(capsys.readouterr().out)
    return listed[run_id], report["outcome"]


def test_a_run_whose_process_died_is_shown_interrupted(tmp_path, capsys):
    project = tmp_path / "project"
    store = RunStore(project / ".kodo")
    saved_run(store, "20260104-000000-dddd", cycle=1)  # no outcome: running, as far as the checkpoint says
    # A real process takes the run's lock the way the engine does, then dies by kill -9.
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from kodo_bot.engine.launch import RunLock; "
            "lock = RunLock(Path(sys.argv[1])); print('locked', flush=True); time.sleep(120)",
            str(store.run_dir("20260104-000000-dddd")),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert status_of(project, "20260104-000000-dddd", capsys) == ("running", "running")
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    assert status_of(project, "20260104-000000-dddd", capsys) == ("interrupted", "interrupted")
    main(["report", "20260104-000000-dddd", "--project", str(project)], env={})
    assert "ended without saving" in capsys.readouterr().out
    assert (
        json.loads((store.run_dir("20260104-000000-dddd") / "state.json").read_text())["outcome"] is None
    )  # read only


class _BrokenBackend:
    """An agent backend with a bug: opening a session raises something that is not a KodoError."""

    def available(self, backend: str) -> str | None:
        return None

    def open(self, **kwargs):
        raise RuntimeError("the backend has a bug")


def test_a_bug_mid_run_leaves_the_run_failed_not_running(tmp_path):
    from kodo_bot.compose import backends_from_env
    from kodo_bot.engine.launch import RunRequest, start_run

    project = make_project(tmp_path)
    steps = [delegate(("worker_fast", "Add hello(name)."))]
    with ScriptedModelServer({"roles": {"orchestrator": steps}}) as server:
        backends = replace(backends_from_env(agent_test_env(server.url)), session_factory=lambda *_: _BrokenBackend())
        request = RunRequest(goal="Add hello", project=project, settings=RunSettings(team=default_team(), ui=False))
        with pytest.raises(RuntimeError, match="the backend has a bug"):
            asyncio.run(start_run(request, backends))
        server.assert_complete()
    (state,) = RunStore(project / ".kodo").list()
    assert state.outcome is not None and state.outcome.value == "error" and state.resumable
    assert "internal error: RuntimeError: the backend has a bug" in state.reason


def test_one_process_per_run_and_a_status_probe_does_not_refuse_a_resume(tmp_path):
    import fcntl
    import threading

    from kodo_bot.engine.launch import RunLock
    from kodo_bot.errors import UserError

    store = RunStore(tmp_path)
    first = RunLock(store.run_dir("r1"))
    try:
        with pytest.raises(UserError, match="being worked on by another kodo-bot process"):
            RunLock(store.run_dir("r1"))
        assert store.is_live("r1")
        assert store.lock_path("r1").read_text() == str(os.getpid())  # the refused one did not wipe it
    finally:
        first.release()
    assert not store.is_live("r1")
    # `runs` holds the lock shared for an instant to see whether the run is alive; a resume starting just then
    # waits for it instead of being refused.
    probe = open(store.lock_path("r1"), "rb")
    fcntl.flock(probe, fcntl.LOCK_SH)
    threading.Timer(0.3, probe.close).start()
    RunLock(store.run_dir("r1")).release()
