"""The command line's grammar: every command, flag and default, and the usage errors of bad values (exit 2).

Parsing only: what a command does with its arguments is in ``cli``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from kodo_bot import __version__
from kodo_bot.local._args import add_local_commands
from kodo_bot.viewer._args import add_view_command

PROJECT_TEAM_FILE = "kodo-team.yaml"
#: where `kodo-bot action`/`handle` keep clones and runs: outside the job's workspace, so a run killed on this
#: runner can be resumed by the next job here
DEFAULT_WORK_DIR = "~/.kodo-bot/work"


ORCHESTRATOR_HELP = (
    "who directs the team: api:anthropic:<model> (default), api:gemini:<model> (GOOGLE_API_KEY) or "
    "claude-code:<model> (your Claude Code subscription, no API key); default: the team file's, else api:anthropic"
)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="kodo-bot", description="A team of Claude Code agents turns a goal into verified commits."
    )
    p.add_argument("--version", action="version", version=f"kodo-bot {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a goal on a project until verification accepts it")
    goal = run.add_mutually_exclusive_group(required=True)
    goal.add_argument("--goal-file", type=Path, help="Markdown file describing what to do")
    goal.add_argument("--goal", help="the goal as text")
    run.add_argument("--project", type=Path, default=Path("."), help="the git project (default: .)")
    run.add_argument("--branch", help="branch for the run (default: kodo/run-<id>)")
    run.add_argument("--allow-dirty", action="store_true", help="start although the project has uncommitted changes")
    run.add_argument(
        "--check",
        action="append",
        default=[],
        metavar="CMD",
        help="a check command the engine runs in a clean checkout before verifiers (repeatable)",
    )
    run.add_argument(
        "--no-default-check",
        dest="default_check",
        action="store_false",
        help="without --check, do not run the project's detected test command (the summary warns)",
    )
    _limits(run)
    run.add_argument(
        "--team", type=Path, help=f"team YAML (default: {PROJECT_TEAM_FILE} in the project, else the built-in team)"
    )
    run.add_argument("--orchestrator", help=ORCHESTRATOR_HELP)
    run.add_argument("--orchestrator-model", help="the orchestrator's model, whichever kind (default: the kind's own)")
    run.add_argument(
        "--ui",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="force UI verification on/off (default: decided from the goal)",
    )
    _common(run)

    res = sub.add_parser(
        "resume",
        help="continue an interrupted run from its last checkpoint",
        description="Continue an interrupted run from its last checkpoint. A limit you give replaces "
        "the run's own; one you leave unset keeps it. A run that stopped at max_cycles or "
        "budget_exhausted goes on only when you raise the limit that stopped it.",
    )
    res.add_argument("run_id", nargs="?", help="the run (default: the latest resumable one)")
    res.add_argument("--project", type=Path, default=Path("."), help="the git project (default: .)")
    _limits(res, resume=True)
    _common(res)

    runs = sub.add_parser("runs", help="list runs with their status")
    runs.add_argument("--project", type=Path, default=Path("."))
    runs.add_argument("--state-dir", type=Path)
    runs.add_argument("--json", action="store_true")

    rep = sub.add_parser("report", help="summary of one run: outcome, cycles, verdicts, cost, duration")
    rep.add_argument("run_id")
    rep.add_argument("--project", type=Path, default=Path("."))
    rep.add_argument("--state-dir", type=Path)
    rep.add_argument("--json", action="store_true")

    demo = sub.add_parser(
        "demo", help="the whole GitHub flow offline: emulated GitHub, scripted model, real Claude Code CLI"
    )
    demo.add_argument("--dir", type=Path, help="where to put the demo (default: a new temp dir)")
    demo.add_argument("--local", action="store_true", help="the engine alone on a local project, without GitHub")
    demo.add_argument(
        "--ui", action="store_true", help="a UI goal, verified in a headless Chromium by tester_browser (screenshots)"
    )
    demo.add_argument(
        "--orchestrator", help="who directs the team in the story: anthropic (default), gemini or claude-code"
    )
    demo.add_argument(
        "--team", choices=["mixed"], help="mixed: the local story by a team on Claude Code, Codex and the Gemini CLI"
    )
    demo.add_argument("--json", action="store_true")

    sub.add_parser("action", help="handle the GitHub Actions event that started this job (reads GITHUB_* and KODO_*)")

    handle = sub.add_parser("handle", help="run an issue by hand, as if its label had just been added")
    handle.add_argument("--issue", type=int, required=True, help="the issue number")
    handle.add_argument("--repo", required=True, help="OWNER/NAME")
    handle.add_argument("--api-url", help="GitHub's API (default: GITHUB_API_URL, else https://api.github.com)")
    handle.add_argument(
        "--work-dir", type=Path, help=f"where clones and runs live (default: KODO_WORK_DIR, else {DEFAULT_WORK_DIR})"
    )
    handle.add_argument("--config-file", help="settings file in the repository (default .github/kodo.yml)")
    handle.add_argument("--team", type=Path, help="a team YAML on this machine (default: the repository's)")
    handle.add_argument("--cycles", type=int, help="most cycles (default: .github/kodo.yml)")
    handle.add_argument("--max-cost-usd", type=float)
    handle.add_argument("--max-minutes", type=float)
    handle.add_argument("--orchestrator", help=ORCHESTRATOR_HELP)
    handle.add_argument("--orchestrator-model")
    add_local_commands(sub)  # doctor, init, watch
    add_view_command(sub)
    return p


def _positive(kind: type[int] | type[float]) -> Callable[[str], int | float]:
    """An argparse type: a number above zero, else a usage error (exit 2) saying so."""

    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {'whole ' if kind is int else ''}number") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{text} must be greater than 0")
        return value

    parse.__name__ = kind.__name__
    return parse


#: the limits ``run`` takes and ``resume`` may change: flag, type, ``run``'s default, what it limits
_LIMITS = (
    ("--cycles", int, 10, "most cycles"),
    ("--max-cost-usd", float, None, "stop when the orchestrator's API spend in USD reaches this"),
    ("--max-minutes", float, None, "stop after this many minutes of wall time"),
    ("--max-rejections", int, 5, "rejected verification rounds before handing over to a person"),
)


def _limits(p: argparse.ArgumentParser, *, resume: bool = False) -> None:
    """The limit flags. ``resume`` has no defaults: a limit not given (None) keeps the run's own, and only a
    given one can raise the limit a stopped run ended at."""
    for flag, kind, default, what in _LIMITS:
        if resume:
            p.add_argument(flag, type=_positive(kind), help=f"{what} (unset: the run keeps its own)")
        else:
            p.add_argument(
                flag,
                type=_positive(kind),
                default=default,
                help=what + (f" (default {default})" if default is not None else " (default: no limit)"),
            )


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--state-dir", type=Path, help="where runs, logs and worktrees live (default: PROJECT/.kodo)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object on stdout")
