"""With no check configured, the engine finds the project's own test command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kodo_bot.engine.project_tests import detect_test_command


def tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


@pytest.mark.parametrize(
    "files, expected",
    [
        (
            {"calc.py": "", "tests/test_calc.py": "", "pyproject.toml": "[tool.pytest.ini_options]\n"},
            "python3 -m pytest -q",
        ),
        ({"calc.py": "", "calc_test.py": "", "setup.cfg": "[tool:pytest]\naddopts = -q\n"}, "python3 -m pytest -q"),
        ({"calc.py": "", "test_calc.py": "", "conftest.py": ""}, "python3 -m pytest -q"),
        ({"package.json": json.dumps({"scripts": {"test": "node --test"}})}, "npm test"),
        (
            {
                "package.json": json.dumps({"scripts": {"test": "vitest run"}, "devDependencies": {"vitest": "^3"}}),
                "package-lock.json": "{}",
            },
            "npm ci --no-audit --no-fund && npm test",
        ),
        (
            {
                "package.json": json.dumps({"scripts": {"test": "jest"}, "dependencies": {"x": "1"}}),
                "pnpm-lock.yaml": "",
            },
            "pnpm install --frozen-lockfile && pnpm test",
        ),
        ({"package.json": json.dumps({"scripts": {"test": "jest"}}), "yarn.lock": ""}, "yarn test"),
        ({"Cargo.toml": "[package]\nname = 'x'\n", "src/lib.rs": ""}, "cargo test"),
        ({"go.mod": "module x\n", "x_test.go": ""}, "go test ./..."),
        ({"Makefile": "build:\n\tcc x.c\n\ntest: build\n\t./x --self-test\n"}, "make test"),
    ],
)
def test_the_usual_test_command_is_found(tmp_path: Path, files: dict, expected: str):
    assert detect_test_command(tree(tmp_path, files), os.environ) == expected


def test_plain_unittest_modules_without_pytest_run_with_unittest(tmp_path: Path):
    # a python3 with nothing installed: a fresh venv without pip
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "bare")], check=True)
    bare = {"PATH": f"{tmp_path / 'bare' / 'bin'}:{os.environ['PATH']}"}
    root = tree(tmp_path / "p", {"calc.py": "", "test_calc.py": "import unittest\n"})
    assert detect_test_command(root, bare) == "python3 -m unittest discover -q"
    with_pytest = {"PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}  # this test run's own python
    assert detect_test_command(root, with_pytest) == "python3 -m pytest -q"


@pytest.mark.parametrize(
    "files",
    [
        {"README.md": "# nothing to test"},
        {"package.json": json.dumps({"scripts": {"test": 'echo "Error: no test specified" && exit 1'}})},
        {"Makefile": "build:\n\tcc x.c\n"},
        {"calc.py": "", "node_modules/x/test_x.py": "", ".venv/lib/test_y.py": ""},
        {"package.json": "{not json"},
    ],
)
def test_no_recognisable_tests_means_no_command(tmp_path: Path, files: dict):
    assert detect_test_command(tree(tmp_path, files), os.environ) is None
