"""What a person watching the terminal sees."""

import io
import os

import pytest
from rich.console import Console

from kodo_bot.api import run
from kodo_bot.cli import main
from kodo_bot.engine import events as ev
from kodo_bot.engine.models import AgentResult, Usage, Verdict
from kodo_bot.sandbox.demo import seed_project
from kodo_bot.sandbox.scripted import Script
from kodo_bot.sandbox.stories import say
from kodo_bot.view import LiveView, PlainView, runs_table

RUN = "r1"


def story() -> list:
    return [
        ev.RunStarted(
            run_id=RUN, goal_title="g", project="/p", branch="kodo/run-r1", worktree="/w", team=["tester"], max_cycles=3
        ),
        ev.CycleStarted(run_id=RUN, cycle=1),
        ev.OrchestratorReplied(
            run_id=RUN, cycle=1, exchange=1, tool_calls=["delegate_worker_fast"], usage=Usage(), cost_usd=0.25
        ),
        ev.AgentCallStarted(run_id=RUN, cycle=1, call_id="t1", agent="worker_fast", task="Write hello.py"),
        ev.VerificationStarted(run_id=RUN, cycle=1, round=1, sha="a" * 40, verifiers=["tester"]),
        ev.VerdictReceived(
            run_id=RUN,
            cycle=1,
            round=1,
            sha="a" * 40,
            verdict=Verdict(verifier="tester", passed=False, engine_note="no command was observed"),
        ),
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


RUN_ROWS = [
    (
        "20261202-204601-bf94",
        "budget_exhausted",
        "12",
        "$10.0011",
        "1h01m02s",
        "Add multiplication to the calculator, with tests",
    ),
    ("20261202-204602-0a1c", "corrupt", "?", "?", "?", "(the checkpoint cannot be read)"),
]


def printed(table, width: int) -> list[str]:
    out = io.StringIO()
    Console(file=out, width=width).print(table)
    return out.getvalue().splitlines()


@pytest.mark.parametrize("width", [200, 80, 60, 40, 21])
def test_the_runs_table_never_cuts_a_run_id(width):
    lines = printed(runs_table(RUN_ROWS, width), width)
    assert all(len(line) <= width for line in lines)
    for run_id, *_ in RUN_ROWS:
        assert sum(line.startswith(run_id) for line in lines) == 1, "\n".join(lines)
    assert len(lines) == 2 + len(RUN_ROWS)  # header, rule, one line a run: nothing wrapped


def test_the_goal_gives_way_first():
    wide, narrow = printed(runs_table(RUN_ROWS, 200), 200), printed(runs_table(RUN_ROWS, 90), 90)
    assert "Add multiplication to the calculator, with tests" in wide[2]
    assert "budget_exhausted   12       $10.0011   1h01m02s   Add multipl" in narrow[2]  # the rest whole
    assert narrow[2].endswith("…") and len(narrow[2]) == 90


def test_kodo_bot_runs_in_a_60_column_terminal_shows_whole_run_ids(tmp_path, capsys, monkeypatch):
    seed_project(tmp_path / "p", {"a.py": "x = 1\n"})
    script = Script({"roles": {"orchestrator": [say("Looking around.")]}})
    result = run(
        "Rename every variable in a.py to something that says what it holds, and keep the tests green.",
        tmp_path / "p",
        orchestrator=script.orchestrator(),
        sessions=script.sessions,
        max_cycles=1,
        env={"PATH": os.environ["PATH"]},
    )
    capsys.readouterr()
    monkeypatch.setenv("COLUMNS", "60")
    assert main(["runs", "--project", str(tmp_path / "p")], env={}) == 0
    lines = capsys.readouterr().out.splitlines()
    assert all(len(line) <= 60 for line in lines)
    assert [line for line in lines if line.startswith(f"{result.run_id}   max_cycles")]
