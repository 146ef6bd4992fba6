"""Shared fixtures of the fast engine tests (``test_run_*.py``): a seeded project, whole runs on a ``Script``
through the public API (``kodo_bot.run``/``resume``), and what a run leaves for a person to see (its event
log, the commits on its branch). A run here takes a fraction of a second: no CLI, no server, real git.

Also the GitHub emulator tests' fixtures (``emu``, ``scene``, ``gh_factory``); their helpers and constants are
in ``tests/emulator_support.py``. And ``browser``: a real headless Chromium (pages in ``tests/browser_support.py``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import git
import pytest
from github import Auth, Github

import kodo_bot
from kodo_bot import RunResult
from kodo_bot.compose import backends_from_env
from kodo_bot.engine import events as ev
from kodo_bot.engine.launch import RunRequest, start_run
from kodo_bot.engine.log import read_events
from kodo_bot.engine.ports import Orchestrator
from kodo_bot.engine.state import CrashAt, RunSettings, RunStore
from kodo_bot.engine.team import Agent, Team, default_team
from kodo_bot.sandbox.demo import seed_project
from kodo_bot.sandbox.github_emulator import GitHubEmulator
from kodo_bot.sandbox.scripted import Request, Script
from kodo_bot.sandbox.stories import GOAL, Story, bash, delegate, done, say, verdict, verifier_passes, write_file
from tests.emulator_support import ALL_WRITE, BOT, REPO, REST_SPEC, Scene

E = TypeVar("E")

#: the fast team: one worker, one verifier (each verifier costs a clean checkout per round)
FAST_TEAM = Team(
    name="fast",
    agents={
        "worker": Agent(name="worker", prompt="You edit files.", description="edits files"),
        "tester": Agent(name="tester", prompt="You verify finished work.", verify="always"),
    },
)
#: the fast team's goal and check: a greeting file (shell, not Python: a Python start costs 0.15 s here)
GREETING_GOAL = "# Greet the reader\n\nAdd `greeting.txt` saying hello.\n"
GREETING_CHECK = "grep -q hello greeting.txt"


@dataclass
class Played:
    """One run (or resume) as a person sees it afterwards: its result, the script's record, the whole log."""

    result: RunResult | None
    script: Script
    events: list[ev.Event]

    def of(self, kind: type[E]) -> list[E]:
        return [e for e in self.events if isinstance(e, kind)]

    @property
    def end(self) -> ev.RunFinished:
        return self.of(ev.RunFinished)[-1]

    def opening(self, cycle: int) -> Request:
        """The orchestrator's first request in ``cycle`` (the first that carries that cycle's seed)."""
        marker = f"# Cycle {cycle} of at most"
        asked = self.script.asked("orchestrator")
        return next(r for r in asked if any(marker in str(m["content"]) for m in r.messages))


class Rehearsal:
    """A project with runs on it; the step builders its stories share."""

    #: the team runs get unless told otherwise
    TEAM = FAST_TEAM

    def __init__(self, root: Path, files: Mapping[str, str] | None = None) -> None:
        self.project = root / "project"
        seed_project(self.project, files or {"README.md": "# demo\n"})
        self.store = RunStore(self.project / ".kodo")

    # ------------------------------------------------------------- stories of the fast team
    @staticmethod
    def greets(text: str = "hello\n") -> list[dict[str, Any]]:
        """The worker's steps for one call: write greeting.txt, run the check, report."""
        return [write_file("greeting.txt", text), bash(GREETING_CHECK), say("Wrote greeting.txt; the check passes.")]

    @staticmethod
    def passes() -> list[dict[str, Any]]:
        """The tester's steps for an honest pass."""
        return verifier_passes(GREETING_CHECK)

    def accepted_roles(self) -> dict[str, list[dict[str, Any]]]:
        """One cycle: the worker writes the greeting, done, the tester passes it."""
        return {
            "orchestrator": [delegate(("worker", "Write greeting.txt saying hello.")), done("Added greeting.txt.")],
            "worker": self.greets(),
            "verifier/tester": self.passes(),
        }

    # ------------------------------------------------------------- running
    def run(
        self,
        script: Script | Mapping[str, Any],
        *,
        goal: str = GREETING_GOAL,
        team: Team = FAST_TEAM,
        checks: Iterable[str] = (GREETING_CHECK,),
        sinks: Iterable[ev.EventSink] = (),
        orchestrator: Orchestrator | None = None,
        **options: Any,
    ) -> Played:
        """A whole run through ``kodo_bot.run``; ``script`` is a Script or its roles. ``orchestrator`` stands
        in for the script's own (a wrapper around it)."""
        script = as_script(script)
        result = kodo_bot.run(
            goal,
            self.project,
            team=team,
            orchestrator=orchestrator or script.orchestrator(),
            sessions=script.sessions,
            checks=list(checks),
            ui=False,
            env={},
            sinks=sinks,
            **options,
        )
        return Played(result, script, self.events(result.run_id))

    def resume(self, run_id: str, script: Script | Mapping[str, Any], **options: Any) -> Played:
        """``kodo_bot.resume`` of ``run_id`` on ``script`` (what is left to play)."""
        script = as_script(script)
        result = kodo_bot.resume(
            self.project, run_id, orchestrator=script.orchestrator(), sessions=script.sessions, env={}, **options
        )
        return Played(result, script, self.events(run_id))

    def start(
        self,
        script: Script,
        *,
        goal: str = GREETING_GOAL,
        checks: Iterable[str] = (GREETING_CHECK,),
        team: Team = FAST_TEAM,
        crash: CrashAt | None = None,
        run_id: str = "run-1",
        **settings: Any,
    ) -> Played:
        """A run through ``launch.start_run``, for what the public API does not take: settings such as
        ``max_exchanges``, and a crash point (``Crashed`` then propagates)."""
        request = RunRequest(
            goal=goal,
            project=self.project,
            run_id=run_id,
            settings=RunSettings(team=team, check_commands=list(checks), ui=False, **settings),
        )
        backends = backends_from_env({}, orchestrator=script.orchestrator(), sessions=script.sessions)
        asyncio.run(start_run(request, dataclasses.replace(backends, crash=crash)))
        return Played(None, script, self.events(run_id))

    # ------------------------------------------------------------- what a run left
    def events(self, run_id: str) -> list[ev.Event]:
        return read_events(self.store.events_path(run_id))

    def commits(self, branch: str) -> list[git.Commit]:
        """The run's commits on ``branch``, oldest first."""
        return list(reversed(list(git.Repo(self.project).iter_commits(f"main..{branch}"))))


def as_script(script: Script | Mapping[str, Any]) -> Script:
    return script if isinstance(script, Script) else Script({"roles": dict(script)})


@pytest.fixture
def rehearsal(tmp_path: Path) -> Rehearsal:
    return Rehearsal(tmp_path)


@pytest.fixture(scope="session")
def rehearsal_in() -> type[Rehearsal]:
    """``Rehearsal(root, files)``, for a run shared by a module's tests (under ``tmp_path_factory``)."""
    return Rehearsal


# ----------------------------------------------------------------- the demo story, in shell
CALC_BUGGY = "def multiply(a, b):\n    if a < 0 or b < 0:\n        return 0\n    return a * b\n"
CALC_FIXED = "def multiply(a, b):\n    return a * b\n"
CALC_CHECK = "grep -q 'def multiply' calc.py"
#: exits 1 while multiply still returns 0 for negative numbers
NEGATIVE_CHECK = "awk '/return 0/ { bad = 1 } END { exit bad }' calc.py"
NEGATIVE_FINDING = {
    "severity": "high",
    "file": "calc.py",
    "line": 3,
    "message": "multiply(-2, 3) returns 0, expected -6",
}


def shell_demo_story() -> Story:
    """``stories.demo_story()`` step for step (two cycles, the tester rejects the first, the default team),
    with shell commands in place of Python's unittest, so a run takes half the time."""
    roles = {
        "orchestrator": [
            delegate(("worker_fast", "Add multiply(a, b) to calc.py."), text="Plan: worker_fast adds multiply."),
            done("Added multiply(a, b) to calc.py."),
            delegate(("worker_fast", "multiply returns 0 for negative numbers. Fix it."), text="Plan: fix negatives."),
            done("Fixed multiply for negative numbers."),
        ],
        "worker_fast": [
            write_file("calc.py", CALC_BUGGY),
            bash(CALC_CHECK),
            say("Added multiply; the check passes."),
            write_file("calc.py", CALC_FIXED),
            bash(NEGATIVE_CHECK),
            say("multiply now handles negative numbers."),
        ],
        "verifier/tester": [
            bash(CALC_CHECK),
            bash(NEGATIVE_CHECK),
            verdict(
                False,
                "multiply is wrong for negative numbers.",
                checks=[(CALC_CHECK, 0), (NEGATIVE_CHECK, 1)],
                findings=[NEGATIVE_FINDING],
            ),
            bash(CALC_CHECK),
            bash(NEGATIVE_CHECK),
            verdict(True, "multiply works for negative numbers.", checks=[(CALC_CHECK, 0), (NEGATIVE_CHECK, 0)]),
        ],
        "verifier/architect": [
            *verifier_passes("git show --stat HEAD", "A small change in the right module."),
            *verifier_passes("git show --stat HEAD", "The fix is minimal."),
        ],
    }
    return Story(
        goal=GOAL,
        files={"calc.py": "def add(a, b):\n    return a + b\n", "README.md": "# calc\n"},
        scenario=Script({"roles": roles}).scenario,
        check_commands=[CALC_CHECK],
    )


@pytest.fixture(scope="session")
def shell_story() -> Story:
    return shell_demo_story()


@pytest.fixture
def shell_demo(tmp_path: Path) -> tuple[Rehearsal, Story]:
    """A project seeded for the shell demo story, and the story."""
    story = shell_demo_story()
    return Rehearsal(tmp_path, story.files), story


class CountingWrites:
    """A crash point that never fires: it counts a run's checkpoint writes."""

    def __init__(self) -> None:
        self.writes = 0

    def __call__(self, count: int, *, written: bool) -> None:
        self.writes = max(self.writes, count)


@dataclass
class DemoRun:
    rehearsal: Rehearsal
    story: Story
    played: Played
    #: the checkpoint writes the run made
    writes: int


@pytest.fixture(scope="session")
def shell_demo_run(tmp_path_factory: pytest.TempPathFactory, shell_story: Story) -> DemoRun:
    """The shell demo story played once to its end, with the default team, as run ``run-1`` (shared: read it,
    never resume it)."""
    rehearsal = Rehearsal(tmp_path_factory.mktemp("shell-demo"), shell_story.files)
    counting = CountingWrites()
    played = rehearsal.start(
        Script(shell_story.scenario),
        goal=shell_story.goal,
        checks=shell_story.check_commands,
        team=default_team(),
        crash=counting,
    )
    played.script.assert_complete()
    return DemoRun(rehearsal, shell_story, played, counting.writes)


# ----------------------------------------------------------------- the GitHub emulator tests
@pytest.fixture
def emu(tmp_path):
    """A running emulator that checks every exchange against GitHub's REST description."""
    with GitHubEmulator(tmp_path / "github", validate=REST_SPEC) as emulator:
        yield emulator
    assert emulator.internal_errors == [], emulator.internal_errors[0]


@pytest.fixture
def scene(emu, tmp_path) -> Scene:
    """octo/app seeded with a README and .github/kodo.yml; alice (write), bob (no role); a bot token."""
    emu.add_repo(
        REPO, files={"README.md": "# app\n", ".github/kodo.yml": "trigger_label: kodo\n", "src/app.py": "print('hi')\n"}
    )
    emu.add_collaborator(REPO, "alice", "write")
    emu.add_user("bob")
    return Scene(emu, emu.add_token(BOT, permissions=ALL_WRITE), tmp_path)


@pytest.fixture
def gh_factory():
    """``make(emu, token, **kwargs)`` returns a PyGithub client; all are closed at teardown."""
    made: list[Github] = []

    def make(emulator: GitHubEmulator, token: str, **kwargs) -> Github:
        kwargs.setdefault("retry", 0)
        kwargs.setdefault("timeout", 10)
        client = Github(
            base_url=emulator.api_url,
            auth=Auth.Token(token),
            seconds_between_requests=0,
            seconds_between_writes=0,
            **kwargs,
        )
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


# A real headless Chromium: the system's (the Debian package `chromium`), driven by Playwright's Python
# package, with no browser download. Without Chromium a test using it fails, saying how to install it (as
# .ci/run does): a skipped check proves nothing.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.fail("no chromium on PATH: sudo apt-get install chromium (as .ci/run does)")
    from playwright import sync_api

    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        yield b
        b.close()
