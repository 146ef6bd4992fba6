"""What a shell command line really runs, so a claimed check is matched to the command that produced its status.

A verifier's claim "``python -m pytest -q`` exited 0" is only worth something if the observed command line's
exit status *is* that command's. ``core_command`` parses a line with ``bashlex`` and peels off the wrappers
that leave the status alone:

- ``cd DIR &&`` (or ``;``), where DIR stays inside the checkout;
- ``set -o pipefail`` before a pipeline, whose status is then the first failing stage's;
- ``timeout [options] N`` and ``env VAR=...`` / ``VAR=...`` assignments;
- redirections (``2>&1``, ``> log``).

What is left must be one simple command. Anything that can change the status or replace the command voids the
match, with the reason: ``|| ...``, ``; ...``, a pipe without pipefail, ``&``, a subshell, a command
substitution, ``echo``/``printf``. Assignments to variables that change what a program loads (``PYTHONPATH``,
``LD_PRELOAD``, ``NODE_OPTIONS`` ...) are kept in the core, so ``PYTHONPATH=/tmp/patched pytest`` is not
``pytest``. Pure: no shell is run.
"""

from __future__ import annotations

import posixpath
import re
import threading
from dataclasses import dataclass
from typing import Any

#: variables that change which code a command runs: an assignment to one is part of the command
_LOADER_VARS = re.compile(
    r"^(PATH|PYTHON\w*|LD_\w+|DYLD_\w+|NODE_\w+|NPM_CONFIG_\w+|PYTEST_\w+|RUBY\w*|PERL5?\w*|JAVA_TOOL_OPTIONS|"
    r"_JAVA_OPTIONS|CLASSPATH|GO\w+|CARGO\w*|RUSTFLAGS|BASH_ENV|ENV|HOME|GIT_\w+|VIRTUAL_ENV|CONDA_\w+)$"
)
_PRINTERS = {"echo", "printf", ":", "true", "false", "test", "["}
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def warm() -> None:
    """Load bashlex in the background. It builds its parse tables when imported (a third of a second, every
    time: its shipped tables are never read), which would otherwise fall on the start-up of every run, or
    on a verdict's judgement; a run starts this while it waits for the model."""
    threading.Thread(target=_bashlex, name="kodo-bashlex", daemon=True).start()


def _bashlex() -> Any:
    import bashlex  # the import lock makes a second importer wait for the first

    return bashlex


@dataclass(frozen=True)
class Core:
    """The command a line runs, as one normalised string, or why it cannot stand for any check."""

    command: str | None
    void: str | None = None


def core_command(line: str, *, checkout: str | None = None) -> Core:
    """The simple command whose exit status ``line``'s status is.

    ``checkout`` is the absolute path the commands ran in; a ``cd`` to an absolute path is neutral only
    inside it (a ``cd`` elsewhere may run the tests of a patched copy).
    """
    try:
        trees = _bashlex().parse(line)
    except Exception:  # noqa: BLE001 - bashlex raises several kinds for syntax it does not know
        return Core(None, "it could not be parsed as a plain shell command")
    if len(trees) != 1:
        return Core(None, "it runs several command lines")
    return _node(trees[0], checkout=checkout, pipefail=False)


def _node(node: Any, *, checkout: str | None, pipefail: bool) -> Core:
    kind = node.kind
    if kind == "command":
        return _simple(node, checkout=checkout)
    if kind == "list":
        return _chain(node.parts, checkout=checkout, pipefail=pipefail)
    if kind == "pipeline":
        if not pipefail:
            return Core(None, "a pipe without `set -o pipefail` reports the last stage's status, not the command's")
        first = node.parts[0]
        return _node(first, checkout=checkout, pipefail=False)
    if kind == "compound":
        return Core(None, "a subshell or group can discard the command's status")
    return Core(None, f"it is a shell {kind}, not a plain command")


def _chain(parts: list[Any], *, checkout: str | None, pipefail: bool) -> Core:
    """``prefix && prefix; command``: every part but the last must be a neutral prefix."""
    *prefix, last = parts
    if last.kind == "operator":
        return Core(
            None,
            f"`{last.op}` runs it in the background, so its status is not observed"
            if last.op == "&"
            else f"it ends with `{last.op}`",
        )
    for part in prefix:
        if part.kind == "operator" and part.op == "||":
            return Core(None, "`||` can replace a failing status")
        if part.kind == "operator" and part.op == "&":
            return Core(None, "`&` runs a command in the background")
        if part.kind == "operator" and part.op not in ("&&", ";"):
            return Core(None, f"`{part.op}` joins commands")
    for part in prefix:
        if part.kind == "operator":
            continue
        if part.kind != "command":
            return Core(None, "it runs more than one command")
        words = _words(part)
        if words == ["set", "-o", "pipefail"]:
            pipefail = True
        elif words is None or not _neutral_cd(words, checkout):
            shown = " ".join(words) if words else "another command"
            return Core(None, f"`{shown}` runs before it, and the line's status is only the last command's")
    return _node(last, checkout=checkout, pipefail=pipefail)


def _words(node: Any) -> list[str] | None:
    """A simple command's words, or None when it has anything else (a redirection, an assignment)."""
    if any(part.kind != "word" for part in node.parts):
        return None
    return [part.word for part in node.parts]


def _neutral_cd(words: list[str], checkout: str | None) -> bool:
    if len(words) != 2 or words[0] != "cd":
        return False
    target = words[1]
    if any(ch in target for ch in "$`~*?"):
        return False
    if target.startswith("/"):
        if checkout is None:
            return False
        inside = posixpath.normpath(target)
        root = posixpath.normpath(checkout)
        return inside == root or inside.startswith(root + "/")
    return not posixpath.normpath(target).startswith("..")


def _simple(node: Any, *, checkout: str | None) -> Core:
    kept_vars: list[str] = []
    words: list[str] = []
    for part in node.parts:
        if part.kind == "redirect":
            if part.type in ("<", "<<", "<<<", "<>"):
                return Core(None, "its input is redirected")
            continue
        if part.kind not in ("word", "assignment"):
            return Core(None, f"it contains a shell {part.kind}")
        if any(sub.kind in ("commandsubstitution", "processsubstitution") for sub in getattr(part, "parts", [])):
            return Core(None, "it runs a command substitution")
        if part.kind == "assignment" and not words:
            kept_vars += _kept(part.word)
        else:
            words.append(part.word)
    words, more_vars, why = _unwrap(words)
    if why:
        return Core(None, why)
    kept_vars += more_vars
    if not words:
        return Core(None, "it runs no command")
    if words[0] in _PRINTERS:
        return Core(None, f"`{words[0]}` only prints or sets a status; it runs nothing")
    return Core(" ".join([*sorted(kept_vars), *words]))


def _unwrap(words: list[str]) -> tuple[list[str], list[str], str | None]:
    """Strip ``timeout`` and ``env`` wrappers (in any order, any number)."""
    kept: list[str] = []
    while words:
        if words[0] == "timeout":
            rest = words[1:]
            while rest and rest[0].startswith("-"):
                takes_value = rest[0] in ("-s", "--signal", "-k", "--kill-after")
                rest = rest[2:] if takes_value else rest[1:]
            if not rest:
                return [], [], "`timeout` without a command"
            words = rest[1:]  # the duration
        elif words[0] == "env":
            rest = words[1:]
            if rest and rest[0].startswith("-"):
                return [], [], f"`env {rest[0]}` changes the command's environment"
            while rest and _NAME.match(rest[0]):
                kept += _kept(rest[0])
                rest = rest[1:]
            words = rest
        elif _NAME.match(words[0]):
            kept += _kept(words[0])
            words = words[1:]
        else:
            break
    return words, kept, None


def _kept(assignment: str) -> list[str]:
    name = assignment.split("=", 1)[0]
    return [assignment] if _LOADER_VARS.match(name) else []


_TEST_RUNNER = re.compile(
    r"^(?:(?:\S*/)?python[0-9.]*\s+-m\s+(?:pytest|unittest|nose2)|(?:\S*/)?(?:pytest|py\.test)|tox|nox|"
    r"(?:npm|pnpm|yarn|bun)\s+(?:run\s+)?test|npx\s+(?:jest|vitest|mocha)|jest|vitest|mocha|cargo\s+test|"
    r"go\s+test|make\s+(?:test|check)|ctest|mvn\s+\S*\s*test|(?:\./)?gradlew?\s+test|(?:bundle\s+exec\s+)?rspec|"
    r"phpunit|dotnet\s+test|mix\s+test)(?:\s|$)"
)


def runs_tests(core: str) -> bool:
    """Whether a core command (from ``core_command``) runs a test suite: pytest, npm test, cargo test ..."""
    words = core.split(" ")
    while words and _NAME.match(words[0]):
        words = words[1:]
    return bool(_TEST_RUNNER.match(" ".join(words)))
