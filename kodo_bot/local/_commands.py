"""``doctor``, ``init`` and ``watch`` once ``cli`` has parsed argv: typed inputs from the arguments and the
environment, then the module that does the work. Errors are ``UserError`` (exit 2), reported by ``cli``."""

from __future__ import annotations

import argparse
import re
from collections.abc import Mapping
from pathlib import Path

from kodo_bot.errors import UserError

_REPO = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")


def _api_url(args: argparse.Namespace, env: Mapping[str, str]) -> str:
    return (args.api_url or env.get("GITHUB_API_URL") or "https://api.github.com").rstrip("/")


def _repo(name: str | None, flag: str) -> str | None:
    if name is not None and not _REPO.match(name):
        raise UserError(f"{flag} should look like OWNER/NAME, not {name!r}")
    return name


def _token(env: Mapping[str, str]) -> str | None:
    return (env.get("GITHUB_TOKEN") or env.get("GH_TOKEN") or "").strip() or None


def doctor(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from kodo_bot.local.doctor import DoctorInput, main

    work_dir = Path(env.get("KODO_WORK_DIR") or "~/.kodo-bot/work")
    given = DoctorInput(
        env, args.offline, _repo(args.repo, "--repo"), _api_url(args, env), work_dir, orchestrator=args.orchestrator
    )
    return main(given, json_mode=args.json)


def init(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from kodo_bot.local.init import InitRequest, run_init

    request = InitRequest(
        directory=args.dir,
        force=args.force,
        action_repo=_repo(args.action_repo, "--action-repo"),
        repo=_repo(args.repo, "--repo"),
        api_url=_api_url(args, env),
        token=None if args.no_labels else _token(env),
        env=env,
    )
    code: int = run_init(request)
    return code


def watch(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from kodo_bot.github.watch import WatchRequest, run_watch

    repo = _repo(args.repo, "OWNER/REPO")
    assert repo is not None
    token = _token(env)
    if token is None:
        raise UserError(
            "no GitHub token: set GITHUB_TOKEN (or GH_TOKEN)",
            hint="a token with contents, issues, pull-requests and statuses write on the repository",
        )
    if args.interval <= 0:
        raise UserError("--interval must be greater than 0")
    work_dir = (args.work_dir or Path(env.get("KODO_WORK_DIR") or "~/.kodo-bot/work")).expanduser().resolve()
    from kodo_bot.local.watch_child import settings_from_env

    settings_from_env(env, work_dir, args.label or "kodo")  # a bad KODO_MAX_CYCLES & co. is said once, here
    request = WatchRequest(
        repo=repo,
        token=token,
        api_url=_api_url(args, env),
        label=args.label,
        parallel=args.parallel,
        interval_s=args.interval,
        work_dir=work_dir,
        once=args.once,
        env=env,
    )
    return run_watch(request)
