"""The library front door: the README's examples run as written, and a run that cannot start leaves
nothing behind."""

from __future__ import annotations

import re
from pathlib import Path

import git
import pytest

import kodo_bot
from kodo_bot.engine import events as ev
from kodo_bot.sandbox.demo import seed_project
from kodo_bot.sandbox.model_server import ScriptedModelServer
from kodo_bot.sandbox.scenario import Scenario
from kodo_bot.sandbox.stories import demo_story
from tests.e2e_support import BASE_FILES, accepted_roles, agent_test_env

README = Path(__file__).parent.parent / "README.md"


def readme_python_blocks() -> list[str]:
    section = README.read_text(encoding="utf-8").split("## Use it from Python", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)


def test_the_readme_rehearsal_example_runs_as_written(tmp_path):
    story = demo_story()
    project = tmp_path / "calc"
    seed_project(project, story.files)
    code = readme_python_blocks()[1].replace('"path/to/a/copy/of/calc"', repr(str(project)))
    namespace: dict[str, object] = {}
    exec(compile(code, "README.md", "exec"), namespace)  # the example's own asserts are the test
    outcome = namespace["outcome"]
    assert isinstance(outcome, kodo_bot.RunResult)
    repo = git.Repo(project)
    assert repo.active_branch.name == "main" and outcome.branch in [h.name for h in repo.heads]
    assert "multiply" in repo.git.show(f"{outcome.branch}:calc.py")


@pytest.mark.e2e
def test_the_readme_library_example_runs_as_written(tmp_path, monkeypatch, capsys):
    """The first example, unchanged but for the project path, on the real Claude Code CLI with the model
    answered by the scripted server (its key and URL come from the environment, as a user's would)."""
    project = tmp_path / "repo"
    seed_project(project, BASE_FILES)
    with ScriptedModelServer(Scenario.from_dict({"roles": accepted_roles()})) as server:
        for name, value in agent_test_env(server.url).items():
            monkeypatch.setenv(name, value)
        code = readme_python_blocks()[0].replace('"path/to/your/repo"', repr(str(project)))
        exec(compile(code, "README.md", "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    assert any(line.startswith("#") and " run_started " in line for line in printed)
    assert any(" run_finished outcome=<Outcome.accepted" in line for line in printed)
    status, branch, api_usd = printed[-1].split()
    assert status == "Outcome.accepted" and branch.startswith("kodo/run-") and float(api_usd) > 0
    assert "hello.py" in git.Repo(project).git.ls_tree("-r", "--name-only", branch)


def _left_behind(project: Path) -> tuple[list[str], bool]:
    return [h.name for h in git.Repo(project).heads], (project / ".kodo").exists()


def test_a_run_without_an_api_key_is_refused_before_anything_is_created(tmp_path):
    project = tmp_path / "repo"
    seed_project(project, BASE_FILES)
    with pytest.raises(kodo_bot.UserError, match="no API key") as refused:
        kodo_bot.run("Add hello.", project, orchestrator=kodo_bot.ApiOrchestrator("claude-sonnet-5-5"), env={})
    assert "KODO_ORCHESTRATOR_API_KEY" in (refused.value.hint or "")
    assert _left_behind(project) == (["main"], False)


@pytest.mark.parametrize("limits", [{"max_cycles": 0}, {"max_cost_usd": 0}, {"max_rejections": 0}, {"max_minutes": -1}])
def test_limits_out_of_range_are_refused_before_anything_is_created(tmp_path, limits):
    project = tmp_path / "repo"
    seed_project(project, BASE_FILES)
    script = kodo_bot.Script({"roles": {}})
    with pytest.raises(kodo_bot.UserError, match=next(iter(limits))):
        kodo_bot.run(
            "Add hello.", project, orchestrator=script.orchestrator(), sessions=script.sessions, env={}, **limits
        )
    assert _left_behind(project) == (["main"], False)
    assert script.requests == []


def test_events_reach_on_event_in_order_and_resume_continues_an_interrupted_run(tmp_path):
    story = demo_story()
    project = tmp_path / "calc"
    seed_project(project, story.files)
    script = kodo_bot.Script(story.scenario)
    seen: list[ev.Event] = []

    def stop_after_first_commit(event: ev.Event) -> None:
        seen.append(event)
        if isinstance(event, ev.CycleCommitted):
            raise KeyboardInterrupt  # a person pressing Ctrl-C mid-run

    with pytest.raises(KeyboardInterrupt):
        kodo_bot.run(
            story.goal,
            project,
            orchestrator=script.orchestrator(),
            sessions=script.sessions,
            checks=story.check_commands,
            env={},
            on_event=stop_after_first_commit,
        )
    run_id = seen[0].run_id
    result = kodo_bot.resume(
        project, run_id, orchestrator=script.orchestrator(), sessions=script.sessions, env={}, on_event=seen.append
    )
    script.assert_complete()
    assert result.accepted and result.run_id == run_id and result.cycles == 2
    assert [e.seq for e in seen] == sorted(e.seq for e in seen)
    assert isinstance(seen[-1], ev.RunFinished) and seen[-1].outcome is kodo_bot.Outcome.accepted
