"""CI in the emulator: workflows that really run, check suites and runs, jobs, streamed logs, re-runs,
all read through PyGithub and checked against GitHub's REST and webhook descriptions."""

from __future__ import annotations

import json

import pytest
import requests

from kodo_bot.sandbox.github_emulator.openapi_check import WebhookChecker
from tests.emulator_support import ALL_WRITE, BOT, EXAMPLES, REPO, WEBHOOK_SPEC, push_branch

CI_WRITE = ALL_WRITE | {"checks": "read", "actions": "write"}


@pytest.fixture
def ci(scene, gh_factory):
    emu = scene.emu
    token = emu.add_token("ci-reader[bot]", permissions=CI_WRITE)
    emu.add_workflow(REPO, name="CI", command="test -f fix.txt && echo all good")
    push_branch(emu, REPO, "kodo/fix", {"fix.txt": "fixed\n"}, scene.tmp / "work")
    repo = gh_factory(emu, token).get_repo(REPO)
    pr = repo.create_pull(base="main", head="kodo/fix", title="Fix")
    return emu, repo, pr, token


def test_a_workflow_run_on_a_pr_head_is_recorded_as_github_does(ci):
    emu, repo, pr, token = ci
    [payload] = emu.run_ci(REPO, "kodo/fix")
    run = payload["workflow_run"]
    assert (run["event"], run["conclusion"], run["head_branch"]) == ("pull_request", "success", "kodo/fix")
    assert run["pull_requests"][0]["number"] == pr.number
    [main_run] = emu.run_ci(REPO, "main")
    assert (main_run["workflow_run"]["event"], main_run["workflow_run"]["conclusion"]) == ("push", "failure")
    runs = repo.get_workflow_runs(branch="kodo/fix")
    assert [r.conclusion for r in runs] == ["success"]
    gh_run = repo.get_workflow_run(run["id"])
    [job] = gh_run.jobs()
    assert [s.name for s in job.steps][1].startswith("Run test -f fix.txt") and job.conclusion == "success"
    failing = repo.get_workflow_run(main_run["workflow_run"]["id"]).jobs()[0]
    assert [s.conclusion for s in failing.steps] == ["success", "failure", "success"]
    log = requests.get(failing.logs_url(), headers={"Authorization": f"token {token}", "User-Agent": "t"}, timeout=5)
    assert "##[error]Process completed with exit code 1." in log.text
    assert log.text.splitlines()[0][:4].isdigit() and log.text.splitlines()[0][27:29] == "Z "
    suites = repo.get_commit(pr.head.sha).get_check_suites()
    assert [(s.app.slug, s.conclusion) for s in suites] == [("github-actions", "success")]
    [check] = repo.get_commit(pr.head.sha).get_check_runs()
    assert (check.name, check.conclusion) == ("test", "success")
    assert [p.number for p in repo.get_commit(pr.head.sha).get_pulls()] == [pr.number]
    emu.validation.assert_clean()


def test_other_ci_apps_report_check_suites(ci):
    emu, repo, pr, _ = ci
    payload = emu.add_check_suite(REPO, pr.head.sha, app_slug="circleci", conclusion="failure", summary="2 failed")
    assert payload["check_suite"]["app"]["slug"] == "circleci"
    [check] = repo.get_check_suite(payload["check_suite"]["id"]).get_check_runs()
    assert (check.conclusion, check.output.summary) == ("failure", "2 failed")
    assert [s.app_slug for s in emu.check_suites(REPO, "kodo/fix")] == ["circleci"]
    emu.validation.assert_clean()


def test_a_rerun_runs_again_in_the_background(ci):
    emu, repo, pr, _ = ci
    [payload] = emu.run_ci(REPO, "kodo/fix")
    run = repo.get_workflow_run(payload["workflow_run"]["id"])
    assert run.rerun() is True
    emu.wait_for_ci()
    again = repo.get_workflow_run(run.id)
    assert (again.run_attempt, again.status, again.conclusion) == (2, "completed", "success")
    emu.validation.assert_clean()


def test_a_huge_log_is_streamed_and_a_timeout_fails_the_job(scene, gh_factory):
    emu = scene.emu
    emu.add_workflow(REPO, name="Big", command="head -c 50000000 /dev/zero | tr '\\0' 'x' | fold -w 1000")
    [payload] = emu.run_ci(REPO, "main")
    job = emu.workflow_runs(REPO)[0].job_ids[0]
    url = f"{emu.api_url}/repos/{REPO}/actions/jobs/{job}/logs"
    token = emu.add_token("reader[bot]", permissions={"actions": "read"})
    answer = requests.get(url, headers={"Authorization": f"token {token}", "User-Agent": "t"}, stream=True, timeout=30)
    assert answer.history[0].status_code == 302 and answer.status_code == 200
    size = sum(len(chunk) for chunk in answer.iter_content(1 << 20))
    assert size == emu.job_log(REPO, job).stat().st_size and size > 50_000_000
    assert payload["workflow_run"]["conclusion"] == "success"
    emu.add_repo("octo/slow", files={"README.md": "slow\n"})
    emu.ci_timeout_s = 0.5
    emu.add_workflow("octo/slow", name="Slow", command="sleep 30")
    [slow] = emu.run_ci("octo/slow", "main")
    assert slow["workflow_run"]["conclusion"] == "failure"
    log = emu.job_log("octo/slow", emu.workflow_runs("octo/slow")[0].job_ids[0]).read_text()
    assert "##[error]The action has timed out after 0.5 seconds." in log


def test_ci_webhooks_match_githubs_description_and_examples(ci):
    from tests.test_github_emulator_webhooks import shape_differences

    emu = ci[0]
    emu.run_ci(REPO, "kodo/fix")
    checker = WebhookChecker(WEBHOOK_SPEC)
    new = [d for d in emu.deliveries if d.event in ("check_run", "check_suite", "workflow_run")]
    assert [d.name for d in new] == ["check_run.completed", "check_suite.completed", "workflow_run.completed"]
    for delivery in new:
        assert checker.check(delivery.event, delivery.action, delivery.payload) == [], delivery.name
        for example in sorted(EXAMPLES.glob(f"{delivery.name}.*.json")):
            differences = shape_differences(json.loads(example.read_text()), delivery.payload)
            optional = {"missing /installation", "missing /organization"}
            # each example's app has its own permission list; the key set is the app's, not the shape's
            kept = [d for d in differences if d not in optional and "/permissions/" not in d]
            assert kept == [], f"{example.name}: {differences}"
    assert BOT
