"""The run branch belongs to the engine: whatever an agent does with git in its worktree, the cycle's work
lands on the run branch, the user's repository is untouched, and a lost worktree comes back."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import git
import pytest

from kodo_bot.engine.workspace import RunWorkspace, exclude_from_git
from kodo_bot.sandbox.demo import seed_project

BRANCH = "kodo/run-t"


def agent(cwd: Path, script: str) -> None:
    """What an agent would run in its worktree (with its own git identity, as agents have)."""
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(cwd),
        "GIT_AUTHOR_NAME": "a",
        "GIT_AUTHOR_EMAIL": "a@a",
        "GIT_COMMITTER_NAME": "a",
        "GIT_COMMITTER_EMAIL": "a@a",
    }
    subprocess.run(["bash", "-c", script], cwd=cwd, env=env, check=True, capture_output=True)


@pytest.fixture
def ws(tmp_path: Path) -> RunWorkspace:
    repo = seed_project(tmp_path / "project", {"calc.py": "v0\n", "README.md": "# p\n"})
    exclude_from_git(repo, tmp_path / "project" / ".kodo")  # as every run does
    ws = RunWorkspace.create_or_reuse(repo, tmp_path / "project" / ".kodo" / "wt", BRANCH, base="HEAD")
    (ws.path / "calc.py").write_text("v1\n")
    ws.commit("cycle 1", run_id="t", cycle=1)
    return ws


def branch_file(ws: RunWorkspace, name: str) -> str:
    return ws.project.git.show(f"{BRANCH}:{name}")


def user_side_untouched(ws: RunWorkspace) -> None:
    assert ws.project.active_branch.name == "main"
    assert len(list(ws.project.iter_commits("main"))) == 1
    assert not ws.project.is_dirty(untracked_files=True)


@pytest.mark.parametrize(
    "trick, undone",
    [
        ("echo v2 > calc.py && git reset -q --hard HEAD~1 && echo v2 > calc.py", "moved the run branch"),
        ("git checkout -q -b other && echo v2 > calc.py", "switched the checkout away"),
        ("echo v2 > calc.py && git commit -qam 'my own commit'", "moved the run branch"),
        ("rm -rf .git && echo v2 > calc.py", "removed or replaced the checkout's .git"),
        ("git rebase -q --onto HEAD~1 HEAD && echo v2 > calc.py", "moved the run branch"),
        ("git update-ref refs/heads/main HEAD && echo v2 > calc.py", None),  # the checkout's own main: no way back
    ],
)
def test_the_cycle_lands_on_the_run_branch_whatever_the_agent_did_with_git(ws: RunWorkspace, trick: str, undone: str):
    first = ws.head()
    agent(ws.path, trick)
    commit = ws.commit("cycle 2", run_id="t", cycle=2)
    notes = ws.take_interference()
    assert any(undone in note for note in notes) if undone else notes == []
    assert ws.project.commit(BRANCH).hexsha == commit.sha and ws.project.commit(f"{BRANCH}~1").hexsha == first
    assert branch_file(ws, "calc.py") == "v2"
    assert git.Repo(ws.path).active_branch.name == BRANCH and not git.Repo(ws.path).is_dirty()
    user_side_untouched(ws)


def test_hooks_planted_in_the_repository_never_run_in_the_engine_commit(ws: RunWorkspace, tmp_path: Path):
    marker = tmp_path / "hook-ran"
    hooks = Path(ws.project.git_dir) / "hooks"
    for name in ("pre-commit", "post-commit", "reference-transaction", "post-index-change"):
        (hooks / name).write_text(f"#!/bin/sh\necho {name} >> {marker}\n")
        (hooks / name).chmod(0o755)
    ws.project.git.config("core.fsmonitor", f"echo fsmonitor >> {marker}; false")
    (ws.path / "calc.py").write_text("v3\n")
    ws.commit("cycle 2", run_id="t", cycle=2)
    assert branch_file(ws, "calc.py") == "v3" and not marker.exists()


def test_a_lost_worktree_comes_back_with_the_last_snapshot(ws: RunWorkspace):
    (ws.path / "calc.py").write_text("v2 from a finished agent call\n")
    (ws.path / "new.py").write_text("x = 1\n")
    ws.snapshot()
    shutil.rmtree(ws.path)
    back = RunWorkspace.create_or_reuse(ws.project, ws.path, BRANCH, base="HEAD")
    assert (back.path / "calc.py").read_text() == "v2 from a finished agent call\n"
    assert (back.path / "new.py").exists() and back.has_changes()
    commit = back.commit("cycle 2", run_id="t", cycle=2)
    assert sorted(commit.files_changed) == ["calc.py", "new.py"]


def test_a_snapshot_older_than_the_last_commit_is_not_restored(ws: RunWorkspace):
    (ws.path / "calc.py").write_text("v2\n")
    ws.snapshot()
    ws.commit("cycle 2", run_id="t", cycle=2)
    shutil.rmtree(ws.path)
    back = RunWorkspace.create_or_reuse(ws.project, ws.path, BRANCH, base="HEAD")
    assert (back.path / "calc.py").read_text() == "v2\n" and not back.has_changes()


def test_build_output_stays_out_and_nothing_is_left_staged(ws: RunWorkspace):
    (ws.path / "__pycache__").mkdir()
    (ws.path / "__pycache__" / "calc.cpython-311.pyc").write_bytes(b"\0")
    (ws.path / "calc.py").write_text("v2\n")
    commit = ws.commit("cycle 2", run_id="t", cycle=2)
    assert commit.files_changed == ["calc.py"] and commit.build_output == ["__pycache__/"]
    assert not ws.has_changes()


def test_secrets_and_huge_files_are_withheld_and_never_reach_the_objects(tmp_path: Path):
    import base64

    repo = seed_project(tmp_path / "project", {"calc.py": "v0\n"})
    exclude_from_git(repo, tmp_path / "project" / ".kodo")
    token = "ghs_" + "k" * 36
    ws = RunWorkspace.create_or_reuse(
        repo,
        tmp_path / "project" / ".kodo" / "wt",
        BRANCH,
        base="HEAD",
        secrets=("db-password-123456", token),
        max_file_bytes=1_000_000,
    )
    header = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    files = {
        "calc.py": "v1\n",
        "env.txt": "DATABASE_PASSWORD=db-password-123456\n",
        "gitconfig.txt": f"[http]\n\textraheader = AUTHORIZATION: basic {header}\n",
        "deploy.pem": "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----\n",
        "settings.py": 'URL = "https://admin:hunter2hunter2@example.com/api"\n',
    }
    for name, text in files.items():
        (ws.path / name).write_text(text)
    with open(ws.path / "dump.bin", "wb") as fh:
        fh.truncate(2_000_000)
    commit = ws.commit("cycle 1", run_id="t", cycle=1)
    assert commit.files_changed == ["calc.py"]
    reasons = {w.path: w.reason for w in commit.withheld}
    assert reasons["env.txt"] == reasons["gitconfig.txt"] == "it holds a credential kodo-bot was given"
    assert "Private Key" in reasons["deploy.pem"] and "Basic Auth" in reasons["settings.py"]
    assert "over the 1 MB limit" in reasons["dump.bin"]
    assert all("db-password" not in r and token not in r for r in reasons.values())
    for name in (*files, "dump.bin"):
        if name != "calc.py":
            blob = subprocess.run(
                ["git", "hash-object", str(ws.path / name)], capture_output=True, text=True
            ).stdout.strip()
            assert subprocess.run(["git", "-C", str(ws.project.git_dir), "cat-file", "-e", blob]).returncode != 0, name
    ws.snapshot()  # a snapshot holds none of them either
    assert set(
        ws.project.git.ls_tree("-r", "--name-only", "refs/kodo/snapshots/" + ws._snapshot_ref.rsplit("/", 1)[1]).split()
    ) == {"calc.py"}
