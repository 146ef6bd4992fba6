"""Each trigger after the PR opens, through `kodo-bot action` with the real Claude Code CLI against the scripted
model server and the GitHub emulator: a mention, `/kodo retry`, and `/kodo stop` on a live run here; a review
(worked, answered in its thread, resolved) and the repository's CI failing (fixed, green after) are the acts
of `kodo-bot demo`, which test_github_demo.py plays through the same path. The first run, which only sets the
scene, is played in process on a Script (test_github_scripted.py proves it end to end); what the fast tests in
test_github_followups.py already assert about the same flows is not repeated here: these prove the follow-up's
transport."""

from __future__ import annotations

import pytest

from kodo_bot.github.markers import find_marker
from kodo_bot.sandbox.model_server import ScriptedModelServer
from kodo_bot.sandbox.scripted import Script
from kodo_bot.sandbox.stories import CALC_FIXED, TESTS, bash, delegate, demo_story, done, say, verdict, write_file
from tests.e2e_support import spawn_action, wait_for
from tests.github_support import REPO, WRITER, action, kodo_yml, make_scene, play

pytestmark = pytest.mark.e2e

DOCUMENTED = CALC_FIXED.replace("def multiply(a, b):\n", 'def multiply(a, b):\n    """The product of a and b."""\n')


@pytest.fixture
def accepted(tmp_path):
    """The demo story's run, accepted, played in process: (scene, issue number, PR number)."""
    story = demo_story()
    scene = make_scene(tmp_path, {**story.files, ".github/kodo.yml": kodo_yml([TESTS], max_cycles=2)})
    n = scene.issue("Add multiplication to the calculator", story.goal)
    assert play(scene, scene.label(n), Script(story.scenario), name="first") == 0
    (pull,) = scene.pulls()
    yield scene, n, pull.number
    scene.emu.stop()


def docstring_roles(point_ids: list[str]) -> dict[str, list[dict]]:
    """The follow-up: the worker documents multiply through the CLI's own tools, both verifiers run the tests
    and answer every point."""
    answers = {p: (True, "multiply has a docstring now") for p in point_ids}
    passes = [bash(TESTS), verdict(True, "Documented; tests pass.", checks=[(TESTS, 0)], points=answers)]
    return {
        "orchestrator": [delegate(("worker_fast", "Add a docstring to multiply.")), done("Documented multiply.")],
        "worker_fast": [write_file("calc.py", DOCUMENTED), bash(TESTS), say("Added the docstring.")],
        "verifier/tester": passes,
        "verifier/architect": passes,
    }


def follow(scene, event: dict, event_name: str, roles: dict, *, name: str) -> int:
    with ScriptedModelServer({"roles": roles}) as server:
        code = action(scene.env(event, event_name=event_name, model_url=server.url, name=name))
        server.assert_complete()
    return code


def on_branch(scene, path: str) -> str:
    import git

    (pull,) = scene.pulls()
    return git.Repo(scene.emu.git_path(REPO)).git.show(f"{pull.head_ref}:{path}")


def test_a_mention_on_the_pr_starts_a_follow_up_and_is_acknowledged(accepted):
    scene, n, pr = accepted
    event = scene.emu.add_comment(REPO, pr, "@github-actions please document multiply", user=WRITER)
    comment_id = event["comment"]["id"]

    code = follow(scene, event, "issue_comment", docstring_roles([f"comment-{comment_id}"]), name="m")

    assert code == 0 and scene.outputs("m")["outcome"] == "accepted"
    assert [r.content for r in scene.emu.reactions(REPO, issue_comment=comment_id)] == ["eyes"]
    assert '"""The product of a and b."""' in on_branch(scene, "calc.py")
    summaries = [c for c in scene.bot_comments(pr) if find_marker(c.body, "summary")]
    assert "Review round 1" in summaries[-1].body


def test_kodo_retry_continues_a_run_that_needed_a_person(tmp_path):
    story = demo_story()
    scene = make_scene(tmp_path, {**story.files, ".github/kodo.yml": kodo_yml([TESTS], max_cycles=1)})
    try:
        n = scene.issue("Add multiplication to the calculator", story.goal)
        roles = story.scenario.roles
        first = {role: steps[:k] for role, steps in roles.items() if (k := FIRST_CYCLE.get(role))}
        assert play(scene, scene.label(n), Script({"roles": first}), name="first") == 4  # max_cycles
        retry = scene.emu.add_comment(REPO, n, "/kodo retry", user=WRITER)
        second = {role: steps[k:] for role, steps in roles.items() if (k := FIRST_CYCLE.get(role)) is not None}

        code = follow(scene, retry, "issue_comment", second, name="retry")

        assert code == 0 and scene.outputs("retry")["outcome"] == "accepted"
        assert scene.emu.labels(REPO, n).count("kodo:accepted") == 1
    finally:
        scene.emu.stop()


#: the demo story's first cycle, per role (its tester rejects it)
FIRST_CYCLE = {"orchestrator": 2, "worker_fast": 4, "verifier/tester": 3, "verifier/architect": 2}


def test_kodo_stop_stops_the_live_run_at_its_cycle_end(tmp_path):
    story = demo_story()
    scene = make_scene(tmp_path, {**story.files, ".github/kodo.yml": kodo_yml([TESTS], max_cycles=4)})
    try:
        n = scene.issue("Add multiplication to the calculator", story.goal)
        roles = {role: list(steps) for role, steps in story.scenario.roles.items()}
        # the worker takes a while, so the stop is said before the first cycle's commit is read back
        roles["worker_fast"][0] = roles["worker_fast"][0].model_copy(update={"delay_s": 6})
        with ScriptedModelServer({"roles": roles}) as server:
            live = spawn_action(scene.env(scene.label(n), model_url=server.url, name="live"), tmp_path / "live.log")
            try:
                wait_for(lambda: "kodo:running" in scene.emu.labels(REPO, n), 60, "the run to start")
                stop = scene.emu.add_comment(REPO, n, "/kodo stop", user=WRITER)
                assert action(scene.env(stop, event_name="issue_comment", name="stop")) == 0
                assert "kodo:stop" in scene.emu.labels(REPO, n)
                assert live.wait(timeout=120) == 6  # stopped
            finally:
                if live.poll() is None:
                    live.kill()
        assert scene.outputs("live")["outcome"] == "stopped"
        (pull,) = scene.pulls()  # the report is on the pull request, where the work is
        (outcome,) = [c for c in scene.bot_comments(pull.number) if find_marker(c.body, "outcome")]
        assert "/kodo stop" in outcome.body and "#### How to continue" in outcome.body
        assert "kodo:stop" not in scene.emu.labels(REPO, n)
    finally:
        scene.emu.stop()
