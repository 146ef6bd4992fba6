"""Bad input gets a clear message, a non-zero exit, and loses nothing."""

from __future__ import annotations

import os
import stat

import git
import pytest

from kodo_bot.cli import main
from kodo_bot.sandbox.demo import seed_project


@pytest.fixture
def project(tmp_path):
    seed_project(tmp_path / "p", {"a.py": "x = 1\n"})
    return tmp_path / "p"


def run(args, capsys, env=None):
    code = main(args, env=env if env is not None else {"PATH": os.environ["PATH"], "KODO_ORCHESTRATOR_API_KEY": "k"})
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "does not exist"),
        (b"", "is empty"),
        (b"  \n\t\n", "is empty"),
        (b"\x89PNG\r\n\x1a\n\0\0", "looks binary"),
        (b"\xff\xfe\xfa", "not UTF-8"),
    ],
)
def test_bad_goal_files(tmp_path, project, capsys, content, expected):
    goal = tmp_path / "goal.md"
    if content is not None:
        goal.write_bytes(content)
    code, err = run(["run", "--goal-file", str(goal), "--project", str(project)], capsys)
    assert code == 2 and expected in err


def test_project_that_is_not_a_git_repository(tmp_path, capsys):
    (tmp_path / "plain").mkdir()
    code, err = run(["run", "--goal", "x", "--project", str(tmp_path / "plain")], capsys)
    assert code == 2 and "is not a git repository" in err and "git init" in err


def test_dirty_project_is_refused_and_untouched(project, capsys):
    (project / "a.py").write_text("x = 2\n")
    (project / "new.txt").write_text("mine\n")
    code, err = run(["run", "--goal", "x", "--project", str(project)], capsys)
    assert code == 2 and "uncommitted changes" in err and "--allow-dirty" in err
    assert (project / "a.py").read_text() == "x = 2\n" and (project / "new.txt").exists()
    assert [h.name for h in git.Repo(project).heads] == ["main"]


def test_invalid_team_file_names_the_field(tmp_path, project, capsys):
    team = tmp_path / "team.yaml"
    team.write_text("agents:\n  tester:\n    prompt: hi\n    max_turns: -3\n")
    code, err = run(["run", "--goal", "x", "--project", str(project), "--team", str(team)], capsys)
    assert code == 2 and "agents.tester.max_turns" in err


def test_cli_not_executable(tmp_path, project, capsys):
    fake = tmp_path / "claude"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(stat.S_IRUSR)
    env = {"PATH": os.environ["PATH"], "KODO_ORCHESTRATOR_API_KEY": "k", "KODO_CLAUDE_CLI": str(fake)}
    code, err = run(["run", "--goal", "x", "--project", str(project)], capsys, env)
    assert code == 2 and "is not executable" in err and "KODO_CLAUDE_CLI" in err
    assert [h.name for h in git.Repo(project).heads] == ["main"]  # nothing was started


def test_runs_and_report_on_an_empty_project(project, capsys):
    assert main(["runs", "--project", str(project)]) == 0
    assert "no runs yet" in capsys.readouterr().out
    code, err = run(["report", "nope", "--project", str(project)], capsys)
    assert code == 2 and "no run 'nope'" in err


@pytest.mark.parametrize(
    ("flag", "value", "expected"),
    [
        ("--cycles", "0", "0 must be greater than 0"),
        ("--max-cost-usd", "0", "0 must be greater than 0"),
        ("--max-rejections", "0", "0 must be greater than 0"),
        ("--max-minutes", "-5", "-5 must be greater than 0"),
        ("--cycles", "two", "'two' is not a whole number"),
    ],
)
def test_limits_out_of_range_are_usage_errors_that_create_nothing(project, capsys, flag, value, expected):
    with pytest.raises(SystemExit) as exit_:
        run(["run", "--goal", "x", "--project", str(project), flag, value], capsys)
    assert exit_.value.code == 2 and expected in capsys.readouterr().err
    assert not (project / ".kodo").exists() and [h.name for h in git.Repo(project).heads] == ["main"]
    with pytest.raises(SystemExit) as exit_:
        run(["resume", "--project", str(project), flag, value], capsys)
    assert exit_.value.code == 2


def test_resume_help_says_an_unset_limit_keeps_the_runs_own(capsys):
    with pytest.raises(SystemExit):
        main(["resume", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "default 10" not in out and "default 5" not in out
    for flag in ("--cycles", "--max-cost-usd", "--max-minutes", "--max-rejections"):
        after = out.split(f"{flag} {flag.lstrip('-').replace('-', '_').upper()} ", 1)[1]
        assert after.split("--", 1)[0].rstrip().endswith("(unset: the run keeps its own)"), flag
    assert "goes on only when you raise the limit that stopped it" in out


def test_a_missing_api_key_is_refused_before_anything_is_created(project, capsys):
    code, err = run(
        ["run", "--goal", "Add a --version flag.", "--project", str(project)], capsys, env={"PATH": os.environ["PATH"]}
    )
    assert code == 2
    assert "no API key" in err and "KODO_ORCHESTRATOR_API_KEY" in err and "ANTHROPIC_API_KEY" in err
    repo = git.Repo(project)
    assert [h.name for h in repo.heads] == ["main"]
    assert len(repo.git.worktree("list", "--porcelain").split("\n\n")) == 1
    assert not (project / ".kodo").exists()
    assert main(["runs", "--project", str(project)], env={}) == 0
    assert capsys.readouterr().out.strip() == "no runs yet"
