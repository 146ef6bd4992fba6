"""The checkout watch sees every way a verifier can change what it verifies, and nothing that is only a cache.

Real git throughout: a project with one commit, a clean checkout of it as the engine makes for a verifier,
and the tricks a cheating verifier would use on that checkout.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import git
import pytest

from kodo_bot.engine.checkout_watch import CheckoutWatch
from kodo_bot.engine.workspace import CleanCheckout, RunWorkspace

CALC = "def multiply(a, b):\n    return 0\n"


def sh(cwd: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }
    return subprocess.run(args, cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def project(tmp_path: Path) -> git.Repo:
    root = tmp_path / "project"
    root.mkdir()
    (root / "calc.py").write_text(CALC)
    (root / "test_calc.py").write_text("from calc import multiply\n\ndef test_m():\n    assert multiply(2, 3) == 6\n")
    (root / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (root / "run.sh").chmod(0o755)
    (root / "docs").mkdir()
    (root / "docs" / ".gitignore").write_text("*.html\n")
    (root / "docs" / "index.md").write_text("# docs\n")
    os.symlink("calc.py", root / "link.py")
    sh(root, "git", "init", "-q")
    sh(root, "git", "add", "-A")
    sh(root, "git", "commit", "-qm", "init")
    return git.Repo(root)


@pytest.fixture
def checkout(project: git.Repo, tmp_path: Path):
    sha = project.head.commit.hexsha
    with CleanCheckout(project, sha, tmp_path / "verify") as path:
        yield path, CheckoutWatch(project, sha, path)


def test_a_fresh_checkout_equals_the_commit(checkout):
    _, watch = checkout
    assert watch() == ""


def test_caches_bytecode_and_dependency_folders_are_not_edits(checkout):
    path, watch = checkout
    subprocess.run(["python3", "-m", "py_compile", "calc.py"], cwd=path, check=True)
    for folder in (".pytest_cache/v", "node_modules/left-pad", ".venv/bin", "node_modules/.cache"):
        (path / folder).mkdir(parents=True)
        (path / folder / "x").write_text("x")
    (path / "docs" / "index.html").write_text("<p>built</p>")  # ignored by the commit's own docs/.gitignore
    assert (path / "__pycache__").is_dir()
    assert watch() == ""


def test_an_edit_reverted_is_clean_again(checkout):
    path, watch = checkout
    (path / "calc.py").write_text("def multiply(a, b):\n    return a * b\n")
    assert watch() == "changed calc.py"
    sh(path, "git", "checkout", "calc.py")
    assert watch() == ""


@pytest.mark.parametrize(
    "trick, seen",
    [
        # same size, and the old modification time put back: git status would call it clean
        (
            "printf 'def multiply(a, b):\\n    return a*b\\n' > calc.py && touch -r test_calc.py calc.py",
            "changed calc.py",
        ),
        ("cat > conftest.py <<'EOF'\nimport calc\ncalc.multiply = lambda a, b: a * b\nEOF", "added conftest.py"),
        ("echo 'x' > sitecustomize.py", "added sitecustomize.py"),
        # an ignore file that ignores itself and what sits beside it
        (
            "mkdir -p sub && printf '*\\n' > sub/.gitignore && echo patch > sub/conftest.py",
            "added sub/.gitignore, sub/conftest.py",
        ),
        ("echo patch > docs/evil.py", "added docs/evil.py"),
        # the verifier's own git: commit the patch, or hide it from git status
        ("sed -i 's/return 0/return a * b/' calc.py && git add calc.py && git commit -qm fix", "changed calc.py"),
        ("git update-index --assume-unchanged calc.py && sed -i 's/return 0/return a * b/' calc.py", "changed calc.py"),
        ("git update-index --skip-worktree calc.py && sed -i 's/return 0/return a * b/' calc.py", "changed calc.py"),
        ("chmod -x run.sh", "changed run.sh"),
        ("rm test_calc.py", "deleted test_calc.py"),
        ("rm link.py && ln -s /tmp/elsewhere.py link.py", "changed link.py"),
        ("ln -s /tmp pkg", "added pkg"),
    ],
)
def test_every_trick_is_seen(checkout, trick: str, seen: str):
    path, watch = checkout
    assert watch() == ""
    sh(path, "bash", "-c", trick)
    assert watch() == seen


def test_a_huge_tracked_file_is_judged_by_size_without_reading_it(checkout, monkeypatch):
    path, watch = checkout
    assert watch() == ""  # every other file is now known by its stat
    with open(path / "calc.py", "ab") as fh:
        fh.truncate(200 * 1024 * 1024)  # sparse: costs no disk

    def never(self):
        raise AssertionError("read a file whose size already differs")

    monkeypatch.setattr(Path, "read_bytes", never)
    assert watch() == "changed calc.py"


def test_cycle_commits_leave_build_output_out_even_without_a_gitignore(project: git.Repo, tmp_path: Path):
    base = project.head.commit.hexsha
    ws = RunWorkspace.create_or_reuse(project, tmp_path / "wt", "kodo/run-x", base=base)
    (ws.path / "calc.py").write_text("def multiply(a, b):\n    return a * b\n")
    subprocess.run(["python3", "-m", "py_compile", "calc.py"], cwd=ws.path, check=True)
    (ws.path / ".venv" / "lib").mkdir(parents=True)
    (ws.path / ".venv" / "lib" / "site.py").write_text("x")
    (ws.path / "pkg" / "__pycache__").mkdir(parents=True)
    (ws.path / "pkg" / "mod.py").write_text("x = 1\n")
    (ws.path / "pkg" / "__pycache__" / "mod.cpython-311.pyc").write_bytes(b"\0")
    commit = ws.commit("Fix multiply", run_id="x", cycle=1)
    assert sorted(commit.files_changed) == ["calc.py", "pkg/mod.py"]
    assert commit.build_output == [".venv/", "__pycache__/", "pkg/__pycache__/"]
    assert not ws.has_changes()  # caches left behind are not work waiting to be committed


def test_a_verifiers_home_must_stay_empty_but_for_caches(checkout, tmp_path: Path):
    path, watch = checkout
    home = tmp_path / "verifier-home"
    home.mkdir()
    watch.also_empty("$HOME", home)
    (home / ".cache" / "pip").mkdir(parents=True)
    (home / ".cache" / "pip" / "wheel").write_text("cached")
    (home / ".npm" / "_cacache").mkdir(parents=True)
    assert watch() == ""
    site = home / ".local" / "lib" / "python3.11" / "site-packages"
    site.mkdir(parents=True)
    (site / "usercustomize.py").write_text("import calc\n")
    assert watch() == "added $HOME/.local/lib/python3.11/site-packages/usercustomize.py"
    (home / ".npmrc").write_text("node-options=--require /tmp/patch.js\n")
    assert "$HOME/.npmrc" in watch()
