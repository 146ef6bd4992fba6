"""The whole GitHub flow through `kodo-bot action`: a labelled issue becomes a verified pull request.

Real parts only, except the far ends: PyGithub against the GitHub emulator (which checks every request and
response against GitHub's OpenAPI description), real git pushing to the emulator's bare repositories, and
the real Claude Code CLI against the scripted model server.

The same flow is played in process on a ``Script`` in test_github_scripted.py (seconds per run); what it
proves is not repeated here: closing the issue mid-run stops the run at the cycle end, with its one round on
the draft PR and the reason in the outcome comment
(test_github_scripted.py::test_closing_the_issue_stops_the_run_at_the_cycle_end; the `kodo:needs-human`
label a stopped run leaves: test_github_pure.py, ``label_for_outcome``).
"""

from __future__ import annotations

import os
import re
import time
from datetime import UTC, datetime

import git
import pytest

from kodo_bot.github.markers import find_lease, find_marker
from kodo_bot.sandbox.model_server import ScriptedModelServer
from kodo_bot.sandbox.stories import TESTS, demo_story
from tests.e2e_support import BASE_FILES, accepted_roles
from tests.github_support import READER, REPO, WRITER, action, kodo_yml, make_scene

pytestmark = pytest.mark.e2e


@pytest.fixture
def scene(tmp_path):
    s = make_scene(tmp_path, {**BASE_FILES, ".github/kodo.yml": kodo_yml([TESTS])})
    yield s
    s.emu.stop()


@pytest.fixture
def demo_scene(tmp_path):
    story = demo_story()
    s = make_scene(tmp_path, {**story.files, ".github/kodo.yml": kodo_yml([TESTS])})
    yield s, story
    s.emu.stop()


def test_accepted_run_posts_everything(scene, capsys):
    n = scene.issue("Add hello(name)", "Add `hello(name)` in hello.py with a unit test.")
    event = scene.label(n)
    # A clone on this runner whose run finished eight days ago: tidied away after this run.
    old = scene.tmp / "runner-work" / "octo" / "app" / "issue-99"
    (old / ".kodo" / "runs" / "r-old").mkdir(parents=True)
    (old / ".kodo" / "runs" / "r-old" / "state.json").write_text('{"outcome": "accepted"}')
    eight_days_ago = time.time() - 8 * 86400
    os.utime(old / ".kodo" / "runs" / "r-old" / "state.json", (eight_days_ago, eight_days_ago))
    with ScriptedModelServer({"roles": accepted_roles()}) as server:
        started = datetime.now(UTC)
        code = action(scene.env(event, model_url=server.url))
        server.assert_complete()
    assert code == 0, capsys.readouterr()
    out = scene.outputs()
    assert out["outcome"] == "accepted" and out["run-id"] and out["pr-number"]

    # The progress comment: one, finished, its lease gone; before it, only the trust check, the lease and
    # the claim (the repository comes from the event; how fast that is, bench/github_calls.py measures).
    (progress,) = scene.bot_comments(n)
    assert find_marker(progress.body, "progress").run == out["run-id"]
    first = next(i for i, c in enumerate(scene.emu.calls) if c.operation == "issues/create-comment")
    assert [c.operation for c in scene.emu.calls[:first]] == [
        "repos/get-content",
        "repos/get-collaborator-permission-level",
        "issues/get",
        "issues/list-comments",
        "git/get-ref",
        "git/create-ref",
    ]
    assert progress.created_at > started
    assert "accepted" in progress.body and find_lease(progress.body) is None

    # The pull request: ready for review, from the issue's branch, closing the issue, with its verdicts.
    (pull,) = scene.pulls()
    assert pull.number == int(out["pr-number"]) and not pull.draft
    assert re.fullmatch(rf"kodo/issue-{n}-add-hello-name", pull.head_ref)
    assert f"Closes #{n}" in (scene.emu.issue(REPO, pull.number).body or "")
    assert scene.kinds(pull.number) == {"verdicts:1": 1, "summary": 1}
    assert git.Repo.init(scene.tmp / "check").git.ls_remote(scene.emu.git_url(REPO), pull.head_ref)
    statuses = scene.emu.statuses(REPO, pull.head_ref)
    assert [(s.context, s.state) for s in statuses] == [("kodo/verification", "success")]
    assert sorted(scene.emu.labels(REPO, n)) == ["kodo", "kodo:accepted"]
    assert any(c.operation == "markPullRequestReadyForReview" for c in scene.emu.calls if c.graphql)
    assert "accepted" in scene.summary()
    assert (scene.tmp / "job" / "runs" / out["run-id"] / "events.jsonl").exists()  # for the artifact upload
    assert not old.exists() and (scene.tmp / "runner-work" / "octo" / "app" / f"issue-{n}").exists()
    scene.assert_valid()


def test_rejection_then_acceptance(demo_scene, capsys):
    scene, story = demo_scene
    n = scene.issue("Add multiplication to the calculator", story.goal)
    with ScriptedModelServer(story.scenario) as server:
        code = action(scene.env(scene.label(n), model_url=server.url))
        server.assert_complete()
    assert code == 0, capsys.readouterr()
    (pull,) = scene.pulls()
    assert scene.kinds(n) == {"progress": 1}
    assert scene.kinds(pull.number) == {"verdicts:1": 1, "verdicts:2": 1, "summary": 1}
    first, second = [c for c in scene.bot_comments(pull.number) if find_marker(c.body, "verdicts")]
    assert "changes requested" in first.body and "multiply(-2, 3) returns 0" in first.body
    assert "passed" in second.body
    # Round 1's commit failed verification, the head passed: branch protection sees the latest.
    repo = git.Repo.clone_from(scene.emu.git_url(REPO), scene.tmp / "verify-clone")
    commits = list(repo.iter_commits(f"origin/main..origin/{pull.head_ref}"))
    assert len(commits) == 2
    head, first_round = commits
    assert [s.state for s in scene.emu.statuses(REPO, first_round.hexsha)] == ["failure"]
    assert [s.state for s in scene.emu.statuses(REPO, head.hexsha)] == ["success"]
    # A two-cycle run stays under 40 REST calls, progress edits included.
    rest = scene.emu.rest_call_count()
    assert rest < 40, [f"{c.method} {c.path}" for c in scene.emu.calls]
    scene.assert_valid()


def test_refused_trigger_by_a_reader(scene, capsys):
    n = scene.issue("Please add a feature", user=READER)
    code = action(scene.env(scene.label(n, actor=READER)))
    assert code == 0
    (comment,) = scene.bot_comments(n)
    assert "@rita" in comment.body and "write" in comment.body and find_marker(comment.body, "refused")
    assert scene.emu.labels(REPO, n) == []
    assert set(scene.emu.branches(REPO)) == {"main"} and scene.pulls() == []
    assert scene.outputs()["outcome"] == "refused"
    scene.assert_valid()


def test_label_on_a_pull_request_is_refused(scene, capsys):
    from github import Auth, Github

    scene.emu.seed(REPO, {"feature.txt": "x\n"}, branch="feature")
    alice = Github(base_url=scene.emu.api_url, auth=Auth.Token(scene.emu.add_token(WRITER)))
    number = alice.get_repo(REPO).create_pull(title="A feature", body="", head="feature", base="main").number
    event = scene.label(number)
    code = action(scene.env(event, event_name="pull_request"))
    assert code == 0
    (comment,) = scene.bot_comments(number)
    assert "issues, not pull requests" in comment.body
    assert "kodo" not in scene.emu.labels(REPO, number)
    assert set(scene.emu.branches(REPO)) == {"main", "feature"}


def test_invalid_settings_get_a_comment_and_kodo_failed(tmp_path, capsys):
    scene = make_scene(tmp_path, {**BASE_FILES, ".github/kodo.yml": "budgets: {max_cycles: lots}\n"})
    try:
        n = scene.issue("Add hello")
        code = action(scene.env(scene.label(n)))
        assert code == 2
        (comment,) = scene.bot_comments(n)
        assert "budgets.max_cycles" in comment.body and ".github/kodo.yml" in comment.body
        assert scene.emu.labels(REPO, n) == ["kodo:failed"]
        assert set(scene.emu.branches(REPO)) == {"main"}
    finally:
        scene.emu.stop()


@pytest.mark.parametrize(
    "raw, message",
    [
        (b"{not json", "is not JSON"),
        (b'{"action": "labeled", "issue": {"number": 1}}', "payload is not what GitHub sends"),
    ],
)
def test_bad_payloads_are_clear_errors(scene, capsys, raw, message):
    env = scene.env({})
    with open(env["GITHUB_EVENT_PATH"], "wb") as fh:
        fh.write(raw)
    assert action(env) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_unhandled_events_exit_0_saying_so(scene, capsys):
    n = scene.issue("Something")
    event = scene.emu.add_comment(REPO, n, "hello", user=WRITER)
    assert action(scene.env(event, event_name="issue_comment")) == 0
    assert "ignored" in (out := capsys.readouterr().out) and "not addressed to the bot" in out
    assert scene.outputs()["outcome"] == "ignored"
    assert scene.bot_comments(n) == []


def test_missing_token_is_a_clear_error(scene, capsys):
    n = scene.issue("Add hello")
    env = scene.env(scene.label(n))
    env["GITHUB_TOKEN"] = ""
    assert action(env) == 2
    assert "GITHUB_TOKEN is not set" in capsys.readouterr().err


def test_token_without_issue_permission_names_it(tmp_path, capsys):
    scene = make_scene(
        tmp_path, {**BASE_FILES}, permissions={"contents": "write", "pull_requests": "write", "issues": "read"}
    )
    try:
        n = scene.issue("Add hello")
        assert action(scene.env(scene.label(n))) == 1
        err = capsys.readouterr().err
        assert "grant `issues: write`" in err and "Traceback" not in err
        assert scene.token not in err
    finally:
        scene.emu.stop()


def test_github_5xx_and_rate_limits_lose_nothing(demo_scene, capsys):
    scene, story = demo_scene
    faults = scene.emu.faults
    # GitHub saved the comment, then answered 502: a blind retry would post it twice.
    faults.add(method="POST", path_regex=r"/issues/\d+/comments$", status=502, times=1, skip=1, applied=True)
    faults.add(method="POST", path_regex=r"/issues/\d+/comments$", status=503, times=1, skip=1)
    faults.add(method="POST", path_regex=r"/issues/\d+/comments$", drop_connection=True, times=1, skip=1)
    faults.add(method="PATCH", path_regex=r"/issues/comments/", status=503, headers={"Retry-After": "1"}, times=2)
    faults.secondary_rate_limit(method="POST", path_regex=r"/statuses/", retry_after_s=1)
    faults.secondary_rate_limit(method="POST", path_regex=r"/pulls$", retry_after_s=1, status=429)
    faults.rate_limit(method="GET", path_regex=r"/issues/\d+$", reset_in_s=1)
    faults.add(method="POST", path_regex=r"/labels$", status=500, times=2)
    faults.add(path_regex=r"/graphql", status=502, times=1)
    n = scene.issue("Add multiplication to the calculator", story.goal)
    with ScriptedModelServer(story.scenario) as server:
        code = action(scene.env(scene.label(n), model_url=server.url))
        server.assert_complete()
    assert code == 0, capsys.readouterr()
    assert all(rule.exhausted for rule in faults.rules), [(r.path_regex, r.hits) for r in faults.rules]
    (pull,) = scene.pulls()
    assert not pull.draft
    assert scene.kinds(n) == {"progress": 1}
    assert scene.kinds(pull.number) == {"verdicts:1": 1, "verdicts:2": 1, "summary": 1}
    assert scene.emu.branches(REPO)[pull.head_ref] == pull.head_sha
    assert [s.state for s in scene.emu.statuses(REPO, pull.head_sha)] == ["success"]
    assert sorted(scene.emu.labels(REPO, n)) == ["kodo", "kodo:accepted"]
    assert "accepted" in scene.bot_comments(n)[0].body
    scene.assert_valid()


def test_hostile_title_and_a_1_mb_body(scene, capsys):
    title = "../../etc/passwd; rm -rf / $(whoami) `id` && echo 🚀 Ünïcode"
    body = "Add hello(name).\n\n" + ("lorem ipsum " * 90_000)
    n = scene.issue(title, body)
    with ScriptedModelServer({"roles": accepted_roles()}) as server:
        code = action(scene.env(scene.label(n), model_url=server.url))
        server.assert_complete()
        bodies = zip(server.request_bodies, server.requests, strict=True)
        seed = next(b for b, r in bodies if r.role == "orchestrator")
    assert code == 0, capsys.readouterr()
    (pull,) = scene.pulls()
    assert re.fullmatch(rf"kodo/issue-{n}-[a-z0-9]+(-[a-z0-9]+)*", pull.head_ref) and len(pull.head_ref) <= 60
    assert pull.head_ref in scene.emu.branches(REPO)
    goal = seed["messages"][0]["content"]
    assert len(goal) < 30_000 and "characters cut here" in goal
    assert "shortened this goal" in (scene.emu.issue(REPO, pull.number).body or "")
    scene.assert_valid()


def test_an_error_after_the_lease_is_reported_where_the_person_waits(tmp_path, capsys):
    files = {**BASE_FILES, ".github/kodo.yml": "team: .github/no-such-team.yml\n"}
    scene = make_scene(tmp_path, files)
    try:
        n = scene.issue("Add hello")  # an empty body: the title alone is the goal
        assert action(scene.env(scene.label(n))) == 1
        assert scene.outputs()["outcome"] == "error"
        outcome = next(c for c in scene.bot_comments(n) if find_marker(c.body, "outcome"))
        assert "failed with an error" in outcome.body and "no-such-team.yml" in outcome.body
        assert sorted(scene.emu.labels(REPO, n)) == ["kodo", "kodo:failed"]
        progress = next(c for c in scene.bot_comments(n) if find_marker(c.body, "progress"))
        assert find_lease(progress.body) is None
        scene.assert_valid()
    finally:
        scene.emu.stop()


def test_handle_by_hand_with_a_personal_token(scene, capsys):
    from kodo_bot.cli import main

    n = scene.issue("Add hello(name)", "Add `hello(name)` in hello.py with a unit test.")
    pat = scene.emu.add_token(WRITER)
    with ScriptedModelServer({"roles": accepted_roles()}) as server:
        env = scene.env({}, model_url=server.url, GITHUB_TOKEN="", GH_TOKEN=pat)
        code = main(["handle", "--issue", str(n), "--repo", REPO, "--api-url", scene.emu.api_url], env=env)
        server.assert_complete()
    assert code == 0, capsys.readouterr()
    # By hand, the token's holder is the sender; the label shows the issue is kodo-bot's.
    assert sorted(scene.emu.labels(REPO, n)) == ["kodo", "kodo:accepted"]
    (pull,) = scene.pulls()
    assert [find_marker(c.body).kind for c in scene.emu.comments(REPO, n)] == ["progress"]
    assert {c.user for c in scene.emu.comments(REPO, pull.number)} == {WRITER}
    assert "pull request" in capsys.readouterr().out
