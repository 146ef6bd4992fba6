"""Permanent refusals end the run truthfully, through `kodo-bot action`.

A token without `pull-requests: write` or `statuses: write`, a repository that does not let Actions open
pull requests, an hour's rate limit used up, a push GitHub rejects: each is refused for good, so the run
must not retry it until the drain runs out, and must not report "accepted". It ends as `error`, exit 1,
with what was refused and what to change, in the outcome comment when it can still be written and in the
job summary always.
"""

from __future__ import annotations

import time

import git
import pytest

from kodo_bot.github.markers import find_lease, find_marker
from kodo_bot.sandbox.model_server import ScriptedModelServer
from kodo_bot.sandbox.stories import TESTS
from tests.e2e_support import BASE_FILES, accepted_roles
from tests.github_support import JOB_PERMISSIONS, REPO, action, kodo_yml, make_scene

pytestmark = pytest.mark.e2e

ISSUE = ("Add hello(name)", "Add `hello(name)` in hello.py with a unit test.")


def run_refused(tmp_path, *, permissions=None, setup=lambda scene: None):
    scene = make_scene(tmp_path, {**BASE_FILES, ".github/kodo.yml": kodo_yml([TESTS])}, permissions=permissions)
    setup(scene)
    n = scene.issue(*ISSUE)
    with ScriptedModelServer({"roles": accepted_roles()}) as server:
        started = time.monotonic()
        code = action(scene.env(scene.label(n), model_url=server.url))
        elapsed = time.monotonic() - started
    return scene, n, code, elapsed


def outcome_comment(scene, n):
    """The run's report: on its pull request when one was opened, else on the issue (never on both)."""
    found = [
        c
        for m in [n, *(p.number for p in scene.pulls())]
        for c in scene.bot_comments(m)
        if find_marker(c.body, "outcome")
    ]
    assert len(found) <= 1, found
    if found and scene.pulls():
        assert found[0].issue_number == scene.pulls()[0].number
    return found[0] if found else None


def assert_ended_as_error(scene, n, code, elapsed, *, fix: str):
    assert code == 1
    assert scene.outputs()["outcome"] == "error"
    summary = scene.summary()
    assert "GitHub refused" in summary and fix in summary, summary
    assert "accepted" not in [s.strip() for s in summary.split("**")]
    # Not retried until the drain ran out: the fast drain is 20 s, the whole run well under it.
    assert elapsed < 20
    assert "kodo:accepted" not in scene.emu.labels(REPO, n)


@pytest.mark.parametrize("case", ["no pull-requests permission", "no statuses permission", "actions setting off"])
def test_a_refused_write_ends_the_run_as_error_with_the_fix(tmp_path, case):
    permissions, setup = JOB_PERMISSIONS, lambda s: None
    if case == "no pull-requests permission":
        permissions, fix = {**JOB_PERMISSIONS, "pull_requests": "none"}, "pull-requests: write"
    elif case == "no statuses permission":
        permissions, fix = {**JOB_PERMISSIONS, "statuses": "none"}, "statuses: write"
    else:
        setup = lambda s: s.emu.allow_actions_to_open_prs(REPO, False)  # noqa: E731
        fix = "Allow GitHub Actions to create and approve pull requests"
    scene, n, code, elapsed = run_refused(tmp_path, permissions=permissions, setup=setup)
    try:
        assert_ended_as_error(scene, n, code, elapsed, fix=fix)
        # The person waiting on the issue reads the same reason, and the issue is released.
        comment = outcome_comment(scene, n)
        assert comment is not None and fix in comment.body.replace("\\", "")
        progress = next(c for c in scene.bot_comments(n) if find_marker(c.body, "progress"))
        assert find_lease(progress.body) is None and "GitHub refused" in progress.body
        assert sorted(scene.emu.labels(REPO, n)) == ["kodo", "kodo:failed"]
        # Nothing is lost: the work is on its branch; a PR that was opened stays a draft.
        assert any(b.startswith(f"kodo/issue-{n}-") for b in scene.emu.branches(REPO))
        assert all(p.draft for p in scene.pulls())
        if case != "no statuses permission":  # no PR: its verdicts could go nowhere, and the summary says so
            assert "Not delivered to GitHub" in scene.summary() and "verdicts of round 1" in scene.summary()
        # The refused write was tried once (PyGithub does not retry a 403), not every 5 s until the end.
        refused = [c for c in scene.emu.calls if c.status == 403]
        assert len(refused) == 1, [(c.method, c.path) for c in refused]
        scene.assert_valid()
    finally:
        scene.emu.stop()


def test_an_hours_rate_limit_used_up_mid_run_ends_as_error(tmp_path):
    def limit_after_the_first_comment(scene):
        # Every request after the first dozen: 403, x-ratelimit-remaining 0, reset an hour away.
        scene.emu.faults.rate_limit(times=None, skip=12, reset_in_s=3600)

    scene, n, code, elapsed = run_refused(tmp_path, setup=limit_after_the_first_comment)
    try:
        assert_ended_as_error(scene, n, code, elapsed, fix="rate limit is used up")
        assert "wait for the hourly limit to reset" in scene.summary()
        assert scene.pulls() == [] or all(p.draft for p in scene.pulls())
        assert scene.emu.internal_errors == []
    finally:
        scene.emu.stop()


def test_a_rejected_push_is_not_forced_and_ends_as_error(tmp_path):
    """Someone else pushes to the run's branch once the run has started: the bot's push is rejected."""
    branch = "kodo/issue-1-add-hello-name"
    theirs: list[str] = []

    def someone_else_pushes_first(scene):
        other = git.Repo.clone_from(scene.emu.git_url(REPO), tmp_path / "elsewhere")
        other.git.checkout("-b", branch)
        (tmp_path / "elsewhere" / "theirs.txt").write_text("theirs\n")
        other.git.add("theirs.txt")
        other.git.commit(
            "-m",
            "theirs",
            env={
                "GIT_AUTHOR_NAME": "S",
                "GIT_AUTHOR_EMAIL": "s@x",
                "GIT_COMMITTER_NAME": "S",
                "GIT_COMMITTER_EMAIL": "s@x",
            },
        )

        def push_when_the_run_starts(delivery):  # the run's first progress edit: it has cloned by then
            if delivery.event == "issue_comment" and delivery.payload.get("action") == "edited" and not theirs:
                other.git.push("origin", branch)
                theirs.append(other.head.commit.hexsha)

        scene.emu.on_webhook(push_when_the_run_starts)

    scene, n, code, elapsed = run_refused(tmp_path, setup=someone_else_pushes_first)
    try:
        assert n == 1 and theirs
        assert_ended_as_error(scene, n, code, elapsed, fix="does not force-push")
        assert scene.emu.branches(REPO)[branch] == theirs[0]  # their commit is still the head: not overwritten
        comment = outcome_comment(scene, n)
        assert comment is not None and "force-push" in comment.body
        assert sorted(scene.emu.labels(REPO, n)) == ["kodo", "kodo:failed"]
        scene.assert_valid()
    finally:
        scene.emu.stop()
