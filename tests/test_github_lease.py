"""Reading an issue's lease (pure decisions from its labels and the bot's own comments), and taking the claim
against the emulator. The race itself, between processes, is tests/test_github_race_e2e.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import git

from kodo_bot.github.client import CommentInfo, GitHubClient, IssueInfo, RetryPolicy
from kodo_bot.github.lease import claim_ref, inspect_lease, own_comments, take_claim
from kodo_bot.github.markers import Lease, render_claim, render_lease, render_marker
from tests.github_support import REPO, make_scene

NOW = datetime(2030, 1, 1, 12, tzinfo=UTC)
BOT = "github-actions[bot]"


def issue(*labels: str) -> IssueInfo:
    return IssueInfo(
        number=1, title="t", body="", state="open", labels=labels, author="alice", is_pull_request=False, html_url=""
    )


def progress(run: str, heartbeat: datetime | None, author: str = BOT, cid: int = 1) -> CommentInfo:
    body = render_marker(run, "progress") + "\n"
    if heartbeat is not None:
        body += render_lease(Lease(run=run, heartbeat=heartbeat, runner="box")) + "\n"
    return CommentInfo(cid, author, "Bot" if author.endswith("[bot]") else "User", body + "working", "")


def check(labels, comments, own_login=None):
    return inspect_lease(issue(*labels), own_comments(comments, own_login), now=NOW, stale_after_s=900)


def test_no_lease_and_no_running_label_means_nobody_holds_it():
    assert check(["kodo"], [progress("r1", None)]).state == "none"
    assert check(["kodo"], []).state == "none"


def test_a_fresh_lease_is_live_before_the_running_label_is_added():
    # A run posts its comment, then adds kodo:running: a trigger reading in between must see it.
    found = check(["kodo"], [progress("r1", NOW)])
    assert found.state == "live" and found.lease.run == "r1"
    assert check(["kodo"], [progress("r1", NOW - timedelta(minutes=20))]).state == "stale"


def test_a_fresh_heartbeat_is_live_and_an_old_one_stale():
    live = check(["kodo", "kodo:running"], [progress("r1", NOW - timedelta(minutes=1))])
    assert live.state == "live" and live.lease.run == "r1"
    stale = check(["kodo", "kodo:running"], [progress("r1", NOW - timedelta(minutes=20))])
    assert stale.state == "stale" and stale.progress.id == 1


def test_an_interrupted_run_is_taken_over():
    found = check(["kodo", "kodo:running"], [progress("r1", None)])
    assert found.state == "stale" and found.lease.run == "r1"


def test_markers_typed_by_someone_else_are_not_believed():
    forged = progress("evil", NOW, author="mallory")
    assert check(["kodo", "kodo:running"], [forged]).state == "none"
    assert check(["kodo"], [forged]).state == "none"
    # The latest progress comment of the bot's own login counts (a PAT's user when run by hand).
    mine = progress("r2", NOW, author="alice", cid=2)
    assert check(["kodo", "kodo:running"], [forged, mine], own_login="alice").lease.run == "r2"


def test_a_lost_claim_waits_for_the_winner_and_an_orphaned_one_is_passed(tmp_path):
    scene = make_scene(tmp_path, {"README.md": "hi\n"})
    client = GitHubClient(token=scene.token, repo=REPO, api_url=scene.emu.api_url, retry=RetryPolicy.fast())
    try:
        n = scene.issue("Race")
        head = client.head_sha("main")
        nobody = check(["kodo"], [])
        assert take_claim(client, n, nobody, sha=head, settle_s=0, reread=list) == 1
        # The winner of claim 1 is at work: its comment records the claim, so the loser changes nothing.
        winner = progress("r1", NOW)
        winner = CommentInfo(winner.id, winner.author, winner.author_type, winner.body + render_claim(1), "")
        assert take_claim(client, n, nobody, sha=head, settle_s=0, reread=lambda: [winner]) is None
        # Nobody ever recorded claim 1 (its runner died between the claim and the comment): claim 2.
        assert take_claim(client, n, nobody, sha=head, settle_s=0, reread=list) == 2
        refs = git.Repo(scene.emu.git_path(REPO)).git.for_each_ref("--format=%(refname)", "refs/kodo/").split()
        assert refs == [claim_ref(n, 1), claim_ref(n, 2)]
        scene.assert_valid()
    finally:
        client.close()
        scene.emu.stop()
