"""Benchmark of `kodo-bot watch`: what an idle watcher costs against GitHub's rate limit, and how long a
person waits from adding the label to the bot's first comment.

    .venv/bin/python bench/watch.py [--idle-polls N] [--samples N] [--interval S]

Everything real but the far ends: ``python -m kodo_bot.cli watch`` as a child process against the GitHub
emulator (which answers conditional requests as GitHub does: an authorised 304 is not counted), the runs
through the real Claude Code CLI against the scripted model server.

1. Idle: a watcher on a repository with nothing labelled polls N times (at a short interval, so the
   benchmark takes seconds, not an hour). Printed: the REST requests that counted against the token's rate
   limit (the emulator's own counter) for the first poll and for all the others, and from that the counted
   requests per idle hour at the default interval. Target: 0 after the first poll.
2. Delay: at the default poll interval (30 s), an issue is labelled at a random moment of the watcher's
   cycle, N times; printed is each delay from the label to the progress comment existing on the issue, and
   their median. Expected about half the interval plus the child process's start; the same at a 0.2 s
   interval shows that start alone.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kodo_bot.github.markers import find_marker
from kodo_bot.local._args import DEFAULT_POLL_S
from kodo_bot.sandbox.demo import offline_env
from kodo_bot.sandbox.github_demo import MAINTAINER, PERMISSIONS, REPO
from kodo_bot.sandbox.github_emulator import GitHubEmulator
from kodo_bot.sandbox.model_server import ScriptedModelServer
from kodo_bot.sandbox.stories import TESTS, bash, delegate, done, verdict, write_file

HELLO = "def hello(name):\n    return f'hello {name}'\n"
HELLO_TEST = (
    "import unittest\nfrom hello import hello\n\n\nclass T(unittest.TestCase):\n"
    "    def test_hello(self):\n        self.assertEqual(hello('x'), 'hello x')\n"
)


def _roles(runs: int) -> dict:
    """One accepted cycle per labelled issue."""
    passes = [bash(TESTS), verdict(True, "The tests pass.", checks=[(TESTS, 0)])]
    return {
        "orchestrator": [delegate(("worker_fast", "Add hello(name) with a test.")), done("Added hello().")] * runs,
        "worker_fast": [write_file("hello.py", HELLO), write_file("test_hello.py", HELLO_TEST), bash(TESTS)] * runs,
        "verifier/tester": passes * runs,
        "verifier/architect": [
            bash("git show --stat HEAD"),
            verdict(True, "Fine.", checks=[("git show --stat HEAD", 0)]),
        ]
        * runs,
    }


def _scene(emu: GitHubEmulator) -> str:
    emu.add_repo(REPO, files={"README.md": "# bench\n", ".github/kodo.yml": f'check_commands: ["{TESTS}"]\n'})
    emu.add_collaborator(REPO, MAINTAINER, "maintain")
    return emu.add_token("kodo-bot[bot]", permissions=PERMISSIONS)


def _watch(emu: GitHubEmulator, token: str, root: Path, env: dict[str, str], interval: float) -> subprocess.Popen:
    env = {k: v for k, v in env.items() if not k.startswith("GITHUB_")}
    env |= {"GITHUB_TOKEN": token, "KODO_WORK_DIR": str(root / "work"), "KODO_GITHUB_FAST": "1"}
    argv = [sys.executable, "-m", "kodo_bot.cli", "watch", REPO, "--api-url", emu.api_url, "--interval", str(interval)]
    return subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=180)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()


def _polls(emu: GitHubEmulator) -> list:
    return [c for c in emu.calls if c.kind == "rest" and c.operation == "issues/list-for-repo"]


def idle(root: Path, polls: int) -> dict[str, float]:
    with GitHubEmulator(root / "github") as emu:
        token = _scene(emu)
        proc = _watch(emu, token, root, dict(os.environ), 0.05)
        try:
            while len(_polls(emu)) < 2:
                time.sleep(0.05)
            after_first = emu.rate_used(token)
            while len(_polls(emu)) < polls + 2:  # + the access check's one-issue read
                time.sleep(0.05)
            counted_idle = emu.rate_used(token) - after_first
            observed = len(_polls(emu)) - 2
        finally:
            _stop(proc)
        not_modified = sum(c.status == 304 for c in _polls(emu))
    per_hour = counted_idle / max(observed, 1) * 3600 / DEFAULT_POLL_S
    return {
        "first": after_first,
        "polls": observed,
        "counted": counted_idle,
        "not_modified": not_modified,
        "per_hour": per_hour,
    }


def delays(root: Path, samples: int, interval: float) -> list[float]:
    out = []
    with GitHubEmulator(root / "github") as emu, ScriptedModelServer({"roles": _roles(samples)}) as server:
        token = _scene(emu)
        proc = _watch(emu, token, root, offline_env(os.environ, server.url), interval)
        try:
            while not _polls(emu):
                time.sleep(0.05)
            for i in range(samples):
                time.sleep(random.uniform(0, interval))
                issue = emu.create_issue(REPO, f"Add hello #{i}", "Add hello(name) with a test.", user=MAINTAINER)
                labelled = datetime.now(UTC)
                emu.label_issue(REPO, issue.number, "kodo", actor=MAINTAINER)
                while not (first := _progress(emu, issue.number)):
                    time.sleep(0.02)
                out.append((first - labelled).total_seconds())
                print(f"  sample {i + 1}: {out[-1]:.1f} s", flush=True)
                while psutil.Process(proc.pid).children():
                    time.sleep(0.2)  # the run's process ends before the next sample (one at a time)
        finally:
            _stop(proc)
    return out


def _progress(emu: GitHubEmulator, number: int) -> datetime | None:
    found = [c.created_at for c in emu.comments(REPO, number) if find_marker(c.body, "progress")]
    return min(found) if found else None


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--idle-polls", type=int, default=200, help="idle polls to observe (default 200)")
    p.add_argument("--samples", type=int, default=3, help="label-to-first-comment samples (default 3)")
    p.add_argument("--interval", type=float, default=DEFAULT_POLL_S, help="poll interval for the delay part")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="kodo-bench-watch-") as tmp:
        i = idle(Path(tmp) / "idle", args.idle_polls)
        print(f"idle: first poll (with the access check) counted {i['first']} REST request(s)")
        print(
            f"idle: {i['polls']} polls after it counted {i['counted']} ({i['not_modified']} answered 304): "
            f"{i['per_hour']:.0f} counted REST requests per idle hour at the default {DEFAULT_POLL_S:g} s interval "
            "(target 0)"
        )
        for name, interval in (("delay", args.interval), ("handling", 0.2)):
            print(f"{name}: label to first comment at a {interval:g} s poll interval, {args.samples} sample(s):")
            d = delays(Path(tmp) / name, args.samples, interval)
            print(
                f"{name}: median {statistics.median(d):.1f} s, max {max(d):.1f} s "
                f"(about {interval / 2:g} s waiting for the poll, the rest starting the run's process)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
