"""The GitHubSink on its own: engine events in, GitHub side effects out, with a clock the test controls.

Real PyGithub against the emulator and real git pushes to its bare repository; the events are made by hand,
so the timing (coalescing, heartbeats) is exact rather than raced.
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import git
import pytest

from kodo_bot.engine import events as ev
from kodo_bot.engine.models import CostReport, Outcome, Verdict
from kodo_bot.github.client import CommentInfo, GitHubClient, RetryPolicy
from kodo_bot.github.comments import markers_by_slot
from kodo_bot.github.git_remote import GitRemote
from kodo_bot.github.markers import find_lease, find_marker
from kodo_bot.github.progress import initial_state
from kodo_bot.github.sink import GitHubSink, IssueRun
from tests.github_support import BOT, REPO, WRITER, make_scene

RUN = "r-test"
BRANCH = "kodo/issue-1-add-hello"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2030, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def world(tmp_path):
    scene = make_scene(tmp_path, {"README.md": "# app\n"})
    n = scene.issue("Add hello")
    scene.label(n)
    clone = git.Repo.clone_from(scene.emu.git_url(REPO), tmp_path / "clone")
    clone.git.checkout("-b", BRANCH)
    client = GitHubClient(token=scene.token, repo=REPO, api_url=scene.emu.api_url, retry=RetryPolicy.fast())
    progress = client.create_comment(n, "starting")
    clock = Clock()

    def make_sink(
        remote_url: str | None = None, *, pull=None, slots=None, client=client, earlier=None, **run_fields
    ) -> GitHubSink:
        run = IssueRun(
            issue_number=n,
            branch=BRANCH,
            base="main",
            title="Add hello",
            goal="# Add hello",
            runner="box",
            min_interval_s=10,
            heartbeat_s=60,
            retry_s=0,
            drain_s=1,
            **run_fields,
        )
        remote = GitRemote(remote_url or scene.emu.git_url(REPO), scene.token)
        return GitHubSink(
            client=client,
            remote=remote,
            clone=tmp_path / "clone",
            run=run,
            progress=initial_state(RUN, issue_number=n),
            progress_comment=progress,
            clock=clock,
            slots=slots,
            pull=pull,
            background=False,
            earlier=earlier,
        )

    yield scene, n, clone, clock, make_sink
    client.close()
    scene.emu.stop()


def commit(clone: git.Repo, name: str) -> str:
    (clone.working_dir and open(f"{clone.working_dir}/{name}", "w")).write(name)
    clone.git.add("-A")
    clone.git.commit(
        "-m",
        f"add {name}",
        env={
            "GIT_AUTHOR_NAME": "k",
            "GIT_AUTHOR_EMAIL": "k@x",
            "GIT_COMMITTER_NAME": "k",
            "GIT_COMMITTER_EMAIL": "k@x",
        },
    )
    return clone.head.commit.hexsha


def started() -> ev.RunStarted:
    return ev.RunStarted(
        run_id=RUN,
        seq=1,
        goal_title="Add hello",
        project="/p",
        branch=BRANCH,
        worktree="/w",
        team=["worker_fast"],
        max_cycles=3,
    )


def edits(scene) -> int:
    return scene.emu.rest_call_count("PATCH", r"/issues/comments/")


def test_progress_edits_are_coalesced_but_never_skip_a_cycle_end(world):
    scene, n, clone, clock, make_sink = world
    sink = make_sink()
    sink.handle(started())
    assert edits(scene) == 1  # always at the start
    for seq in range(2, 6):  # a burst of activity within ten seconds: no edit
        clock.advance(1)
        sink.handle(ev.AgentCallStarted(run_id=RUN, seq=seq, cycle=1, call_id=f"c{seq}", agent="worker_fast", task="t"))
    assert edits(scene) == 1
    clock.advance(7)  # eleven seconds since the last edit: the next event carries everything so far
    sink.handle(ev.OrchestratorReplied(run_id=RUN, seq=6, cycle=1, exchange=1, text="Plan: write hello.py"))
    assert edits(scene) == 2
    body = scene.emu.comments(REPO, n)[0].body
    assert "Plan: write hello.py" in body and find_lease(body).heartbeat == clock.now
    sink.handle(ev.CycleEnded(run_id=RUN, seq=7, cycle=1, reason="done", summary="s"))  # at once, always
    assert edits(scene) == 3


def test_a_failed_push_shows_in_the_progress_comment_and_clears_when_it_works(world, tmp_path):
    scene, n, clone, clock, make_sink = world
    sink = make_sink(remote_url=str(tmp_path / "no-such-remote.git"))
    sink.handle(started())
    sha = commit(clone, "hello.py")
    sink.handle(ev.CycleCommitted(run_id=RUN, seq=2, cycle=1, sha=sha, branch=BRANCH, summary="hello"))
    body = scene.emu.comments(REPO, n)[0].body
    assert "Pushing the branch failed" in body and BRANCH not in scene.emu.branches(REPO)
    sink.remote.url = scene.emu.git_url(REPO)  # the remote is reachable again
    clock.advance(1)
    sink.handle(ev.CycleEnded(run_id=RUN, seq=3, cycle=1, reason="r", summary="s"))
    assert scene.emu.branches(REPO)[BRANCH] == sha
    assert "Pushing the branch failed" not in scene.emu.comments(REPO, n)[0].body
    (pull,) = scene.pulls()
    assert pull.draft and pull.head_ref == BRANCH


@pytest.mark.parametrize(
    "change, reason",
    [
        (
            lambda emu, n: emu.unlabel_issue(REPO, n, "kodo", actor=WRITER),
            "the `kodo` label was removed from the issue",
        ),
        (lambda emu, n: emu.close_issue(REPO, n, actor=WRITER), "the issue was closed"),
    ],
)
def test_stop_is_requested_when_the_issue_is_closed_or_the_label_removed(world, change, reason):
    scene, n, clone, clock, make_sink = world
    sink = make_sink()
    sink.handle(started())
    change(scene.emu, n)
    reads = scene.emu.rest_call_count("GET", rf"/issues/{n}$")
    assert sink.stop_requested() is None  # what the worker knew; asking costs nothing
    assert scene.emu.rest_call_count("GET", rf"/issues/{n}$") == reads
    sha = commit(clone, "hello.py")
    sink.handle(ev.CycleCommitted(run_id=RUN, seq=2, cycle=1, sha=sha, branch=BRANCH, summary="hello"))
    assert sink.stop_requested() == reason  # the worker read the issue after the cycle's push


def test_a_resumed_runs_report_tells_the_whole_run_once(world):
    """Killed after cycle 1's round, resumed in the same clone: the final comment's morning report counts the
    cycles and rounds from before the kill (the resumed sink starts with the log's events) and none twice
    (a resume may deliver an event the log has again)."""
    scene, n, clone, clock, make_sink = world
    first_sha = commit(clone, "hello.py")
    tester = Verdict(verifier="tester", passed=False, summary="no tests")
    before = [
        started(),
        ev.CycleCommitted(run_id=RUN, seq=2, cycle=1, sha=first_sha, branch=BRANCH, summary="hello"),
        ev.VerificationFinished(run_id=RUN, seq=3, cycle=1, round=1, sha=first_sha, accepted=False, verdicts=[tester]),
    ]
    first = make_sink()
    for event in before:
        first.handle(event)
    first.close()  # the runner died here: no end was reported
    second_sha = commit(clone, "test_hello.py")
    passed = Verdict(verifier="tester", passed=True, summary="tests pass")
    again = make_sink(pull=first.pull, earlier=before)
    for event in (
        started().model_copy(update={"resumed": True, "seq": 4}),
        before[2],  # delivered again from the outbox
        ev.CycleCommitted(run_id=RUN, seq=5, cycle=2, sha=second_sha, branch=BRANCH, summary="tests"),
        ev.VerificationFinished(run_id=RUN, seq=6, cycle=2, round=2, sha=second_sha, accepted=True, verdicts=[passed]),
        ev.RunFinished(
            run_id=RUN,
            seq=7,
            outcome=Outcome.accepted,
            reason="accepted",
            cycles=2,
            rounds=2,
            cost=CostReport(),
            duration_s=3,
            branch=BRANCH,
            head_sha=second_sha,
        ),
    ):
        again.handle(event)
    again.close()
    (pull,) = scene.pulls()
    (summary,) = [c for c in scene.emu.comments(REPO, pull.number) if find_marker(c.body, "summary")]
    assert f"- cycle 1: `{first_sha[:12]}` hello (0 files)" in summary.body
    assert f"- cycle 2: `{second_sha[:12]}` tests (0 files)" in summary.body
    assert summary.body.count("- round 1 on") == 1 and summary.body.count("- round 2 on") == 1


def test_a_second_sink_for_the_same_run_edits_instead_of_reposting(world):
    scene, n, clone, clock, make_sink = world
    sha = commit(clone, "hello.py")
    verdict = Verdict(verifier="tester", passed=False, summary="no tests")
    round1 = ev.VerificationFinished(run_id=RUN, seq=3, cycle=1, round=1, sha=sha, accepted=False, verdicts=[verdict])
    finished = ev.RunFinished(
        run_id=RUN,
        seq=4,
        outcome=Outcome.needs_human,
        reason="gave up",
        cycles=1,
        rounds=1,
        cost=CostReport(),
        duration_s=1,
        branch=BRANCH,
        head_sha=sha,
    )
    first = make_sink()
    for event in (
        started(),
        ev.CycleCommitted(run_id=RUN, seq=2, cycle=1, sha=sha, branch=BRANCH, summary="x"),
        round1,
        finished,
    ):
        first.handle(event)
    first.close()
    (pull,) = scene.pulls()
    own = [c for n_ in (n, pull.number) for c in scene.emu.comments(REPO, n_) if c.user == BOT]
    slots = markers_by_slot([CommentInfo(c.id, c.user, "Bot", c.body, "") for c in own])
    # The same run resumed after its runner died just before it recorded these; handle() passes in the PR
    # and the comments it read.
    again = make_sink(pull=first.pull, slots=slots)
    for event in (started().model_copy(update={"resumed": True, "seq": 5}), round1, finished):
        again.handle(event)
    again.close()
    kinds = sorted(
        find_marker(c.body).kind
        for n_ in (n, pull.number)
        for c in scene.emu.comments(REPO, n_)
        if c.user == BOT and find_marker(c.body)
    )
    assert kinds == ["outcome", "progress", "verdicts"]
    assert [s.state for s in scene.emu.statuses(REPO, sha)] == ["failure", "failure"]
    assert sorted(scene.emu.labels(REPO, n)) == ["kodo", "kodo:needs-human"]


#: how long the client itself may wait for a rate limit to reset, and when the limit below resets
CLIENT_WAITS_S, RESET_IN_S = 0.25, 3


@pytest.mark.parametrize("job_left_s, delivered", [(60, True), (1, False)])
def test_a_used_up_rate_limit_is_waited_for_only_when_the_job_outlasts_it(world, job_left_s, delivered):
    """Margins no loaded machine can cross. The emulator puts the reset 2 to 3 s out (a whole second, as
    GitHub does) and PyGithub adds a second, so the client waits itself only if reading the answer took over
    2.75 s; the reset is over 2 s past the short job's end, and nearly a minute before the long one's."""
    scene, n, clone, clock, make_sink = world
    client = GitHubClient(
        token=scene.token,
        repo=REPO,
        api_url=scene.emu.api_url,
        retry=replace(RetryPolicy.fast(), max_wait_s=CLIENT_WAITS_S),
    )
    try:
        sink = make_sink(client=client, deadline=time.time() + job_left_s)
        sink.handle(started())
        sha = commit(clone, "hello.py")
        sink.handle(ev.CycleCommitted(run_id=RUN, seq=2, cycle=1, sha=sha, branch=BRANCH, summary="hello"))
        # The status write finds the hour's limit used up, resetting later than the client itself waits.
        scene.emu.faults.rate_limit(method="POST", path_regex=r"/statuses/", reset_in_s=RESET_IN_S)
        verdict = Verdict(verifier="tester", passed=True, summary="ok")
        round1 = ev.VerificationFinished(
            run_id=RUN, seq=3, cycle=1, round=1, sha=sha, accepted=True, verdicts=[verdict]
        )
        sink.handle(round1)
        assert scene.emu.statuses(REPO, sha) == []
        if delivered:
            assert sink.refusals == [] and sink.stop_requested() is None  # transient: the job can wait for it
            time.sleep(sink._attempts.wait_s())
            sink.handle(ev.CycleEnded(run_id=RUN, seq=4, cycle=1, reason="r", summary="s"))
            assert [s.state for s in scene.emu.statuses(REPO, sha)] == ["success"]
        else:
            assert "rate limit is used up" in sink.refusals[0] and "GitHub refused" in sink.stop_requested()
    finally:
        client.close()
