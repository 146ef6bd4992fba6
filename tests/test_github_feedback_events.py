"""Feedback events (reviews, comments, CI) read into typed triggers, from GitHub's own example payloads changed
only where a kodo-bot branch or a failure is needed; and what a comment asks of the bot."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from kodo_bot.errors import UserError
from kodo_bot.github.feedback import (
    CiResultTrigger,
    CommentTrigger,
    NotForUs,
    ReviewTrigger,
    issue_of_branch,
    parse_feedback,
    read_command,
)
from tests.emulator_support import EXAMPLES

BRANCH = "kodo/issue-12-fix-the-greeting"


def example(name: str, **changes: Any) -> dict[str, Any]:
    """GitHub's example payload ``name``, with ``changes`` applied at ``__``-separated paths (``review__state``)."""
    return changed(json.loads((EXAMPLES / f"{name}.json").read_text()), **changes)


def changed(payload: dict[str, Any], **changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(payload)
    for path, value in changes.items():
        *parents, last = path.split("__")
        node = data
        for key in parents:
            node = node[key]
        node[last] = value
    return data


def on_kodo_branch(name: str, **changes: Any) -> dict[str, Any]:
    return example(name, pull_request__head__ref=BRANCH, **changes)


def test_a_review_requesting_changes_on_a_kodo_branch_is_a_review_trigger():
    payload = on_kodo_branch(
        "pull_request_review.submitted.0", review__state="changes_requested", review__body="Please rename it."
    )
    trigger = parse_feedback("pull_request_review", payload)
    assert isinstance(trigger, ReviewTrigger)
    assert (trigger.issue_number, trigger.pr_number, trigger.state, trigger.body) == (
        12,
        payload["pull_request"]["number"],
        "changes_requested",
        "Please rename it.",
    )
    assert trigger.review_id == payload["review"]["id"] and trigger.head_sha == payload["pull_request"]["head"]["sha"]
    assert trigger.sender_login == payload["sender"]["login"] and trigger.repo == payload["repository"]["full_name"]


def test_a_comment_review_counts_and_its_empty_body_is_kept_empty():
    trigger = parse_feedback("pull_request_review", on_kodo_branch("pull_request_review.submitted.0"))
    assert isinstance(trigger, ReviewTrigger) and trigger.state == "commented" and trigger.body == ""


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"review__state": "approved"}, "is approved"),
        ({"pull_request__head__ref": "changes"}, "not on a kodo-bot branch"),
        ({"pull_request__head__ref": "kodo/issue-x-y"}, "not on a kodo-bot branch"),
    ],
)
def test_approvals_and_other_branches_do_not_steer(changes, why):
    payload = changed(on_kodo_branch("pull_request_review.submitted.0"), **changes)
    result = parse_feedback("pull_request_review", payload)
    assert isinstance(result, NotForUs) and why in result.reason


def test_a_review_from_a_fork_with_a_kodo_like_branch_name_is_not_ours():
    payload = on_kodo_branch("pull_request_review.submitted.0")
    payload["pull_request"]["head"]["repo"]["full_name"] = "mallory/fork"
    assert isinstance(parse_feedback("pull_request_review", payload), NotForUs)


def test_inline_comments_come_with_their_review_never_one_by_one():
    result = parse_feedback("pull_request_review_comment", example("pull_request_review_comment.created.0"))
    assert isinstance(result, NotForUs) and "with its review" in result.reason


def test_an_issue_comment_is_read_whole_and_says_where_it_is():
    payload = example("issue_comment.created.0", comment__body="@kodo-bot please also add a test")
    trigger = parse_feedback("issue_comment", payload)
    assert isinstance(trigger, CommentTrigger) and not trigger.is_pull_request
    assert (trigger.number, trigger.comment_id) == (payload["issue"]["number"], payload["comment"]["id"])
    edited = parse_feedback("issue_comment", example("issue_comment.edited.7"))
    assert isinstance(edited, NotForUs)


def failed_run(**changes: Any) -> dict[str, Any]:
    base = {
        "workflow_run__head_branch": BRANCH,
        "workflow_run__event": "pull_request",
        "workflow_run__conclusion": "failure",
        "workflow_run__name": "CI",
    }
    return example("workflow_run.completed.1", **{**base, **changes})


def test_a_failed_ci_workflow_run_on_a_kodo_branch_is_a_ci_trigger():
    payload = failed_run()
    trigger = parse_feedback("workflow_run", payload)
    assert isinstance(trigger, CiResultTrigger) and trigger.source == "workflow_run"
    assert (trigger.issue_number, trigger.run_id, trigger.conclusion) == (12, payload["workflow_run"]["id"], "failure")
    assert trigger.head_sha == payload["workflow_run"]["head_sha"] and trigger.name == "CI"


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"workflow_run__conclusion": "cancelled"}, "ended cancelled"),
        ({"workflow_run__event": "issue_comment"}, "started by a issue_comment event"),
        ({"workflow_run__head_branch": "main"}, "not on a kodo-bot branch"),
    ],
)
def test_green_cancelled_or_non_ci_workflow_runs_do_not_steer(changes, why):
    """kodo-bot's own workflow runs on comments and reviews: its failures are not the repository's CI."""
    result = parse_feedback("workflow_run", failed_run(**changes))
    assert isinstance(result, NotForUs) and why in result.reason


def test_a_failed_check_suite_of_another_ci_app_is_a_trigger_but_actions_suites_are_left_to_workflow_run():
    other = example("check_suite.completed.2", check_suite__head_branch=BRANCH, check_suite__conclusion="failure")
    trigger = parse_feedback("check_suite", other)
    assert isinstance(trigger, CiResultTrigger) and trigger.source == "check_suite" and trigger.issue_number == 12
    actions = example("check_suite.completed.1", check_suite__head_branch=BRANCH, check_suite__conclusion="failure")
    result = parse_feedback("check_suite", actions)
    assert isinstance(result, NotForUs) and "workflow_run" in result.reason


def test_other_events_are_not_feedback_and_a_broken_payload_names_the_field():
    assert parse_feedback("issues", example("issues.labeled.9")) is None
    broken = on_kodo_branch("pull_request_review.submitted.0")
    del broken["review"]["id"]
    with pytest.raises(UserError, match=r"review\.id"):
        parse_feedback("pull_request_review", broken)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("/kodo stop", ("stop", "")),
        ("/kodo   retry  with more care", ("retry", "with more care")),
        ("Looks odd.\n/kodo STOP\nthanks", ("stop", "")),
        ("/kodo", ("help", "")),
        ("/kodo dance now", ("help", "dance now")),
        ("@kodo-bot please also handle zero", ("mention", "please also handle zero")),
        ("Hey @Kodo-Bot, rename it", ("mention", "Hey , rename it")),
        ("@kodo-bot[bot] do it", ("mention", "do it")),
        ("ping @kodo-botty about it", None),
        ("mail me at x@kodo-bot.dev", None),
        ("> /kodo stop\nI disagree with the above", None),
        ("```\n/kodo stop\n```", None),
        ("nothing for the bot", None),
        ("", None),
    ],
)
def test_what_a_comment_asks_of_the_bot(body, expected):
    assert read_command(body, "kodo-bot[bot]") == expected


def test_kodo_branches_name_their_issue():
    assert issue_of_branch(BRANCH) == 12 and issue_of_branch("kodo/issue-7-x") == 7
    assert issue_of_branch("kodo/run-20261203") is None and issue_of_branch(None) is None
    assert issue_of_branch("feature/kodo/issue-1-x") is None


def test_a_green_ci_run_on_a_kodo_branch_is_a_passed_result():
    trigger = parse_feedback("workflow_run", failed_run(workflow_run__conclusion="success"))
    assert isinstance(trigger, CiResultTrigger) and trigger.passed
    assert not parse_feedback("workflow_run", failed_run()).passed
