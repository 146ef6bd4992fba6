"""Error answers in GitHub's shapes: 400, 401, 403, 404 and 422, and the permissions behind them."""

from __future__ import annotations

import http.client
import json

import pytest
import requests
from github import BadCredentialsException, GithubException, UnknownObjectException

from tests.emulator_support import REPO, push_branch


def call(emu, method: str, path: str, token: str | None = None, **kwargs) -> requests.Response:
    headers = {"User-Agent": "kodo-tests", **kwargs.pop("headers", {})}
    if token:
        headers["Authorization"] = f"token {token}"
    return requests.request(method, emu.api_url + path, headers=headers, timeout=5, **kwargs)


def test_missing_and_unknown_tokens_answer_401(scene, gh_factory):
    emu = scene.emu
    missing = call(emu, "GET", f"/repos/{REPO}")
    assert missing.status_code == 401
    assert missing.json() == {
        "message": "Requires authentication",
        "documentation_url": "https://docs.github.com/rest",
        "status": "401",
    }
    with pytest.raises(BadCredentialsException) as caught:
        gh_factory(emu, "ghs_not_a_token").get_repo(REPO)
    assert caught.value.status == 401 and caught.value.data["message"] == "Bad credentials"
    bearer = call(emu, "GET", f"/repos/{REPO}", headers={"Authorization": f"Bearer {scene.token}"})
    assert bearer.status_code == 200
    graphql = requests.post(
        emu.graphql_url, json={"query": "{ viewer { login } }"}, headers={"User-Agent": "t"}, timeout=5
    )
    assert graphql.status_code == 401
    emu.validation.assert_clean()


def test_a_token_without_a_permission_gets_githubs_403(scene, gh_factory):
    emu = scene.emu
    issue = emu.create_issue(REPO, "Read only", user="alice")
    reader = emu.add_token(
        "reader[bot]", permissions={"issues": "read", "pull_requests": "read", "contents": "read", "statuses": "read"}
    )
    repo = gh_factory(emu, reader).get_repo(REPO)
    gh_issue = repo.get_issue(issue.number)  # reading is allowed
    with pytest.raises(GithubException) as caught:
        gh_issue.create_comment("hi")
    assert caught.value.status == 403
    assert caught.value.data == {
        "message": "Resource not accessible by integration",
        "documentation_url": "https://docs.github.com/rest/issues/comments#create-an-issue-comment",
        "status": "403",
    }
    sha = emu.branches(REPO)["main"]
    for attempt in (
        lambda: gh_issue.add_to_labels("x"),
        lambda: repo.get_commit(sha).create_status("success"),
        lambda: repo.create_git_ref("refs/heads/x", sha),
    ):
        with pytest.raises(GithubException) as caught:
            attempt()
        assert caught.value.status == 403
    assert emu.comments(REPO, issue.number) == [] and emu.labels(REPO, issue.number) == []
    emu.validation.assert_clean()


def test_issue_routes_on_a_pull_request_accept_pull_request_permission(scene, gh_factory):
    emu = scene.emu
    push_branch(emu, REPO, "feature", {"x.txt": "x\n"}, scene.tmp / "work")
    pr = gh_factory(emu, scene.token).get_repo(REPO).create_pull(base="main", head="feature", title="T", body="")
    issue = emu.create_issue(REPO, "Plain issue", user="alice")
    prs_only = gh_factory(emu, emu.add_token("prs[bot]", permissions={"pull_requests": "write"})).get_repo(REPO)
    prs_only.get_pull(pr.number).create_issue_comment("allowed on a PR")
    with pytest.raises(GithubException) as caught:
        prs_only.get_issue(issue.number)
    assert caught.value.status == 403


def test_user_tokens_follow_the_users_role(scene, gh_factory):
    emu = scene.emu
    issue = emu.create_issue(REPO, "Mine", user="bob")
    bob = gh_factory(emu, emu.add_token("bob")).get_repo(REPO)  # bob has no role: he may read and comment
    bob_issue = bob.get_issue(issue.number)
    bob_issue.create_comment("I can comment on a public repository")
    with pytest.raises(GithubException) as caught:
        bob_issue.add_to_labels("kodo")  # labelling needs triage
    assert caught.value.data["message"] == "Resource not accessible by personal access token"
    bob_issue.edit(title="Mine, renamed")  # authors may edit their own issue
    assert emu.issue(REPO, issue.number).title == "Mine, renamed"
    me = gh_factory(emu, emu.add_token("alice")).get_user()
    assert me.login == "alice" and me.type == "User"
    emu.validation.assert_clean()


def test_installation_tokens_cannot_read_the_authenticated_user(scene, gh_factory):
    with pytest.raises(GithubException) as caught:
        _ = gh_factory(scene.emu, scene.token).get_user().login
    assert caught.value.status == 403
    assert caught.value.data["message"] == "Resource not accessible by integration"
    assert gh_factory(scene.emu, scene.token).get_user("alice").login == "alice"


def test_unknown_things_answer_404_not_found(scene, gh_factory):
    emu = scene.emu
    gh = gh_factory(emu, scene.token)
    with pytest.raises(UnknownObjectException) as caught:
        gh.get_repo("octo/missing")
    assert caught.value.data == {
        "message": "Not Found",
        "documentation_url": "https://docs.github.com/rest/repos/repos#get-a-repository",
        "status": "404",
    }
    with pytest.raises(UnknownObjectException):
        gh.get_repo(REPO).get_issue(999)
    with pytest.raises(UnknownObjectException):
        gh.get_repo(REPO).get_issue(1).get_comment(123)
    unknown_route = call(emu, "GET", f"/repos/{REPO}/no-such-thing", scene.token)
    assert unknown_route.status_code == 404 and unknown_route.json()["message"] == "Not Found"
    outside_api = requests.get(emu.html_url + f"/{REPO}", headers={"User-Agent": "t"}, timeout=5)
    assert outside_api.status_code == 404


def test_private_repositories_and_token_scopes_hide_as_404(scene, gh_factory):
    emu = scene.emu
    emu.add_repo("octo/secret", private=True, files={"f": "1\n"})
    with pytest.raises(UnknownObjectException):
        gh_factory(emu, emu.add_token("bob")).get_repo("octo/secret")
    emu.add_collaborator("octo/secret", "bob", "read")
    assert gh_factory(emu, emu.add_token("bob")).get_repo("octo/secret").private is True
    scoped = emu.add_token("scoped[bot]", repos=["octo/secret"])
    with pytest.raises(UnknownObjectException):
        gh_factory(emu, scoped).get_repo(REPO)
    assert gh_factory(emu, scoped).get_repo("octo/secret").full_name == "octo/secret"


def test_invalid_bodies_answer_422_like_github(scene):
    emu = scene.emu
    issue = emu.create_issue(REPO, "Bodies", user="alice")
    missing = call(emu, "POST", f"/repos/{REPO}/issues/{issue.number}/comments", scene.token, json={})
    assert missing.status_code == 422
    assert missing.json()["message"] == 'Invalid request.\n\n"body" wasn\'t supplied.'
    wrong = call(emu, "POST", f"/repos/{REPO}/issues/{issue.number}/comments", scene.token, json={"body": 5})
    assert wrong.status_code == 422 and "is not a string" in wrong.json()["message"]
    state = call(emu, "PATCH", f"/repos/{REPO}/issues/{issue.number}", scene.token, json={"state": "done"})
    assert state.status_code == 422
    not_json = call(emu, "POST", f"/repos/{REPO}/issues/{issue.number}/comments", scene.token, data=b"{nope")
    assert not_json.status_code == 400 and not_json.json()["message"] == "Problems parsing JSON"
    # GitHub's description agrees these requests were invalid, and the answers are in its error shapes
    failing = {(f.direction, f.operation) for f in emu.validation.failures}
    assert failing == {("request", "issues/create-comment"), ("request", "issues/update")}


def test_requests_without_a_user_agent_are_refused(scene):
    host, port = scene.emu.api_url.removeprefix("http://").split("/")[0].split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=5)  # sends no User-Agent of its own
    connection.request("GET", f"/api/v3/repos/{REPO}", headers={"Authorization": f"token {scene.token}"})
    answer = connection.getresponse()
    assert answer.status == 403 and "User-Agent" in json.loads(answer.read())["message"]
    connection.close()


def test_pygithub_leaves_slashes_in_label_names_unencoded(scene, gh_factory):
    """``Issue.remove_from_labels`` quotes with ``safe="/"``: a label with a slash cannot be removed that
    way (the path gains a segment); the raw request with ``%2F`` works."""
    emu = scene.emu
    issue = emu.create_issue(REPO, "Slash", user="alice", labels=["area/api"])
    with pytest.raises(UnknownObjectException):
        gh_factory(emu, scene.token).get_repo(REPO).get_issue(issue.number).remove_from_labels("area/api")
    answer = call(emu, "DELETE", f"/repos/{REPO}/issues/{issue.number}/labels/area%2Fapi", scene.token)
    assert answer.status_code == 200 and emu.labels(REPO, issue.number) == []


def test_an_emulator_bug_answers_500_and_keeps_the_traceback(scene, gh_factory, monkeypatch):
    emu = scene.emu
    issue = emu.create_issue(REPO, "Buggy", user="alice")

    def broken(*args, **kwargs):
        raise RuntimeError("renderer exploded")

    monkeypatch.setattr(emu._dispatcher.render, "issue", broken)
    with pytest.raises(GithubException) as caught:
        gh_factory(emu, scene.token).get_repo(REPO).get_issue(issue.number)
    assert caught.value.status == 500
    assert "renderer exploded" in emu.internal_errors[0]
    emu.internal_errors.clear()  # the fixture asserts none are left


def test_token_permissions_accept_the_workflow_spelling_and_refuse_typos(scene, gh_factory):
    emu = scene.emu
    token = emu.add_token("hyphen[bot]", permissions={"pull-requests": "read", "contents": "read"})
    assert gh_factory(emu, token).get_repo(REPO).get_pulls().totalCount == 0
    with pytest.raises(ValueError, match="unknown token permission 'pullrequests'"):
        emu.add_token("typo[bot]", permissions={"pullrequests": "write"})
    with pytest.raises(ValueError, match="must be none, read or write"):
        emu.add_token("typo[bot]", permissions={"issues": "admin"})
