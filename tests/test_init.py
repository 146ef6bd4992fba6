"""`kodo-bot init [DIR]`: the files it writes (valid, pinned, with the detected check), that a second run
changes nothing, that a changed file is shown as a diff and kept without --force, the labels it creates
with a token (against the GitHub emulator), and its refusals."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import yaml

from kodo_bot import __version__
from kodo_bot.cli import main
from kodo_bot.engine.project_tests import detect_test_command
from kodo_bot.github.config import parse_kodo_config
from tests.github_support import REPO, make_scene

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = Path(".github/workflows/kodo.yml")
SETTINGS = Path(".github/kodo.yml")


def _checkout(tmp_path: Path, files: dict[str, str] | None = None) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    for name, text in (files or {"test_app.py": "import unittest\n"}).items():
        (project / name).write_text(text, encoding="utf-8")
    return project


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("GITHUB_TOKEN", "GH_TOKEN")}
    return {**env, **extra}


def test_the_shipped_template_is_the_example_workflow():
    shipped = (ROOT / "kodo_bot" / "data" / "workflow-kodo.yml").read_text(encoding="utf-8")
    assert shipped == (ROOT / "examples" / "workflows" / "kodo.yml").read_text(encoding="utf-8")


def test_init_writes_a_pinned_workflow_and_settings_with_the_detected_check(tmp_path, capsys):
    project = _checkout(tmp_path)
    assert main(["init", str(project), "--action-repo", "acme/kodo-bot"], env=_env()) == 0
    out = capsys.readouterr().out
    assert f"{WORKFLOW}: created" in out and f"{SETTINGS}: created" in out
    workflow = (project / WORKFLOW).read_text(encoding="utf-8")
    steps = yaml.safe_load(workflow)["jobs"]["kodo"]["steps"]
    assert steps[0]["uses"] == f"acme/kodo-bot@v{__version__}"
    config = parse_kodo_config((project / SETTINGS).read_text(encoding="utf-8"), source=str(SETTINGS))
    assert config.label == "kodo"
    assert config.check_commands == (detect_test_command(project, _env()),)
    assert "labels: not created (no GITHUB_TOKEN)" in out
    # nothing committed: the files are the person's to review
    assert subprocess.run(["git", "log"], cwd=project, capture_output=True).returncode != 0


def test_a_second_init_changes_nothing(tmp_path, capsys):
    project = _checkout(tmp_path)
    main(["init", str(project)], env=_env())
    before = {p: (project / p).read_bytes() for p in (WORKFLOW, SETTINGS)}
    capsys.readouterr()
    assert main(["init", str(project)], env=_env()) == 0
    out = capsys.readouterr().out
    assert f"{WORKFLOW}: unchanged" in out and f"{SETTINGS}: unchanged" in out
    assert {p: (project / p).read_bytes() for p in before} == before


def test_a_modified_workflow_is_shown_as_a_diff_and_kept_without_force(tmp_path, capsys):
    project = _checkout(tmp_path)
    main(["init", str(project)], env=_env())
    mine = (project / WORKFLOW).read_text(encoding="utf-8").replace("timeout-minutes: 120", "timeout-minutes: 45")
    (project / WORKFLOW).write_text(mine, encoding="utf-8")
    capsys.readouterr()
    assert main(["init", str(project)], env=_env()) == 2
    captured = capsys.readouterr()
    assert "-    timeout-minutes: 45" in captured.out and "+    timeout-minutes: 120" in captured.out
    assert f"{WORKFLOW} was changed by hand" in captured.err and "--force" in captured.err
    assert (project / WORKFLOW).read_text(encoding="utf-8") == mine  # nothing lost
    assert main(["init", str(project), "--force"], env=_env()) == 0
    assert "timeout-minutes: 120" in (project / WORKFLOW).read_text(encoding="utf-8")
    assert f"{WORKFLOW}: replaced" in capsys.readouterr().out


def test_init_outside_a_git_repository_is_refused_and_writes_nothing(tmp_path, capsys):
    plain = tmp_path / "plain"
    plain.mkdir()
    assert main(["init", str(plain)], env=_env()) == 2
    assert "is not a git repository" in capsys.readouterr().err
    assert list(plain.iterdir()) == []
    assert main(["init", str(tmp_path / "missing")], env=_env()) == 2
    assert "is not a directory" in capsys.readouterr().err


def test_with_a_token_init_creates_the_missing_labels_once(tmp_path, capsys):
    scene = make_scene(tmp_path, {"README.md": "# app\n"})
    try:
        scene.emu.create_issue(REPO, "old", "", user="alice", labels=["kodo:accepted"])  # exists already
        project = _checkout(tmp_path)
        argv = ["init", str(project), "--repo", REPO, "--api-url", scene.emu.api_url]
        assert main(argv, env=_env(GITHUB_TOKEN=scene.token)) == 0
        out = capsys.readouterr().out
        assert "label kodo: created" in out and "label kodo:accepted: exists" in out
        names = {c.request_body["name"] for c in scene.emu.calls_matching("POST", r"/labels$")}
        assert names == {"kodo", "kodo:running", "kodo:needs-human", "kodo:failed"}
        assert main(argv, env=_env(GITHUB_TOKEN=scene.token)) == 0
        assert "created" not in capsys.readouterr().out.split("labels on")[1]
        assert scene.token not in out
        scene.assert_valid()
    finally:
        scene.emu.stop()


def test_a_token_that_may_not_create_labels_is_named_and_the_files_stay(tmp_path, capsys):
    scene = make_scene(tmp_path, {"README.md": "# app\n"})
    try:
        reader = scene.emu.add_token("reader-bot[bot]", permissions={"issues": "read", "contents": "read"})
        project = _checkout(tmp_path)
        argv = ["init", str(project), "--repo", REPO, "--api-url", scene.emu.api_url]
        assert main(argv, env=_env(GITHUB_TOKEN=reader)) == 2
        err = capsys.readouterr().err
        assert "may not create labels" in err and "issues: write" in err and reader not in err
        assert (project / WORKFLOW).is_file() and (project / SETTINGS).is_file()
    finally:
        scene.emu.stop()
