"""What a reader of the PR and of the report learns about how a verdict was reached."""

from __future__ import annotations

from datetime import UTC, datetime

from kodo_bot.engine import events as ev
from kodo_bot.engine.models import CheckResult, CostReport, Evidence, Outcome, Verdict
from kodo_bot.engine.state import RunSettings, RunState
from kodo_bot.engine.team import default_team
from kodo_bot.github import render
from kodo_bot.report import render_report, run_summary

SHA = "a1b2c3d4" * 5


def test_a_detected_check_is_named_as_such_in_the_round_comment():
    event = ev.VerificationFinished(
        run_id="r1",
        cycle=1,
        round=1,
        sha=SHA,
        accepted=False,
        checks=[CheckResult(command="python3 -m pytest -q", source="detected", exit_code=1, output_tail="1 failed")],
    )
    body = render.render_verification_round(event)
    assert "kodo-bot detected the project's test command" in body
    assert "`python3 -m pytest -q` (detected) exited 1" in body


def test_evidence_from_an_edited_checkout_says_it_does_not_count():
    verdict = Verdict(
        verifier="tester",
        passed=False,
        engine_note="claimed checks not matched: `pytest -q` only passed on an edited checkout (added conftest.py)",
        evidence=(
            Evidence(command="pytest -q", exit_code=0, edited="added conftest.py"),
            Evidence(command="ls", exit_code=0, edited=""),
        ),
    )
    body = render.render_verification_round(
        ev.VerificationFinished(run_id="r1", cycle=1, round=1, sha=SHA, accepted=False, verdicts=[verdict])
    )
    assert "`pytest -q` → exit 0 · on an edited checkout (added conftest.py): does not count" in body
    assert "`ls` → exit 0\n" in body + "\n"
    assert "**Note from kodo-bot:** claimed checks not matched" in body


def test_a_command_left_running_counts_as_unknown_not_as_failed():
    """A browser tester's background web server has no exit status: the table and the evidence say so."""
    verdict = Verdict(
        verifier="tester_browser",
        passed=True,
        evidence=(
            Evidence(command="python3 -m http.server 8000 &", exit_code=None),
            Evidence(command="curl -s localhost:8000", exit_code=0),
            Evidence(command="false", exit_code=1),
        ),
    )
    body = render.render_verification_round(
        ev.VerificationFinished(run_id="r1", cycle=1, round=1, sha=SHA, accepted=True, verdicts=[verdict])
    )
    assert "| tester\\_browser | ✅ passed | 0 | 3 (1 non-zero, 1 status unknown) |" in body
    assert "Evidence: 3 command(s) run, 1 with non-zero exit, 1 with exit status unknown" in body
    assert "`python3 -m http.server 8000 &` → exit status unknown" in body


def _finished(**changes) -> ev.RunFinished:
    return ev.RunFinished(
        run_id="r1",
        outcome=Outcome.accepted,
        reason="ok",
        summary="Done.",
        cycles=1,
        rounds=1,
        cost=CostReport(),
        duration_s=10,
        branch="kodo/x",
        head_sha=SHA,
        **changes,
    )


def test_the_summary_warns_when_only_verifiers_judged_and_lists_what_was_not_committed():
    body = render.render_accepted(
        _finished(warnings=["the default check was turned off"], build_output=["__pycache__/", ".venv/"])
    )
    assert "**Warning:** the default check was turned off" in body
    assert "Left out of the commits as build output or caches: `__pycache__/`, `.venv/`." in body
    plain = render.render_accepted(_finished())
    assert "Warning" not in plain and "Left out of the commits" not in plain


def test_the_report_and_json_say_the_default_check_was_off_and_what_was_left_out():
    settings = RunSettings(team=default_team(), default_check=False)
    state = RunState(
        run_id="r1",
        created_at=datetime.now(UTC),
        goal="g",
        goal_title="g",
        project="/p",
        worktree="/w",
        branch="kodo/x",
        base_sha=SHA,
        settings=settings,
        outcome=Outcome.accepted,
        build_output=["__pycache__/"],
    )
    report = render_report(state, [])
    assert "Warning: the default check was off" in report and "__pycache__/" in report
    summary = run_summary(state, [])
    assert summary["default_check"] is False and summary["build_output_not_committed"] == ["__pycache__/"]
