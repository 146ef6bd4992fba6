"""The README's examples of what kodo-bot posts, generated from a real run of the demo story.

``python -m kodo_bot.sandbox.readme_examples --write`` plays ``stories.demo_story()`` in process on a
``Script`` through the GitHub emulator (the path ``kodo-bot demo`` takes, ``run_action`` on an
``issues.labeled`` event, without its CLI processes and model server), takes the comments the bot posted,
puts stable placeholders where runs differ (run ids, commit shas, times, dates, token counts, costs), and
writes them between the ``<!-- example:NAME -->`` and ``<!-- /example -->`` lines of README.md. Without
``--write`` it says whether the README is current (exit 1 and a diff when it is not), as
``tests/test_readme_examples.py`` does.

It writes nothing of the README outside those blocks, and it does not judge the prose around them.
"""

from __future__ import annotations

import argparse
import difflib
import io
import json
import os
import re
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

from kodo_bot.github.context import parse_actions_env
from kodo_bot.github.entry import BotSettings, run_action
from kodo_bot.github.markers import find_marker
from kodo_bot.sandbox.github_demo import job_environment, posted_comments, stage
from kodo_bot.sandbox.github_emulator import GitHubEmulator
from kodo_bot.sandbox.scripted import Script
from kodo_bot.sandbox.stories import demo_story

README = Path(__file__).resolve().parents[2] / "README.md"
#: the examples, by block name: (where the comment is, its marker kind and round)
EXAMPLES = {"round-comment": ("pull request", "verdicts", 1), "summary-comment": ("pull request", "summary", None)}

_BLOCK = re.compile(r"(<!-- example:(?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /example -->)", re.DOTALL)
#: what differs from one run to the next, and the placeholder that stands for it
_VARYING = [
    (re.compile(r"\b\d{8}-\d{6}-[0-9a-f]{4}\b"), "<run-id>"),
    (re.compile(r"^(\s*Date:\s+).*$", re.MULTILINE), r"\1<date>"),
    (re.compile(r"\b\d{4}-\d{2}-\d{2} \d{2}:\d{2}(:\d{2})? UTC\b"), "<time>"),
    (re.compile(r"\b(\d+ h \d{2} min|\d+ min \d+ s|\d+ s)\b"), "<duration>"),
    (re.compile(r"\bin \d+\.\d+s\b"), "in <duration>"),
    (re.compile(r"(\\?\$)\d[\d,]*(\.\d+)?"), r"\1<cost>"),
    (re.compile(r"\| [\d,]+ / [\d,]+ \|"), "| <tokens> / <tokens> |"),
]
_SHA = re.compile(r"\b[0-9a-f]{40}\b|\b[0-9a-f]{12}\b")


def play_demo(where: Path) -> tuple[list[dict[str, str]], str]:
    """The demo story, played in process: what the bot posted (``github_demo``'s list) and the emulator's
    web address (which the comments' links carry)."""
    from kodo_bot.compose import backends_from_env

    story = demo_story()
    script = Script(story.scenario)
    env = {name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ}
    with GitHubEmulator(where / "github") as emu:
        token, number, event = stage(emu, story)
        settings = BotSettings(work_root=where / "runner-work", runner="readme", fast=True, runs_dir=where / "runs")
        code = run_action(
            parse_actions_env(job_environment(env, where / "job", emu, token, event)),
            json.dumps(event).encode(),
            settings,
            lambda: backends_from_env(env, orchestrator=script.orchestrator(), sessions=script.sessions),
            io.StringIO(),
        )
        posted = posted_comments(emu, number)
    if code != 0:
        raise RuntimeError(f"the demo story ended with exit {code}, not accepted; its examples would mislead")
    script.assert_complete()
    return posted, emu.html_url


def normalise(body: str, html_url: str) -> str:
    """``body`` with placeholders where runs differ, and without blanks at the ends of lines. The nth commit
    a comment names is ``<sha-n>``, short or full; links to the emulator point at github.com."""
    body = body.replace(html_url, "https://github.com")
    shas: dict[str, str] = {}
    body = _SHA.sub(lambda m: shas.setdefault(m.group()[:12], f"<sha-{len(shas) + 1}>"), body)
    for pattern, placeholder in _VARYING:
        body = pattern.sub(placeholder, body)
    return "\n".join(line.rstrip() for line in body.splitlines())  # editors strip trailing blanks from README.md


def examples(posted: list[dict[str, str]], html_url: str) -> dict[str, str]:
    """The README's examples, by block name, from what the bot posted."""
    found = {}
    for name, (where, kind, round_) in EXAMPLES.items():
        bodies = [
            p["body"]
            for p in posted
            if p["where"].startswith(where)
            and (marker := find_marker(p["body"]))
            and (marker.kind, marker.round) == (kind, round_)
        ]
        if len(bodies) != 1:
            raise RuntimeError(f"the demo posted {len(bodies)} {kind} comment(s) for the {name} example, not one")
        found[name] = normalise(bodies[0], html_url)
    return found


def fill(readme: str, found: Mapping[str, str]) -> str:
    """``readme`` with each example block holding its example, in a Markdown fence longer than any in it."""
    names = [m.group("name") for m in _BLOCK.finditer(readme)]
    if missing := sorted(set(found) - set(names)):
        raise ValueError(
            f"README.md has no block for {', '.join(missing)} (<!-- example:NAME --> ... <!-- /example -->)"
        )

    def block(m: re.Match[str]) -> str:
        body = found.get(m.group("name"))
        if body is None:
            return m.group()
        fence = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", body)), default=0))
        return f"{m.group(1)}{fence}markdown\n{body.rstrip()}\n{fence}\n{m.group(4)}"

    return _BLOCK.sub(block, readme)


def current_readme(readme: str) -> str:
    """``readme`` as it should be: its example blocks regenerated from a fresh play of the demo story."""
    with tempfile.TemporaryDirectory(prefix="kodo-readme-") as where:
        return fill(readme, examples(*play_demo(Path(where))))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m kodo_bot.sandbox.readme_examples", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--write", action="store_true", help="write the examples into the README")
    parser.add_argument("--readme", type=Path, default=README)
    args = parser.parse_args(argv)
    text = args.readme.read_text(encoding="utf-8")
    wanted = current_readme(text)
    if args.write:
        args.readme.write_text(wanted, encoding="utf-8")
        print(f"{args.readme}: examples {'rewritten' if wanted != text else 'already current'}")
        return 0
    if wanted == text:
        print(f"{args.readme}: examples current")
        return 0
    sys.stdout.writelines(
        difflib.unified_diff(text.splitlines(True), wanted.splitlines(True), "README.md", "generated")
    )
    print(
        "\nthe README's examples drifted from what kodo-bot posts:"
        " run python -m kodo_bot.sandbox.readme_examples --write"
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
