"""Fault injection (errors, rate limits, stalls, dropped connections) and the call log."""

from __future__ import annotations

import time

import pytest
import requests
from github import GithubException, GithubRetry, RateLimitExceededException

from kodo_bot.sandbox.github_emulator import GitHubEmulator
from tests.emulator_support import REPO, push_branch


def quick_retry(total: int = 3) -> GithubRetry:
    return GithubRetry(total=total, backoff_factor=0, secondary_rate_wait=0.01, max_rate_limit_wait=5)


def test_errors_fire_a_set_number_of_times_and_pygithub_retries_through_them(scene, gh_factory):
    emu = scene.emu
    issue = emu.create_issue(REPO, "Flaky", user="alice")
    rule = emu.faults.add(method="POST", path_regex=r"/comments$", status=502, times=2)
    gh_issue = gh_factory(emu, scene.token, retry=quick_retry()).get_repo(REPO).get_issue(issue.number)
    assert gh_issue.create_comment("third time lucky").body == "third time lucky"
    posts = emu.calls_matching("POST", r"/comments$")
    assert [(c.status, c.fault) for c in posts] == [(502, "error"), (502, "error"), (201, None)]
    assert rule.hits == 2 and rule.exhausted
    assert len(emu.comments(REPO, issue.number)) == 1  # the failed attempts did not write

    emu.faults.add(method="POST", path_regex=r"/comments$", status=500)
    with pytest.raises(GithubException) as caught:
        gh_factory(emu, scene.token).get_repo(REPO).get_issue(issue.number).create_comment("no retry")
    assert caught.value.status == 500
    assert caught.value.data == {
        "message": "Internal Server Error",
        "documentation_url": "https://docs.github.com/rest",
        "status": "500",
    }
    emu.validation.assert_clean()  # injected answers are not held against the description


def test_an_applied_fault_writes_and_still_fails_so_blind_retries_duplicate(scene, gh_factory):
    emu = scene.emu
    issue = emu.create_issue(REPO, "Lost answer", user="alice")
    emu.faults.add(method="POST", path_regex=r"/comments$", status=502, applied=True)
    gh_issue = gh_factory(emu, scene.token, retry=quick_retry()).get_repo(REPO).get_issue(issue.number)
    gh_issue.create_comment("progress")
    assert [c.body for c in emu.comments(REPO, issue.number)] == ["progress", "progress"]


def test_skip_lets_the_first_matches_through(scene, gh_factory):
    emu = scene.emu
    issue = emu.create_issue(REPO, "Third fails", user="alice")
    emu.faults.add(method="POST", path_regex=r"/comments$", status=503, skip=2)
    gh_issue = gh_factory(emu, scene.token).get_repo(REPO).get_issue(issue.number)
    gh_issue.create_comment("1")
    gh_issue.create_comment("2")
    with pytest.raises(GithubException) as caught:
        gh_issue.create_comment("3")
    assert caught.value.status == 503
    gh_issue.create_comment("4")
    assert [c.body for c in emu.comments(REPO, issue.number)] == ["1", "2", "4"]


def test_primary_rate_limit_has_githubs_headers_and_message(scene, gh_factory):
    emu = scene.emu
    emu.faults.rate_limit(path_regex=rf"^/repos/{REPO}$", reset_in_s=120)
    answer = requests.get(
        f"{emu.api_url}/repos/{REPO}", timeout=5, headers={"Authorization": f"token {scene.token}", "User-Agent": "t"}
    )
    assert answer.status_code == 403
    assert answer.headers["x-ratelimit-remaining"] == "0" and answer.headers["x-ratelimit-resource"] == "core"
    assert 100 < int(answer.headers["x-ratelimit-reset"]) - time.time() <= 121
    assert answer.json()["message"].startswith("API rate limit exceeded for user ID ")

    emu.faults.rate_limit(path_regex=rf"^/repos/{REPO}$")
    with pytest.raises(RateLimitExceededException):
        gh_factory(emu, scene.token).get_repo(REPO)
    emu.faults.rate_limit(path_regex=rf"^/repos/{REPO}$", reset_in_s=0)  # PyGithub waits for the reset
    assert gh_factory(emu, scene.token, retry=quick_retry()).get_repo(REPO).name == "app"


@pytest.mark.parametrize("status", [403, 429])
def test_secondary_rate_limit_sends_retry_after_and_pygithub_waits_it_out(scene, gh_factory, status):
    emu = scene.emu
    rule = emu.faults.secondary_rate_limit(path_regex=rf"^/repos/{REPO}$", retry_after_s=0, times=2, status=status)
    gh = gh_factory(emu, scene.token, retry=quick_retry())
    assert gh.get_repo(REPO).name == "app" and rule.hits == 2
    refused = [c for c in emu.calls if c.fault]
    assert {c.status for c in refused} == {status}
    assert refused[0].response_body["message"].startswith("You have exceeded a secondary rate limit.")

    emu.faults.secondary_rate_limit(path_regex=rf"^/repos/{REPO}$", retry_after_s=7, status=status)
    answer = requests.get(
        f"{emu.api_url}/repos/{REPO}", timeout=5, headers={"Authorization": f"token {scene.token}", "User-Agent": "t"}
    )
    assert (answer.status_code, answer.headers["retry-after"]) == (status, "7")


def test_the_real_primary_limit_counts_requests_per_token(tmp_path, gh_factory):
    with GitHubEmulator(tmp_path / "gh", rate_limit=3) as emu:
        emu.add_repo(REPO)
        token = emu.add_token("busy[bot]")
        gh = gh_factory(emu, token)
        for _ in range(3):
            gh.get_repo(REPO)
        assert gh.rate_limiting[0] == 0
        with pytest.raises(RateLimitExceededException):
            gh.get_repo(REPO)
        other = gh_factory(emu, emu.add_token("calm[bot]"))
        assert other.get_repo(REPO).name == "app"  # each token has its own bucket


def test_slow_answers_arrive_late_and_can_time_a_client_out(scene, gh_factory):
    emu = scene.emu
    emu.faults.slow(path_regex=rf"^/repos/{REPO}$", delay_s=0.3, times=1)
    started = time.monotonic()
    gh_factory(emu, scene.token).get_repo(REPO)
    assert time.monotonic() - started >= 0.3
    emu.faults.slow(path_regex=rf"^/repos/{REPO}$", delay_s=1.5, times=1)
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(
            f"{emu.api_url}/repos/{REPO}",
            timeout=0.3,
            headers={"Authorization": f"token {scene.token}", "User-Agent": "t"},
        )


def test_dropped_connections_and_html_error_pages(scene, gh_factory):
    emu = scene.emu
    emu.faults.add(path_regex=rf"^/repos/{REPO}$", drop_connection=True, status=None)
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(
            f"{emu.api_url}/repos/{REPO}",
            timeout=5,
            headers={"Authorization": f"token {scene.token}", "User-Agent": "t"},
        )
    assert emu.calls[-1].status == 0 and emu.calls[-1].fault == "disconnect"
    emu.faults.add(path_regex=rf"^/repos/{REPO}$", status=502, body="<html><body>Unicorn!</body></html>")
    answer = requests.get(
        f"{emu.api_url}/repos/{REPO}", timeout=5, headers={"Authorization": f"token {scene.token}", "User-Agent": "t"}
    )
    assert answer.status_code == 502 and answer.headers["content-type"].startswith("text/html")


def test_graphql_can_be_faulted_and_is_counted_apart(scene, gh_factory):
    emu = scene.emu
    push_branch(emu, REPO, "feature", {"x.txt": "x\n"}, scene.tmp / "work")
    pr = (
        gh_factory(emu, scene.token)
        .get_repo(REPO)
        .create_pull(base="main", head="feature", title="T", body="", draft=True)
    )
    emu.faults.add(method="POST", path_regex=r"^/graphql$", status=502)
    with pytest.raises(GithubException):
        pr.mark_ready_for_review()
    pr.mark_ready_for_review()
    graphql = [c for c in emu.calls if c.graphql]
    assert [(c.status, c.operation) for c in graphql] == [(502, None), (200, "markPullRequestReadyForReview")]
    assert emu.graphql_call_count() == 2 and emu.pull(REPO, pr.number).draft is False


def test_the_call_log_records_what_the_client_did(scene, gh_factory):
    emu = scene.emu
    issue = emu.create_issue(REPO, "Count me", user="alice")
    gh_issue = gh_factory(emu, scene.token).get_repo(REPO).get_issue(issue.number)
    gh_issue.create_comment("one")
    gh_issue.create_comment("two")
    assert emu.rest_call_count() == 4
    assert emu.rest_call_count("POST") == 2 and emu.rest_call_count("GET", r"/issues/\d+$") == 1
    post = emu.calls_matching("POST")[0]
    assert (post.method, post.path, post.status, post.kind) == (
        "POST",
        f"/repos/{REPO}/issues/{issue.number}/comments",
        201,
        "rest",
    )
    assert post.operation == "issues/create-comment" and post.login == "kodo-bot[bot]"
    assert post.request_body == {"body": "one"} and post.response_body["body"] == "one"
    emu.calls.clear()
    assert emu.rest_call_count() == 0


def test_held_requests_are_answered_together_from_the_same_state(scene, gh_factory):
    import threading

    emu = scene.emu
    issue = emu.create_issue(REPO, "Race", user="alice")
    emu.faults.hold(parties=2, method="GET", path_regex=r"/comments$", timeout_s=10)
    seen: list[int] = []

    def read() -> None:
        seen.append(len(list(gh_factory(emu, scene.token).get_repo(REPO).get_issue(issue.number).get_comments())))

    first = threading.Thread(target=read)
    first.start()
    first.join(timeout=0.5)
    assert first.is_alive()  # held until the second reader arrives
    emu.add_comment(REPO, issue.number, "written while the first read waited", user="alice")
    read()
    first.join(timeout=10)
    assert seen == [1, 1]  # both answered after the comment: the same state
    read()  # the rule is used up: later reads are not held
    assert [c.fault for c in emu.calls_matching("GET", r"/comments$")] == ["hold", "hold", None]
