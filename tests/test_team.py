"""Team files are data a person edits: errors must name the field."""

import pytest

from kodo_bot.engine.team import default_team, goal_involves_ui, load_team, parse_team
from kodo_bot.errors import ConfigError


def test_default_team_has_the_five_roles_and_its_verifiers():
    team = default_team()
    assert set(team.agents) == {"architect", "worker_smart", "worker_fast", "tester", "tester_browser"}
    assert [a.name for a in team.verifiers_for("Fix the parser")] == ["architect", "tester"]
    assert "tester_browser" in [a.name for a in team.verifiers_for("Fix the login page layout")]


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        ("agents:\n  tester:\n    prompt: hi\n    max_turns: zero\n", "agents.tester.max_turns"),
        ("agents:\n  tester:\n    prompt: hi\n    verify: sometimes\n", "agents.tester.verify"),
        ("agents:\n  tester:\n    prompt: hi\n    colour: red\n", "agents.tester.colour"),
        ("agents:\n  Tester!:\n    prompt: hi\n", "agents.Tester!.name"),
        ("agents:\n  tester:\n    prompt: '  '\n", "agents.tester.prompt"),
        ("agents: {}\n", "at least one agent"),
        ("- just\n- a list\n", "must be a mapping"),
        ("agents: [unclosed\n", "not valid YAML"),
    ],
)
def test_invalid_team_names_the_field(yaml_text, expected):
    with pytest.raises(ConfigError) as err:
        parse_team(yaml_text, source="team.yaml")
    assert expected in str(err.value)
    assert "team.yaml" in str(err.value)


def test_missing_team_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_team(tmp_path / "nope.yaml")


def test_ui_detection():
    assert goal_involves_ui("Make the settings page render on mobile")
    assert not goal_involves_ui("Speed up the CSV parser")
