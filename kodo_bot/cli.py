"""The command line: the only place that reads argv and the environment.

Every command parses its input once, builds typed requests, calls the engine (or the GitHub layer), and maps
the result to an exit status scripts can trust: 0 only when verification accepted the work; 2 for bad
input; 3 needs_human, 4 max cycles, 5 budget, 6 stopped, 1 an error, 130 interrupted (resumable).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape

from kodo_bot._cli_args import DEFAULT_WORK_DIR, PROJECT_TEAM_FILE, build_parser
from kodo_bot.engine.events import EventSink
from kodo_bot.engine.log import read_events
from kodo_bot.engine.models import EXIT_BAD_INPUT, Outcome
from kodo_bot.engine.orchestrator_choice import orchestrator_fields, parse_orchestrator
from kodo_bot.engine.state import RunSettings, RunState, RunStore
from kodo_bot.engine.team import Team, default_team, load_team
from kodo_bot.errors import KodoError, UserError
from kodo_bot.report import render_report, run_summary, runs_table_rows
from kodo_bot.view import LiveView, PlainView, runs_table

if TYPE_CHECKING:
    from kodo_bot.github.entry import BotSettings
    from kodo_bot.github.run_inputs import RunOverrides

# The adapters (and with them the anthropic and claude-agent-sdk packages, a second or more to import) come in
# through kodo_bot.compose where a run is built: `kodo-bot action` must post its first comment within two
# seconds of starting.


# --------------------------------------------------------------------------- inputs
def read_goal_file(path: Path) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"goal file {path} does not exist") from None
    except IsADirectoryError:
        raise UserError(f"goal file {path} is a directory") from None
    except OSError as exc:
        raise UserError(f"goal file {path} cannot be read: {exc.strerror}") from None
    if b"\0" in data:
        raise UserError(f"goal file {path} looks binary", hint="the goal is a text (Markdown) file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise UserError(f"goal file {path} is not UTF-8 text") from None
    if not text.strip():
        raise UserError(f"goal file {path} is empty", hint="write what you want done in it")
    return text


def choose_team(team_file: Path | None, project: Path) -> Team:
    if team_file is not None:
        return load_team(team_file)
    local = project / PROJECT_TEAM_FILE
    return load_team(local) if local.exists() else default_team()


def _sinks(json_mode: bool) -> list[EventSink]:
    if not json_mode and sys.stdout.isatty():
        return [LiveView(Console(emoji=False))]
    return [PlainView(sys.stderr if json_mode else sys.stdout)]


def _store(project: Path, state_dir: Path | None) -> RunStore:
    from kodo_bot.engine.launch import default_state_dir

    return RunStore((state_dir or default_state_dir(project.resolve())).resolve())


# --------------------------------------------------------------------------- commands
def cmd_run(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from kodo_bot.compose import backends_from_env
    from kodo_bot.engine.launch import RunRequest, start_run

    goal = read_goal_file(args.goal_file) if args.goal_file else args.goal
    if not goal or not goal.strip():
        raise UserError("the goal is empty")
    team = choose_team(args.team, args.project)
    settings = RunSettings(
        max_cycles=args.cycles,
        max_cost_usd=args.max_cost_usd,
        max_minutes=args.max_minutes,
        max_rejections=args.max_rejections,
        check_commands=args.check,
        default_check=args.default_check,
        ui=args.ui,
        team=team,
        sandbox=team.sandbox,
        agent_env=list(team.agent_env),
        **orchestrator_fields(
            args.orchestrator or team.orchestrator,
            args.orchestrator_model,
            field="--orchestrator" if args.orchestrator else "the team file: orchestrator",
        ),
    )
    req = RunRequest(
        goal=goal,
        project=args.project,
        settings=settings,
        state_dir=args.state_dir,
        branch=args.branch,
        allow_dirty=args.allow_dirty,
    )
    sinks = _sinks(args.json)
    state = _drive(start_run(req, backends_from_env(env), sinks), sinks)
    return _conclude(state, _store(args.project, args.state_dir), args.json)


def cmd_resume(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from kodo_bot.compose import backends_from_env
    from kodo_bot.engine.launch import resume_run

    store = _store(args.project, args.state_dir)
    limits = {
        "max_cycles": args.cycles,
        "max_cost_usd": args.max_cost_usd,
        "max_minutes": args.max_minutes,
        "max_rejections": args.max_rejections,
    }
    sinks = _sinks(args.json)
    state = _drive(resume_run(store, args.run_id, backends_from_env(env), sinks, raise_limits=limits), sinks)
    return _conclude(state, store, args.json)


def _drive(coro: Coroutine[Any, Any, RunState], sinks: list[EventSink]) -> RunState:
    from kodo_bot.engine.launch import drive

    try:
        return drive(coro)
    finally:
        for sink in sinks:
            sink.close()


def _conclude(state: RunState, store: RunStore, json_mode: bool) -> int:
    events = read_events(store.events_path(state.run_id))
    if json_mode:
        summary = run_summary(state, events) | {"log": str(store.events_path(state.run_id))}
        print(json.dumps(summary, indent=None))
    else:
        print()
        print(render_report(state, events))
        print(f"\nLog: {store.events_path(state.run_id)}")
    return (state.outcome or Outcome.error).exit_code


def cmd_runs(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    store = _store(args.project, args.state_dir)
    found = store.scan()
    rows = runs_table_rows([store.as_seen(x.state) for x in found if x.state is not None])
    corrupt = [x for x in found if x.state is None]
    rows += [(x.run_id, "corrupt", "?", "?", "?", "(the checkpoint cannot be read)") for x in corrupt]
    rows.sort(key=lambda row: row[0])
    if args.json:
        print(
            json.dumps(
                [{"run_id": r[0], "status": r[1], "cycles": int(r[2]) if r[2].isdigit() else None} for r in rows]
            )
        )
    elif not rows:
        print("no runs yet")
    else:
        console = Console(emoji=False)
        console.print(runs_table(rows, console.width))
    for x in corrupt:
        err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)
        err.print(f"[bold red]kodo-bot runs:[/] {escape(x.problem)}")
    return EXIT_BAD_INPUT if corrupt else 0


def cmd_report(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    store = _store(args.project, args.state_dir)
    state = store.as_seen(store.load(args.run_id))
    events = read_events(store.events_path(state.run_id))
    if args.json:
        print(json.dumps(run_summary(state, events)))
    else:
        from kodo_bot.morning import render_morning_report

        text = render_morning_report(state, events)
        if sys.stdout.isatty():  # drawn for a person; piped, it stays the Markdown a PR comment carries
            from rich.markdown import Markdown

            Console(emoji=False).print(Markdown(text))
        else:
            print(text, end="")
    return 0


def cmd_demo(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    if args.orchestrator:
        parse_orchestrator(args.orchestrator)  # a bad choice fails before anything is set up
        env = {**env, "KODO_ORCHESTRATOR": args.orchestrator}
    if args.ui:
        from kodo_bot.sandbox.ui_demo import run_ui_demo

        return run_ui_demo(args.dir, env=env, json_mode=args.json, local=args.local)
    if args.team == "mixed":
        from kodo_bot.sandbox.mixed_demo import run_mixed_demo

        return run_mixed_demo(args.dir, env=env, json_mode=args.json)
    if args.local:
        from kodo_bot.sandbox.demo import run_demo

        return run_demo(args.dir, env=env, json_mode=args.json)
    from kodo_bot.sandbox.github_demo import run_github_demo

    return run_github_demo(args.dir, env=env, json_mode=args.json)


def _bot_settings(
    env: Mapping[str, str], *, work_dir: Path | None = None, overrides: RunOverrides | None = None, **extra: Any
) -> BotSettings:
    from kodo_bot.github.entry import BotSettings
    from kodo_bot.github.run_inputs import overrides_from_env

    def get(name: str) -> str | None:
        return (env.get(name) or "").strip() or None

    overrides = overrides or overrides_from_env(env)
    runs_dir = get("KODO_RUNS_DIR")
    return BotSettings(
        work_root=(work_dir or Path(get("KODO_WORK_DIR") or DEFAULT_WORK_DIR)).expanduser().resolve(),
        overrides=overrides,
        runner=get("RUNNER_NAME") or socket.gethostname(),
        runs_dir=Path(runs_dir) if runs_dir else None,
        bot_login=get("KODO_BOT_LOGIN"),
        fast=get("KODO_GITHUB_FAST") in ("1", "true", "yes"),
        extra_sinks=(PlainView(sys.stderr),),
        **extra,
    )


def cmd_action(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from kodo_bot.compose import backends_from_env
    from kodo_bot.github.context import parse_actions_env
    from kodo_bot.github.entry import run_action

    ctx = parse_actions_env(env)
    try:
        payload = ctx.event_path.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read the event payload GITHUB_EVENT_PATH={ctx.event_path}: {exc.strerror}") from None
    settings = _bot_settings(
        env,
        label=(env.get("KODO_LABEL") or "").strip() or None,
        config_path=(env.get("KODO_CONFIG_FILE") or "").strip() or None,
    )
    return run_action(ctx, payload, settings, lambda: backends_from_env(env), sys.stdout)


def cmd_handle(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from pydantic import SecretStr

    from kodo_bot.compose import backends_from_env
    from kodo_bot.github.entry import run_handle
    from kodo_bot.github.run_inputs import RunOverrides

    token = (env.get("GITHUB_TOKEN") or env.get("GH_TOKEN") or "").strip()
    if not token:
        raise UserError(
            "no GitHub token: set GITHUB_TOKEN (or GH_TOKEN)",
            hint="a token with contents, issues, pull-requests and statuses write on the repository",
        )
    if "/" not in args.repo:
        raise UserError(f"--repo should look like OWNER/NAME, not {args.repo!r}")
    if args.issue < 1:
        raise UserError("--issue must be a positive issue number")
    overrides = RunOverrides(
        max_cycles=args.cycles,
        max_cost_usd=args.max_cost_usd,
        max_minutes=args.max_minutes,
        orchestrator_model=args.orchestrator_model,
        orchestrator=args.orchestrator,
        team_file=args.team,
    )
    settings = _bot_settings(env, work_dir=args.work_dir, overrides=overrides, config_path=args.config_file)
    api_url = (args.api_url or env.get("GITHUB_API_URL") or "https://api.github.com").rstrip("/")
    return run_handle(
        args.repo, args.issue, SecretStr(token), api_url, settings, lambda: backends_from_env(env), sys.stdout
    )


def _local(name: str) -> Callable[[argparse.Namespace, Mapping[str, str]], int]:
    """``doctor``, ``init`` and ``watch`` live in ``kodo_bot.local._commands``, imported when used."""

    def command(args: argparse.Namespace, env: Mapping[str, str]) -> int:
        from kodo_bot.local import _commands

        result: int = getattr(_commands, name)(args, env)
        return result

    return command


def cmd_view(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from kodo_bot.viewer._command import view

    return view(args, env)


COMMANDS = {
    "run": cmd_run,
    "resume": cmd_resume,
    "runs": cmd_runs,
    "report": cmd_report,
    "demo": cmd_demo,
    "action": cmd_action,
    "handle": cmd_handle,
    "doctor": _local("doctor"),
    "init": _local("init"),
    "watch": _local("watch"),
    "view": cmd_view,
}


def main(argv: list[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    if not (sys.argv[1:] if argv is None else argv):
        from kodo_bot.local.interactive import no_arguments

        chosen = no_arguments(env, build_parser().format_help())  # in a terminal: the `run` it built
        if isinstance(chosen, int):
            return chosen
        argv = chosen
    args = build_parser().parse_args(argv)
    err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)
    try:
        return COMMANDS[args.command](args, env)
    except UserError as exc:
        err.print(f"[bold red]kodo-bot {args.command}:[/] {escape(str(exc))}")
        if exc.hint:
            err.print(f"  {escape(exc.hint)}")
        return EXIT_BAD_INPUT
    except KodoError as exc:
        err.print(f"[bold red]kodo-bot {args.command} failed:[/] {escape(str(exc))}")
        if exc.hint:
            err.print(f"  {escape(exc.hint)}")
        return 1
    except KeyboardInterrupt:
        err.print("kodo-bot: interrupted; the run is saved: continue it with `kodo-bot resume`")
        return Outcome.interrupted.exit_code
    except Exception as exc:
        if args.command not in ("action", "handle") or env.get("KODO_DEBUG"):
            raise
        # A bug of ours; in an Actions log a one-line cause with where to look beats a traceback wall.
        err.print(
            f"[bold red]kodo-bot {args.command}: internal error:[/] {escape(type(exc).__name__)}: "
            f"{escape(str(exc)[:500])}\n  set KODO_DEBUG=1 for the traceback, and please report it"
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
