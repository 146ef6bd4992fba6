"""Reviews, inline comments, threads and reactions: driven through PyGithub and real git, every answer
checked against GitHub's REST description, every GraphQL document and answer against GitHub's schema."""

from __future__ import annotations

import json

import pytest
import requests
from github import GithubException

from kodo_bot.sandbox.github_emulator._errors import ApiError
from kodo_bot.sandbox.github_emulator.openapi_check import WebhookChecker
from tests.emulator_support import BOT, EXAMPLES, REPO, WEBHOOK_SPEC, graphql_checked, push_branch

APP = "line 1\nline 2\nline 3 changed\nline 4\n"


@pytest.fixture
def pr(scene, gh_factory):
    scene.emu.seed(REPO, {"app.txt": "line 1\nline 2\nline 3\nline 4\n"})
    push_branch(scene.emu, REPO, "kodo/fix", {"app.txt": APP}, scene.tmp / "work")
    return gh_factory(scene.emu, scene.token).get_repo(REPO).create_pull(base="main", head="kodo/fix", title="Fix")


def test_a_review_with_inline_comments_is_what_the_bot_reads_back(scene, pr):
    emu = scene.emu
    payload = emu.submit_review(
        REPO, pr.number, user="alice", event="REQUEST_CHANGES", body="Almost",
        comments=[{"path": "app.txt", "line": 3, "body": "Say why"}],
    )  # fmt: skip
    assert payload["review"]["state"] == "changes_requested"  # webhooks spell it in lower case
    names = [d.name for d in emu.deliveries[-2:]]
    assert names == ["pull_request_review.submitted", "pull_request_review_comment.created"]
    [review] = pr.get_reviews()
    assert (review.state, review.body, review.user.login) == ("CHANGES_REQUESTED", "Almost", "alice")
    [comment] = pr.get_review_comments()
    assert (comment.path, comment.line, comment.side, comment.commit_id) == ("app.txt", 3, "RIGHT", pr.head.sha)
    assert comment.diff_hunk == "@@ -1,4 +1,4 @@\n line 1\n line 2\n-line 3\n+line 3 changed"
    assert comment.pull_request_review_id == review.id and comment.position == 4
    reply = pr.create_review_comment_reply(comment.id, "Because the spec says so")
    assert reply.in_reply_to_id == comment.id
    [thread] = emu.review_threads(REPO, pr.number)
    assert [c.body for c in thread.comments] == ["Say why", "Because the spec says so"] and not thread.is_resolved
    assert [c.body for c in emu.review_comments(REPO, pr.number)] == ["Say why", "Because the spec says so"]
    assert [r.state for r in emu.reviews(REPO, pr.number)] == ["CHANGES_REQUESTED", "COMMENTED"]
    edited = pr.get_review_comment(comment.id)
    edited.edit("Say why, please")
    assert emu.review_comments(REPO, pr.number)[0].body == "Say why, please"
    emu.validation.assert_clean()


def test_a_comment_outside_the_diff_and_unknown_ids_get_githubs_errors(scene, pr, gh_factory):
    with pytest.raises(ApiError) as caught:
        scene.emu.submit_review(REPO, pr.number, user="alice", comments=[{"path": "app.txt", "line": 40, "body": "x"}])
    assert caught.value.status == 422
    with pytest.raises(GithubException) as refused:
        pr.create_review(body="x", event="COMMENT", comments=[{"path": "README.md", "line": 1, "body": "not in diff"}])
    assert refused.value.status == 422 and "part of the diff" in refused.value.data["errors"][0]
    assert scene.emu.reviews(REPO, pr.number) == []
    with pytest.raises(GithubException) as missing:
        pr.get_review(999)
    assert missing.value.status == 404
    with pytest.raises(GithubException) as own:
        gh_factory(scene.emu, scene.token).get_repo(REPO).get_pull(pr.number).create_review(event="APPROVE")
    assert own.value.status == 422 and own.value.data["errors"] == ["Can not approve your own pull request"]
    scene.emu.validation.assert_clean()


def test_threads_resolve_through_graphql_with_githubs_permissions(scene, pr):
    emu = scene.emu
    emu.submit_review(REPO, pr.number, user="alice", comments=[{"path": "app.txt", "line": 3, "body": "Why?"}])
    query = """query($o: String!, $r: String!, $n: Int!) { repository(owner: $o, name: $r) { pullRequest(number: $n) {
        isDraft reviewThreads(first: 10) { nodes { id isResolved path line
        comments(first: 10) { nodes { databaseId body author { login } } } } } } } }"""
    found = graphql_checked(emu, scene.token, query, {"o": "octo", "r": "app", "n": pr.number})
    [thread] = found["data"]["repository"]["pullRequest"]["reviewThreads"]["nodes"]
    assert (thread["isResolved"], thread["path"], thread["line"]) == (False, "app.txt", 3)
    assert thread["comments"]["nodes"][0]["author"] == {"login": "alice"}
    resolve = "mutation($id: ID!) { resolveReviewThread(input: {threadId: $id}) { thread { id isResolved } } }"
    reader = emu.add_token("reader[bot]", permissions={"pull_requests": "read"})
    refused = graphql_checked(emu, reader, resolve, {"id": thread["id"]})
    assert refused["data"] == {"resolveReviewThread": None} and refused["errors"][0]["type"] == "FORBIDDEN"
    done = graphql_checked(emu, scene.token, resolve, {"id": thread["id"]})
    assert done["data"]["resolveReviewThread"]["thread"] == {"id": thread["id"], "isResolved": True}
    assert emu.review_threads(REPO, pr.number)[0].is_resolved
    assert emu.deliveries[-1].name == "pull_request_review_thread.resolved"
    unresolve = "mutation($id: ID!) { unresolveReviewThread(input: {threadId: $id}) { thread { isResolved } } }"
    assert graphql_checked(emu, scene.token, unresolve, {"id": thread["id"]})["data"] == {
        "unresolveReviewThread": {"thread": {"isResolved": False}}
    }
    invalid = graphql_checked(emu, scene.token, "{ repository(owner: 1) { id } }")
    assert "data" not in invalid and invalid["errors"]
    assert len(emu.graphql_documents) == 5


def test_reactions_count_once_per_person_and_show_in_rollups(scene, pr, gh_factory):
    repo = gh_factory(scene.emu, scene.token).get_repo(REPO)
    issue_comment = repo.get_issue(pr.number).create_comment("On it")
    assert issue_comment.create_reaction("eyes").content == "eyes"
    issue_comment.create_reaction("eyes")  # GitHub answers 200 with the same reaction
    assert [r.content for r in scene.emu.reactions(REPO, issue_comment=issue_comment.id)] == ["eyes"]
    repo.get_issue(pr.number).create_reaction("rocket")
    scene.emu.submit_review(REPO, pr.number, user="alice", comments=[{"path": "app.txt", "line": 3, "body": "Hm"}])
    [comment] = pr.get_review_comments()
    comment.create_reaction("+1")
    assert pr.get_review_comment(comment.id).raw_data["reactions"]["+1"] == 1
    assert repo.get_issue(pr.number).raw_data["reactions"]["rocket"] == 1
    scene.emu.validation.assert_clean()


def test_review_webhooks_match_githubs_description_and_examples(scene, pr):
    from tests.test_github_emulator_webhooks import shape_differences

    emu = scene.emu
    emu.submit_review(REPO, pr.number, user="alice", event="COMMENT", body="Look",
                      comments=[{"path": "app.txt", "line": 3, "body": "Here"}])  # fmt: skip
    [thread] = emu.review_threads(REPO, pr.number)
    emu.resolve_review_thread(REPO, thread.id, actor="alice")
    emu.resolve_review_thread(REPO, thread.id, actor="alice", resolved=False)
    checker = WebhookChecker(WEBHOOK_SPEC)
    new = [d for d in emu.deliveries if d.event.startswith("pull_request_review")]
    assert [d.name for d in new] == [
        "pull_request_review.submitted",
        "pull_request_review_comment.created",
        "pull_request_review_thread.resolved",
        "pull_request_review_thread.unresolved",
    ]
    for delivery in new:
        assert checker.check(delivery.event, delivery.action, delivery.payload) == [], delivery.name
        for example in sorted(EXAMPLES.glob(f"{delivery.name}.*.json")):
            differences = shape_differences(json.loads(example.read_text()), delivery.payload)
            optional = {"missing /installation", "missing /organization"}  # a user-owned repo, no app
            assert [d for d in differences if d not in optional] == [], f"{example.name}: {differences}"


def test_graphql_answers_errors_for_fields_the_emulator_does_not_fill(scene, pr):
    answer = requests.post(
        scene.emu.graphql_url,
        json={"query": '{ repository(owner: "octo", name: "app") { pullRequest(number: 1) { viewerSubscription } } }'},
        headers={"Authorization": f"token {scene.token}", "User-Agent": "t"},
        timeout=5,
    ).json()
    assert answer["errors"][0]["type"] == "EMULATOR_UNSUPPORTED"
    assert BOT.endswith("[bot]")


def test_what_a_live_run_reads_back_comes_in_one_graphql_request_spelled_as_rest_spells_it(scene, pr):
    """The live run's one read per cycle (``GitHubClient.activity``): the issue's state and labels, the
    latest comments on the issue and its PR, the PR's reviews. GitHub's GraphQL names a bot without the
    ``[bot]`` REST gives it; the client puts it back, so the bot's own words are still its own."""
    from kodo_bot.github.client import GitHubClient, RetryPolicy
    from tests.github_support import assert_graphql_valid

    emu = scene.emu
    issue = emu.create_issue(REPO, "Do it", "body", user="alice")
    emu.label_issue(REPO, issue.number, "kodo", actor="alice")
    emu.add_comment(REPO, issue.number, "@kodo-bot also this", "alice")
    emu.add_comment(REPO, issue.number, "progress...", BOT)
    emu.add_comment(REPO, pr.number, "on the PR", "alice")
    emu.submit_review(REPO, pr.number, user="alice", event="COMMENT", body="Hm",
                      comments=[{"path": "app.txt", "line": 3, "body": "why?"}])  # fmt: skip
    client = GitHubClient(token=scene.token, repo=REPO, api_url=emu.api_url, retry=RetryPolicy.fast())
    before = len(emu.calls)

    seen = client.activity(issue.number, pr.number)

    assert [c.kind for c in emu.calls[before:]] == ["graphql"]
    assert (seen.issue_state, seen.labels) == ("open", ("kodo",))
    assert [(c.author, c.author_type, c.body) for c in seen.comments] == [
        ("alice", "User", "@kodo-bot also this"),
        (BOT, "Bot", "progress..."),
        ("alice", "User", "on the PR"),
    ]
    [review] = seen.reviews
    assert (review.author, review.state, review.body, review.commit_id) == ("alice", "commented", "Hm", pr.head.sha)
    # before the PR exists, the issue alone
    assert client.activity(issue.number, None).reviews == []
    # a long discussion costs nothing more: the latest comments come, the oldest are left
    for i in range(105):
        emu.add_comment(REPO, issue.number, f"chatter {i}", "alice")
    latest = client.activity(issue.number, None).comments
    assert len(latest) == 100 and latest[-1].body == "chatter 104"
    client.close()
    assert_graphql_valid(emu)
