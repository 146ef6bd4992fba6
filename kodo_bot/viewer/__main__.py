"""``python -m kodo_bot.viewer FILE.jsonl [-o run.html] [--open] [--live]``: the same as ``kodo-bot view``."""

from __future__ import annotations

import argparse
import os
import sys

from kodo_bot.errors import UserError
from kodo_bot.viewer._args import DESCRIPTION, add_view_arguments
from kodo_bot.viewer._command import view


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kodo_bot.viewer", description=DESCRIPTION)
    add_view_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return view(args, os.environ)
    except UserError as exc:
        print(f"kodo_bot.viewer: {exc}" + (f"\n  {exc.hint}" if exc.hint else ""), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
