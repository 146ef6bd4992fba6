"""Benchmark of the engine: a scripted multi-cycle run with a configurable model latency.

    .venv/bin/python bench/engine.py [--cycles 10] [--latency 0.2]

Runs the real engine, the real Claude Code CLI and the scripted model server; prints wall time, the
engine's own overhead (time not spent waiting on the model or the agents), model requests, orchestrator
input tokens per request for each cycle, verification wall time against the slowest single verifier, and
the engine process's peak memory. Targets: overhead < 0.5 s per cycle; orchestrator input at the last cycle
within 1.2x of cycle 1; verification within 1.2x of the slowest verifier.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kodo_bot.compose import backends_from_env
from kodo_bot.engine import events as ev
from kodo_bot.engine.launch import RunRequest, start_run
from kodo_bot.engine.log import read_events
from kodo_bot.engine.state import RunSettings, RunStore
from kodo_bot.engine.team import default_team
from kodo_bot.sandbox.demo import offline_env, seed_project
from kodo_bot.sandbox.model_server import ScriptedModelServer
from kodo_bot.sandbox.stories import bash, delegate, done, say, verdict, write_file


def scenario(cycles: int, latency: float) -> dict[str, Any]:
    slow = {"delay_s": latency}
    orchestrator: list[dict[str, Any]] = []
    worker: list[dict[str, Any]] = []
    for n in range(1, cycles + 1):
        orchestrator.append({**delegate(("worker_fast", f"Write step{n}.txt")), **slow})
        worker += [{**write_file(f"step{n}.txt", f"step {n}\n"), **slow}, {**say(f"wrote step{n}.txt"), **slow}]
        if n < cycles:
            orchestrator.append({**say(f"Cycle {n}: step{n}.txt is written; the next cycle continues."), **slow})
    orchestrator.append({**done(f"Wrote step1..step{cycles}."), **slow})
    # Verifiers of different speeds: the round should take as long as the slowest, not the sum.
    tester = [
        {**bash("ls step*.txt"), **slow},
        {**verdict(True, "all files there", checks=[("ls step*.txt", 0)]), "delay_s": latency * 3},
    ]
    architect = [
        {**bash("git log --oneline | head -3"), **slow},
        {**verdict(True, "history is clean", checks=[("git log --oneline", 0)]), **slow},
    ]
    return {
        "roles": {
            "orchestrator": orchestrator,
            "worker_fast": worker,
            "verifier/tester": tester,
            "verifier/architect": architect,
        }
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cycles", type=int, default=10)
    parser.add_argument("--latency", type=float, default=0.2, help="seconds the scripted model takes per answer")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="kodo-bench-"))
    project = root / "project"
    seed_project(project, {"README.md": "# bench\n"})
    with ScriptedModelServer(scenario(args.cycles, args.latency)) as server:
        settings = RunSettings(max_cycles=args.cycles, team=default_team(), ui=False)
        backends = backends_from_env(offline_env(os.environ, server.url))
        started = time.monotonic()
        request = RunRequest(goal="Write the step files.", project=project, settings=settings)
        state = asyncio.run(start_run(request, backends))
        wall = time.monotonic() - started
        requests = len(server.requests)
        server.assert_complete()

    log = read_events(RunStore(project / ".kodo").events_path(state.run_id))
    waits = state.waits
    waited = waits.get("model", 0) + waits.get("agents", 0) + waits.get("verification", 0)
    overhead = state.elapsed_s - waited
    per_cycle_input: dict[int, list[int]] = defaultdict(list)
    for e in log:
        if isinstance(e, ev.OrchestratorReplied):
            per_cycle_input[e.cycle].append(e.usage.input_tokens)
    (round_,) = [e for e in log if isinstance(e, ev.VerificationFinished)]
    verifier_durations = {
        k.split(":")[-1]: r.duration_s for k, r in state.completed_calls.items() if k.startswith("verify:")
    }
    slowest = max(verifier_durations.values())
    first, last = min(per_cycle_input), max(per_cycle_input)
    growth = max(per_cycle_input[last]) / max(per_cycle_input[first])
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    outcome = state.outcome.value if state.outcome else "running"
    print(f"outcome                      {outcome}  ({state.cycle} cycles, model latency {args.latency}s)")
    print(f"wall time                    {wall:.2f} s")
    print(
        f"engine overhead              {overhead:.2f} s total, {overhead / state.cycle:.3f} s per cycle  (target < 0.5)"
    )
    print(
        f"  waiting: model {waits.get('model', 0):.2f} s, agents {waits.get('agents', 0):.2f} s, "
        f"verification {waits.get('verification', 0):.2f} s"
    )
    print(f"model requests               {requests}")
    print("orchestrator input tokens per request, by cycle:")
    for cycle, tokens in sorted(per_cycle_input.items()):
        print(f"  cycle {cycle:>2}: {tokens}")
    print(f"  cycle {last} vs cycle {first}: {growth:.2f}x  (target <= 1.2)")
    print(
        f"verification wall time       {round_.wall_s:.2f} s; slowest verifier {slowest:.2f} s "
        f"({', '.join(f'{k} {v:.2f}s' for k, v in verifier_durations.items())}): "
        f"{round_.wall_s / slowest:.2f}x  (target <= 1.2)"
    )
    print(f"engine peak memory (RSS)     {peak_mb:.0f} MB  (the Claude Code CLI processes are separate)")


if __name__ == "__main__":
    main()
