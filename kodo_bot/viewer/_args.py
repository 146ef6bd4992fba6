"""The grammar of ``kodo-bot view`` and ``python -m kodo_bot.viewer`` (parsing only; ``_command`` does it)."""

from __future__ import annotations

import argparse
from pathlib import Path

DESCRIPTION = (
    "Write a run's event log as one self-contained HTML page (no network): a timeline per cycle with agents "
    "as lanes, every verification round with its evidence, cost over time, and the commits."
)


def add_view_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("target", help="a run id (looked up under --state-dir) or an events.jsonl file")
    p.add_argument("-o", "--output", type=Path, help="the HTML file to write (default: beside the log, events.html)")
    p.add_argument("--open", action="store_true", help="open the page in your browser")
    p.add_argument(
        "--live",
        action="store_true",
        help="serve the page on 127.0.0.1 and follow a run that is still writing, until Ctrl-C",
    )
    p.add_argument("--port", type=int, default=0, help="with --live: the port (default: a free one)")
    p.add_argument("--no-git", dest="use_git", action="store_false", help="do not read line counts from git")
    p.add_argument("--project", type=Path, default=Path("."), help="the git project, for a run id (default: .)")
    p.add_argument("--state-dir", type=Path, help="where runs live, for a run id (default: PROJECT/.kodo)")


def add_view_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    add_view_arguments(sub.add_parser("view", help="a run as one HTML page", description=DESCRIPTION))
