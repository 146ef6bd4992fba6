"""After the pull request opens: reviews, comments to the bot and the repository's CI, played in process
(``run_action`` on the emulator's webhook payloads, a ``Script`` for the orchestrator and agents, the real
engine on a real clone), asserted as the people on the PR see it."""

from __future__ import annotations

import git
import github
import pytest

from kodo_bot.engine import events as ev
from kodo_bot.engine.events import EventSink
from kodo_bot.github.markers import find_marker, find_taken
from kodo_bot.sandbox.scripted import Script
from kodo_bot.sandbox.stories import (
    CALC_FIXED,
    TEST_V2,
    TESTS,
    bash,
    delegate,
    demo_story,
    done,
    say,
    verdict,
    write_file,
)
from tests.github_support import BOT, READER, REPO, WRITER, kodo_yml, make_scene, play

pytestmark = pytest.mark.timeout(90)

TITLE = "Add multiplication to the calculator"
DOCUMENTED = CALC_FIXED.replace("def multiply(a, b):\n", 'def multiply(a, b):\n    """The product of a and b."""\n')
#: the line of ``return a * b`` in the accepted calc.py, which the reviewer comments on
RETURN_LINE = CALC_FIXED.splitlines().index("    return a * b") + 1


#: the demo's goal in one cycle: the worker writes the fixed calculator and its tests, both verifiers pass it
ONE_CYCLE = {
    "orchestrator": [delegate(("worker_fast", "Add multiply with tests.")), done("Added multiply(a, b) with tests.")],
    "worker_fast": [write_file("calc.py", CALC_FIXED), write_file("test_calc.py", TEST_V2), bash(TESTS), say("Done.")],
    "verifier/tester": [bash(TESTS), verdict(True, "Tests pass.", checks=[(TESTS, 0)])],
    "verifier/architect": [bash(TESTS), verdict(True, "Small and right.", checks=[(TESTS, 0)])],
}


@pytest.fixture
def accepted(tmp_path, request):
    """The demo story's goal done right in one cycle and accepted, on the emulator: (scene, issue number, PR
    number). The run uses its one allowed cycle, so every follow-up also shows that the cycle limit is each
    run's own. ``indirect`` parametrization gives another cycle limit."""
    story = demo_story()
    limit = getattr(request, "param", 1)
    scene = make_scene(tmp_path, {**story.files, ".github/kodo.yml": kodo_yml([TESTS], max_cycles=limit)})
    n = scene.issue(TITLE, story.goal)
    assert play(scene, scene.label(n), Script({"roles": ONE_CYCLE})) == 0
    (pull,) = scene.pulls()
    yield scene, n, pull.number
    scene.emu.stop()


def review(scene, pr: int, *, user: str = WRITER, body: str = "", event: str = "REQUEST_CHANGES") -> dict:
    return scene.emu.submit_review(
        REPO,
        pr,
        user=user,
        event=event,
        body=body,
        comments=[{"path": "calc.py", "line": RETURN_LINE, "body": "Give multiply a docstring."}],
    )


def docstring_script(point_ids: list[str]) -> Script:
    """The follow-up: the worker adds the docstring, both verifiers run the tests and answer every point."""
    answers = {p: (True, "multiply has a docstring now") for p in point_ids}
    passes = [bash(TESTS), verdict(True, "Documented; tests pass.", checks=[(TESTS, 0)], points=answers)]
    return Script(
        {
            "roles": {
                "orchestrator": [
                    delegate(("worker_fast", "Add a docstring to multiply in calc.py.")),
                    done("multiply has a docstring."),
                ],
                "worker_fast": [write_file("calc.py", DOCUMENTED), bash(TESTS), say("Added the docstring.")],
                "verifier/tester": passes,
                "verifier/architect": passes,
            }
        }
    )


def test_a_review_requesting_changes_is_worked_verified_answered_in_its_thread_and_resolved(accepted):
    scene, n, pr = accepted
    payload = review(scene, pr)
    (comment,) = [c for c in scene.emu.review_comments(REPO, pr) if c.user == WRITER]
    script = docstring_script([f"comment-{comment.id}"])

    code = play(scene, payload, script, name="review", event_name="pull_request_review")

    script.assert_complete()
    assert code == 0 and scene.outputs("review")["outcome"] == "accepted"
    # the orchestrator was given the review round: who, where, the hunk it was written on, what
    seed = str(script.asked("orchestrator")[0].messages[0]["content"])
    assert "## Review round 1" in seed and "Give multiply a docstring." in seed
    assert f"alice on `calc.py` line {RETURN_LINE}" in seed and "+    return a * b" in seed
    # every verifier was asked about the comment, and said it is addressed
    assert f"### Point `comment-{comment.id}`" in script.asked("verifier/tester")[0].prompt
    # the fix is on the same branch and PR
    (pull,) = scene.pulls()
    assert pull.number == pr and not pull.draft
    on_branch = git.Repo(scene.emu.git_path(REPO)).git.show(f"{pull.head_ref}:calc.py")
    assert '"""The product of a and b."""' in on_branch
    # back to draft while working, ready again once accepted
    mutations = [c.operation for c in scene.emu.calls if c.graphql]
    assert mutations.index("convertPullRequestToDraft") < len(mutations) - 1 - mutations[::-1].index(
        "markPullRequestReadyForReview"
    )
    # one answer in the thread, naming the commit, and the thread resolved
    (thread,) = scene.emu.review_threads(REPO, pr)
    replies = [c for c in thread.comments if c.user == BOT]
    assert len(replies) == 1 and "addressed in" in replies[0].body and pull.head_sha[:7] in replies[0].body
    assert thread.is_resolved and thread.resolved_by == BOT
    # the new run's summary carries the review round
    summaries = [c for c in scene.bot_comments(pr) if find_marker(c.body, "summary")]
    assert len(summaries) == 2 and "Review round 1" in summaries[-1].body
    assert "multiply has a docstring now" in summaries[-1].body
    scene.assert_valid()


def test_a_review_by_someone_without_write_access_is_ignored_without_a_word(accepted):
    scene, n, pr = accepted
    scene.emu.add_collaborator(REPO, READER, "read")
    before = (len(scene.emu.comments(REPO, pr)), len(scene.emu.comments(REPO, n)))

    code = play(
        scene, review(scene, pr, user=READER), Script({"roles": {}}), name="r", event_name="pull_request_review"
    )

    assert code == 0 and scene.outputs("r")["outcome"] == "ignored"
    assert (len(scene.emu.comments(REPO, pr)), len(scene.emu.comments(REPO, n))) == before
    assert not scene.emu.review_threads(REPO, pr)[0].is_resolved
    scene.assert_valid()


def test_kodo_help_gets_the_list_of_commands_and_stop_without_a_run_says_so(accepted):
    scene, n, pr = accepted
    help_event = scene.emu.add_comment(REPO, pr, "/kodo what can you do", user=WRITER)
    assert play(scene, help_event, Script({"roles": {}}), name="help", event_name="issue_comment") == 0
    assert "`/kodo stop`" in scene.bot_comments(pr)[-1].body and "`/kodo retry`" in scene.bot_comments(pr)[-1].body

    stop_event = scene.emu.add_comment(REPO, n, "/kodo stop", user=WRITER)
    assert play(scene, stop_event, Script({"roles": {}}), name="stop", event_name="issue_comment") == 0
    assert "nothing to stop" in scene.bot_comments(n)[-1].body
    scene.assert_valid()


def test_a_comment_that_is_not_for_the_bot_changes_nothing(accepted):
    scene, n, pr = accepted
    before = len(scene.emu.comments(REPO, pr))
    event = scene.emu.add_comment(REPO, pr, "Looks good to me; kodo did well.", user=WRITER)
    assert play(scene, event, Script({"roles": {}}), name="chat", event_name="issue_comment") == 0
    assert len(scene.emu.comments(REPO, pr)) == before + 1  # only the person's own comment
    assert scene.outputs("chat")["outcome"] == "ignored"


#: the repository's CI: passes while calc.py has no multiply (the base branch), and then only with its docstring
CI_COMMAND = "if grep -q 'def multiply' calc.py; then grep -q 'The product of a and b' calc.py; fi"


def test_the_repositorys_ci_failing_on_the_pr_is_fixed_once_and_bounded(accepted):
    scene, n, pr = accepted
    emu = scene.emu
    emu.add_workflow(REPO, name="CI", command=CI_COMMAND)
    emu.run_ci(REPO, "main")  # green on the base branch: the PR broke it
    (pull,) = scene.pulls()
    (failed,) = emu.run_ci(REPO, pull.head_ref)
    assert failed["workflow_run"]["conclusion"] == "failure"
    run = emu.workflow_runs(REPO)[-1]
    script = docstring_script([f"ci-{run.id}-{job}" for job in run.job_ids])

    code = play(scene, failed, script, name="ci", event_name="workflow_run")

    script.assert_complete()
    assert code == 0 and scene.outputs("ci")["outcome"] == "accepted"
    seed = str(script.asked("orchestrator")[0].messages[0]["content"])
    assert "The repository's own CI failed" in seed and "The job `test` of `CI` ended `failure`" in seed
    notes = [c for c in scene.bot_comments(pr) if find_marker(c.body, "ci")]
    assert len(notes) == 1 and "CI fix round 1 of 2" in notes[0].body
    (pull,) = scene.pulls()
    (green,) = emu.run_ci(REPO, pull.head_ref)
    assert green["workflow_run"]["conclusion"] == "success"
    # a green run starts nothing, and shows in the summary (one line per workflow, however often it runs)
    assert play(scene, green, Script({"roles": {}}), name="green", event_name="workflow_run") == 0
    assert play(scene, green, Script({"roles": {}}), name="green2", event_name="workflow_run") == 0
    assert scene.outputs("green")["outcome"] == "ignored"
    summary = [c for c in scene.bot_comments(pr) if find_marker(c.body, "summary")][-1]
    assert summary.body.count("The repository's CI: `CI` passed on") == 1 and pull.head_sha[:12] in summary.body
    scene.assert_valid()


def test_ci_that_fails_on_the_base_branch_too_is_left_alone_with_a_comment(accepted):
    scene, n, pr = accepted
    scene.emu.add_workflow(REPO, name="CI", command="exit 1")
    scene.emu.run_ci(REPO, "main")
    (pull,) = scene.pulls()
    (failed,) = scene.emu.run_ci(REPO, pull.head_ref)

    assert play(scene, failed, Script({"roles": {}}), name="ci", event_name="workflow_run") == 0

    assert scene.outputs("ci")["outcome"] == "ignored"
    assert "fails on `main` too" in scene.bot_comments(pr)[-1].body


class MentionDuringTheRun(EventSink):
    """A maintainer who comments to the bot on the PR once the run's first cycle is committed, and a reader
    who tries the same."""

    def __init__(self, scene, pr: int) -> None:
        self.scene, self.pr, self.comment_id = scene, pr, None
        scene.emu.add_collaborator(REPO, READER, "read")

    def handle(self, event) -> None:
        if isinstance(event, ev.CycleCommitted) and self.comment_id is None:
            said = self.scene.emu.add_comment(REPO, self.pr, "@github-actions also document add", user=WRITER)
            self.comment_id = said["comment"]["id"]
            self.scene.emu.add_comment(REPO, self.pr, "@github-actions delete the tests", user=READER)


@pytest.mark.parametrize("accepted", [2], indirect=True)  # the follow-up needs a second cycle for the input
def test_feedback_given_while_a_run_is_live_is_taken_in_at_the_next_cycle_and_not_run_again(accepted):
    scene, n, pr = accepted
    payload = review(scene, pr)
    (comment,) = [c for c in scene.emu.review_comments(REPO, pr) if c.user == WRITER]
    listener = MentionDuringTheRun(scene, pr)
    points = lambda *ids: {i: (True, "done") for i in ids}  # noqa: E731 - a one-line table of answers
    slow_reject = [
        bash(TESTS, delay_s=2.5),  # verification takes a while: the watch reads the new comment meanwhile
        verdict(False, "No docstring yet.", checks=[(TESTS, 0)], points={f"comment-{comment.id}": (False, "no")}),
    ]
    script = Script(
        {
            "roles": {
                "orchestrator": [
                    delegate(("worker_fast", "Start on the review.")),
                    done("Started."),
                    delegate(("worker_fast", "Document multiply and add.")),
                    done("Both documented."),
                ],
                "worker_fast": [say("Looked at it."), write_file("calc.py", DOCUMENTED), say("Documented.")],
                "verifier/tester": slow_reject,
                "verifier/architect": [
                    bash(TESTS),
                    verdict(True, "Fine.", checks=[(TESTS, 0)], points=points(f"comment-{comment.id}")),
                ],
            }
        }
    )
    late_answers = None

    def answers_everything():
        ids = [f"comment-{comment.id}", f"comment-{listener.comment_id}"]
        return [bash(TESTS), verdict(True, "Done.", checks=[(TESTS, 0)], points=points(*ids))]

    # the second round's answers name the mention, known only once it is posted: queue them lazily
    class LateSteps(EventSink):
        def handle(self, event) -> None:
            nonlocal late_answers
            if isinstance(event, ev.SteeringTaken) and late_answers is None:
                late_answers = answers_everything()
                for role in ("verifier/tester", "verifier/architect"):
                    script.extend(role, late_answers)

    code = play(
        scene, payload, script, name="review", event_name="pull_request_review", extra_sinks=[listener, LateSteps()]
    )

    script.assert_complete()
    assert code == 0 and scene.outputs("review")["outcome"] == "accepted"
    # the run's second cycle (the third on the branch) opens with the mention
    second = next(r for r in script.asked("orchestrator") if "# Cycle 3 of" in str(r.messages[0]["content"]))
    seed = str(second.messages[0]["content"])
    assert "# New input from people since the last cycle" in seed and "also document add" in seed
    progress = [c for c in scene.bot_comments(n) if find_marker(c.body, "progress")][-1]
    assert find_taken(progress.body) == {f"comment-{listener.comment_id}"}  # the reader's words never taken
    assert "delete the tests" not in str(script.requests)
    # the job GitHub queued for the mention behind the run finds it taken and starts nothing
    queued = scene.emu.comments(REPO, pr)
    mention = next(c for c in queued if c.id == listener.comment_id)
    event = {
        "action": "created",
        "issue": {"number": pr, "pull_request": {"url": "x"}},
        "comment": {"id": mention.id, "body": mention.body},
        "repository": {"full_name": REPO},
        "sender": {"login": WRITER, "type": "User"},
    }
    assert play(scene, event, Script({"roles": {}}), name="queued", event_name="issue_comment") == 0
    assert scene.outputs("queued")["outcome"] == "ignored"
    scene.assert_valid()


def test_a_follow_up_continues_from_a_commit_a_person_pushed_to_the_branch(accepted, tmp_path):
    scene, n, pr = accepted
    (pull,) = scene.pulls()
    person = tmp_path / "person"
    git.Repo.clone_from(scene.emu.git_url(REPO), person, branch=pull.head_ref)
    (person / "NOTES.md").write_text("A note from a person.\n")
    repo = git.Repo(person)
    repo.index.add(["NOTES.md"])
    theirs = repo.index.commit("A person's note", author=git.Actor("Alice", "alice@example.com")).hexsha
    repo.remote().push(f"HEAD:refs/heads/{pull.head_ref}")

    payload = review(scene, pr)
    (comment,) = [c for c in scene.emu.review_comments(REPO, pr) if c.user == WRITER]
    assert (
        play(scene, payload, docstring_script([f"comment-{comment.id}"]), name="r", event_name="pull_request_review")
        == 0
    )

    assert scene.outputs("r")["outcome"] == "accepted"
    bare = git.Repo(scene.emu.git_path(REPO))
    head = bare.commit(pull.head_ref)
    assert bare.is_ancestor(theirs, head.hexsha) and head.hexsha != theirs  # built on their commit, not over it
    assert "A note from a person." in bare.git.show(f"{pull.head_ref}:NOTES.md")


def test_a_huge_review_is_cut_with_a_note_and_the_prompts_stay_bounded(accepted):
    """A 1 MB review body and 35 inline comments of 5 KB (GitHub allows far more): the first 30 comments
    are taken, each cut to its share, the rest named in a note; neither the orchestrator's first message nor
    a verifier's task balloons (about 1.2 MB of words in, under 100 KB out)."""
    scene, n, pr = accepted
    payload = scene.emu.submit_review(
        REPO,
        pr,
        user=WRITER,
        event="REQUEST_CHANGES",
        body="Please reconsider. " + "x" * 1_000_000,
        comments=[{"path": "calc.py", "line": RETURN_LINE, "body": f"Nit {i}: " + "y" * 5_000} for i in range(35)],
    )
    ids = sorted(c.id for c in scene.emu.review_comments(REPO, pr) if c.user == WRITER)
    kept = [f"review-{payload['review']['id']}", *(f"comment-{i}" for i in ids[:30])]
    script = docstring_script(kept)

    assert play(scene, payload, script, name="big", event_name="pull_request_review") == 0

    script.assert_complete()
    seed = str(script.asked("orchestrator")[0].messages[0]["content"])
    assert "read the first 30 of the review's 35 inline comments" in seed
    assert "kodo-bot cut" in seed and len(seed) < 80_000
    assert f"comment-{ids[29]}" in seed and f"comment-{ids[30]}" not in seed
    task = script.asked("verifier/tester")[0].prompt
    asked = task.split("## Review points to answer")[1]  # (the goal before it shows the same points)
    assert len(task) < 100_000 and asked.count("### Point `") == 31
    # every kept comment is answered in its thread; the rest are not claimed to be
    replies = [c for c in scene.emu.review_comments(REPO, pr) if c.user == BOT]
    assert len(replies) == 30


def writer_github(scene):
    """PyGithub as the maintainer, for what people do in the web UI that the emulator's scenes do not cover."""
    token = scene.emu.add_token(WRITER, permissions={"contents": "write", "pull_requests": "write"})
    return github.Github(base_url=scene.emu.api_url, auth=github.Auth.Token(token)).get_repo(REPO)


def test_a_request_on_a_closed_pr_gets_one_clear_comment_and_no_run(accepted):
    scene, n, pr = accepted
    writer_github(scene).get_pull(pr).edit(state="closed")
    event = scene.emu.add_comment(REPO, pr, "@github-actions please also document add", user=WRITER)

    assert play(scene, event, Script({"roles": {}}), name="closed", event_name="issue_comment") == 0

    assert scene.outputs("closed")["outcome"] == "refused"
    said = scene.bot_comments(pr)[-1].body
    assert "did not start: this pull request is closed" in said and f"label issue #{n} again" in said
    assert len([c for c in scene.bot_comments(pr) if "did not start" in c.body]) == 1


def test_a_request_on_a_pr_that_is_not_kodo_bots_is_ignored_without_a_word(accepted):
    scene, n, pr = accepted
    scene.emu.seed(REPO, {"mine.txt": "mine\n"}, branch="feature/mine", message="Mine")
    theirs = writer_github(scene).create_pull(title="Mine", body="", head="feature/mine", base="main")
    event = scene.emu.add_comment(REPO, theirs.number, "@github-actions please review this", user=WRITER)

    assert play(scene, event, Script({"roles": {}}), name="theirs", event_name="issue_comment") == 0

    assert scene.outputs("theirs")["outcome"] == "ignored"
    assert scene.bot_comments(theirs.number) == []


def test_a_reply_github_saved_before_answering_502_is_not_posted_twice(accepted):
    """GitHub may save a reply and still answer 502: the retried end step finds it (by its marker, among the
    bot's own replies) and does not answer the comment twice."""
    scene, n, pr = accepted
    payload = review(scene, pr)
    (comment,) = [c for c in scene.emu.review_comments(REPO, pr) if c.user == WRITER]
    scene.emu.faults.add(method="POST", path_regex=r"/pulls/\d+/comments/\d+/replies$", applied=True, times=1)

    code = play(scene, payload, docstring_script([f"comment-{comment.id}"]), name="r", event_name="pull_request_review")

    assert code == 0 and scene.outputs("r")["outcome"] == "accepted"
    (thread,) = scene.emu.review_threads(REPO, pr)
    assert [c.user for c in thread.comments] == [WRITER, BOT] and thread.is_resolved
