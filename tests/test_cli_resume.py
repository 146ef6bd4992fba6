"""`kodo-bot resume` of a run that ended at a limit: it goes on only when that limit is raised.

The runs are played in process on a ``Script`` (milliseconds, no CLI processes); ``resume`` goes through the
real command line (``kodo_bot.cli.main``), with the script put behind the composition root.
"""

from __future__ import annotations

import os
from pathlib import Path

import git
import pytest

import kodo_bot
import kodo_bot.compose
from kodo_bot.api import run
from kodo_bot.cli import main
from kodo_bot.sandbox.demo import seed_project
from kodo_bot.sandbox.scripted import Script
from kodo_bot.sandbox.stories import say

ENV = {"PATH": os.environ["PATH"], "KODO_ORCHESTRATOR_API_KEY": "k"}


def stopped_run(tmp_path: Path, **limits) -> tuple[Path, str]:
    """A project with one run that ended at a limit: each cycle is one orchestrator reply without tool calls."""
    project = tmp_path / "project"
    seed_project(project, {"a.py": "x = 1\n"})
    script = Script({"roles": {"orchestrator": [say("Looking around.")]}})
    result = run("Tidy a.py.", project, orchestrator=script.orchestrator(), sessions=script.sessions, env=ENV, **limits)
    return project, result.run_id


def on_disk(project: Path, run_id: str) -> tuple:
    """Everything a resume could change: the checkpoint, the log and the branches."""
    run_dir = project / ".kodo" / "runs" / run_id
    return (
        (run_dir / "state.json").read_bytes(),
        (run_dir / "events.jsonl").read_bytes(),
        git.Repo(project).git.show_ref(),
    )


def resume(project: Path, run_id: str, flags: list[str], capsys) -> tuple[int, str]:
    code = main(["resume", run_id, "--project", str(project), *flags], env=ENV)
    return code, capsys.readouterr().err


@pytest.fixture
def at_max_cycles(tmp_path):
    return stopped_run(tmp_path, max_cycles=1)


@pytest.mark.parametrize(
    "flags", [[], ["--cycles", "1"], ["--max-rejections", "3"], ["--max-cost-usd", "5"], ["--max-minutes", "60"]]
)
def test_a_run_stopped_at_max_cycles_is_not_revived_without_more_cycles(at_max_cycles, capsys, flags):
    project, run_id = at_max_cycles
    before = on_disk(project, run_id)
    code, err = resume(project, run_id, flags, capsys)
    assert code == 2
    assert f"run {run_id} stopped at max_cycles" in err and "--cycles N (N above 1)" in err
    assert on_disk(project, run_id) == before


def one_more_cycle(monkeypatch) -> Script:
    """The CLI's composition root wired to a script that plays one more cycle."""
    script = Script({"roles": {"orchestrator": [say("Still looking.")]}})
    real = kodo_bot.compose.backends_from_env
    monkeypatch.setattr(
        kodo_bot.compose,
        "backends_from_env",
        lambda env: real(env, orchestrator=script.orchestrator(), sessions=script.sessions),
    )
    return script


def test_more_cycles_revive_it(at_max_cycles, capsys, monkeypatch):
    project, run_id = at_max_cycles
    script = one_more_cycle(monkeypatch)
    code, _ = resume(project, run_id, ["--cycles", "2"], capsys)
    assert code == 4  # max_cycles again, one cycle later
    script.assert_complete()
    assert main(["report", run_id, "--project", str(project), "--json"], env=ENV) == 0
    assert '"cycles": 2' in capsys.readouterr().out


def test_a_run_out_of_api_budget_needs_a_higher_spend_limit(tmp_path, capsys, monkeypatch):
    project, run_id = stopped_run(tmp_path, max_cost_usd=0.0001, max_cycles=2)
    before = on_disk(project, run_id)
    for flags in ([], ["--max-minutes", "60"], ["--cycles", "20"], ["--max-cost-usd", "0.0001"]):
        code, err = resume(project, run_id, flags, capsys)
        assert code == 2 and "stopped at budget_exhausted" in err and "--max-cost-usd N (N above" in err, flags
    assert on_disk(project, run_id) == before
    script = one_more_cycle(monkeypatch)
    assert resume(project, run_id, ["--max-cost-usd", "5"], capsys)[0] == 4  # on to its second and last cycle
    script.assert_complete()


def test_raising_a_limit_without_a_run_id_picks_the_latest_run_stopped_at_a_limit(at_max_cycles, capsys, monkeypatch):
    project, run_id = at_max_cycles
    assert main(["resume", "--project", str(project)], env=ENV) == 2  # nothing interrupted: nothing to resume
    assert "no interrupted run" in capsys.readouterr().err
    script = one_more_cycle(monkeypatch)
    assert main(["resume", "--project", str(project), "--cycles", "2", "--json"], env=ENV) == 4
    script.assert_complete()
    assert f'"run_id": "{run_id}"' in capsys.readouterr().out


def test_an_accepted_run_is_over_and_the_hint_says_where_its_work_is(tmp_path, capsys):
    project = tmp_path / "project"
    seed_project(project, {"a.py": "x = 1\n"})
    script = Script(
        {"roles": {"orchestrator": [{"tool_calls": [{"name": "done", "input": {"summary": "s", "success": True}}]}]}}
    )
    result = run(
        "Tidy a.py.",
        project,
        orchestrator=script.orchestrator(),
        sessions=script.sessions,
        env=ENV,
        checks=["true"],
        team=kodo_bot.Team.default().without({"architect", "tester", "tester_browser"}),
    )
    assert result.accepted
    code, err = resume(project, result.run_id, ["--cycles", "5"], capsys)
    assert code == 2 and "already ended: accepted" in err and f"branch {result.branch}" in err
    assert "raised limits" not in err
