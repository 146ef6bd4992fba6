"""``kodo-bot demo --team mixed``: the demo story told by a team on three agent CLIs at once.

The team is ``kodo_bot/data/teams/mixed.yaml``: worker_smart and the architect on Claude Code, worker_fast
and the tester on Codex, the reviewer (a second verifier) on the Gemini CLI. One scripted model server on
127.0.0.1 speaks all three APIs (Messages, Responses, Gemini), and each real CLI edits files and runs
commands with the tool names it really has (``Bash``, ``exec_command``, ``run_shell_command``). The story:
worker_fast (Codex) adds ``multiply`` with a bug; the tester (Codex) rejects it with a failing command while
the reviewer (Gemini) passes it; worker_smart (Claude Code) fixes it; both verifiers accept.

It needs the Codex and Gemini CLIs (``KODO_CODEX_CLI`` / ``KODO_GEMINI_CLI``, or on PATH) and says so, with
the install command, when one is missing. It deliberately tells only the local story (no GitHub emulator).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from kodo_bot.engine.team import Team, parse_team
from kodo_bot.sandbox.demo import run_demo
from kodo_bot.sandbox.scenario import Scenario
from kodo_bot.sandbox.stories import (
    CALC_BUGGY,
    CALC_FIXED,
    CALC_V0,
    GOAL,
    NEGATIVE_CHECK,
    TEST_V0,
    TEST_V1,
    TEST_V2,
    TESTS,
    Story,
    bash,
    delegate,
    done,
    say,
    verdict,
    write_file,
)

#: the shell tool of each CLI, as the model calls it: (tool name, argument holding the command)
SHELL_TOOLS = {
    "claude_code": ("Bash", "command"),
    "codex": ("exec_command", "cmd"),
    "gemini_cli": ("run_shell_command", "command"),
}


def mixed_team() -> Team:
    text = resources.files("kodo_bot").joinpath("data/teams/mixed.yaml").read_text(encoding="utf-8")
    return parse_team(text, source="the mixed team")


def shell(backend: str, command: str, **extra: Any) -> dict[str, Any]:
    """A step running ``command`` with ``backend``'s own shell tool."""
    name, argument = SHELL_TOOLS[backend]
    return {"tool_calls": [{"name": name, "input": {argument: command}}], **extra}


def on(backend: str, steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Claude Code steps (``bash``, ``write_file``) told with ``backend``'s shell tool instead."""
    told = []
    for step in steps:
        calls = step.get("tool_calls") or []
        if len(calls) == 1 and calls[0]["name"] == "Bash":
            rest = {k: v for k, v in step.items() if k != "tool_calls"}
            step = shell(backend, calls[0]["input"]["command"], **rest)
        told.append(step)
    return told


def pondered(steps: list[dict[str, Any]], seconds: float = 0.2) -> list[dict[str, Any]]:
    """``steps`` answered after a moment each, as a real model's are. These CLIs do not wait for the checkout
    watch: a scripted model answering at once lets a CLI run its next tool before the watch's look, which then
    counts as late, and a verifier's check as not run on the commit (``CliSession._look``)."""
    return [{"delay_s": seconds, **step} for step in steps]


def mixed_story() -> Story:
    """Two cycles: Codex's first attempt is rejected by the Codex tester, Claude Code's fix accepted by both."""
    finding = {"severity": "high", "file": "calc.py", "line": 5, "message": "multiply(-2, 3) returns 0, expected -6"}
    review = "git show --stat HEAD"
    first = "Add multiply(a, b) to calc.py and a test for it in test_calc.py; run the tests."
    roles = {
        "orchestrator": [
            delegate(("worker_fast", first)),
            done("Added multiply(a, b) to calc.py with a unit test."),
            delegate(("worker_smart", "multiply returns 0 for negative numbers. Fix it and add a test with -2 * 3.")),
            done("Fixed multiply for negative numbers and added a test for them."),
        ],
        "worker_fast": on("codex", [
            write_file("calc.py", CALC_BUGGY),
            write_file("test_calc.py", TEST_V1),
            bash(TESTS),
            say("Added multiply and a test; the tests pass."),
        ]),
        "worker_smart": [
            write_file("calc.py", CALC_FIXED),
            write_file("test_calc.py", TEST_V2),
            bash(TESTS),
            say("multiply now handles negative numbers; added test_multiply_negative; the tests pass."),
        ],
        "verifier/tester": pondered(on("codex", [
            bash(TESTS),
            bash(NEGATIVE_CHECK),
            verdict(False, "multiply is wrong for negative numbers.", checks=[(TESTS, 0), (NEGATIVE_CHECK, 1)],
                    findings=[finding]),
            bash(TESTS),
            bash(NEGATIVE_CHECK),
            verdict(True, "multiply works for negative numbers; all tests pass.",
                    checks=[(TESTS, 0), (NEGATIVE_CHECK, 0)]),
        ])),
        "verifier/reviewer": pondered(on("gemini_cli", [
            bash(review),
            verdict(True, "A small change in the right module, with a test.", checks=[(review, 0)]),
            bash(review),
            verdict(True, "The fix is minimal and tested.", checks=[(review, 0)]),
        ])),
    }  # fmt: skip
    return Story(
        goal=GOAL,
        files={"calc.py": CALC_V0, "test_calc.py": TEST_V0, "README.md": "# calc\n\nA tiny calculator.\n"},
        scenario=Scenario.from_dict({"roles": roles}, source="the mixed-team story"),
        check_commands=[TESTS],
    )


def run_mixed_demo(where: Path | None, *, env: Mapping[str, str], json_mode: bool = False) -> int:
    """The story by the mixed team; exit 2, naming the CLI and how to install it, when one is missing."""
    from kodo_bot.agents.backends import CLIS, cli_path, cli_problem

    team = mixed_team()
    for backend in sorted({a.backend for a in team.agents.values()} - {"claude_code"}):
        cli = CLIS[backend]
        if problem := cli_problem(cli, cli_path(cli, env)):
            print(f"kodo-bot demo --team mixed: {problem}", file=sys.stderr)
            return 2
    return run_demo(where, env=env, json_mode=json_mode, story=mixed_story(), team=team)
