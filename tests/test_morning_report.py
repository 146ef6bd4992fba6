"""The morning report (`kodo-bot report RUN_ID`): what was asked and whether it holds, the commits, every
check with its exit code, the cost per bucket, the blockers, and the exact way to continue."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from kodo_bot.cli import main
from kodo_bot.engine import events as ev
from kodo_bot.engine.models import Outcome, PointAnswer, ReviewPoint, Screenshot, Usage, Verdict
from kodo_bot.engine.state import RunSettings, RunState, RunStore
from kodo_bot.engine.team import default_team
from kodo_bot.morning import criteria, render_morning_report
from kodo_bot.viewer._sample import RUN_ID, sample_events

GOAL = """# Add multiplication

- Add `multiply(a, b)` to calc.py
- Negative numbers multiply correctly
- [ ] Document it in the README
"""


def state_of(outcome: Outcome | None, reason: str = "", **settings: Any) -> RunState:
    state = RunState(
        run_id=RUN_ID,
        created_at=datetime.now(UTC),
        goal=GOAL,
        goal_title="Add multiplication",
        project="/p",
        worktree="/w",
        branch="kodo/run-demo",
        base_sha="0" * 40,
        settings=RunSettings(team=default_team(), **settings),
        outcome=outcome,
        reason=reason,
        cycle=3,
        head_sha="f" * 40,
        elapsed_s=600,
    )
    state.ledger.add("orchestrator", "api", 0.25, Usage())
    state.ledger.add("worker_fast", "subscription", 1.5, Usage())
    return state


def rejected(events: list[ev.Event]) -> list[ev.Event]:
    """The sample run, ending on its (rejected) first round."""
    end = next(i for i, e in enumerate(events) if isinstance(e, ev.VerificationFinished))
    return events[: end + 1]


def test_criteria_are_the_goals_list_items_else_its_sentences() -> None:
    assert criteria(GOAL, "t") == [
        "Add `multiply(a, b)` to calc.py",
        "Negative numbers multiply correctly",
        "Document it in the README",
    ]
    assert criteria("# T\n\nAdd x. Tests must pass.", "T") == ["Add x.", "Tests must pass."]
    assert criteria("# T only", "T only") == ["T only"]


def test_an_accepted_run_says_every_criterion_is_met_and_to_review_the_branch() -> None:
    text = render_morning_report(state_of(Outcome.accepted, "verification passed"), sample_events(60))
    assert "**accepted**" in text
    assert "- Negative numbers multiply correctly — ✅ met (all verifiers passed)" in text
    assert "- cycle 1: `0001aaaaaaaa` Cycle work (2 files)" in text
    assert "  - `python3 -m pytest -q`: exit 0" in text
    # what each verifier ran, as the engine saw it, with its exit code
    assert "  - tester ran: `python3 -m pytest -q` exit 1" in text
    assert "- API (paid per token): \\$0.25" in text and "- subscription (the agents' CLI plans): \\$1.50" in text
    assert "### Blockers\n- none" in text
    assert "Review and merge branch `kodo/run-demo`" in text


def test_a_rejected_run_names_the_unmet_criterion_its_blockers_and_how_to_continue() -> None:
    events = [
        e.model_copy(
            update={
                "verdicts": [
                    v.model_copy(
                        update={
                            "findings": tuple(
                                f.model_copy(update={"message": "negative numbers multiply wrongly: -2*3 gives 6"})
                                for f in v.findings
                            )
                        }
                    )
                    for v in e.verdicts
                ]
            }
        )
        if isinstance(e, ev.VerificationFinished)
        else e
        for e in rejected(sample_events(60))
    ]
    text = render_morning_report(state_of(Outcome.needs_human, "verification rejected the work 5 times"), events)
    assert "- Negative numbers multiply correctly — ❌ NOT met: [high] `calc.py:3` negative numbers multiply" in text
    assert "- Document it in the README — no finding names it" in text
    assert "- tester: [high] `calc.py:3` negative numbers multiply wrongly: -2\\*3 gives 6" in text
    assert "- the run ended: verification rejected the work 5 times" in text
    assert "- on GitHub: `/kodo retry` on the issue or pull request" in text
    assert "`kodo-bot resume` does not continue it" in text


@pytest.mark.parametrize(
    ("outcome", "settings", "command"),
    [
        (Outcome.max_cycles, {"max_cycles": 3}, f"`kodo-bot resume {RUN_ID} --cycles 8`"),
        (Outcome.budget_exhausted, {"max_cost_usd": 0.25}, f"`kodo-bot resume {RUN_ID} --max-cost-usd 0.50`"),
        (Outcome.budget_exhausted, {"max_minutes": 10}, f"`kodo-bot resume {RUN_ID} --max-minutes 40`"),
        (
            Outcome.budget_exhausted,
            {"max_minutes": 10, "max_cost_usd": 0.25},
            f"`kodo-bot resume {RUN_ID} --max-cost-usd 0.50 --max-minutes 40`",
        ),
        (Outcome.interrupted, {}, f"`kodo-bot resume {RUN_ID}`"),
        (None, {}, f"`kodo-bot resume {RUN_ID}`"),
    ],
)
def test_the_way_to_continue_raises_the_limit_that_stopped_the_run(
    outcome: Outcome | None, settings: dict[str, object], command: str
) -> None:
    text = render_morning_report(state_of(outcome, "stopped", **settings), rejected(sample_events(60)))
    assert f"- locally: {command}" in text


def test_kodo_bot_report_prints_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = RunStore(tmp_path / "state")
    store.save(state_of(Outcome.accepted, "verification passed"))
    store.events_path(RUN_ID).write_text("".join(e.model_dump_json() + "\n" for e in sample_events(60)))
    assert main(["report", RUN_ID, "--state-dir", str(tmp_path / "state")], env={}) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"## kodo-bot run `{RUN_ID}`: **accepted**")
    assert "### What was asked" in out and "### How to continue" not in out and "### Next" in out


def test_each_review_point_is_told_once_with_who_asked_and_what_every_verifier_found() -> None:
    state = state_of(Outcome.needs_human, "rejected")
    state.review_points = [
        ReviewPoint(id="c1", author="alice", text="Name it `product`\nplease", file="calc.py", line=6),
        ReviewPoint(id="ci-7", author="CI", text="the lint job fails"),
    ]
    verdicts = [
        Verdict(verifier="tester", passed=False, points=(PointAnswer(id="c1", addressed=True, how="renamed"),)),
        Verdict(
            verifier="architect",
            passed=False,
            points=(
                PointAnswer(id="c1", addressed=True, how="renamed"),
                PointAnswer(id="ci-7", addressed=False, how="lint still fails on calc.py:3"),
            ),
        ),
    ]
    last = ev.VerificationFinished(run_id=RUN_ID, cycle=1, round=1, sha="a" * 40, accepted=False, verdicts=verdicts)
    text = render_morning_report(state, [last])
    assert "- review point by alice on `calc.py:6`: “Name it \\`product\\`” — ✅ addressed (tester, architect)" in text
    assert (
        "- review point by CI: “the lint job fails” — ❌ NOT addressed: architect: lint still fails on calc.py:3"
        in (text)
    )
    assert text.count("review point by") == 2


def test_a_browser_verifiers_screenshots_are_counted_with_the_pages_they_show() -> None:
    shots = (Screenshot(path="/k/1.png", url="http://127.0.0.1:8000/"), Screenshot(path="/k/2.png"))
    verdict = Verdict(verifier="tester_browser", passed=True, screenshots=shots)
    last = ev.VerificationFinished(run_id=RUN_ID, cycle=1, round=1, sha="a" * 40, accepted=True, verdicts=[verdict])
    text = render_morning_report(state_of(Outcome.accepted, "ok"), [last])
    assert "  - tester\\_browser took 2 screenshot(s) of `http://127.0.0.1:8000/`" in text
