"""`kodo-bot watch` as a real process against the GitHub emulator, its runs through the real Claude Code CLI
against the scripted model server: a writer's label becomes an accepted PR, a reader's gets the polite
refusal, and SIGTERM mid-run saves the run as interrupted; the next start resumes it to acceptance.

Ctrl-C goes to an idle watcher in a pseudo-terminal (with SIGINT's default restored: a test run started in
the background inherits it ignored, see test_resume_e2e.py); mid-run the watcher treats SIGTERM and Ctrl-C
the same way (both end its loop by an exception in the main thread)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pexpect
import pytest
import requests

from kodo_bot.github.markers import find_lease, find_marker
from kodo_bot.sandbox.demo import offline_env
from kodo_bot.sandbox.model_server import ScriptedModelServer
from kodo_bot.sandbox.stories import TESTS, delegate, done, verifier_passes
from tests.e2e_support import BASE_FILES, accepted_roles, hello_worker_steps, wait_for
from tests.github_support import BOT, READER, REPO, kodo_yml, make_scene

pytestmark = pytest.mark.e2e


@pytest.fixture
def scene(tmp_path):
    s = make_scene(tmp_path, {**BASE_FILES, ".github/kodo.yml": kodo_yml([TESTS])})
    yield s
    s.emu.stop()


def _env(scene, model_url: str) -> dict[str, str]:
    env = {k: v for k, v in offline_env(os.environ, model_url).items() if not k.startswith(("GITHUB_", "RUNNER_"))}
    env.update(
        {
            "GITHUB_TOKEN": scene.token,
            "KODO_WORK_DIR": str(scene.tmp / "work"),
            "KODO_GITHUB_FAST": "1",
            "CLAUDE_CODE_MAX_RETRIES": "0",
            "API_TIMEOUT_MS": "30000",
        }
    )
    return env


def start_watch(scene, env: dict[str, str], *extra: str) -> subprocess.Popen:
    argv = [sys.executable, "-m", "kodo_bot.cli", "watch", REPO, "--api-url", scene.emu.api_url, "--interval", "0.3"]
    return subprocess.Popen([*argv, *extra], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def stop(proc: subprocess.Popen, *, signal_it: bool = True) -> tuple[int, str]:
    """SIGTERM the watcher (or, for `--once`, let it end by itself) and collect its output."""
    if signal_it and proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
    try:
        out, _ = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.communicate()
    return proc.returncode, out


def progress_of(scene, n: int):
    return next((c for c in scene.emu.comments(REPO, n) if find_marker(c.body, "progress")), None)


def test_a_writers_label_becomes_an_accepted_pr_and_a_readers_is_refused(scene):
    mine = scene.issue("Add hello(name)", "Add `hello(name)` in hello.py with a unit test.")
    theirs = scene.issue("Delete everything", user=READER)
    pr = _pull_request(scene)
    with ScriptedModelServer({"roles": accepted_roles()}) as server:
        proc = start_watch(scene, _env(scene, server.url))
        try:
            scene.label(mine)
            scene.label(theirs, actor=READER)
            scene.label(pr)  # a writer, but on a pull request: refused as under Actions
            wait_for(lambda: "kodo:accepted" in scene.emu.labels(REPO, mine), 150, "the run to be accepted")
            wait_for(lambda: "kodo" not in scene.emu.labels(REPO, theirs), 30, "the reader's label to go")
            wait_for(lambda: "kodo" not in scene.emu.labels(REPO, pr), 30, "the pull request's label to go")
            time.sleep(1.5)  # a few idle polls: nothing is started again
        finally:
            code, out = stop(proc)
        server.assert_complete()
    assert code == 0, out
    (pull,) = [p for p in scene.pulls() if p.number != pr]
    assert not pull.draft and pull.head_ref.startswith(f"kodo/issue-{mine}-")
    assert len([c for c in scene.emu.comments(REPO, pr) if c.user == BOT]) == 1  # the refusal, nothing started
    assert [find_marker(c.body).kind for c in scene.emu.comments(REPO, mine) if c.user == BOT] == ["progress"]
    refusal = [c.body for c in scene.emu.comments(REPO, theirs) if c.user == BOT]
    assert len(refusal) == 1 and READER in refusal[0]
    assert out.count(f"issue #{mine}: labelled by") == 1, out
    assert scene.token not in out
    scene.assert_valid()


def _pull_request(scene) -> int:
    """A writer's pull request from a branch of their own."""
    scene.emu.seed(REPO, {"notes.md": "notes\n"}, branch="notes")
    answer = requests.post(
        f"{scene.emu.api_url}/repos/{REPO}/pulls",
        json={"title": "Notes", "head": "notes", "base": "main"},
        headers={"Authorization": f"token {scene.token}", "User-Agent": "test"},
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    return int(answer.json()["number"])


def slow_second_answer() -> dict:
    """The orchestrator's second answer is slow: the watcher is stopped while the run waits for it, after
    the worker's call finished and was checkpointed (the resumed run asks again and is answered at once)."""
    return {
        "orchestrator": [
            delegate(("worker_fast", "Add hello(name) with a test.")),
            {**done("Added hello()."), "delay_s": 60},
        ],
        "worker_fast": hello_worker_steps(),
        "verifier/tester": verifier_passes(TESTS),
        "verifier/architect": verifier_passes("git show --stat HEAD"),
    }


def test_sigterm_saves_the_live_run_as_interrupted_and_the_next_start_resumes_it(scene):
    n = scene.issue("Add hello(name)", "Add `hello(name)` in hello.py with a unit test.")
    with ScriptedModelServer({"roles": slow_second_answer()}) as server:
        env = _env(scene, server.url)
        proc = start_watch(scene, env)
        try:
            scene.label(n)
            wait_for(lambda: server.served("orchestrator") == 2, 90, "the orchestrator's second (slow) request")
        finally:
            code, out = stop(proc)
        assert code == 0, out
        assert "1 live run(s) saved as interrupted" in out, out
        progress = progress_of(scene, n)
        assert "interrupted" in progress.body.lower() and find_lease(progress.body) is None
        labels = scene.emu.labels(REPO, n)
        assert "kodo:running" in labels and not {"kodo:accepted", "kodo:failed", "kodo:needs-human"} & set(labels)
        run_id = find_marker(progress.body, "progress").run

        again = start_watch(scene, env, "--once")
        code, out = stop(again, signal_it=False)
        server.assert_complete()
    assert code == 0, out
    assert f"run {run_id} resumed" in out, out
    assert "kodo:accepted" in scene.emu.labels(REPO, n)
    progress = progress_of(scene, n)
    assert find_marker(progress.body, "progress").run == run_id  # the same run, resumed
    assert len([c for c in scene.emu.comments(REPO, n) if find_marker(c.body, "progress")]) == 1
    scene.assert_valid()


def test_ctrl_c_in_a_terminal_stops_the_watcher_cleanly_and_frees_its_lock(tmp_path):
    scene = make_scene(tmp_path, {"README.md": "# app\n"})
    try:
        env = {**os.environ, "GITHUB_TOKEN": scene.token, "KODO_WORK_DIR": str(tmp_path / "work")}
        argv = ["-m", "kodo_bot.cli", "watch", REPO, "--api-url", scene.emu.api_url, "--interval", "0.2"]
        for _ in range(2):  # the second start finds the lock free
            child = pexpect.spawn(
                sys.executable,
                argv,
                env=env,
                encoding="utf-8",
                timeout=60,
                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
            )
            child.expect("watching octo/app for issues labelled 'kodo'")
            child.sendintr()
            child.expect("kodo-bot watch: stopped")
            child.expect(pexpect.EOF)
            child.close()
            assert child.exitstatus == 0
    finally:
        scene.emu.stop()
