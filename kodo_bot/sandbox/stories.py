"""Ready-made scenarios: small builders for scripted steps, and the stories the demo, tests and benchmark
play. A story is a ``Scenario`` plus the project it needs and the goal it pursues.

Agents write files with Bash (``cat > file``), not the Write tool, because scripted steps cannot know the
absolute path of the run's worktree, and Bash runs there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from kodo_bot.sandbox.scenario import Scenario


# --------------------------------------------------------------------------- step builders
def delegate(*calls: tuple[str, str], text: str | None = None) -> dict[str, Any]:
    """One orchestrator reply delegating ``(agent, task)`` pairs (several run concurrently)."""
    step: dict[str, Any] = {"tool_calls": [{"name": f"delegate_{a}", "input": {"task": t}} for a, t in calls]}
    if text:
        step["text"] = text
    return step


def done(summary: str, success: bool = True) -> dict[str, Any]:
    return {"tool_calls": [{"name": "done", "input": {"summary": summary, "success": success}}]}


def bash(command: str, **extra: Any) -> dict[str, Any]:
    return {"tool_calls": [{"name": "Bash", "input": {"command": command, "description": "kodo step"}}], **extra}


def write_file(path: str, content: str) -> dict[str, Any]:
    return bash(f"cat > {path} <<'KODO_EOF'\n{content}KODO_EOF")


def say(text: str, **extra: Any) -> dict[str, Any]:
    return {"text": text, **extra}


def verdict(
    passed: bool,
    summary: str,
    *,
    checks: list[tuple[str, int]],
    findings: list[dict[str, Any]] | None = None,
    points: dict[str, tuple[bool, str]] | None = None,
) -> dict[str, Any]:
    """A verifier's closing answer; ``points`` answers review points: ``{id: (addressed, how)}``."""
    body: dict[str, Any] = {
        "verdict": "pass" if passed else "fail",
        "summary": summary,
        "findings": findings or [],
        "checks": [{"command": c, "exit_code": code} for c, code in checks],
    }
    if points:
        body["review_points"] = [{"id": i, "addressed": a, "how": h} for i, (a, h) in points.items()]
    return say(f"{summary}\n\n```json\n{json.dumps(body, indent=1)}\n```")


def verifier_passes(command: str, summary: str = "The goal is met; the tests pass.") -> list[dict[str, Any]]:
    return [bash(command), verdict(True, summary, checks=[(command, 0)])]


# --------------------------------------------------------------------------- the demo story
TESTS = "python3 -m unittest -q"
NEGATIVE_CHECK = 'python3 -c "from calc import multiply; assert multiply(-2, 3) == -6, multiply(-2, 3)"'

CALC_V0 = "def add(a, b):\n    return a + b\n"
TEST_V0 = (
    "import unittest\n\nfrom calc import add\n\n\n"
    "class AddTest(unittest.TestCase):\n    def test_add(self):\n        self.assertEqual(add(2, 3), 5)\n"
)
CALC_BUGGY = CALC_V0 + "\n\ndef multiply(a, b):\n    if b < 0 or a < 0:\n        return 0\n    return a * b\n"
CALC_FIXED = CALC_V0 + "\n\ndef multiply(a, b):\n    return a * b\n"
TEST_V1 = (
    "import unittest\n\nfrom calc import add, multiply\n\n\n"
    "class CalcTest(unittest.TestCase):\n    def test_add(self):\n        self.assertEqual(add(2, 3), 5)\n\n"
    "    def test_multiply(self):\n        self.assertEqual(multiply(4, 5), 20)\n"
)
TEST_V2 = TEST_V1 + "\n    def test_multiply_negative(self):\n        self.assertEqual(multiply(-2, 3), -6)\n"

GOAL = """# Add multiplication to the calculator

`calc.py` can only add. Add `multiply(a, b)` that works for all integers, including negative ones, with unit
tests in `test_calc.py`. `python3 -m unittest` must pass.
"""


@dataclass
class Story:
    goal: str
    files: dict[str, str]
    scenario: Scenario
    check_commands: list[str] = field(default_factory=list)
    #: whether the goal is a UI goal (``RunSettings.ui``: None lets its words decide)
    ui: bool | None = False
    #: the project's folder name
    project: str = "calc"


# Long by nature: the story's script, one list of turns per role, read top to bottom as the demo plays it.
def demo_story() -> Story:
    """Two cycles: the first attempt is rejected by the tester (negative numbers), the second accepted."""
    finding = {"severity": "high", "file": "calc.py", "line": 5, "message": "multiply(-2, 3) returns 0, expected -6"}
    roles = {
        "orchestrator": [
            delegate(
                ("worker_fast", "Add multiply(a, b) to calc.py and a test for it in test_calc.py; run the tests."),
                text="Plan: worker_fast adds multiply with tests; then verification.",
            ),
            done("Added multiply(a, b) to calc.py with a unit test."),
            delegate(
                ("worker_fast", "multiply returns 0 for negative numbers. Fix it and add a test with -2 * 3."),
                text="Plan: fix negative numbers as the tester found.",
            ),
            done("Fixed multiply for negative numbers and added a test for them."),
        ],
        "worker_fast": [
            write_file("calc.py", CALC_BUGGY),
            write_file("test_calc.py", TEST_V1),
            bash(TESTS),
            say("Added multiply and a test; the tests pass."),
            write_file("calc.py", CALC_FIXED),
            write_file("test_calc.py", TEST_V2),
            bash(TESTS),
            say("multiply now handles negative numbers; added test_multiply_negative; the tests pass."),
        ],
        "verifier/tester": [
            bash(TESTS),
            bash(NEGATIVE_CHECK),
            verdict(
                False,
                "multiply is wrong for negative numbers.",
                checks=[(TESTS, 0), (NEGATIVE_CHECK, 1)],
                findings=[finding],
            ),
            bash(TESTS),
            bash(NEGATIVE_CHECK),
            verdict(
                True, "multiply works for negative numbers; all tests pass.", checks=[(TESTS, 0), (NEGATIVE_CHECK, 0)]
            ),
        ],
        "verifier/architect": [
            *verifier_passes("git show --stat HEAD", "A small, focused change in the right module."),
            *verifier_passes("git show --stat HEAD", "The fix is minimal and tested."),
        ],
    }
    return Story(
        goal=GOAL,
        files={"calc.py": CALC_V0, "test_calc.py": TEST_V0, "README.md": "# calc\n\nA tiny calculator.\n"},
        scenario=Scenario.from_dict({"roles": roles}, source="the demo story"),
        check_commands=[TESTS],
    )


# --------------------------------------------------------------------------- after the PR opens
#: the line of the accepted calc.py a maintainer comments on in the demo's review
REVIEW_LINE = CALC_FIXED.splitlines().index("    return a * b") + 1
REVIEW_COMMENT = "Please give multiply a docstring."
CALC_DOCUMENTED = CALC_FIXED.replace(
    "def multiply(a, b):\n", 'def multiply(a, b):\n    """The product of a and b."""\n'
)
#: the repository's own CI in the demo: green on the base branch; once multiply exists it wants a changelog
CI_COMMAND = "python3 -m unittest -q && if grep -q 'def multiply' calc.py; then grep -q multiply CHANGELOG.md; fi"
CHANGELOG = "# Changelog\n\n- `multiply(a, b)`, for all integers.\n"
CHANGELOG_CHECK = "grep -q multiply CHANGELOG.md"


def _answers(points: list[str], how: str, commands: tuple[str, ...] = (TESTS,)) -> list[dict[str, Any]]:
    """A verifier that runs ``commands`` and passes, answering every point with ``how``."""
    answered = {p: (True, how) for p in points}
    checks = [(c, 0) for c in commands]
    return [*(bash(c) for c in commands), verdict(True, "The points are addressed.", checks=checks, points=answered)]


def review_roles(points: list[str]) -> dict[str, list[dict[str, Any]]]:
    """The follow-up on the review: one cycle documenting multiply; both verifiers answer ``points``."""
    return {
        "orchestrator": [
            delegate(("worker_fast", "The reviewer asks for a docstring on multiply. Add it; run the tests.")),
            done("Gave multiply a docstring, as the reviewer asked."),
        ],
        "worker_fast": [write_file("calc.py", CALC_DOCUMENTED), bash(TESTS), say("multiply has a docstring.")],
        "verifier/tester": _answers(points, "calc.py: multiply now has a docstring"),
        "verifier/architect": _answers(points, "a one-line docstring, nothing else changed"),
    }


def ci_fix_roles(points: list[str]) -> dict[str, list[dict[str, Any]]]:
    """The follow-up on the failed CI: one cycle adding the changelog its job asks for."""
    return {
        "orchestrator": [
            delegate(("worker_fast", "CI wants multiply in CHANGELOG.md. Add the changelog; run the CI command.")),
            done("Added CHANGELOG.md with multiply, as the CI job requires."),
        ],
        "worker_fast": [write_file("CHANGELOG.md", CHANGELOG), bash(CI_COMMAND), say("The CI command passes.")],
        "verifier/tester": _answers(points, "CHANGELOG.md lists multiply; the CI job passes", (TESTS, CHANGELOG_CHECK)),
        "verifier/architect": _answers(points, "only CHANGELOG.md was added", (CHANGELOG_CHECK,)),
    }
