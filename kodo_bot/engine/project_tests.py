"""The project's own test command, found by looking at a checkout, for when nobody configured a check.

Without a check the engine runs itself, a verdict rests on what verifiers say they saw. So when neither
``--check`` nor ``check_commands`` is set, the engine detects the usual test command and runs it in a clean
checkout before any verifier, the same way as a configured check. Detection only reads files; it runs
nothing but ``python3 -c 'import pytest'`` (is pytest there to run a test suite that does not name it?).

Deliberately modest: one command, the first rule that fits, in this order: Python (pytest, else unittest),
package.json's ``test`` script (pnpm, yarn or npm by lock file, installing dependencies first when there are
any), Cargo, Go, a Makefile's ``test`` target. A project with no recognisable tests gets None, and the run
says so.
"""

from __future__ import annotations

import configparser
import json
import re
import subprocess
import tomllib
from collections.abc import Mapping
from pathlib import Path

_NPM_PLACEHOLDER = "no test specified"
_MAKE_TEST = re.compile(r"^test\s*:", re.MULTILINE)
_SKIP_DIRS = {".git", "node_modules", ".venv", "venv", "__pycache__", ".tox", "build", "dist", "target"}


def detect_test_command(checkout: Path, env: Mapping[str, str]) -> str | None:
    for rule in (_python, _node, _cargo, _go, _make):
        command = rule(checkout, env)
        if command:
            return command
    return None


def _python(root: Path, env: Mapping[str, str]) -> str | None:
    tests = _python_test_files(root)
    if not tests:
        return None
    if _names_pytest(root) or _has_pytest(env):
        return "python3 -m pytest -q"
    return "python3 -m unittest discover -q"


def _python_test_files(root: Path, max_depth: int = 4) -> list[Path]:
    """The first test module found (``test_*.py`` or ``*_test.py``), breadth-limited; [] when none."""
    found: list[Path] = []
    stack = [root]
    while stack and not found:
        folder = stack.pop()
        try:
            entries = sorted(folder.iterdir())
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir() and not entry.is_symlink():
                if (
                    entry.name not in _SKIP_DIRS
                    and not entry.name.startswith(".")
                    and len(entry.parts) - len(root.parts) < max_depth
                ):
                    stack.append(entry)
            elif entry.suffix == ".py" and (entry.name.startswith("test_") or entry.stem.endswith("_test")):
                found.append(entry)
    return found


def _names_pytest(root: Path) -> bool:
    if (root / "pytest.ini").is_file() or (root / "conftest.py").is_file():
        return True
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        try:
            data = tomllib.loads(pyproject.read_text(encoding="utf-8", errors="replace"))
        except tomllib.TOMLDecodeError:
            data = {}
        if "pytest" in data.get("tool", {}):
            return True
    for name, section in (("setup.cfg", "tool:pytest"), ("tox.ini", "pytest")):
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read(root / name, encoding="utf-8")
        except configparser.Error:
            continue
        if parser.has_section(section):
            return True
    return False


def _has_pytest(env: Mapping[str, str]) -> bool:
    try:
        found = subprocess.run(["python3", "-c", "import pytest"], env=dict(env), capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return found.returncode == 0


def _node(root: Path, env: Mapping[str, str]) -> str | None:
    manifest = root / "package.json"
    if not manifest.is_file():
        return None
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (ValueError, OSError):
        return None
    script = (data.get("scripts") or {}).get("test") if isinstance(data, dict) else None
    if not isinstance(script, str) or not script.strip() or _NPM_PLACEHOLDER in script:
        return None
    if (root / "pnpm-lock.yaml").is_file():
        tool, install = "pnpm", "pnpm install --frozen-lockfile"
    elif (root / "yarn.lock").is_file():
        tool, install = "yarn", "yarn install --frozen-lockfile"
    else:
        tool = "npm"
        install = (
            "npm ci --no-audit --no-fund"
            if (root / "package-lock.json").is_file()
            else "npm install --no-audit --no-fund"
        )
    needs_install = any(data.get(k) for k in ("dependencies", "devDependencies"))
    return f"{install} && {tool} test" if needs_install else f"{tool} test"


def _cargo(root: Path, env: Mapping[str, str]) -> str | None:
    return "cargo test" if (root / "Cargo.toml").is_file() else None


def _go(root: Path, env: Mapping[str, str]) -> str | None:
    return "go test ./..." if (root / "go.mod").is_file() else None


def _make(root: Path, env: Mapping[str, str]) -> str | None:
    for name in ("GNUmakefile", "Makefile", "makefile"):
        path = root / name
        if path.is_file() and _MAKE_TEST.search(path.read_text(encoding="utf-8", errors="replace")):
            return "make test"
    return None
