"""``kodo-bot`` with no arguments, in a terminal: a short conversation that ends in a ``kodo-bot run``.

    the goal (goal.md, or typed; an empty one is asked again)
    -> the orchestrator (Anthropic's API, Gemini's, or Claude Code)
    -> optionally, a short interview with that orchestrator: its questions, your answers, and the goal
       rewritten with checkable acceptance criteria (yours to accept or not)
    -> the team, the limits, the check commands (the detected test command proposed)
    -> a summary, a confirmation, then the run with its live table

Nothing is written before the confirmation: Ctrl-D or Ctrl-C at any prompt leaves nothing behind (exit 130).
Without a terminal on both stdin and stdout it prints the help and exits 2, never waiting on a prompt.

What it returns is the argv of the ``run`` it built (``cli`` parses and runs it like any other), or an exit
status. It reads no argv itself. The interview goes to the orchestrator just chosen, through the adapter a
run would use (so a user with only a Claude Code subscription can have it too), and a scripted model server
plays it in tests (role ``interview``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from kodo_bot.engine.models import DEFAULT_ORCHESTRATOR_MODEL

GOAL_FILE = "goal.md"
INTERVIEW_ROLE = "interview"
_INTERVIEW_SYSTEM = (
    "You help a developer turn a goal for a team of coding agents into something checkable. "
    "Ask at most three short questions, one per line, that would remove the most doubt about what done means."
)
_REWRITE_SYSTEM = (
    "Rewrite the goal with the developer's answers into Markdown: a short description, then a section "
    "'## Acceptance criteria' with a bulleted list of checkable criteria. Answer with the Markdown only."
)


class Cancelled(Exception):
    """Ctrl-D or Ctrl-C at a prompt."""


@dataclass
class Terminal:
    """Prompts over a pair of streams (the real terminal, or a pseudo-terminal in tests)."""

    read: Callable[[str], str] = input
    out: TextIO = field(default_factory=lambda: sys.stdout)

    def ask(self, question: str, default: str = "") -> str:
        shown = f"{question} [{default}]: " if default else f"{question}: "
        try:
            answer = self.read(shown).strip()
        except (EOFError, KeyboardInterrupt):
            raise Cancelled from None
        return answer or default

    def yes(self, question: str, default: bool = True) -> bool:
        while True:
            answer = self.ask(f"{question} ({'Y/n' if default else 'y/N'})").lower()
            if not answer:
                return default
            if answer in ("y", "yes", "n", "no"):
                return answer.startswith("y")
            self.say("please answer y or n")

    def lines(self, question: str) -> str:
        """Several lines, ended by an empty one."""
        self.say(question)
        got: list[str] = []
        while True:
            try:
                line = self.read("> " if not got else ". ")
            except (EOFError, KeyboardInterrupt):
                raise Cancelled from None
            if not line.strip():
                return "\n".join(got).strip()
            got.append(line)

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)


@dataclass
class Choices:
    goal: str = ""
    #: as ``run --orchestrator`` takes it (``orchestrator_choice``)
    orchestrator: str = f"api:anthropic:{DEFAULT_ORCHESTRATOR_MODEL}"
    team: str | None = None
    cycles: int = 10
    max_cost_usd: float | None = None
    max_minutes: float | None = None
    checks: list[str] = field(default_factory=list)
    allow_dirty: bool = False

    def argv(self, project: Path, goal_file: Path) -> list[str]:
        argv = ["run", "--goal-file", str(goal_file), "--project", str(project), "--orchestrator", self.orchestrator]
        argv += ["--cycles", str(self.cycles)]
        if self.allow_dirty:
            argv.append("--allow-dirty")
        if self.team:
            argv += ["--team", self.team]
        if self.max_cost_usd is not None:
            argv += ["--max-cost-usd", str(self.max_cost_usd)]
        if self.max_minutes is not None:
            argv += ["--max-minutes", str(self.max_minutes)]
        for check in self.checks:
            argv += ["--check", check]
        return argv

    def summary(self) -> str:
        first = self.goal.strip().splitlines()[0] if self.goal.strip() else ""
        return "\n".join(
            [
                "",
                "About to start:",
                f"  goal           {first}" + (" (…)" if len(self.goal.strip().splitlines()) > 1 else ""),
                f"  orchestrator   {self.orchestrator}",
                f"  team           {self.team or 'the built-in team'}",
                f"  cycles         at most {self.cycles}",
                f"  API spend      {'at most $' + format(self.max_cost_usd, 'g') if self.max_cost_usd else 'no limit'}",
                f"  wall time      {format(self.max_minutes, 'g') + ' min' if self.max_minutes else 'no limit'}",
                f"  checks         {', '.join(self.checks) if self.checks else 'none (verifiers only)'}",
            ]
        )


Interviewer = Callable[[str, str, list[tuple[str, str]] | None], str]


def no_arguments(env: Mapping[str, str], help_text: str) -> int | list[str]:
    """``kodo-bot`` alone: the conversation in a terminal, else the help (exit 2)."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        print(help_text)
        print("kodo-bot: no command given (run it in a terminal for the interactive start)", file=sys.stderr)
        return 2
    term = Terminal()
    try:
        return converse(term, Path.cwd(), env, interview_with_model(env))
    except Cancelled:
        term.say("\ncancelled: nothing was started or written")
        return 130


def converse(term: Terminal, project: Path, env: Mapping[str, str], interviewer: Interviewer) -> int | list[str]:
    if not (project / ".git").exists():
        term.say(f"{project} is not a git repository: run kodo-bot in your project's checkout (or `git init` first)")
        return 2
    term.say("kodo-bot: a team of Claude Code agents turns a goal into verified commits.  (Ctrl-C to leave)\n")
    allow_dirty = _dirty_ok(term, project)
    if allow_dirty is None:
        return 2
    choices = Choices(goal=_goal(term, project), allow_dirty=allow_dirty)
    choices.orchestrator = _orchestrator(term, env.get("KODO_ORCHESTRATOR") or choices.orchestrator)
    if term.yes("Sharpen the goal into checkable criteria with a short interview?", default=False):
        choices.goal = _interview(term, choices.goal, choices.orchestrator, interviewer)
    choices.team = _team(term, project)
    choices.cycles = int(_number(term, "Most cycles", int, choices.cycles) or choices.cycles)
    choices.max_cost_usd = _number(term, "Most API spend in USD (empty: no limit)", float, None)
    choices.max_minutes = _number(term, "Most minutes of wall time (empty: no limit)", float, None)
    choices.checks = _checks(term, project, env)
    term.say(choices.summary())
    if not term.yes("Start the run?"):
        term.say("not started: nothing was written")
        return 0
    goal_file = save_goal(choices.goal, Path(env.get("HOME") or Path.home()))
    term.say(f"the goal is kept in {goal_file} (kodo-bot run --goal-file {goal_file} starts it again)\n")
    return choices.argv(project, goal_file)


def save_goal(goal: str, home: Path) -> Path:
    """The confirmed goal, kept outside the project (a file there would make its tree dirty), so that a run
    that cannot start loses nothing that was typed."""
    folder = home / ".kodo-bot" / "goals"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"goal-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.md"
    path.write_text(goal.rstrip() + "\n", encoding="utf-8")
    return path


def _dirty_ok(term: Terminal, project: Path) -> bool | None:
    """False for a clean checkout; with changes, whether to start anyway from HEAD (None: stop here)."""
    done = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=normal"], cwd=project, capture_output=True, text=True
    )
    changed = [line[3:] for line in done.stdout.splitlines() if line.strip()]
    if not changed:
        return False
    if changed == [GOAL_FILE]:  # the goal itself is not work the run would miss
        term.say(f"({GOAL_FILE} is not committed: the run starts from HEAD, which is all it needs)")
        return True
    shown = ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")
    term.say(f"{project} has uncommitted changes ({shown}): a run starts from HEAD and does not see them.")
    if term.yes("Start from HEAD anyway (--allow-dirty)?", default=False):
        return True
    term.say("commit or stash them first; nothing was written")
    return None


def _goal(term: Terminal, project: Path) -> str:
    found = project / GOAL_FILE
    if found.is_file():
        text = found.read_text(encoding="utf-8", errors="replace").strip()
        if text and term.yes(f"Use the goal in {GOAL_FILE} ({text.splitlines()[0][:60]})?"):
            return text
    while True:
        goal = term.lines("What should the team do? (end with an empty line)")
        if goal:
            return goal
        term.say("the goal is empty; say what you want done")


def _interview(term: Terminal, goal: str, orchestrator: str, interviewer: Interviewer) -> str:
    try:
        questions = [q.strip() for q in interviewer(orchestrator, goal, None).splitlines() if q.strip()][:3]
        answers = [(q, term.ask(q)) for q in questions]
        better = interviewer(orchestrator, goal, answers).strip()
    except Cancelled:
        raise
    except Exception as exc:  # noqa: BLE001 - the interview is optional: a failing model keeps the goal as typed
        term.say(f"the interview did not work ({type(exc).__name__}: {str(exc)[:200]}); keeping your goal")
        return goal
    if not better:
        return goal
    term.say(f"\n{better}\n")
    return better if term.yes("Use this goal?") else goal


def _orchestrator(term: Terminal, default: str) -> str:
    from kodo_bot.engine.orchestrator_choice import CHOICES, parse_orchestrator
    from kodo_bot.errors import ConfigError

    while True:
        answer = term.ask(f"Orchestrator ({CHOICES})", default)
        try:
            kind, model = parse_orchestrator(answer, field="")
        except ConfigError as exc:
            term.say(str(exc))
            continue
        return f"{kind}:{model}"


def _team(term: Terminal, project: Path) -> str | None:
    local = project / "kodo-team.yaml"
    answer = term.ask("Team file (empty: the built-in team)", str(local) if local.is_file() else "")
    while answer and not Path(answer).expanduser().is_file():
        answer = term.ask(f"{answer} does not exist; team file (empty: the built-in team)")
    return answer or None


def _number(term: Terminal, question: str, kind: type[int] | type[float], default: float | None) -> float | None:
    while True:
        answer = term.ask(question, "" if default is None else format(default, "g"))
        if not answer:
            return None
        try:
            value = kind(answer)
        except ValueError:
            term.say(f"{answer!r} is not a number")
            continue
        if value > 0:
            return value
        term.say("it must be greater than 0")


def _checks(term: Terminal, project: Path, env: Mapping[str, str]) -> list[str]:
    from kodo_bot.engine.project_tests import detect_test_command

    detected = detect_test_command(project, env)
    if detected:
        term.say(f"Detected test command: {detected}")
    answer = term.ask("Check command the engine runs before verifiers ('-' for none)", detected or "")
    checks = [] if answer in ("", "-") else [answer]
    while checks and (more := term.ask("Another check command (empty: no more)")):
        checks.append(more)
    return checks


def interview_with_model(env: Mapping[str, str]) -> Interviewer:
    """Two questions to the chosen orchestrator (``run --orchestrator`` spelling), through the adapter a run
    would get from the composition root: its questions first, then the rewritten goal."""

    def ask(orchestrator: str, goal: str, answers: list[tuple[str, str]] | None) -> str:
        import asyncio

        from kodo_bot.compose import backends_from_env
        from kodo_bot.engine.orchestrator_choice import orchestrator_fields
        from kodo_bot.engine.ports import role_marker
        from kodo_bot.engine.state import RunSettings
        from kodo_bot.engine.team import default_team

        settings = RunSettings(team=default_team(), **orchestrator_fields(orchestrator, field="the orchestrator"))
        model = backends_from_env(env, model_retries=1).orchestrator(settings)
        if why := model.missing():
            raise RuntimeError(f"{why}: {model.fix}")
        if answers is None:
            system, content = _INTERVIEW_SYSTEM, f"The goal:\n\n{goal}"
        else:
            qa = "\n".join(f"Q: {q}\nA: {a or '(no answer)'}" for q, a in answers)
            system, content = _REWRITE_SYSTEM, f"The goal:\n\n{goal}\n\nQuestions and answers:\n{qa}"

        async def once() -> str:
            try:
                said = await model.reply(
                    f"{role_marker(INTERVIEW_ROLE)}\n{system}", [{"role": "user", "content": content}], []
                )
                return said.text
            finally:
                await model.close()

        return asyncio.run(once())

    return ask
