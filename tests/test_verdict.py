"""Verdicts are believed only as far as the observed evidence goes."""

import json

from kodo_bot.engine.models import AgentResult, CheckResult, ReviewPoint, ToolCall
from kodo_bot.engine.verdict import judge, parse_claim, rejection_feedback, verifier_task

CHECKOUT = "/runs/r1/round1-tester"


def result(text: str, *commands: tuple, is_error: bool = False, after: str = "") -> AgentResult:
    """A verifier's result: each command is (line, exit) run on the clean checkout, or (line, exit, edit)
    with ``edit`` what the watch saw changed around it."""
    calls = tuple(
        ToolCall(
            name="Bash",
            input={"command": c[0]},
            exit_code=c[1],
            output=f"ran {c[0]}",
            checkout_before=c[2] if len(c) > 2 else "",
            checkout_after=c[2] if len(c) > 2 else "",
        )
        for c in commands
    )
    return AgentResult(
        agent="tester",
        text=text,
        tool_calls=calls,
        is_error=is_error,
        error="boom" if is_error else None,
        checkout_after=after,
    )


def passes(*claims: tuple[str, int]) -> str:
    return block(verdict="pass", summary="ok", checks=[{"command": c, "exit_code": code} for c, code in claims])


def block(**body) -> str:
    return "Checked.\n```json\n" + json.dumps(body) + "\n```"


def test_pass_with_matching_evidence_passes():
    v = judge(
        "tester",
        result(
            block(verdict="pass", summary="ok", checks=[{"command": "pytest -q", "exit_code": 0}]), ("pytest -q", 0)
        ),
    )
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
    text = block(
        verdict="pass", checks=[{"command": "pytest -q", "exit_code": 0}, {"command": "make lint", "exit_code": 0}]
    )
    v = judge("tester", result(text, ("pytest -q", 0)))
    assert not v.passed and "make lint" in v.engine_note


def test_neutral_wrappers_count_as_the_claimed_command():
    text = passes(("pytest -q", 0))
    for line in (
        f"cd {CHECKOUT} && timeout 60 pytest -q",
        "cd tests && pytest -q",
        "timeout -s KILL 5m env CI=1 pytest -q 2>&1",
        "pytest   -q",
        "set -o pipefail; pytest -q | tail -20",
        "CI=true pytest -q > /dev/null",
    ):
        assert judge("tester", result(text, (line, 0)), checkout=CHECKOUT).passed, line


def test_wrappers_that_can_change_the_status_or_the_command_void_the_match():
    text = passes(("python -m pytest -q", 0))
    cases = {
        "python -m pytest -q || true": "`||`",
        "python -m pytest -q; true": "runs before it",
        "echo python -m pytest -q": "was only run as",
        "python -m pytest -q | tail -5": "pipe without",
        "(python -m pytest -q)": "subshell",
        "python -m pytest -q &": "background",
        "cd /tmp/patched && python -m pytest -q": "runs before it",
        "cd ../other && python -m pytest -q": "runs before it",
        "PYTHONPATH=/tmp/patch python -m pytest -q": "was only run as",
        "env -i python -m pytest -q": "changes the command's environment",
        "python -m pytest -q $(true)": "substitution",
        "true && python -m pytest -q": "runs before it",
    }
    for line, reason in cases.items():
        v = judge("tester", result(text, (line, 0)), checkout=CHECKOUT)
        assert not v.passed, line
        assert "python -m pytest -q" in v.engine_note and reason in v.engine_note, (line, v.engine_note)


def test_a_claimed_command_that_is_itself_a_trick_is_refused_with_the_reason():
    v = judge("tester", result(passes(("pytest -q || true", 0)), ("pytest -q || true", 0)), checkout=CHECKOUT)
    assert not v.passed and "cannot stand for a check" in v.engine_note and "`||`" in v.engine_note


def test_a_failing_test_command_left_out_of_the_claims_sinks_the_pass():
    text = passes(("python -c 'import calc'", 0))
    v = judge(
        "tester",
        result(text, ("python -m pytest -q", 1), ("python -c 'import calc'", 0)),
        test_commands=["python -m pytest -q"],
    )
    assert not v.passed and "leave out a failing test command" in v.engine_note and "exited 1" in v.engine_note


def test_any_failing_test_run_sinks_a_pass_resting_on_a_narrower_one():
    text = passes(("python3 -m pytest -q -k add", 0))
    v = judge("tester", result(text, ("python3 -m pytest -q -x", 1), ("python3 -m pytest -q -k add", 0)))
    assert not v.passed and "`python3 -m pytest -q -x` exited 1 on the commit" in v.engine_note
    # a failing command that runs no tests (grep finding nothing, a probe) is the verifier's business
    assert judge("tester", result(passes(("pytest -q", 0)), ("grep -q TODO calc.py", 1), ("pytest -q", 0))).passed


def test_a_listed_check_that_failed_earlier_counts_only_if_it_passed_later():
    text = passes(("pytest -q", 0))
    assert judge("tester", result(text, ("pytest -q", 1), ("pytest -q", 0))).passed  # flaky, then green
    v = judge("tester", result(text, ("pytest -q", 0), ("pytest -q", 1)))
    assert not v.passed and "`pytest -q` exited 1 on the commit" in v.engine_note


def test_fix_test_revert_is_a_fail_even_though_the_checkout_ends_clean():
    text = passes(("pytest -q", 0))
    v = judge(
        "tester",
        result(
            text,
            ("pytest -q", 1),
            ("sed -i s/0/1/ calc.py", 0, "changed calc.py"),
            ("pytest -q", 0, "changed calc.py"),
            ("git checkout calc.py", 0, "changed calc.py"),
        ),
    )
    assert (
        not v.passed
        and "exited 1 on the commit as it is, and only passed on an edited checkout (changed calc.py)" in v.engine_note
    )


def test_an_untracked_patch_makes_the_checks_after_it_count_for_nothing():
    text = passes(("pytest -q", 0))
    v = judge(
        "tester",
        result(
            text, ("cat > conftest.py <<EOF\npatch\nEOF", 0, "added conftest.py"), ("pytest -q", 0, "added conftest.py")
        ),
        test_commands=["pytest -q"],
    )
    assert not v.passed and "added conftest.py" in v.engine_note


def test_an_edit_that_lands_while_the_check_runs_is_seen_after_it():
    text = passes(("pytest -q", 0))
    call = ToolCall(
        name="Bash", input={"command": "pytest -q"}, exit_code=0, checkout_before="", checkout_after="added conftest.py"
    )
    v = judge("tester", AgentResult(agent="tester", text=text, tool_calls=(call,), checkout_after=""))
    assert not v.passed and "added conftest.py" in v.engine_note


def test_an_unwatched_command_does_not_count():
    text = passes(("pytest -q", 0))
    call = ToolCall(name="Bash", input={"command": "pytest -q"}, exit_code=0)
    v = judge("tester", AgentResult(agent="tester", text=text, tool_calls=(call,)))
    assert not v.passed and "not watched" in v.engine_note


def test_a_cut_off_command_is_judged_by_the_next_look_at_the_checkout():
    text = passes(("pytest -q", 0))
    first = ToolCall(name="Bash", input={"command": "pytest -q"}, exit_code=0, checkout_before="")
    second = ToolCall(name="Read", input={"file_path": "x"}, checkout_before="changed calc.py", checkout_after="")
    v = judge("tester", AgentResult(agent="tester", text=text, tool_calls=(first, second), checkout_after=""))
    assert not v.passed and "changed calc.py" in v.engine_note


def test_pass_with_no_claimed_checks_is_a_fail():
    v = judge("tester", result(block(verdict="pass"), ("pytest -q", 0)))
    assert not v.passed and "must list" in v.engine_note


def test_unparseable_answer_is_a_fail_with_the_reason():
    v = judge("tester", result("Looks good to me!", ("pytest -q", 0)))
    assert not v.passed and "could not be read" in v.engine_note
    v = judge("tester", result('```json\n{"verdict": "pass",}\n```', ("pytest -q", 0)))
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
    text = (
        block(verdict="fail") + "\nOn reflection:\n" + block(verdict="pass", checks=[{"command": "ls", "exit_code": 0}])
    )
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
    v = judge("tester", result(passes(("pytest -q", 0)), ("pytest -q", 0, "changed calc.py")))
    assert not v.passed and "calc.py" in v.engine_note and "as it is" in v.engine_note


def test_an_edit_left_after_the_checks_does_not_undo_them():
    # The checks ran on the commit as it is; a scratch file written afterwards says nothing about them.
    v = judge(
        "tester",
        result(
            passes(("pytest -q", 0)),
            ("pytest -q", 0),
            ("touch notes.txt", 0, "added notes.txt"),
            after="added notes.txt",
        ),
    )
    assert v.passed


# ---------------------------------------------------------------- review points
POINTS = (
    ReviewPoint(id="c-1", author="alice", text="Use a constant here.", file="calc.py", line=3, context="@@ -1 +1 @@"),
    ReviewPoint(id="c-2", author="bob", text="Also handle zero."),
)


def answered(*answers: tuple[str, bool, str], verdict: str = "pass") -> str:
    return block(
        verdict=verdict,
        summary="ok",
        checks=[{"command": "pytest -q", "exit_code": 0}],
        review_points=[{"id": i, "addressed": a, "how": h} for i, a, h in answers],
    )


def test_a_pass_that_addresses_every_review_point_passes_with_the_answers_in_order():
    text = answered(("c-2", True, "zero handled in calc.py:5"), ("c-1", True, "SCALE constant added"))
    v = judge("tester", result(text, ("pytest -q", 0)), points=POINTS)
    assert v.passed and [(p.id, p.addressed, p.how) for p in v.points] == [
        ("c-1", True, "SCALE constant added"),
        ("c-2", True, "zero handled in calc.py:5"),
    ]


def test_a_pass_that_leaves_a_point_open_or_unanswered_is_a_fail_with_a_finding_per_point():
    text = answered(("c-1", False, "the literal 3 is still there"))
    v = judge("tester", result(text, ("pytest -q", 0)), points=POINTS)
    assert not v.passed and "not addressed: c-1, c-2" in v.engine_note
    assert [(f.severity, f.file, f.line) for f in v.findings] == [("high", "calc.py", 3), ("high", None, None)]
    assert "review point c-1 by alice is not addressed (Use a constant here.): the literal 3" in v.findings[0].message
    assert "did not answer" in v.findings[1].message
    # the orchestrator is told which points are open
    feedback = rejection_feedback([], [v])
    assert "review point c-1 by alice" in feedback and "review point c-2 by bob" in feedback


def test_answers_to_points_the_run_does_not_have_are_ignored_and_no_points_means_no_question():
    text = answered(("c-1", True, "done"), ("c-2", True, "done"), ("made-up", False, "x"))
    v = judge("tester", result(text, ("pytest -q", 0)), points=POINTS)
    assert v.passed and [p.id for p in v.points] == ["c-1", "c-2"]
    plain = judge("tester", result(passes(("pytest -q", 0)), ("pytest -q", 0)))
    assert plain.passed and plain.points == ()


def test_the_verifier_is_shown_each_point_with_its_author_place_and_hunk_bounded():
    huge = ReviewPoint(id="c-9", author="carol", text="x" * 100_000, file="a.py", line=1, context="@@\n" + "y" * 50_000)
    task = verifier_task("Goal.", "a" * 40, "Did it.", (*POINTS, huge))
    assert "### Point `c-1`: alice on calc.py line 3" in task and "@@ -1 +1 @@" in task
    assert "### Point `c-2`: bob\n" in task and '"review_points"' in task
    assert len(task) < 20_000 and task.count("[... cut]") == 2
    assert "review_points" not in verifier_task("Goal.", "a" * 40, "Did it.")
