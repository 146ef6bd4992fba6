"""The emulator driven by the real PyGithub client through a labelled-issue-to-PR bot's whole flow,
with every request and response checked against GitHub's OpenAPI description."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
import requests
from github import GithubException, UnknownObjectException

from kodo_bot.sandbox.github_emulator import GitHubEmulator
from tests.emulator_support import BOT, REPO, push_branch


def test_full_bot_flow_through_pygithub_validates_against_githubs_description(scene, gh_factory):
    emu = scene.emu
    issue = emu.create_issue(REPO, "Fix the greeting", "It should say hello.", user="alice")
    event = emu.label_issue(REPO, issue.number, "kodo", actor="alice")
    assert event["action"] == "labeled" and event["label"]["name"] == "kodo"
    assert event["sender"]["login"] == "alice" and event["issue"]["number"] == issue.number

    gh = gh_factory(emu, scene.token)
    repo = gh.get_repo(REPO)
    assert (repo.full_name, repo.default_branch) == (REPO, "main")
    assert repo.clone_url == emu.git_url(REPO) and repo.clone_url.startswith("file://")
    gh_issue = repo.get_issue(issue.number)
    assert [label.name for label in gh_issue.labels] == ["kodo"]
    assert gh_issue.user.login == "alice" and gh_issue.pull_request is None
    assert repo.get_collaborator_permission("alice") == "write"
    assert repo.get_contents(".github/kodo.yml").decoded_content == b"trigger_label: kodo\n"

    progress = gh_issue.create_comment("Working on it.")
    progress.edit("Working on it. Cycle 1 of 3.")
    gh_issue.add_to_labels("kodo:working")
    gh_issue.remove_from_labels("kodo")
    with pytest.raises(UnknownObjectException):
        repo.get_label("kodo:done")
    repo.create_label("kodo:done", "0e8a16", "kodo finished")

    sha = push_branch(emu, REPO, "kodo/issue-1", {"src/app.py": "print('hello')\n"}, scene.tmp / "work")
    pr = repo.create_pull(
        base="main", head="kodo/issue-1", title="Fix the greeting", body=f"Closes #{issue.number}", draft=True
    )
    assert pr.draft is True and pr.head.sha == sha and pr.number == issue.number + 1
    assert pr.mergeable is None  # GitHub computes mergeability in the background
    pr.create_issue_comment("Verified: 3 checks passed.")
    commit = repo.get_commit(sha)
    commit.create_status("success", target_url="https://ci.example/1", description="verified", context="kodo/verify")
    assert commit.get_combined_status().state == "success"
    assert [s.context for s in commit.get_statuses()] == ["kodo/verify"]
    assert pr.mark_ready_for_review() == {"clientMutationId": None, "pullRequest": {"isDraft": False}}
    assert repo.get_pull(pr.number).draft is False
    assert [p.number for p in repo.get_pulls(state="open", head="octo:kodo/issue-1")] == [pr.number]
    assert repo.get_branch("kodo/issue-1").commit.sha == sha
    assert repo.get_git_ref("heads/kodo/issue-1").object.sha == sha
    gh_issue.edit(state="closed", state_reason="completed")

    # the state, seen through the Python API
    assert [c.body for c in emu.comments(REPO, issue.number)] == ["Working on it. Cycle 1 of 3."]
    assert [c.user for c in emu.comments(REPO, pr.number)] == [BOT]
    assert emu.labels(REPO, issue.number) == ["kodo:working"]
    assert emu.issue(REPO, issue.number).state == "closed"
    assert emu.issue(REPO, issue.number).state_reason == "completed"
    assert emu.pull(REPO, pr.number).draft is False and emu.pull(REPO, pr.number).head_sha == sha
    assert emu.combined_state(REPO, "kodo/issue-1") == "success"
    assert emu.branches(REPO)["kodo/issue-1"] == sha
    assert emu.graphql_call_count() == 1 and emu.rest_call_count() == len(emu.calls) - 1
    assert [d.name for d in emu.deliveries] == [
        "issues.opened",
        "issues.labeled",
        "issue_comment.created",
        "issue_comment.edited",
        "issues.labeled",
        "issues.unlabeled",
        "pull_request.opened",
        "issue_comment.created",
        "pull_request.ready_for_review",
        "issues.closed",
    ]

    emu.validation.assert_clean()
    assert emu.validation.warnings == []
    assert emu.validation.unmatched == [] and emu.validation.undocumented == []
    assert {
        "request pulls/create",
        "response pulls/create",
        "response repos/get-combined-status-for-ref",
        "request issues/add-labels",
        "response issues/remove-label",
    } <= set(emu.validation.checked)


def test_lists_paginate_with_absolute_link_headers(scene, gh_factory):
    emu = scene.emu
    issue = emu.create_issue(REPO, "Chatty", user="alice")
    for n in range(45):
        emu.add_comment(REPO, issue.number, f"comment {n}", "alice")
    gh = gh_factory(emu, scene.token, per_page=20)
    bodies = [c.body for c in gh.get_repo(REPO).get_issue(issue.number).get_comments()]
    assert bodies == [f"comment {n}" for n in range(45)]
    assert emu.rest_call_count("GET", r"/comments$") == 3

    answer = requests.get(
        f"{emu.api_url}/repos/{REPO}/issues/{issue.number}/comments?per_page=20&page=2",
        headers={"Authorization": f"Bearer {scene.token}", "User-Agent": "t"},
        timeout=5,
    )
    assert len(answer.json()) == 20
    links = answer.links
    assert links["next"]["url"].startswith(emu.api_url + f"/repos/{REPO}/issues/")
    assert "page=3" in links["next"]["url"] and "page=3" in links["last"]["url"]
    assert "page=1" in links["prev"]["url"] and "page=1" in links["first"]["url"]
    emu.validation.assert_clean()


def test_pull_head_follows_pushes_and_mergeability_is_computed_later(scene, gh_factory):
    emu, work = scene.emu, scene.tmp / "work"
    first = push_branch(emu, REPO, "feature", {"a.txt": "a\n"}, work)
    repo = gh_factory(emu, scene.token).get_repo(REPO)
    pr = repo.create_pull(base="main", head="feature", title="A", body="")
    assert (pr.mergeable, pr.mergeable_state) == (None, "unknown")
    again = repo.get_pull(pr.number)
    assert (again.mergeable, again.mergeable_state, again.commits, again.additions) == (True, "clean", 1, 1)
    second = push_branch(emu, REPO, "feature", {"b.txt": "b\n"}, work)
    moved = repo.get_pull(pr.number)
    assert moved.head.sha == second != first and moved.mergeable is None and moved.commits == 2
    emu.seed(REPO, {"a.txt": "conflict\n"}, message="Conflicting change on main")
    repo.get_pull(pr.number)
    assert (repo.get_pull(pr.number).mergeable, repo.get_pull(pr.number).mergeable_state) == (False, "dirty")
    emu.validation.assert_clean()


def test_opening_a_pull_request_fails_like_github(scene, gh_factory):
    emu = scene.emu
    repo = gh_factory(emu, scene.token).get_repo(REPO)

    def refused(**kwargs) -> dict:
        with pytest.raises(GithubException) as caught:
            repo.create_pull(**{"base": "main", "title": "T", "body": "", **kwargs})
        assert caught.value.status == 422 and caught.value.data["message"] == "Validation Failed"
        return caught.value.data["errors"][0]

    assert refused(head="nope") == {"resource": "PullRequest", "field": "head", "code": "invalid"}
    assert refused(head="someone-else:feature")["field"] == "head"
    push_branch(emu, REPO, "feature", {"x.txt": "x\n"}, scene.tmp / "work")
    repo.create_pull(base="main", head="feature", title="T", body="")
    assert refused(head="feature")["message"] == "A pull request already exists for octo:feature."
    assert refused(head="main")["message"] == "No commits between main and main"
    assert refused(head="feature", base="nope") == {"resource": "PullRequest", "field": "base", "code": "invalid"}

    emu.add_repo("octo/private", private=True, draft_prs=False, files={"f": "1\n"})
    push_branch(emu, "octo/private", "feature", {"g": "2\n"}, scene.tmp / "work2")
    private = gh_factory(emu, scene.token).get_repo("octo/private")
    with pytest.raises(GithubException) as caught:
        private.create_pull(base="main", head="feature", title="T", body="", draft=True)
    assert caught.value.data["errors"][0]["message"] == "Draft pull requests are not supported in this repository."


def test_issues_and_pulls_share_numbers_and_state(scene, gh_factory):
    emu = scene.emu
    first = emu.create_issue(REPO, "One", user="alice")
    push_branch(emu, REPO, "feature", {"x.txt": "x\n"}, scene.tmp / "work")
    repo = gh_factory(emu, scene.token).get_repo(REPO)
    pr = repo.create_pull(base="main", head="feature", title="Two", body="")
    third = emu.create_issue(REPO, "Three", user="alice")
    assert (first.number, pr.number, third.number) == (1, 2, 3)
    as_issue = repo.get_issue(pr.number)
    assert as_issue.pull_request is not None and as_issue.html_url.endswith("/pull/2")
    assert sorted(i.number for i in repo.get_issues(state="open")) == [1, 2, 3]
    as_issue.edit(state="closed")  # closing the issue side closes the PR
    assert repo.get_pull(pr.number).state == "closed"
    with pytest.raises(UnknownObjectException):
        repo.get_pull(first.number)
    emu.validation.assert_clean()


def test_contents_come_from_real_git(scene, gh_factory):
    emu = scene.emu
    repo = gh_factory(emu, scene.token).get_repo(REPO)
    listing = repo.get_contents("src")
    assert [(c.type, c.path) for c in listing] == [("file", "src/app.py")]
    sha = push_branch(emu, REPO, "other", {".github/kodo.yml": "trigger_label: other\n"}, scene.tmp / "work")
    assert repo.get_contents(".github/kodo.yml", ref="other").decoded_content == b"trigger_label: other\n"
    assert repo.get_contents(".github/kodo.yml", ref=sha).decoded_content == b"trigger_label: other\n"
    assert repo.get_contents(".github/kodo.yml").decoded_content == b"trigger_label: kodo\n"
    with pytest.raises(UnknownObjectException):
        repo.get_contents("missing.txt")
    emu.validation.assert_clean()


def test_statuses_combine_latest_per_context(scene, gh_factory):
    emu = scene.emu
    sha = emu.branches(REPO)["main"]
    commit = gh_factory(emu, scene.token).get_repo(REPO).get_commit(sha)
    assert commit.get_combined_status().state == "pending"  # no statuses yet
    commit.create_status("pending", context="kodo/verify")
    commit.create_status("failure", context="ci")
    assert commit.get_combined_status().state == "failure"
    commit.create_status("success", context="ci")
    assert commit.get_combined_status().state == "pending"
    commit.create_status("success", context="kodo/verify")
    combined = commit.get_combined_status()
    assert combined.state == "success" and combined.total_count == 2
    assert [s.state for s in emu.statuses(REPO, "main")] == ["success", "success", "failure", "pending"]
    with pytest.raises(GithubException) as caught:
        commit.create_status("success", description="x" * 141)
    assert caught.value.status == 422
    with pytest.raises(GithubException) as caught:
        gh_factory(emu, scene.token).get_repo(REPO).get_commit("0" * 40)
    assert caught.value.status == 422 and caught.value.data["message"].startswith("No commit found for SHA")
    emu.validation.assert_clean()


def test_git_refs_read_and_write_the_bare_repository(scene, gh_factory):
    emu = scene.emu
    repo = gh_factory(emu, scene.token).get_repo(REPO)
    main = emu.branches(REPO)["main"]
    ref = repo.create_git_ref("refs/heads/copy", main)
    assert ref.object.sha == main and emu.branches(REPO)["copy"] == main
    newer = push_branch(emu, REPO, "ahead", {"n.txt": "n\n"}, scene.tmp / "work")
    ref.edit(newer)  # a fast-forward
    assert emu.branches(REPO)["copy"] == newer
    with pytest.raises(GithubException) as caught:
        ref.edit(main)  # not a fast-forward without force
    assert caught.value.data["message"] == "Update is not a fast forward"
    ref.edit(main, force=True)
    assert [r.ref for r in repo.get_git_matching_refs("heads/")] == [
        "refs/heads/ahead",
        "refs/heads/copy",
        "refs/heads/main",
    ]
    ref.delete()
    assert "copy" not in emu.branches(REPO)
    with pytest.raises(UnknownObjectException):
        repo.get_git_ref("heads/copy")
    with pytest.raises(GithubException) as caught:
        repo.get_branch("copy")
    assert caught.value.status == 404 and caught.value.data["message"] == "Branch not found"
    emu.validation.assert_clean()


def test_labels_behave_like_githubs(scene, gh_factory):
    emu = scene.emu
    issue = emu.create_issue(REPO, "Labels", user="alice")
    gh_issue = gh_factory(emu, scene.token).get_repo(REPO).get_issue(issue.number)
    gh_issue.add_to_labels("needs triage", "kodo")
    created = emu.repo(REPO).labels["needs triage"]
    assert created.color == "ededed"  # GitHub creates unknown labels on first use
    gh_issue.remove_from_labels("needs triage")  # percent-encoded in the path
    with pytest.raises(GithubException) as caught:  # not UnknownObjectException: no "not found" in it
        gh_issue.remove_from_labels("never-there")
    assert (caught.value.status, caught.value.data["message"]) == (404, "Label does not exist")
    gh_issue.set_labels("a", "b")
    assert emu.labels(REPO, issue.number) == ["a", "b"]
    gh_issue.delete_labels()
    assert emu.labels(REPO, issue.number) == []
    repo = gh_factory(emu, scene.token).get_repo(REPO)
    with pytest.raises(GithubException) as caught:
        repo.create_label("KODO", "ffffff")  # names are case-insensitive
    assert caught.value.data["errors"] == [{"resource": "Label", "code": "already_exists", "field": "name"}]
    with pytest.raises(GithubException) as caught:
        repo.create_label("fresh", "#ffffff")
    assert caught.value.data["errors"][0]["field"] == "color"
    emu.validation.assert_clean()


@pytest.mark.parametrize(
    ("role", "permission"),
    [("admin", "admin"), ("maintain", "write"), ("write", "write"), ("triage", "read"), ("read", "read")],
)
def test_collaborator_permission_uses_githubs_legacy_mapping(scene, role, permission):
    emu = scene.emu
    emu.add_collaborator(REPO, "carol", role)
    answer = requests.get(
        f"{emu.api_url}/repos/{REPO}/collaborators/carol/permission",
        headers={"Authorization": f"token {scene.token}", "User-Agent": "t"},
        timeout=5,
    ).json()
    assert (answer["permission"], answer["role_name"], answer["user"]["role_name"]) == (permission, role, role)
    emu.validation.assert_clean()


def test_collaborator_permission_for_owners_outsiders_and_private_repos(scene, gh_factory):
    emu = scene.emu
    repo = gh_factory(emu, scene.token).get_repo(REPO)
    assert repo.get_collaborator_permission("octo") == "admin"
    assert repo.get_collaborator_permission("bob") == "read"  # anyone can read a public repository
    emu.add_repo("octo/secret", private=True)
    assert gh_factory(emu, scene.token).get_repo("octo/secret").get_collaborator_permission("bob") == "none"
    with pytest.raises(UnknownObjectException):
        repo.get_collaborator_permission("nobody-at-all")
    alice = gh_factory(emu, emu.add_token("alice"))
    emu.add_collaborator(REPO, "alice", "read")
    with pytest.raises(GithubException) as caught:
        alice.get_repo(REPO).get_collaborator_permission("bob")
    assert caught.value.status == 403
    assert caught.value.data["message"] == "Must have push access to view collaborator permission."


def test_scene_api_returns_copies(scene):
    issue = scene.emu.create_issue(REPO, "Original", user="alice")
    issue.title = "changed outside"
    issue.labels.append("sneaky")
    assert scene.emu.issue(REPO, issue.number).title == "Original"
    assert scene.emu.labels(REPO, issue.number) == []


def test_concurrent_clients_do_not_lose_writes(scene, gh_factory):
    emu = scene.emu
    issue = emu.create_issue(REPO, "Busy", user="alice")
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            gh_issue = gh_factory(emu, scene.token, lazy=True).get_repo(REPO).get_issue(issue.number)
            for k in range(8):
                gh_issue.create_comment(f"{n}-{k}")
        except BaseException as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    comments = emu.comments(REPO, issue.number)
    assert len(comments) == 48 and len({c.id for c in comments}) == 48
    emu.validation.assert_clean()


def test_an_injected_clock_makes_timestamps_deterministic(tmp_path, gh_factory):
    moment = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    with GitHubEmulator(tmp_path / "gh", clock=lambda: moment) as emu:
        emu.add_repo(REPO)
        issue = emu.create_issue(REPO, "When", user="alice")
        answer = gh_factory(emu, emu.add_token(BOT)).get_repo(REPO).get_issue(issue.number)
        assert answer.raw_data["created_at"] == "2024-01-02T03:04:05Z" and answer.created_at == moment
