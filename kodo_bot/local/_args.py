"""The grammar of ``doctor``, ``init`` and ``watch`` (parsing only; ``_commands`` does the work)."""

from __future__ import annotations

import argparse
from pathlib import Path

#: seconds between two polls of ``watch`` (each idle poll is a 304 that GitHub does not count)
DEFAULT_POLL_S = 30.0


def add_local_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    doctor = sub.add_parser("doctor", help="check that this machine is ready for a run (one line per check)")
    doctor.add_argument("--json", action="store_true", help="print the checks as one JSON object")
    doctor.add_argument("--offline", action="store_true", help="do not call the model API")
    doctor.add_argument(
        "--repo",
        metavar="OWNER/NAME",
        help="OWNER/NAME: also probe the GitHub token's permissions on it (GITHUB_TOKEN)",
    )
    doctor.add_argument(
        "--api-url", metavar="URL", help="GitHub's API (default: GITHUB_API_URL, else https://api.github.com)"
    )
    doctor.add_argument(
        "--orchestrator",
        metavar="SPEC",
        help="the orchestrator to check, as `run --orchestrator` takes it (default: KODO_ORCHESTRATOR)",
    )

    init = sub.add_parser("init", help="put kodo-bot on a repository: the workflow, .github/kodo.yml, the labels")
    init.add_argument(
        "dir", metavar="DIR", nargs="?", type=Path, default=Path("."), help="the repository's checkout (default: .)"
    )
    init.add_argument("--force", action="store_true", help="overwrite files that differ (the diff is shown first)")
    init.add_argument(
        "--action-repo",
        metavar="OWNER/NAME",
        help="OWNER/NAME of the kodo-bot action (default: OWNER/kodo-bot, to edit)",
    )
    init.add_argument(
        "--repo", metavar="OWNER/NAME", help="OWNER/NAME on GitHub to create the labels in (default: from origin)"
    )
    init.add_argument(
        "--api-url", metavar="URL", help="GitHub's API (default: GITHUB_API_URL, else https://api.github.com)"
    )
    init.add_argument("--no-labels", action="store_true", help="do not create labels even with a token")

    watch = sub.add_parser(
        "watch", help="poll a repository for labelled issues and run them here (a machine without Actions)"
    )
    watch.add_argument("repo", metavar="OWNER/REPO", help="the repository to watch")
    watch.add_argument("--label", metavar="NAME", help="the trigger label (default: .github/kodo.yml's, else kodo)")
    watch.add_argument("--parallel", metavar="N", type=_at_least_one, default=1, help="issues run at once (default 1)")
    watch.add_argument(
        "--interval",
        metavar="S",
        type=float,
        default=DEFAULT_POLL_S,
        help=f"seconds between polls (default {DEFAULT_POLL_S:g})",
    )
    watch.add_argument(
        "--api-url", metavar="URL", help="GitHub's API (default: GITHUB_API_URL, else https://api.github.com)"
    )
    watch.add_argument(
        "--work-dir",
        metavar="DIR",
        type=Path,
        help="where clones and runs live (default: KODO_WORK_DIR, else ~/.kodo-bot/work)",
    )
    watch.add_argument("--once", action="store_true", help="poll once, run what is due, wait for it, and exit")


def _at_least_one(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} must be 1 or more")
    return value
