"""One orchestrator choice, spelled the same everywhere (``--orchestrator``, the team file, .github/kodo.yml,
the action's input), and what a wrong or incomplete one gets: a clear error naming the choices and where
the bad value was, before anything is set up."""

from __future__ import annotations

import os

import pytest

from kodo_bot.cli import main
from kodo_bot.engine.orchestrator_choice import orchestrator_fields, parse_orchestrator
from kodo_bot.engine.state import RunSettings
from kodo_bot.engine.team import default_team, parse_team
from kodo_bot.errors import ConfigError
from kodo_bot.github.config import parse_kodo_config
from kodo_bot.github.run_inputs import RunOverrides, run_settings
from tests.e2e_support import make_project


@pytest.mark.parametrize(
    ("spec", "kind", "model"),
    [
        ("api:anthropic:claude-opus-4-5", "api:anthropic", "claude-opus-4-5"),
        ("api:gemini:gemini-2.5-pro", "api:gemini", "gemini-2.5-pro"),
        ("claude-code:opus", "claude-code", "opus"),
        ("gemini", "api:gemini", "gemini-2.5-flash"),
        ("api:gemini", "api:gemini", "gemini-2.5-flash"),
        ("claude-code", "claude-code", "sonnet"),
        (" anthropic:claude-haiku-4-5 ", "api:anthropic", "claude-haiku-4-5"),
    ],
)
def test_every_spelling_of_a_choice_names_a_kind_and_its_model(spec, kind, model):
    assert parse_orchestrator(spec) == (kind, model)


def test_a_kind_alone_gets_its_own_default_model_and_a_model_given_apart_wins():
    assert (
        RunSettings(team=default_team(), orchestrator_kind="api:gemini").orchestrator == "api:gemini:gemini-2.5-flash"
    )
    fields = orchestrator_fields("gemini", "gemini-2.5-pro", field="--orchestrator")
    assert RunSettings(team=default_team(), **fields).orchestrator == "api:gemini:gemini-2.5-pro"
    assert RunSettings(team=default_team()).orchestrator_kind == "api:anthropic"


def test_an_unknown_choice_names_the_choices_and_where_it_was(tmp_path, capsys):
    project = make_project(tmp_path)
    code = main(
        ["run", "--goal", "x", "--project", str(project), "--orchestrator", "openai:gpt-5"], env=dict(os.environ)
    )
    err = capsys.readouterr().err
    assert code == 2 and "--orchestrator: unknown orchestrator 'openai:gpt-5'" in err
    assert "api:anthropic:<model>, api:gemini:<model> or claude-code:<model>" in err  # no emoji for :gemini:
    assert not (project / ".kodo").exists()  # nothing set up

    team = tmp_path / "team.yaml"
    team.write_text("agents:\n  w: {prompt: p}\norchestrator: gemeni\n")
    code = main(["run", "--goal", "x", "--project", str(project), "--team", str(team)], env=dict(os.environ))
    err = capsys.readouterr().err
    assert code == 2 and "orchestrator: unknown orchestrator 'gemeni'" in err and str(team) in err

    with pytest.raises(ConfigError) as caught:
        parse_kodo_config("orchestrator: gpt\n")
    assert "orchestrator" in str(caught.value) and "api:gemini:<model>" in str(caught.value)


def test_a_gemini_run_without_its_key_ends_before_it_starts_naming_the_variable(tmp_path, capsys):
    project = make_project(tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("GOOGLE_API_KEY", "GEMINI_API_KEY")}
    env.pop("KODO_ORCHESTRATOR_API_KEY", None)
    code = main(["run", "--goal", "x", "--project", str(project), "--orchestrator", "gemini"], env=env)
    err = capsys.readouterr().err
    assert code == 2 and "no Gemini API key" in err and "GOOGLE_API_KEY" in err


def test_on_github_the_input_wins_over_kodo_yml_which_wins_over_the_team_file(tmp_path):
    team = parse_team("agents:\n  w: {prompt: p}\norchestrator: claude-code\n", source="team.yaml")
    config = parse_kodo_config("orchestrator: api:gemini:gemini-2.5-pro\n").model_copy(update={"team": team})
    assert run_settings(config, RunOverrides(), tmp_path).orchestrator == "api:gemini:gemini-2.5-pro"
    chosen = run_settings(config, RunOverrides(orchestrator="anthropic"), tmp_path)
    assert chosen.orchestrator_kind == "api:anthropic"
    only_team = parse_kodo_config("").model_copy(update={"team": team})
    assert run_settings(only_team, RunOverrides(), tmp_path).orchestrator == "claude-code:sonnet"
