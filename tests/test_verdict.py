"""Verdicts are believed only as far as the observed evidence goes."""

import json

from kodo_bot.engine.models import AgentResult, CheckResult, ToolCall
from kodo_bot.engine.verdict import judge, parse_claim, rejection_feedback


def result(text: str, *commands: tuple[str, int | None], is_error: bool = False) -> AgentResult:
    calls = tuple(ToolCall(name="Bash", input={"command": c}, exit_code=code, output=f"ran {c}") for c, code in commands)
    return AgentResult(agent="tester", text=text, tool_calls=calls, is_error=is_error, error="boom" if is_error else None)


def block(**body) -> str:
    return "Checked.\n```json\n" + json.dumps(body) + "\n```"


def test_pass_with_matching_evidence_passes():
    v = judge("tester", result(block(verdict="pass", summary="ok", checks=[{"command": "pytest -q", "exit_code": 0}]), ("pytest -q", 0)))
    assert v.passed and v.engine_note is None
    assert [(e.command, e.exit_code) for e in v.evidence] == [("pytest -q", 0)]


def test_pass_without_any_observed_command_is_a_fail():
    v = judge("tester", result(block(verdict="pass", checks=[{"command": "pytest -q", "exit_code": 0}])))
    assert not v.passed
    assert "no command was observed" in v.engine_note


def test_claimed_exit_status_must_match_what_was_observed():
    text = block(verdict="pass", checks=[{"command": "pytest -q", "exit_code": 0}])
    v = judge("tester", result(text, ("pytest -q", 1)))
    assert not v.passed
    assert "pytest -q" in v.engine_note


def test_claimed_command_never_run_is_a_fail():
    text = block(verdict="pass", checks=[{"command": "pytest -q", "exit_code": 0}, {"command": "make lint", "exit_code": 0}])
    v = judge("tester", result(text, ("pytest -q", 0)))
    assert not v.passed and "make lint" in v.engine_note


def test_wrapped_command_counts_as_the_claimed_one():
    text = block(verdict="pass", checks=[{"command": "pytest -q", "exit_code": 0}])
    assert judge("tester", result(text, ("cd /w && timeout 60 pytest -q", 0))).passed


def test_pass_with_no_claimed_checks_is_a_fail():
    v = judge("tester", result(block(verdict="pass"), ("pytest -q", 0)))
    assert not v.passed and "must list" in v.engine_note


def test_unparseable_answer_is_a_fail_with_the_reason():
    v = judge("tester", result("Looks good to me!", ("pytest -q", 0)))
    assert not v.passed and "could not be read" in v.engine_note
    v = judge("tester", result("```json\n{\"verdict\": \"pass\",}\n```", ("pytest -q", 0)))
    assert not v.passed and "invalid JSON" in v.engine_note
    v = judge("tester", result(block(verdict="maybe", checks=[]), ("pytest -q", 0)))
    assert not v.passed and "maybe" in v.engine_note


def test_fail_keeps_findings_and_evidence():
    finding = {"severity": "high", "file": "calc.py", "line": 5, "message": "wrong for negatives"}
    v = judge("tester", result(block(verdict="fail", summary="broken", findings=[finding]), ("python3 t.py", 1)))
    assert not v.passed and v.engine_note is None
    assert v.findings[0].file == "calc.py" and v.findings[0].line == 5
    feedback = rejection_feedback([], [v])
    assert "calc.py:5" in feedback and "wrong for negatives" in feedback and "exited 1" in feedback


def test_errored_verifier_is_a_fail():
    v = judge("tester", result("", is_error=True))
    assert not v.passed and "did not finish" in v.engine_note


def test_last_json_block_wins():
    text = block(verdict="fail") + "\nOn reflection:\n" + block(verdict="pass", checks=[{"command": "ls", "exit_code": 0}])
    assert parse_claim(text).verdict == "pass"


def test_failing_check_feedback_names_the_command_and_output():
    feedback = rejection_feedback([CheckResult(command="pytest -q", exit_code=2, output_tail="E   assert 0 == -6")], [])
    assert "pytest -q" in feedback and "exit 2" in feedback and "assert 0 == -6" in feedback


def test_commit_messages_have_a_short_subject_and_no_repetition():
    from kodo_bot.engine.workspace import commit_message

    assert commit_message("Added multiply.") == "Added multiply."
    long = "Added multiply(a, b) to calc.py, with tests for positive, negative and zero arguments, and docs."
    subject, _, body = commit_message(long).partition("\n\n")
    assert len(subject) <= 72 and subject.endswith("...") and body == long
    assert commit_message("Fixed it.\n\nDetails here.") == "Fixed it.\n\nDetails here."


def test_a_pass_on_an_edited_checkout_is_a_fail():
    text = block(verdict="pass", checks=[{"command": "pytest -q", "exit_code": 0}])
    edited = result(text, ("pytest -q", 0)).model_copy(update={"changed_files": ("calc.py",)})
    v = judge("tester", edited)
    assert not v.passed and "calc.py" in v.engine_note and "as it is" in v.engine_note
