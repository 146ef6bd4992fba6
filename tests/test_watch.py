"""`kodo-bot watch` without a run: what it asks GitHub (conditional requests, 304s free of the rate limit),
which labelling it takes as a trigger, and its refusals (a token that cannot read, a second watcher).
The runs it starts, and Ctrl-C in a terminal, are proved through the real CLI in test_watch_e2e.py."""

from __future__ import annotations

import io
import os
import subprocess

import pytest
import requests

from kodo_bot.cli import main
from kodo_bot.errors import GitHubError
from kodo_bot.github.watch import Due, IssuePoller, Watcher, WatchRequest, latest_unserved, single_instance
from kodo_bot.local.watch_child import settings_from_env
from tests.github_support import REPO, WRITER, make_scene


def _poller(scene) -> IssuePoller:
    return IssuePoller(scene.emu.api_url, scene.token, REPO, "kodo")


def test_the_emulator_answers_a_conditional_request_with_304_that_costs_nothing(tmp_path):
    scene = make_scene(tmp_path, {"README.md": "# app\n"})
    try:
        url = f"{scene.emu.api_url}/repos/{REPO}/issues?labels=kodo"
        auth = {"Authorization": f"token {scene.token}", "User-Agent": "t"}
        first = requests.get(url, headers=auth, timeout=10)
        assert first.status_code == 200 and first.headers["ETag"].startswith('W/"')
        assert "Authorization" in first.headers["Vary"]
        used = scene.emu.rate_used(scene.token)
        again = requests.get(url, headers={**auth, "If-None-Match": first.headers["ETag"]}, timeout=10)
        assert again.status_code == 304 and again.content == b""
        assert again.headers["ETag"] == first.headers["ETag"]
        assert scene.emu.rate_used(scene.token) == used  # GitHub does not count an authorised 304
        scene.issue("Something changed")
        scene.label(1)
        changed = requests.get(url, headers={**auth, "If-None-Match": first.headers["ETag"]}, timeout=10)
        assert changed.status_code == 200 and [i["number"] for i in changed.json()] == [1]
        assert scene.emu.rate_used(scene.token) == used + 1
        scene.assert_valid()
    finally:
        scene.emu.stop()


def test_idle_polls_are_304s_and_a_writers_label_is_due_with_its_sender(tmp_path):
    scene = make_scene(tmp_path, {"README.md": "# app\n"})
    poller = _poller(scene)
    try:
        assert poller.changed() == []  # the first poll: 200, nothing labelled
        poller.settle()  # the watcher settles a poll once it looked at every issue in it
        used = scene.emu.rate_used(scene.token)
        assert poller.changed() is None and poller.changed() is None
        assert scene.emu.rate_used(scene.token) == used
        n = scene.issue("Add multiply")
        scene.label(n, actor=WRITER)
        changed = poller.changed()
        assert [i["number"] for i in changed] == [n]
        due = poller.due(changed[0])
        assert (due.issue, due.sender, due.sender_type) == (n, WRITER, "User")
        poller.settle()
        assert poller.changed() is None  # nothing new since
    finally:
        poller.close()
        scene.emu.stop()


def _labeled(event_id: int, label: str, login: str = WRITER) -> dict:
    return {"id": event_id, "event": "labeled", "label": {"name": label}, "actor": {"login": login, "type": "User"}}


def test_a_labelling_served_by_an_outcome_is_not_due_until_the_label_is_added_again():
    events = [_labeled(1, "kodo"), _labeled(2, "kodo:running", "bot"), _labeled(3, "kodo:accepted", "bot")]
    assert latest_unserved(events, "kodo", 7) is None
    assert latest_unserved([*events, {"id": 4, "event": "unlabeled", "label": {"name": "kodo"}}], "kodo", 7) is None
    again = latest_unserved([*events, _labeled(5, "KODO", "carol")], "kodo", 7)
    assert again is not None and (again.event_id, again.sender) == (5, "carol")
    # interrupted: kodo:running stays, no outcome: still due, so the next start resumes it
    interrupted = latest_unserved(events[:2], "kodo", 7)
    assert interrupted is not None and interrupted.event_id == 1


def test_a_token_that_cannot_read_the_repository_exits_2_naming_the_permission(tmp_path, capsys):
    scene = make_scene(tmp_path, {"README.md": "# app\n"})
    try:
        other = scene.emu.add_token("stranger", permissions={"issues": "write"}, repos=["octo/other"])
        env = {**os.environ, "GITHUB_TOKEN": other, "KODO_WORK_DIR": str(tmp_path / "work")}
        code = main(["watch", REPO, "--api-url", scene.emu.api_url, "--once"], env=env)
        err = capsys.readouterr().err
        assert code == 2
        assert "cannot read octo/app" in err and "metadata: read" in err
        assert other not in err
        no_issues = scene.emu.add_token("meta-only", permissions={"contents": "read"})
        code = main(["watch", REPO, "--api-url", scene.emu.api_url, "--once"], env={**env, "GITHUB_TOKEN": no_issues})
        assert code == 2 and "issues: read" in capsys.readouterr().err
    finally:
        scene.emu.stop()


def test_a_second_watcher_for_the_same_repository_is_refused_naming_the_first_pid(tmp_path, capsys):
    work = tmp_path / "work"
    env = {**os.environ, "GITHUB_TOKEN": "x", "KODO_WORK_DIR": str(work)}
    with single_instance(work, REPO):
        code = main(["watch", REPO, "--api-url", "http://127.0.0.1:9", "--once"], env=env)
    err = capsys.readouterr().err
    assert code == 2
    assert f"already running for {REPO} on this machine (PID {os.getpid()})" in err
    assert f"kill {os.getpid()}" in err


def test_watch_without_a_token_or_with_a_bad_repository_name_is_a_clear_error(tmp_path, capsys):
    env = {k: v for k, v in os.environ.items() if k not in ("GITHUB_TOKEN", "GH_TOKEN")}
    assert main(["watch", REPO, "--once"], env=env) == 2
    assert "no GitHub token" in capsys.readouterr().err
    assert main(["watch", "not-a-repo", "--once"], env={**env, "GITHUB_TOKEN": "x"}) == 2
    assert "OWNER/NAME" in capsys.readouterr().err


def test_a_poll_that_fails_half_way_is_asked_again_in_full(tmp_path):
    scene = make_scene(tmp_path, {"README.md": "# app\n"})
    poller = _poller(scene)
    try:
        n = scene.issue("Add multiply")
        scene.label(n, actor=WRITER)
        scene.emu.faults.add(method="GET", path_regex=r"/events$", status=502, times=1)
        (issue,) = poller.changed()
        with pytest.raises(GitHubError):
            poller.due(issue)  # the watcher's loop says so and polls again later
        again = poller.changed()  # not a 304: the failed poll was not settled
        assert [i["number"] for i in again] == [n] and poller.due(again[0]).sender == WRITER
        poller.settle()
        assert poller.changed() is None
    finally:
        poller.close()
        scene.emu.stop()


class _Sleepers(Watcher):
    """The watcher's own scheduling, with `sleep` processes standing in for the runs."""

    def _spawn(self, due: Due) -> subprocess.Popen[bytes]:
        return subprocess.Popen(["sleep", "30" if due.issue == 1 else "0"])


def test_parallel_caps_the_live_runs_and_the_rest_wait_their_turn(tmp_path):
    request = WatchRequest(REPO, "x", "http://127.0.0.1:9", tmp_path, {}, parallel=2)
    watcher = _Sleepers(request, IssuePoller("http://127.0.0.1:9", "x", REPO, "kodo"), out=io.StringIO())
    watcher.waiting = [Due(n, 100 + n, WRITER, "User") for n in (1, 2, 3)]
    try:
        watcher._start_waiting()
        assert sorted(watcher.children) == [1, 2] and [d.issue for d in watcher.waiting] == [3]
        watcher.children[2].wait()
        watcher._reap()  # issue 2's run ended: issue 3 starts, issue 1 still runs
        assert sorted(watcher.children) == [1, 3] and watcher.waiting == []
    finally:
        assert watcher.stop_children() >= 1  # SIGTERM by PID, waited for
        watcher.poller.close()
    assert all(c.poll() is not None for c in watcher.children.values())


def test_each_run_takes_the_limits_and_orchestrator_from_the_environment_as_the_action_does(tmp_path, capsys):
    env = {"KODO_MAX_CYCLES": "2", "KODO_MAX_MINUTES": "30", "KODO_ORCHESTRATOR": "claude-code", "RUNNER_NAME": "box"}
    settings = settings_from_env(env, tmp_path, "kodo")
    o = settings.overrides
    assert (o.max_cycles, o.max_minutes, o.orchestrator, o.max_cost_usd) == (2, 30.0, "claude-code", None)
    assert (settings.runner, settings.label, settings.work_root) == ("box", "kodo", tmp_path)
    bad = {**os.environ, "GITHUB_TOKEN": "x", "KODO_WORK_DIR": str(tmp_path), "KODO_MAX_CYCLES": "many"}
    assert main(["watch", REPO, "--once"], env=bad) == 2  # said once, before watching
    assert "KODO_MAX_CYCLES" in capsys.readouterr().err
