"""The OpenAPI checker on its own, and the GraphQL side of the emulator."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import requests
from github import GithubException, UnknownObjectException

from kodo_bot.sandbox.github_emulator._router import Router
from kodo_bot.sandbox.github_emulator.emulator import _ROUTE_MODULES
from kodo_bot.sandbox.github_emulator.openapi_check import OpenAPIChecker, Recorder
from tests.emulator_support import BOT, REPO, REST_SPEC, push_branch

SPEC = json.loads(REST_SPEC.read_text())
ISSUE = SPEC["components"]["examples"]["issue"]["value"]


@pytest.fixture(scope="module")
def checker() -> OpenAPIChecker:
    return OpenAPIChecker(REST_SPEC)


# -- the checker ----------------------------------------------------------------------------------------


def test_nullable_enums_accept_null_and_reject_strangers(checker):
    issue = dict(ISSUE, state_reason=None)
    assert checker.check_response("GET", "/repos/o/r/issues/1", 200, issue) == []
    [finding] = checker.check_response("GET", "/repos/o/r/issues/1", 200, dict(issue, state_reason="bogus"))
    assert (finding.severity, finding.pointer) == ("failure", "/state_reason")
    [finding] = checker.check_response("GET", "/repos/o/r/issues/1", 200, dict(issue, number="7"))
    assert (finding.severity, finding.pointer, finding.message) == (
        "failure",
        "/number",
        "'7' is not of type 'integer'",
    )
    [finding] = checker.check_response("GET", "/repos/o/r/issues/1", 200, dict(issue, created_at="2024-01-01 10:00"))
    assert finding.pointer == "/created_at" and "date-time" in finding.message


def test_a_missing_required_field_is_drift_in_a_response_but_an_error_in_a_request(checker):
    issue = {k: v for k, v in ISSUE.items() if k != "locked"}
    [finding] = checker.check_response("GET", "/repos/o/r/issues/1", 200, issue)
    assert (finding.severity, finding.message) == ("warning", "'locked' is a required property")
    [finding] = checker.check_request("POST", "/repos/o/r/issues/1/comments", {})
    assert (finding.severity, finding.direction) == ("failure", "request")


def test_githubs_own_examples_pass_for_every_operation_the_emulator_serves(checker):
    router = Router()
    for module in _ROUTE_MODULES:
        module.register(router)
    checked = 0
    for route in router.routes:
        template, op = checker.operation(route.method, _sample(route.template))
        assert op["operationId"] == route.operation, route.template
        for status, response in op["responses"].items():
            content = response.get("content", {}).get("application/json", {})
            for name, example in content.get("examples", {}).items():
                if "$ref" in example:
                    name = example["$ref"].rsplit("/", 1)[-1]
                    example = SPEC["components"]["examples"][name]
                if example["value"] is None:  # re-run's example: an empty body, nothing to check
                    continue
                findings = checker.check_response(route.method, _sample(route.template), int(status), example["value"])
                assert [f for f in findings if f.severity == "failure"] == [], (route.operation, name)
                checked += 1
    assert checked >= 25


def _sample(template: str) -> str:
    return (
        template.replace("{owner}", "o")
        .replace("{repo}", "r")
        .replace("{ref}", "heads/main")
        .replace("{path}", "README.md")
        .replace("{branch}", "main")
        .replace("{sha}", "abc")
        .replace("{name}", "bug")
        .replace("{username}", "u")
        .replace("{issue_number}", "1")
        .replace("{pull_number}", "2")
        .replace("{comment_id}", "3")
    )


def test_overlapping_one_of_branches_and_bare_label_lists_are_accepted(checker):
    private_user = SPEC["components"]["examples"]["private-user-response-with-public-and-private-profile-information"]
    assert [
        f for f in checker.check_response("GET", "/user", 200, private_user["value"]) if f.severity == "failure"
    ] == []
    assert checker.check_request("POST", "/repos/o/r/issues/1/labels", ["kodo"]) == []
    assert checker.check_request("PUT", "/repos/o/r/issues/1/labels", "kodo") == []
    template, op = checker.operation("GET", "/repos/o/r/statuses/abc")  # PyGithub's legacy spelling
    assert op["operationId"] == "repos/list-commit-statuses-for-ref"


def test_the_recorder_separates_failures_drift_unknown_paths_and_undocumented_statuses(checker):
    recorder = Recorder(checker)
    recorder.check_response("GET", "/repos/o/r/issues/1", 200, dict(ISSUE, number="x"))
    recorder.check_response("GET", "/repos/o/r/issues/1", 200, {k: v for k, v in ISSUE.items() if k != "locked"})
    recorder.check_response("GET", "/repos/o/r/nothing-here", 200, {})
    recorder.check_response("GET", "/repos/o/r", 401, {"message": "Bad credentials"})
    assert len(recorder.failures) == 1 and len(recorder.warnings) == 1
    assert recorder.unmatched == ["GET /repos/o/r/nothing-here"]
    assert recorder.undocumented == ["GET /repos/o/r -> 401"]
    with pytest.raises(AssertionError, match="not of type 'integer'"):
        recorder.assert_clean()


def test_the_emulator_does_not_need_the_description_or_jsonschema_unless_asked():
    code = (
        "import sys; from kodo_bot.sandbox.github_emulator import GitHubEmulator; "
        "GitHubEmulator().stop(); "
        "assert 'jsonschema' not in sys.modules and 'kodo_bot.sandbox.github_emulator.openapi_check' "
        "not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# -- GraphQL --------------------------------------------------------------------------------------------


def graphql(emu, token: str, query: str, variables: dict | None = None, url: str | None = None) -> dict:
    answer = requests.post(
        url or emu.graphql_url,
        json={"query": query, "variables": variables or {}},
        timeout=5,
        headers={"Authorization": f"bearer {token}", "User-Agent": "t"},
    )
    assert answer.status_code == 200
    return answer.json()


@pytest.fixture
def draft_pr(scene, gh_factory):
    push_branch(scene.emu, REPO, "feature", {"x.txt": "x\n"}, scene.tmp / "work")
    return (
        gh_factory(scene.emu, scene.token)
        .get_repo(REPO)
        .create_pull(base="main", head="feature", title="Draft", body="", draft=True)
    )


def test_queries_find_a_pull_requests_node_id_and_answer_only_what_was_asked(scene, draft_pr):
    emu = scene.emu
    found = graphql(
        emu,
        scene.token,
        """query($o: String!, $r: String!) {
        repository(owner: $o, name: $r) { nameWithOwner pr: pullRequest(number: 1) { id isDraft headRefName } } }""",
        {"o": "octo", "r": "app"},
    )
    assert found == {
        "data": {
            "repository": {
                "nameWithOwner": REPO,
                "pr": {"id": draft_pr.node_id, "isDraft": True, "headRefName": "feature"},
            }
        }
    }
    node = graphql(
        emu,
        scene.token,
        "query($id: ID!) { node(id: $id) { __typename ... on PullRequest { number } } }",
        {"id": draft_pr.node_id},
        url=emu.html_url + "/graphql",
    )  # both endpoint paths answer
    assert node == {"data": {"node": {"__typename": "PullRequest", "number": draft_pr.number}}}
    assert graphql(emu, scene.token, "{ viewer { login } }") == {"data": {"viewer": {"login": BOT}}}


def test_graphql_errors_have_githubs_shapes(scene, draft_pr, gh_factory):
    emu = scene.emu
    unknown_field = graphql(emu, scene.token, "{ viewer { login shoeSize } }")
    assert "data" not in unknown_field
    assert unknown_field["errors"][0]["message"] == "Field 'shoeSize' doesn't exist on type 'User'"
    missing = graphql(emu, scene.token, '{ node(id: "MDQ6Tm9wZTk5") { id } }')
    assert missing["data"] == {"node": None} and missing["errors"][0]["type"] == "NOT_FOUND"
    requester = gh_factory(emu, scene.token).requester
    with pytest.raises(UnknownObjectException):
        requester.graphql_query('{ repository(owner: "octo", name: "nope") { id } }', {})
    reader = emu.add_token("reader[bot]", permissions={"pull_requests": "read"})
    refused = graphql(
        emu,
        reader,
        """mutation($input: MarkPullRequestReadyForReviewInput!) {
        markPullRequestReadyForReview(input: $input) { pullRequest { isDraft } } }""",
        {"input": {"pullRequestId": draft_pr.node_id}},
    )
    assert refused["data"] == {"markPullRequestReadyForReview": None}
    assert refused["errors"][0]["type"] == "FORBIDDEN"
    assert refused["errors"][0]["message"] == "Resource not accessible by integration"
    assert emu.pull(REPO, draft_pr.number).draft is True
    assert (
        requests.get(
            emu.graphql_url, timeout=5, headers={"Authorization": f"token {scene.token}", "User-Agent": "t"}
        ).status_code
        == 404
    )


def test_draft_round_trip_through_pygithub(scene, draft_pr):
    assert draft_pr.mark_ready_for_review()["pullRequest"] == {"isDraft": False}
    assert draft_pr.draft is False and scene.emu.pull(REPO, draft_pr.number).draft is False
    assert draft_pr.convert_to_draft()["pullRequest"] == {"isDraft": True}
    assert scene.emu.pull(REPO, draft_pr.number).draft is True
    names = [d.name for d in scene.emu.deliveries if d.event == "pull_request"]
    assert names == ["pull_request.opened", "pull_request.ready_for_review", "pull_request.converted_to_draft"]
    scene.emu.validation.assert_clean()


def test_a_closed_pull_request_cannot_change_draft_state(scene, draft_pr):
    draft_pr.edit(state="closed")
    with pytest.raises(GithubException) as caught:
        draft_pr.mark_ready_for_review()
    assert caught.value.status == 400  # PyGithub's status for a GraphQL error that is not NOT_FOUND
    assert caught.value.data["errors"][0]["message"] == "Pull request is closed"
