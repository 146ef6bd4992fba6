"""Benchmark of the GitHub side: what a two-cycle run costs in API calls, and how soon a person sees a reply.

    .venv/bin/python bench/github_calls.py [--throttle] [--runs N] [--trace]

Plays the demo story offline (one rejection, then acceptance) through ``python -m kodo_bot.cli action`` in a
child process, as on a runner: the GitHub emulator, real git, the scripted model server and the real Claude
Code CLI. Prints, per run, the REST and GraphQL calls, the time from starting the process to the progress
comment existing on the issue, and the wall time; then the REST calls by operation (of the first run) and
the median time to the first comment over all runs (10 by default). Targets: under 40 REST calls for a
two-cycle run, progress edits included (issue 3); a median first comment within 2 s (issue 8).

Then, on the accepted PR, a maintainer's review with three inline comments starts a one-cycle follow-up
(``pull_request_review``): its REST calls (target < 25) and the time from its process start to the first
acknowledgement a person sees, the progress comment edited or a reaction (target <= 2 s) (issue 10).

``--throttle`` keeps PyGithub's production pacing (0.25 s between requests, 1 s between writes) instead of
the rehearsal settings, to see what a run on GitHub would spend waiting on its own politeness.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kodo_bot.sandbox.demo import offline_env
from kodo_bot.sandbox.github_demo import MAINTAINER, REPO, job_environment, stage
from kodo_bot.sandbox.github_emulator import GitHubEmulator
from kodo_bot.sandbox.model_server import ScriptedModelServer
from kodo_bot.sandbox.stories import CALC_FIXED, TESTS, bash, delegate, demo_story, done, say, verdict, write_file


def one_run(root: Path, *, throttle: bool) -> dict[str, Any]:
    story = demo_story()
    with GitHubEmulator(root / "github") as emu, ScriptedModelServer(story.scenario) as server:
        token, number, event = stage(emu, story)
        env = job_environment(offline_env(os.environ, server.url), root / "job", emu, token, event)
        env |= {"KODO_WORK_DIR": str(root / "work"), "KODO_GITHUB_FAST": "" if throttle else "1"}
        spawned = datetime.now(UTC)
        started = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "kodo_bot.cli", "action"], env=env, capture_output=True)
        wall = time.monotonic() - started
        if proc.returncode != 0:
            sys.exit(f"the run failed ({proc.returncode}):\n{proc.stderr.decode()[-3000:]}")
        first = min(c.created_at for c in emu.comments(REPO, number))
        rest = Counter(f"{c.method} {c.operation}" for c in emu.calls if c.kind == "rest")
        return {
            "rest": rest,
            "graphql": emu.graphql_call_count(),
            "first_comment_s": (first - spawned).total_seconds(),
            "wall_s": wall,
            "cycles": 2,
        }


def followup_run(root: Path) -> dict[str, Any]:
    """The demo run, then a review with three inline comments and its one-cycle follow-up, measured alone."""
    story = demo_story()
    with GitHubEmulator(root / "github") as emu:
        token, number, event = stage(emu, story)
        with ScriptedModelServer(story.scenario) as server:
            env = job_environment(offline_env(os.environ, server.url), root / "job", emu, token, event)
            env |= {"KODO_WORK_DIR": str(root / "work"), "KODO_GITHUB_FAST": "1"}
            if subprocess.run([sys.executable, "-m", "kodo_bot.cli", "action"], env=env).returncode != 0:
                sys.exit("the first run failed")
        (pull,) = emu.pulls(REPO)
        lines = [i + 1 for i, text in enumerate(CALC_FIXED.splitlines()) if "multiply" in text or "return a *" in text]
        review = emu.submit_review(
            REPO,
            pull.number,
            user=MAINTAINER,
            event="REQUEST_CHANGES",
            comments=[
                {"path": "calc.py", "line": line, "body": f"Point {k}: document this."}
                for k, line in enumerate(lines[:3] * 3, 1)
            ][:3],
        )
        ids = [c.id for c in emu.review_comments(REPO, pull.number) if c.user == MAINTAINER]
        acked: list[float] = []
        emu.on_webhook(lambda d: acked.append(time.monotonic()) if d.event == "issue_comment" else None)
        with ScriptedModelServer({"roles": _docstring_roles([f"comment-{i}" for i in ids])}) as server:
            env = job_environment(offline_env(os.environ, server.url), root / "review", emu, token, review)
            env |= {
                "GITHUB_EVENT_NAME": "pull_request_review",
                "KODO_WORK_DIR": str(root / "work"),
                "KODO_GITHUB_FAST": "1",
            }
            before = len(emu.calls)
            started = time.monotonic()
            proc = subprocess.run([sys.executable, "-m", "kodo_bot.cli", "action"], env=env, capture_output=True)
            wall = time.monotonic() - started
        if proc.returncode != 0:
            sys.exit(f"the follow-up failed ({proc.returncode}):\n{proc.stderr.decode()[-3000:]}")
        calls = emu.calls[before:]
        rest = Counter(f"{c.method} {c.operation}" for c in calls if c.kind == "rest")
        return {
            "rest": rest,
            "graphql": sum(1 for c in calls if c.graphql),
            "ack_s": acked[0] - started,
            "wall_s": wall,
            "sequence": [_traced(c) for c in calls],
        }


def _traced(call: Any) -> str:
    """One request as ``--trace`` prints it: method, path, and for an edit or GraphQL what it was about."""
    line = f"{call.method} {call.path}"
    if call.graphql:
        line += f" ({call.operation})"
    elif call.method == "PATCH" and isinstance(call.request_body, dict):
        line += f" [{' '.join(str(call.request_body.get('body', '')).split())[:100]}]"
    return line


def _docstring_roles(point_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    answers = {p: (True, "multiply is documented") for p in point_ids}
    passes = [bash(TESTS), verdict(True, "Documented.", checks=[(TESTS, 0)], points=answers)]
    documented = CALC_FIXED.replace("def multiply(a, b):\n", 'def multiply(a, b):\n    """a times b."""\n')
    return {
        "orchestrator": [delegate(("worker_fast", "Document multiply.")), done("Documented multiply.")],
        "worker_fast": [write_file("calc.py", documented), bash(TESTS), say("Documented.")],
        "verifier/tester": passes,
        "verifier/architect": passes,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--throttle", action="store_true", help="PyGithub's production pacing between requests")
    parser.add_argument("--runs", type=int, default=10, help="how many runs to take the median over")
    parser.add_argument("--trace", action="store_true", help="print the follow-up's requests in the order sent")
    args = parser.parse_args()
    results = []
    for i in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="kodo-bench-github-") as tmp:
            r = one_run(Path(tmp), throttle=args.throttle)
        results.append(r)
        print(
            f"run {i + 1}: REST {sum(r['rest'].values())}, GraphQL {r['graphql']}, "
            f"first comment {r['first_comment_s']:.2f} s, wall {r['wall_s']:.1f} s",
            flush=True,
        )
    first = results[0]
    total = max(sum(r["rest"].values()) for r in results)
    print(f"two cycles, one rejection, accepted{' (production pacing)' if args.throttle else ''}")
    print(f"  REST calls: {total} at most (target < 40)   GraphQL calls: {first['graphql']}")
    for kind, n in sorted(first["rest"].items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"    {n:3d}  {kind}")
    times = sorted(r["first_comment_s"] for r in results)
    median = statistics.median(times)
    print(
        f"  time to the first comment from process start, over {len(times)} runs: median {median:.2f} s "
        f"(min {times[0]:.2f}, max {times[-1]:.2f}; target: median <= 2 s)"
    )
    missed = total >= 40 or median > 2
    with tempfile.TemporaryDirectory(prefix="kodo-bench-followup-") as tmp:
        f = followup_run(Path(tmp))
    rest_calls = sum(f["rest"].values())
    print("a review with three inline comments, then a one-cycle follow-up, accepted")
    print(f"  REST calls: {rest_calls} (target < 25)   GraphQL calls: {f['graphql']}   wall {f['wall_s']:.1f} s")
    for kind, n in sorted(f["rest"].items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"    {n:3d}  {kind}")
    if args.trace:
        for line in f["sequence"]:
            print(f"      {line}")
    print(f"  time to the first acknowledgement (the progress comment edited): {f['ack_s']:.2f} s (target <= 2 s)")
    missed = missed or rest_calls >= 25 or f["ack_s"] > 2
    if missed:
        print("  MISSED a target")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
