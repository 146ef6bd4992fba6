"""What a person watching the terminal sees."""

import io

from rich.console import Console

from kodo_bot.engine import events as ev
from kodo_bot.engine.models import AgentResult, Usage, Verdict
from kodo_bot.view import LiveView, PlainView

RUN = "r1"


def story() -> list:
    return [
        ev.RunStarted(run_id=RUN, goal_title="g", project="/p", branch="kodo/run-r1", worktree="/w", team=["tester"], max_cycles=3),
        ev.CycleStarted(run_id=RUN, cycle=1),
        ev.OrchestratorReplied(run_id=RUN, cycle=1, exchange=1, tool_calls=["delegate_worker_fast"], usage=Usage(), cost_usd=0.25),
        ev.AgentCallStarted(run_id=RUN, cycle=1, call_id="t1", agent="worker_fast", task="Write hello.py"),
        ev.VerificationStarted(run_id=RUN, cycle=1, round=1, sha="a" * 40, verifiers=["tester"]),
        ev.VerdictReceived(run_id=RUN, cycle=1, round=1, sha="a" * 40,
                           verdict=Verdict(verifier="tester", passed=False, engine_note="no command was observed")),
    ]


def test_plain_view_prints_one_line_per_step():
    out = io.StringIO()
    view = PlainView(out)
    for event in story():
        view.handle(event)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("[kodo] run r1 started on branch kodo/run-r1")
    assert "[kodo]   worker_fast working: Write hello.py" in lines
    assert lines[-1] == "[kodo]   tester: FAIL (no command was observed)"


def test_live_view_shows_cost_agents_and_verifiers():
    out = io.StringIO()
    view = LiveView(Console(file=out, force_terminal=True, width=120))
    for event in story():
        view.handle(event)
    view.handle(ev.AgentCallFinished(run_id=RUN, cycle=1, call_id="t1", result=AgentResult(agent="worker_fast")))
    view.close()
    assert view.rows["API cost"] == "$0.2500" and view.rows["cycle"] == "1"
    assert view.agents == {"worker_fast": "idle", "verifier/tester": "FAIL"}
    assert "kodo/run-r1" in out.getvalue()
