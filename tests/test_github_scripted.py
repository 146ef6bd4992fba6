"""Whole runs as a person sees them on GitHub, played in process: fast enough to run with every change.

``play`` runs ``kodo-bot action``'s code path (``run_action``) in this process. A ``Script`` plays the
orchestrator and the agents (their commands really run in the run's worktrees), the engine runs for real on a
real clone, and PyGithub and git talk to the GitHub emulator. A run takes a second or two; the e2e tests
prove the same flow through the real Claude Code CLI.

What is asserted is what a user would see: comments, the pull request, commit statuses, labels, the branch,
the job's outputs and summary.
"""

from __future__ import annotations

import re
import time

import git
import pytest

from kodo_bot.engine import events as ev
from kodo_bot.engine.events import EventSink
from kodo_bot.github.goal_text import branch_name
from kodo_bot.github.markers import find_lease, find_marker
from kodo_bot.sandbox.scenario import Scenario
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
    verifier_passes,
    write_file,
)
from tests.github_support import REPO, WRITER, kodo_yml, make_scene, play

pytestmark = pytest.mark.timeout(60)  # each takes two to four seconds

TITLE = "Add multiplication to the calculator"
#: how many of each role's steps the demo story's first cycle plays (the tester rejects it)
FIRST_CYCLE = {"orchestrator": 2, "worker_fast": 4, "verifier/tester": 3, "verifier/architect": 2}


def demo_cycle(number: int) -> dict[str, list]:
    """Each role's steps of the demo story's cycle 1 or 2."""
    roles = demo_story().scenario.roles
    return {role: roles[role][:k] if number == 1 else roles[role][k:] for role, k in FIRST_CYCLE.items()}


@pytest.fixture
def scenes(tmp_path):
    """``scenes(max_cycles=...)``: the demo story's repository on the emulator, with an issue opened."""
    made = []

    def make(**kodo):
        scene = make_scene(
            tmp_path / f"scene{len(made)}", {**demo_story().files, ".github/kodo.yml": kodo_yml([TESTS], **kodo)}
        )
        made.append(scene)
        return scene, scene.issue(TITLE, demo_story().goal)

    yield make
    for scene in made:
        scene.emu.stop()


def by_kind(scene, number: int, kind: str) -> list:
    return [c for c in scene.bot_comments(number) if find_marker(c.body, kind)]


def progress_of(scene, n: int):
    (progress,) = by_kind(scene, n, "progress")
    return progress


def branch_commits(scene, branch: str) -> list[git.Commit]:
    repo = git.Repo.clone_from(scene.emu.git_url(REPO), scene.tmp / "reader")
    return list(repo.iter_commits(f"origin/main..origin/{branch}"))


# --------------------------------------------------------------------------- accepted after a rejection
def test_an_accepted_two_cycle_run_shows_every_round_then_a_ready_pr(scenes):
    scene, n = scenes()
    script = Script(demo_story().scenario)
    code = play(scene, scene.label(n), script, KODO_ARTIFACT="kodo-run-job-1")
    script.assert_complete()
    assert code == 0 and scene.outputs()["outcome"] == "accepted"

    # The issue: one progress comment, finished, both rounds in it, its lease released.
    assert scene.kinds(n) == {"progress": 1}
    progress = progress_of(scene, n)
    assert "kodo-bot accepted" in progress.body and find_lease(progress.body) is None
    assert "Cycle 2 of 4" in progress.body
    assert re.search(r"❌ round 1 on .*tester ❌", progress.body)
    assert re.search(r"✅ round 2 on .*tester ✅", progress.body)

    # The PR: opened as a draft from the issue's branch, closing the issue, marked ready on acceptance.
    (pull,) = scene.pulls()
    created = next(c for c in scene.emu.calls if c.operation == "pulls/create")
    assert created.request_body["draft"] is True and not pull.draft
    assert any(c.operation == "markPullRequestReadyForReview" for c in scene.emu.calls if c.graphql)
    assert pull.head_ref == branch_name(n, TITLE) and str(pull.number) == scene.outputs()["pr-number"]
    assert f"Closes #{n}" in scene.emu.issue(REPO, pull.number).body

    # One comment per verification round, with every verifier's verdict; then the summary.
    assert scene.kinds(pull.number) == {"verdicts:1": 1, "verdicts:2": 1, "summary": 1}
    first, second = by_kind(scene, pull.number, "verdicts")
    assert "Verification round 1: changes requested" in first.body
    assert "#### ❌ tester: rejected" in first.body and "#### ✅ architect: passed" in first.body
    assert "multiply(-2, 3) returns 0, expected -6" in first.body
    assert "Verification round 2: passed" in second.body
    assert "#### ✅ tester: passed" in second.body and "#### ✅ architect: passed" in second.body
    (summary,) = by_kind(scene, pull.number, "summary")
    assert "kodo-bot: accepted" in summary.body and "Fixed multiply for negative numbers" in summary.body
    # ... which is the morning report: criteria, commits per cycle, every check with its exit code, cost per
    # bucket, blockers, what next (the same sections `kodo-bot report` prints)
    rejected, accepted = reversed(branch_commits(scene, pull.head_ref))
    commit_shas = [rejected.hexsha[:12], accepted.hexsha[:12]]
    assert "— ✅ met (all verifiers passed)" in summary.body
    assert f"- cycle 1: `{commit_shas[0]}`" in summary.body and f"- cycle 2: `{commit_shas[1]}`" in summary.body
    assert f"- round 1 on `{commit_shas[0]}`: rejected (architect pass, tester FAIL)" in summary.body
    assert re.search(r"  - tester ran: [^\n]*unittest[^\n]*` exit 1", summary.body)
    assert re.search(r"- API \(paid per token\): \\\$[\d.]+\n- subscription", summary.body)
    assert "#### Blockers\n- none" in summary.body and "Review and merge the pull request" in summary.body
    # The run's log and its HTML view sit side by side in the folder the action uploads, which the comment
    # and the job summary name.
    run_id = scene.outputs()["run-id"]
    page = (scene.tmp / "job" / "runs" / run_id / "run.html").read_text(encoding="utf-8")
    assert (scene.tmp / "job" / "runs" / run_id / "events.jsonl").is_file() and run_id in page
    assert "`kodo-run-job-1`, among [the Actions run's artifacts](" in summary.body
    assert "/actions/runs/job#artifacts)" in summary.body
    assert "artifact `kodo-run-job-1`" in scene.summary()
    cycles, rounds, duration, cost = re.search(r"\n\| (\d+) \| (\d+) \| (.+?) \| (.+?) \|\n", summary.body).groups()
    assert (cycles, rounds) == ("2", "2") and re.fullmatch(r"\d+ s", duration) and "API" in cost

    # Each round's commit carries its verdict as a status; the labels say how it ended.
    assert [s.state for s in scene.emu.statuses(REPO, rejected.hexsha)] == ["failure"]
    assert [(s.context, s.state) for s in scene.emu.statuses(REPO, accepted.hexsha)] == [
        ("kodo/verification", "success")
    ]
    assert sorted(scene.emu.labels(REPO, n)) == ["kodo", "kodo:accepted"]
    scene.assert_valid()


# --------------------------------------------------------------------------- needs a person
def rejected_five_times() -> Scenario:
    """The demo's first cycle (the tester rejects), then four attempts that break the tests: the checks reject."""
    roles = demo_cycle(1)
    for attempt in range(2, 6):
        roles["orchestrator"] += [
            delegate(("worker_fast", "multiply returns 0 for negative numbers; fix it.")),
            done(f"Fixed negative numbers (attempt {attempt})."),
        ]
        roles["worker_fast"] += [write_file("test_calc.py", f"{TEST_V2}\n# attempt {attempt}\n"), say("Added a test.")]
    return Scenario.from_dict({"roles": roles})


def test_a_run_rejected_five_times_asks_for_a_person(scenes):
    scene, n = scenes(max_cycles=6)
    script = Script(rejected_five_times())
    code = play(scene, scene.label(n), script)
    script.assert_complete()
    assert code == 3 and scene.outputs()["outcome"] == "needs_human"

    # The PR carries the report: why, what is done, where the work is, and how to go on; a person is asked
    # to pick it up; the issue's progress comment points there.
    (pull,) = scene.pulls()
    assert by_kind(scene, n, "outcome") == []
    (outcome,) = by_kind(scene, pull.number, "outcome")
    assert f"The report (what holds, what does not, how to continue) is on pull request #{pull.number}" in (
        progress_of(scene, n).body
    )
    assert "kodo-bot needs a person" in outcome.body
    assert "#### Blockers\n- `python3 -m unittest -q` exits 1" in outcome.body
    assert "#### How to continue\n- `/kodo retry` on the issue or pull request" in outcome.body
    assert outcome.body.count("- cycle ") == 5 and outcome.body.count("- round ") == 5
    assert "verification rejected the work 5 times" in outcome.body
    assert "I labelled the issue `kodo:needs-human`" in outcome.body
    assert sorted(scene.emu.labels(REPO, n)) == ["kodo", "kodo:needs-human"]
    assert find_lease(progress_of(scene, n).body) is None

    # The PR stays a draft, with every round's verdicts on it and a failing status on every round's commit.
    assert pull.draft and not by_kind(scene, pull.number, "summary")
    assert scene.kinds(pull.number) == {**{f"verdicts:{r}": 1 for r in range(1, 6)}, "outcome": 1}
    rounds = by_kind(scene, pull.number, "verdicts")
    assert "#### ❌ tester: rejected" in rounds[0].body
    assert all("changes requested" in r.body and "❌ `python3 -m unittest -q`" in r.body for r in rounds[1:])
    commits = branch_commits(scene, pull.head_ref)
    assert len(commits) == 5
    assert all([s.state for s in scene.emu.statuses(REPO, c.hexsha)] == ["failure"] for c in commits)
    scene.assert_valid()


# --------------------------------------------------------------------------- stopped from the issue
class CloseTheIssue(EventSink):
    """A writer closes the issue once the agents are at work; the run's cycle end then waits until the bot
    has read the issue after its push and says it will stop (on GitHub that read takes milliseconds,
    verification seconds; the in-process script's verification takes none)."""

    def __init__(self, scene, n: int) -> None:
        self.scene, self.n = scene, n
        self.closed = False

    def handle(self, event: ev.Event) -> None:
        if isinstance(event, ev.AgentCallStarted) and not self.closed:
            self.scene.emu.close_issue(REPO, self.n, actor=WRITER)
            self.closed = True
        elif isinstance(event, ev.CycleEnded):
            deadline = time.monotonic() + 20
            while "stopping at the end of this cycle: the issue was closed" not in progress_of(self.scene, self.n).body:
                assert time.monotonic() < deadline, "the bot never said it would stop"
                time.sleep(0.01)


def test_closing_the_issue_stops_the_run_at_the_cycle_end(scenes):
    scene, n = scenes()
    script = Script(demo_story().scenario)
    code = play(scene, scene.label(n), script, extra_sinks=[CloseTheIssue(scene, n)])
    assert code == 6 and scene.outputs()["outcome"] == "stopped"
    assert script.left() == {role: len(steps) for role, steps in demo_cycle(2).items()}  # cycle 2 never came

    (pull,) = scene.pulls()
    (outcome,) = by_kind(scene, pull.number, "outcome")
    assert "kodo-bot stopped on request" in outcome.body and "**Why:** the issue was closed" in outcome.body
    assert "nothing was discarded" in outcome.body and "mention the bot on the pull request" in outcome.body
    assert "kodo:running" not in scene.emu.labels(REPO, n)
    assert find_lease(progress_of(scene, n).body) is None
    # The one cycle's work is on its branch, its round on the draft PR.
    assert pull.draft and scene.kinds(pull.number) == {"verdicts:1": 1, "outcome": 1}
    assert len(branch_commits(scene, pull.head_ref)) == 1
    scene.assert_valid()


# --------------------------------------------------------------------------- GitHub refuses
def accepted_in_one_cycle() -> dict:
    return {
        "roles": {
            "orchestrator": [
                delegate(("worker_fast", "Add multiply(a, b) with tests.")),
                done("Added multiply(a, b) with tests."),
            ],
            "worker_fast": [
                write_file("calc.py", CALC_FIXED),
                write_file("test_calc.py", TEST_V2),
                bash(TESTS),
                say("Added multiply; the tests pass."),
            ],
            "verifier/tester": verifier_passes(TESTS),
            "verifier/architect": verifier_passes("git show --stat HEAD"),
        }
    }


class PushFirst(EventSink):
    """Someone else pushes to the run's branch once the run has cloned: the bot's push is not a fast-forward."""

    def __init__(self, scene, branch: str) -> None:
        self.scene, self.branch, self.pushed = scene, branch, False

    def handle(self, event: ev.Event) -> None:
        if isinstance(event, ev.AgentCallStarted) and not self.pushed:
            other = git.Repo.clone_from(self.scene.emu.git_url(REPO), self.scene.tmp / "elsewhere")
            other.git.checkout("-b", self.branch)
            (self.scene.tmp / "elsewhere" / "theirs.txt").write_text("theirs\n")
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
            other.git.push("origin", self.branch)
            self.pushed = True


@pytest.mark.parametrize(
    "refused, fix",
    [
        ("pull request", "add `pull-requests: write` under `permissions:`"),
        ("push", "does not force-push"),
    ],
)
def test_a_refusal_ends_an_accepted_run_as_error_with_the_fix(scenes, refused, fix):
    scene, n = scenes()
    sinks = []
    if refused == "pull request":
        scene.emu.faults.add(method="POST", path_regex=r"/pulls$", status=403, times=None)
    else:
        sinks.append(PushFirst(scene, branch_name(n, TITLE)))
    script = Script(accepted_in_one_cycle())
    code = play(scene, scene.label(n), script, extra_sinks=sinks)
    script.assert_complete()  # verification accepted the work ...

    # ... but that is not what happened on GitHub: the run ends as an error, and says what to change.
    assert code == 1 and scene.outputs()["outcome"] == "error"
    (outcome,) = by_kind(scene, n, "outcome")
    assert "kodo-bot failed with an error" in outcome.body and "GitHub refused" in outcome.body
    assert fix in outcome.body.replace("\\", "")
    assert "GitHub refused" in progress_of(scene, n).body and find_lease(progress_of(scene, n).body) is None
    assert sorted(scene.emu.labels(REPO, n)) == ["kodo", "kodo:failed"]
    assert fix in scene.summary().replace("\\", "")
    # No PR could be opened, so the round's verdicts could go nowhere: the job summary says so.
    assert scene.pulls() == []
    assert "Not delivered to GitHub" in scene.summary() and "verdicts of round 1" in scene.summary()
    # The refused write was tried once, not again until the drain ran out.
    if refused == "pull request":
        assert scene.emu.rest_call_count("POST", r"/pulls$") == 1
    else:  # their commit is still the branch's head: the bot did not force its own over it
        assert scene.emu.branches(REPO)[branch_name(n, TITLE)] == git.Repo(scene.tmp / "elsewhere").head.commit.hexsha
    assert scene.emu.internal_errors == []


# --------------------------------------------------------------------------- labelled again after a failure
def test_labelling_again_after_a_failure_continues_the_branch_and_its_pr(scenes):
    """The first run fails in cycle 2 (the model API refuses the key); labelled again, a new run continues
    the branch from cycle 2, on the same PR, numbering its round after the first run's."""
    scene, n = scenes()
    roles = demo_cycle(1)
    roles["orchestrator"].append({"error": {"status": 401, "type": "authentication_error", "message": "bad key"}})
    first = Script(Scenario.from_dict({"roles": roles}))
    assert play(scene, scene.label(n), first, name="first") == 1
    first.assert_complete()
    # the report goes where the work is: the pull request the first cycle opened
    (outcome,) = by_kind(scene, int(scene.outputs("first")["pr-number"]), "outcome")
    assert "refused the credentials" in outcome.body and "after fixing what the blockers name" in outcome.body
    assert sorted(scene.emu.labels(REPO, n)) == ["kodo", "kodo:failed"]

    scene.emu.unlabel_issue(REPO, n, "kodo", actor=WRITER)
    second = Script(Scenario.from_dict({"roles": demo_cycle(2)}))
    assert play(scene, scene.label(n), second, name="again") == 0
    second.assert_complete()
    # the new run continues the count and has its own four cycles (kodo.yml), after the one already done
    assert "# Cycle 2 of at most 5" in second.asked("orchestrator")[0].prompt
    assert scene.outputs("again")["pr-number"] == scene.outputs("first")["pr-number"]
    (pull,) = scene.pulls()
    assert not pull.draft
    rounds = {find_marker(c.body).round: find_marker(c.body).run for c in by_kind(scene, pull.number, "verdicts")}
    assert rounds == {1: scene.outputs("first")["run-id"], 2: scene.outputs("again")["run-id"]}
    assert "Verification round 2: passed" in by_kind(scene, pull.number, "verdicts")[1].body
    # The issue now says how the latest run ended, and only that.
    assert sorted(scene.emu.labels(REPO, n)) == ["kodo", "kodo:accepted"]
    scene.assert_valid()
