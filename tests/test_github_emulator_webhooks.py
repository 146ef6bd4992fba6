"""Webhook payloads the emulator records, checked against GitHub's webhook description and compared in
shape with GitHub's real example deliveries."""

from __future__ import annotations

import json
import threading

import pytest
import requests

from kodo_bot.sandbox.github_emulator import GitHubEmulator
from kodo_bot.sandbox.github_emulator.openapi_check import WebhookChecker
from tests.emulator_support import ALL_WRITE, BOT, EXAMPLES, REPO, REST_SPEC, WEBHOOK_SPEC, push_branch

#: keys a real example has that only some deliveries carry (a transferred issue's ``changes``)
OPTIONAL = {"/changes"}


@pytest.fixture(scope="module")
def checker() -> WebhookChecker:
    return WebhookChecker(WEBHOOK_SPEC)


@pytest.fixture
def org_emu(tmp_path):
    """An organisation-owned repository and a GitHub App installation, as the richest examples have."""
    with GitHubEmulator(tmp_path / "gh", validate=REST_SPEC, installation_id=4242) as emu:
        emu.add_user("octo", type="Organization")
        emu.add_repo(REPO, files={"README.md": "# app\n"})
        emu.add_collaborator(REPO, "alice", "write")
        yield emu


def shape_differences(example, ours, path: str = "") -> list[str]:
    """Keys the example has that ours lacks, and JSON types that differ where both are non-null."""
    if isinstance(example, dict) and isinstance(ours, dict):
        out = []
        for key, value in example.items():
            where = f"{path}/{key}"
            if key not in ours:
                out += [] if where in OPTIONAL else [f"missing {where}"]
            else:
                out += shape_differences(value, ours[key], where)
        return out
    if isinstance(example, list) and isinstance(ours, list):
        return shape_differences(example[0], ours[0], f"{path}/0") if example and ours else []
    numbers = {int, float}
    if example is None or ours is None or type(example) is type(ours) or {type(example), type(ours)} <= numbers:
        return []
    return [f"type {path}: GitHub sends {type(example).__name__}, we send {type(ours).__name__}"]


def test_labelling_returns_the_payload_github_sends(org_emu, checker):
    issue = org_emu.create_issue(REPO, "Please fix", "details", user="alice")
    payload = org_emu.label_issue(REPO, issue.number, "kodo", actor="alice")
    assert checker.check("issues", "labeled", payload) == []
    assert (payload["action"], payload["label"]["name"], payload["sender"]["login"]) == ("labeled", "kodo", "alice")
    assert payload["issue"]["labels"][0]["name"] == "kodo"
    assert payload["issue"]["author_association"] == "COLLABORATOR"
    assert payload["installation"]["id"] == 4242 and payload["organization"]["login"] == "octo"
    for example in sorted(EXAMPLES.glob("issues.labeled.*.json")):
        assert shape_differences(json.loads(example.read_text()), payload) == [], example.name


def test_every_delivery_of_a_bot_run_matches_githubs_description_and_examples(org_emu, checker, gh_factory, tmp_path):
    emu = org_emu
    issue = emu.create_issue(REPO, "Please fix", "details", user="alice")
    emu.label_issue(REPO, issue.number, "kodo", actor="alice")
    token = emu.add_token(BOT, permissions=ALL_WRITE)
    repo = gh_factory(emu, token).get_repo(REPO)
    gh_issue = repo.get_issue(issue.number)
    gh_issue.create_comment("on it").edit("on it, cycle 1")
    gh_issue.remove_from_labels("kodo")
    push_branch(emu, REPO, "kodo/issue-1", {"fix.txt": "fixed\n"}, tmp_path / "work")
    pr = repo.create_pull(base="main", head="kodo/issue-1", title="Fix", body="Closes #1", draft=True)
    pr.mark_ready_for_review()
    gh_issue.edit(state="closed")

    names = [d.name for d in emu.deliveries]
    assert names == [
        "issues.opened",
        "issues.labeled",
        "issue_comment.created",
        "issue_comment.edited",
        "issues.unlabeled",
        "pull_request.opened",
        "pull_request.ready_for_review",
        "issues.closed",
    ]
    for delivery in emu.deliveries:
        assert checker.check(delivery.event, delivery.action, delivery.payload) == [], delivery.name
        for example in sorted(EXAMPLES.glob(f"{delivery.name}.*.json")):
            differences = shape_differences(json.loads(example.read_text()), delivery.payload)
            assert differences == [], f"{delivery.name} vs {example.name}: {differences}"
    comment = emu.deliveries[2].payload
    assert comment["sender"]["type"] == "Bot" and comment["comment"]["user"]["login"] == BOT  # a bot must skip these
    assert emu.deliveries[3].payload["changes"] == {"body": {"from": "on it"}}
    opened = emu.deliveries[5].payload
    assert opened["pull_request"]["draft"] is True and opened["pull_request"]["mergeable"] is None
    assert opened["number"] == pr.number
    emu.validation.assert_clean()


def test_subscribers_run_outside_the_lock_and_may_call_the_emulator(org_emu, gh_factory):
    emu = org_emu
    token = emu.add_token(BOT, permissions=ALL_WRITE)
    seen: list[tuple[str, int]] = []

    def on_delivery(delivery) -> None:  # a bot reacting to the event over HTTP, from the server's thread
        number = delivery.payload["issue"]["number"]
        answer = requests.get(
            f"{emu.api_url}/repos/{REPO}/issues/{number}",
            timeout=5,
            headers={"Authorization": f"token {token}", "User-Agent": "hook"},
        )
        seen.append((delivery.name, answer.status_code))

    emu.on_webhook(on_delivery)
    issue = emu.create_issue(REPO, "Hooked", user="alice")  # delivered from the test's thread
    worker = threading.Thread(
        target=lambda: (
            gh_factory(emu, token).get_repo(REPO).get_issue(issue.number).create_comment("from the server thread")
        )
    )
    worker.start()
    worker.join(timeout=10)
    assert not worker.is_alive()
    assert seen == [("issues.opened", 200), ("issue_comment.created", 200)]


def test_deliveries_carry_githubs_headers(org_emu):
    org_emu.create_issue(REPO, "Headers", user="alice")
    delivery = org_emu.deliveries[-1]
    headers = delivery.headers()
    assert headers["X-GitHub-Event"] == "issues" and headers["X-GitHub-Delivery"] == delivery.id
    assert delivery.name == "issues.opened"


def test_a_failing_subscriber_is_reported_without_failing_the_request(org_emu, gh_factory):
    emu = org_emu
    issue = emu.create_issue(REPO, "Fragile hook", user="alice")

    def explode(delivery) -> None:
        raise RuntimeError("subscriber bug")

    emu.on_webhook(explode)
    token = emu.add_token(BOT, permissions=ALL_WRITE)
    gh_factory(emu, token).get_repo(REPO).get_issue(issue.number).create_comment("still posted")
    assert [c.body for c in emu.comments(REPO, issue.number)] == ["still posted"]
    assert "subscriber bug" in emu.internal_errors[0]
