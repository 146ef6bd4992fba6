"""Narrow tests of the GitHub client's retries and error translation, with `responses` faking HTTP.

The whole flow runs against the emulator elsewhere; here each test pins one behaviour of the transport:
what is retried, how long it waits, when it gives up, and what the error says.
"""

from __future__ import annotations

import json
import time

import pytest
import responses
from urllib3.response import HTTPResponse

from kodo_bot.errors import GitHubError
from kodo_bot.github._transport import GitHubRefused
from kodo_bot.github.client import GitHubClient, PullInfo, RetryPolicy

API = "https://api.github.com:443"  # PyGithub puts the port in the URL it sends
ISSUE = f"{API}/repos/octo/app/issues/7"
COMMENTS = f"{ISSUE}/comments"
TOKEN = "ghs_" + "x" * 36


def issue_json(**extra) -> dict:
    return {
        "number": 7,
        "title": "Add hello",
        "body": "please",
        "state": "open",
        "labels": [{"name": "kodo"}],
        "user": {"login": "alice", "type": "User"},
        "html_url": "https://github.com/octo/app/issues/7",
        "url": "https://api.github.com/repos/octo/app/issues/7",
        **extra,
    }


def comment_json(cid: int, body: str) -> dict:
    return {
        "id": cid,
        "body": body,
        "user": {"login": "github-actions[bot]", "type": "Bot"},
        "html_url": f"https://github.com/octo/app/issues/7#issuecomment-{cid}",
        "url": f"https://api.github.com/repos/octo/app/issues/comments/{cid}",
        # GitHub always sends it; without it PyGithub would fetch the comment again to complete it
        "created_at": "2026-12-01T10:00:00Z",
    }


@pytest.fixture
def client():
    c = GitHubClient(
        token=TOKEN,
        repo="octo/app",
        api_url="https://api.github.com",
        retry=RetryPolicy(
            retries=3, backoff_s=0.01, max_wait_s=1.5, secondary_wait_s=0.1, between_requests_s=0, between_writes_s=0
        ),
    )
    yield c
    c.close()


@responses.activate
def test_5xx_is_retried_and_counted_once(client):
    responses.get(ISSUE, status=502, json={"message": "Bad Gateway"})
    responses.get(ISSUE, status=503, json={"message": "Service Unavailable"})
    responses.get(ISSUE, json=issue_json())
    assert client.issue(7).labels == ("kodo",)
    assert len(responses.calls) == 3
    assert client.counter.by_kind == {"GET /repos/:repo/issues/:n": 1}


@responses.activate
def test_5xx_forever_gives_up_bounded_with_a_clear_error(client):
    responses.get(ISSUE, status=500, json={"message": "Server Error"})
    started = time.monotonic()
    with pytest.raises(GitHubError, match="kept failing .*500.* read issue #7") as err:
        client.issue(7)
    assert not isinstance(err.value, GitHubRefused)  # transient: worth trying again later
    assert len(responses.calls) == 4  # the first try and three retries
    assert time.monotonic() - started < 5


LIMITED = {"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."}


@responses.activate
@pytest.mark.parametrize("status", [403, 429])
def test_secondary_rate_limit_is_retried(client, status):
    responses.get(ISSUE, status=status, json=LIMITED, headers={"Retry-After": "1"})
    responses.get(ISSUE, json=issue_json())
    assert client.issue(7).number == 7
    assert len(responses.calls) == 2


def test_the_transport_honours_retry_after_but_caps_it():
    # `responses` replays urllib3's retry decisions but never sleeps, so the wait is checked on the policy.
    retry = RetryPolicy(max_wait_s=30).urllib3_retry()
    assert retry.respect_retry_after_header
    assert retry.get_retry_after(HTTPResponse(status=503, headers={"Retry-After": "12"})) == 12
    assert retry.get_retry_after(HTTPResponse(status=429, headers={"Retry-After": "3600"})) == 30
    assert {429, 500, 502, 503, 504} <= set(retry.status_forcelist) and 403 in retry.status_forcelist
    assert "PATCH" in retry.allowed_methods and "POST" in retry.allowed_methods
    assert "POST" not in RetryPolicy().urllib3_retry(post=False).allowed_methods


@responses.activate
def test_posting_a_comment_waits_as_github_asks(client, monkeypatch):
    slept = []
    monkeypatch.setattr("kodo_bot.github.client.time.sleep", slept.append)
    responses.post(COMMENTS, status=403, json=LIMITED, headers={"Retry-After": "1"})
    responses.get(COMMENTS, json=[])
    responses.post(COMMENTS, status=201, json=comment_json(14, "hi"))
    assert client.create_comment(7, "hi").id == 14
    assert slept == [1.0]


PRIMARY = {"message": "API rate limit exceeded for installation ID 1."}


@responses.activate
def test_primary_rate_limit_is_retried_after_the_reset(client):
    reset = int(time.time())  # resetting now: the retry waits at most the one second GitHub's clock may lag
    responses.get(
        ISSUE, status=403, json=PRIMARY, headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)}
    )
    responses.get(ISSUE, json=issue_json())
    assert client.issue(7).number == 7


@responses.activate
def test_a_rate_limit_longer_than_allowed_is_a_clear_error_not_a_hang(client):
    reset = int(time.time()) + 3600
    responses.get(
        ISSUE, status=403, json=PRIMARY, headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)}
    )
    started = time.monotonic()
    with pytest.raises(GitHubRefused, match="rate limit is used up") as err:
        client.issue(7)
    assert time.monotonic() - started < 2
    assert "reset" in err.value.hint and "label again" in err.value.hint


@responses.activate
def test_401_says_the_token_is_bad(client):
    responses.get(ISSUE, status=401, json={"message": "Bad credentials"})
    with pytest.raises(GitHubRefused, match="rejected the token") as err:
        client.issue(7)
    assert "valid `github-token`" in err.value.hint


@responses.activate
def test_403_names_the_missing_permission(client):
    responses.post(COMMENTS, status=403, json={"message": "Resource not accessible by integration"})
    with pytest.raises(GitHubRefused, match=r"cannot comment on #7 .*grant `issues: write`") as err:
        client.create_comment(7, "hello")
    assert "permissions:" in err.value.hint
    assert len(responses.calls) == 1  # a plain 403 is not retried


@responses.activate
def test_404_says_missing_or_invisible(client):
    responses.get(ISSUE, status=404, json={"message": "Not Found"})
    with pytest.raises(GitHubRefused, match="does not exist, or the token cannot see it"):
        client.issue(7)


@responses.activate
def test_the_actions_pull_request_setting_is_named_with_its_alternatives(client):
    message = "GitHub Actions is not permitted to create or approve pull requests."
    responses.post(f"{API}/repos/octo/app/pulls", status=403, json={"message": message})
    with pytest.raises(GitHubRefused, match="does not let GitHub Actions open pull requests") as err:
        client.create_pull(title="t", body="b", head="kodo/x", base="main")
    assert '"Allow GitHub Actions to create and approve pull requests"' in err.value.hint
    assert "App" in err.value.hint and "personal access token" in err.value.hint
    assert len(responses.calls) == 1


@responses.activate
def test_a_comment_saved_despite_a_502_is_not_posted_twice(client):
    body = '<!-- kodo-bot: {"run": "r1", "kind": "summary"} -->\nDone.'
    responses.post(COMMENTS, status=502, json={"message": "Bad Gateway"})
    responses.get(COMMENTS, json=[comment_json(11, "unrelated"), comment_json(12, body)])
    posted = client.create_comment(7, body)
    assert posted.id == 12
    assert [c.request.method for c in responses.calls] == ["POST", "GET"]


@responses.activate
def test_a_comment_lost_to_a_502_is_posted_again(client):
    responses.post(COMMENTS, status=502, json={"message": "Bad Gateway"})
    responses.get(COMMENTS, json=[])
    responses.post(COMMENTS, status=201, json=comment_json(13, "hello"))
    assert client.create_comment(7, "hello").id == 13
    assert [c.request.method for c in responses.calls] == ["POST", "GET", "POST"]


@responses.activate
def test_the_token_is_redacted_from_errors_and_posts(client):
    responses.post(COMMENTS, status=422, json={"message": f"Validation Failed for {TOKEN}"})
    with pytest.raises(GitHubError) as err:
        client.create_comment(7, f"the token is {TOKEN}")
    assert TOKEN not in str(err.value)
    assert TOKEN not in str(responses.calls[0].request.body)


@responses.activate
def test_ready_for_review_is_the_graphql_mutation(client):
    responses.post(
        f"{API}/graphql",
        json={"data": {"markPullRequestReadyForReview": {"clientMutationId": None, "pullRequest": {"isDraft": False}}}},
    )
    client.mark_ready(PullInfo(number=8, node_id="PR_kwDO123", html_url="", draft=True, head_ref="kodo/x"))
    sent = json.loads(responses.calls[0].request.body)
    assert "markPullRequestReadyForReview" in sent["query"]
    assert sent["variables"] == {"input": {"pullRequestId": "PR_kwDO123"}}
    assert client.counter.graphql == 1 and client.counter.rest == 0


@responses.activate
def test_a_graphql_error_is_a_github_error(client):
    responses.post(f"{API}/graphql", json={"errors": [{"type": "FORBIDDEN", "message": "Resource not accessible"}]})
    with pytest.raises(GitHubError, match="mark pull request #8 ready"):
        client.mark_ready(PullInfo(number=8, node_id="PR_x", html_url="", draft=True, head_ref="kodo/x"))


@responses.activate
def test_no_pacing_before_the_first_comment_then_githubs_pacing_for_bots(monkeypatch):
    slept: list[float] = []
    monkeypatch.setattr("kodo_bot.github.client.time.sleep", slept.append)
    paced = GitHubClient(
        token="t0k",
        repo="octo/app",
        api_url="https://api.github.com",
        retry=RetryPolicy(retries=0, between_requests_s=0.25, between_writes_s=1.0),
    )
    responses.get(ISSUE, json=issue_json())
    responses.post(COMMENTS, status=201, json=comment_json(14, "hi"))
    paced.issue(7)
    paced.issue(7)
    paced.create_comment(7, "hi")
    assert slept == []  # the person who added the label is waiting
    paced.pace()
    paced.issue(7)
    paced.create_comment(7, "hi")
    assert len(slept) == 2 and 0 < slept[0] <= 0.25 and 0.9 < slept[1] <= 1.0
    paced.close()


def test_all_the_retries_of_one_request_share_one_budget(tmp_path):
    from kodo_bot.sandbox.github_emulator import GitHubEmulator

    with GitHubEmulator(tmp_path) as emu:
        emu.add_repo("octo/app", files={"README.md": "hi\n"})
        issue = emu.create_issue("octo/app", "Flaky", user="octo")
        emu.faults.add(method="GET", path_regex=r"/issues/\d+$", status=503, headers={"Retry-After": "1"}, times=None)
        policy = RetryPolicy(
            retries=10, backoff_s=1, max_wait_s=1, budget_s=2, between_requests_s=0, between_writes_s=0
        )
        c = GitHubClient(token=emu.add_token("kodo[bot]"), repo="octo/app", api_url=emu.api_url, retry=policy)
        with pytest.raises(GitHubError, match="kept failing") as err:
            c.issue(issue.number)
        c.close()
    assert not isinstance(err.value, GitHubRefused)
    # ten retries were allowed, but the two-second budget (one-second waits) ends them after two or three
    assert 2 <= emu.rest_call_count("GET", r"/issues/\d+$") <= 4
