"""Benchmark of the engine: where a run's wall time goes when the model is not the one thinking.

    .venv/bin/python bench/engine.py [--latency 1.0] [--cycles 10] [--skip-multi] [--repeat N]
                                     [--orchestrator CHOICE ...]

It drives ``kodo-bot run`` itself (a fresh Python process, as a user starts it) against the scripted model
server in this process, with the real Claude Code CLI, real git and the sandbox. Every scripted answer takes
``--latency`` seconds (the tester's verdict three times that, so the verifiers differ in speed).

Run 1 is one cycle: the orchestrator delegates one file to worker_fast, then says done; two verifiers check
the commit. From the server's request log (when each request arrived, how long its answer took) and the
run's own events it prints:

- the wall time, from starting the process to its exit;
- the model's critical path: the sum of answer latencies on the longest chain (the scenario delegates one
  task at a time, so every orchestrator and worker request is on it, plus the slowest verifier's);
- the overhead, wall minus critical path, split into start-up (process start to the first model request),
  CLI starts (a session's first request waiting for its CLI), the agents' tool turns (the CLI running a
  tool between two answers), engine work (everything else between an answer and the next request), and
  teardown (the last model answer to the process's exit);
- the gap between the orchestrator's "done" answer and each verifier's first model request, split into the
  engine's part (the commit, its checkpoints and the checks, up to ``verification_started``) and the
  verifier's (its checkout taking the commit if it has not yet, and its CLI taking the query up to the
  request it sends);
- the engine process's peak RSS (VmHWM; the CLI processes are separate), and whether any process started
  below it (sampled every 20 ms) still runs when it has exited.

Run 2 plays ``--cycles`` cycles at the same latency, for the orchestrator's context growth (its largest
input at the last cycle against the first) and the overhead per cycle ((overhead 2 - overhead 1) / (cycles
- 1)), which leaves the per-run part. As a check on that difference of two noisy runs, it also prints the
overhead of each cycle in the steady state (cycles 2 to N-1: from one ``cycle_started`` to the next, less the
answers in between). Last, ``python -X importtime`` shows what the run's path imports.

The machine may be shared: each run prints the load average (``os.getloadavg``) before and after it.
``--repeat N`` plays the runs N times and ends with the median of each figure against its target.

``--orchestrator`` (repeatable: ``api:anthropic``, ``api:gemini``, ``claude-code``, or ``all``) plays both runs
with each orchestrator against the same scripted answers (the server speaks the Gemini API, and calls a
scenario's tools by the MCP names Claude Code offers), then prints them side by side (issue 12): overhead
per cycle, orchestrator input per cycle (cycle N against cycle 1), model requests per cycle.

Targets (issue 11): start-up <= 1 s; done -> each verifier's first request <= 0.3 s; teardown <= 0.3 s;
overhead <= 3 s per run + <= 0.5 s per cycle; peak RSS <= 150 MB; context ratio <= 1.2. A benchmark
prints; it asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kodo_bot.sandbox.demo import offline_env, seed_project
from kodo_bot.sandbox.model_server import RequestRecord, ScriptedModelServer
from kodo_bot.sandbox.stories import bash, delegate, done, say, verdict, write_file

ROOT = Path(__file__).resolve().parent.parent
#: the processes it starts run this tree's kodo-bot too, whatever is installed
HERE = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH"))))}

VERIFIERS = ("verifier/tester", "verifier/architect")


# --------------------------------------------------------------------------- the scenario
def scenario(cycles: int, latency: float) -> dict[str, Any]:
    def slow(step: dict[str, Any], factor: float = 1.0) -> dict[str, Any]:
        return {**step, "delay_s": latency * factor}

    orchestrator: list[dict[str, Any]] = []
    worker: list[dict[str, Any]] = []
    for n in range(1, cycles + 1):
        orchestrator.append(slow(delegate(("worker_fast", f"Write step{n}.txt"))))
        worker += [slow(write_file(f"step{n}.txt", f"step {n}\n")), slow(say(f"wrote step{n}.txt"))]
        if n < cycles:
            orchestrator.append(slow(say(f"Cycle {n}: step{n}.txt is written; the next cycle continues.")))
    orchestrator.append(slow(done(f"Wrote step1..step{cycles}.")))
    tester = [slow(bash("ls step*.txt")), slow(verdict(True, "all files there", checks=[("ls step*.txt", 0)]), 3)]
    architect = [
        slow(bash("git log --oneline -3")),
        slow(verdict(True, "history is clean", checks=[("git log --oneline -3", 0)])),
    ]
    return {
        "roles": {
            "orchestrator": orchestrator,
            "worker_fast": worker,
            "verifier/tester": tester,
            "verifier/architect": architect,
        }
    }


def delays(scene: dict[str, Any]) -> dict[str, list[float]]:
    return {role: [float(s.get("delay_s", 0)) for s in steps] for role, steps in scene["roles"].items()}


# --------------------------------------------------------------------------- one run, measured
@dataclass
class Measured:
    wall: float
    started: float  # wall clock (time.time) at spawn
    ended: float
    exit_code: int
    peak_rss_mb: float
    leftovers: list[str]
    requests: list[RequestRecord]
    delays: dict[str, list[float]]
    events: list[dict[str, Any]]
    unexpected: int
    side: int
    complete: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    #: Claude Code CLI processes the run started (a CLI's own helpers, also named claude, are not counted)
    clis: int = 0

    def delay(self, r: RequestRecord) -> float:
        assert r.role is not None and r.step is not None
        return self.delays[r.role][r.step]

    @property
    def answered(self) -> list[RequestRecord]:
        return sorted((r for r in self.requests if r.outcome == "step"), key=lambda r: r.time)

    def critical_path(self) -> tuple[float, list[RequestRecord]]:
        """The longest chain: every non-verifier request (one task at a time), then the verifier of each
        round whose answers end last."""
        chain = [r for r in self.answered if r.role not in VERIFIERS]
        by_verifier: dict[str, list[RequestRecord]] = defaultdict(list)
        for r in self.answered:
            if r.role in VERIFIERS:
                by_verifier[r.role].append(r)
        if by_verifier:
            last = max(by_verifier.values(), key=lambda rs: rs[-1].time + self.delay(rs[-1]))
            chain += last
        return sum(self.delay(r) for r in chain), chain

    def event_time(self, kind: str, last: bool = False) -> float | None:
        times = [e["_t"] for e in self.events if e.get("type") == kind]
        return (times[-1] if last else times[0]) if times else None


def _watch(pid: int, stop: threading.Event, rss: list[float], seen: dict[int, psutil.Process]) -> None:
    """Sample the run's process every 20 ms: its peak RSS (VmHWM), and every process below it, so that one
    still running after kodo-bot exited is found even when it was reparented away."""
    status, root = Path(f"/proc/{pid}/status"), psutil.Process(pid)
    while not stop.is_set():
        try:
            if m := re.search(r"^VmHWM:\s+(\d+) kB", status.read_text(), re.M):
                rss.append(int(m.group(1)) / 1024)
            for child in root.children(recursive=True):
                if child.pid not in seen:
                    seen[child.pid] = child
                    with contextlib.suppress(psutil.Error):
                        parent = child.parent()
                        child.info = {"name": child.name(), "parent": parent.name() if parent else ""}
        except (OSError, psutil.Error):
            return
        stop.wait(0.02)


def _is_cli(info: dict[str, str]) -> bool:
    return info.get("name") == "claude" and info.get("parent") != "claude"


def _leftovers(seen: dict[int, psutil.Process]) -> list[str]:
    """Processes of the run still running after kodo-bot exited (psutil checks the start time, so a reused
    pid is not mistaken for one of them)."""
    left = []
    for proc in seen.values():
        try:
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                left.append(f"{proc.pid} {' '.join(proc.cmdline())[:100]}")
        except psutil.Error:
            pass
    return left


def measure(cycles: int, latency: float, root: Path, orchestrator: str | None = None) -> Measured:
    scene = scenario(cycles, latency)
    tag = f"{cycles}-{orchestrator.replace(':', '-')}" if orchestrator else str(cycles)
    project = root / f"project-{tag}"
    root.mkdir(parents=True, exist_ok=True)
    seed_project(project, {"README.md": "# bench\n"})
    with ScriptedModelServer(scene) as server:
        env = offline_env(HERE, server.url)
        argv = [sys.executable, "-m", "kodo_bot.cli", "run", "--goal", "Write the step files."]
        argv += ["--project", str(project), "--cycles", str(cycles), "--no-ui", "--json"]
        argv += ["--orchestrator", orchestrator] if orchestrator else []
        started, t0 = time.time(), time.monotonic()
        # files, not pipes: the exit is the process's, not the moment the last holder of a pipe let go
        with (root / f"out-{tag}.json").open("w+") as out_f, (root / f"err-{tag}.log").open("w+") as err_f:
            proc = subprocess.Popen(argv, env=env, stdout=out_f, stderr=err_f, text=True)
            stop, rss, seen = threading.Event(), [0.0], {}
            sampler = threading.Thread(target=_watch, args=(proc.pid, stop, rss, seen))
            sampler.start()
            proc.wait()
            wall, ended = time.monotonic() - t0, time.time()
            leftovers = _leftovers(seen)
            out_f.seek(0)
            err_f.seek(0)
            out, err = out_f.read(), err_f.read()
        stop.set()
        sampler.join()
        try:
            server.assert_complete()
            complete = ""
        except AssertionError as exc:
            complete = str(exc)
        requests, unexpected, side = list(server.requests), len(server.unexpected), len(server.side_requests)
    if proc.returncode != 0:
        print(f"kodo-bot exited {proc.returncode}\n{err[-3000:]}", file=sys.stderr)
    result = json.loads(out) if out.strip().startswith("{") else {}
    run_id = result.get("run_id") or next((project / ".kodo" / "runs").iterdir()).name
    events = [json.loads(line) for line in (project / ".kodo" / "runs" / run_id / "events.jsonl").open()]
    for e in events:
        e["_t"] = _epoch(e["at"])
    return Measured(
        wall=wall,
        started=started,
        ended=ended,
        exit_code=proc.returncode,
        peak_rss_mb=max(rss),
        leftovers=leftovers,
        requests=requests,
        delays=delays(scene),
        events=events,
        unexpected=unexpected,
        side=side,
        complete=complete,
        extra=result,
        clis=sum(1 for p in seen.values() if _is_cli(getattr(p, "info", {}))),
    )


def _epoch(at: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp()


# --------------------------------------------------------------------------- where the time went
def breakdown(m: Measured) -> dict[str, float]:
    """Overhead (wall - critical path) by kind, walking the chain from the process's start to its exit."""
    crit, chain = m.critical_path()
    parts: dict[str, float] = defaultdict(float)
    seen: set[str] = set()
    previous_end = m.started
    for i, r in enumerate(chain):
        gap = r.time - previous_end
        assert r.role is not None
        if i == 0:
            parts["start-up"] += gap
        elif r.role not in seen and r.role in VERIFIERS:
            # done -> verifier: the commit and the checks are the engine's; the rest is the CLI getting ready
            began = m.event_time("verification_started", last=True) or previous_end
            parts["engine work"] += max(0.0, began - previous_end)
            parts["CLI starts"] += r.time - max(began, previous_end)
        elif r.role not in seen:
            parts["CLI starts"] += gap
        elif chain[i - 1].role == r.role:
            parts["agents' tool turns"] += gap
        else:
            parts["engine work"] += gap
        seen.add(r.role)
        previous_end = r.time + m.delay(r)
    parts["teardown"] = m.ended - previous_end
    parts["_critical"] = crit
    return parts


def verifier_gaps(m: Measured) -> dict[str, tuple[float, float]]:
    """For each verifier, from the orchestrator's "done" answer arriving to its first request: the whole gap,
    and the part after ``verification_started`` (the engine's commit, checkpoints and checks come before)."""
    orchestrator = [r for r in m.answered if r.role == "orchestrator"]
    done_at = orchestrator[-1].time + m.delay(orchestrator[-1])
    began = m.event_time("verification_started", last=True) or done_at
    first: dict[str, tuple[float, float]] = {}
    for r in m.answered:
        if r.role in VERIFIERS and r.role.split("/")[-1] not in first:
            first[r.role.split("/")[-1]] = (r.time - done_at, r.time - began)
    return first


def steady_cycles(m: Measured) -> list[float]:
    """The overhead of each cycle between the first (the worker's CLI starts) and the last (verification):
    from one ``cycle_started`` to the next, less the answers that arrived in between."""
    starts = [e["_t"] for e in m.events if e.get("type") == "cycle_started"]
    overheads = []
    for begin, end in zip(starts[1:-1], starts[2:], strict=False):
        answered = [r for r in m.answered if begin <= r.time < end]
        overheads.append(end - begin - sum(m.delay(r) for r in answered))
    return overheads


def rss_line(m: Measured) -> str:
    return f"{m.peak_rss_mb:6.0f} MB  (target <= 150: {verdict_of(m.peak_rss_mb <= 150)})"


def verdict_of(ok: bool) -> str:
    return "met" if ok else "NOT MET"


def report_one(m: Measured, latency: float) -> dict[str, float]:
    """Prints run 1; returns its figures for the issue's table (``FIGURES``)."""
    parts = breakdown(m)
    crit = parts.pop("_critical")
    overhead = m.wall - crit
    outcome = m.extra.get("outcome", f"exit {m.exit_code}")
    print(f"run 1: one cycle at {latency:g} s per model answer: outcome {outcome}")
    print(f"  wall time                      {m.wall:6.2f} s")
    print(f"  model critical path            {crit:6.2f} s  ({len(m.critical_path()[1])} answers on the longest chain)")
    print(f"  overhead (wall - critical)     {overhead:6.2f} s")
    for name in ("start-up", "CLI starts", "agents' tool turns", "engine work", "teardown"):
        print(f"    {name:<28} {parts.get(name, 0.0):6.2f} s")
    startup, teardown = parts.get("start-up", 0.0), parts.get("teardown", 0.0)
    print(f"  start-up to first request      {startup:6.2f} s  (target <= 1: {verdict_of(startup <= 1.0)})")
    for name, (gap, after) in verifier_gaps(m).items():
        print(
            f"  done -> {name + ' first request':<23}{gap:6.2f} s  (target <= 0.3: {verdict_of(gap <= 0.3)}; "
            f"engine {gap - after:.2f} s, then verifier {after:.2f} s)"
        )
    print(f"  teardown (last answer -> exit) {teardown:6.2f} s  (target <= 0.3: {verdict_of(teardown <= 0.3)})")
    steps = sum(len(v) for v in m.delays.values())
    print(
        f"  model requests                 {len(m.answered)} answered of {steps} scripted; "
        f"{len([r for r in m.requests if r.replay])} replays, {m.side} side, {m.unexpected} unexpected"
    )
    if m.complete:
        print(f"  SCENARIO NOT COMPLETE: {m.complete}")
    print(f"  peak RSS (kodo-bot process)    {rss_line(m)}")
    print(f"  Claude Code CLI processes      {m.clis}  (worker_fast, then one per verifier)")
    print(f"  processes running after exit   {len(m.leftovers)}" + (f": {m.leftovers}" if m.leftovers else ""))
    figures = {"start-up": startup, "teardown": teardown, "overhead 1": overhead, "peak RSS": m.peak_rss_mb}
    figures |= {f"done -> {name}": gap for name, (gap, _) in verifier_gaps(m).items()}
    return figures


def delegation_waits(m: Measured) -> list[float]:
    """For each delegation to the worker: from the engine telling it to the worker's first model request."""
    calls = [e["_t"] for e in m.events if e.get("type") == "agent_call_started"]
    worker = [r.time for r in m.answered if r.role == "worker_fast"]
    return [min(t for t in worker if t > call) - call for call in calls if any(t > call for t in worker)]


def context_ratio(m: Measured) -> tuple[dict[int, list[int]], float]:
    per_cycle: dict[int, list[int]] = defaultdict(list)
    for e in m.events:
        if e.get("type") == "orchestrator_replied":
            per_cycle[e["cycle"]].append(e["usage"]["input_tokens"])
    first, last = min(per_cycle), max(per_cycle)
    return per_cycle, max(per_cycle[last]) / max(per_cycle[first])


def side_by_side(rows: dict[str, tuple[Measured, Measured]], cycles: int) -> None:
    """Issue 12: each orchestrator's overhead per cycle, its input per cycle and its model requests."""
    print(f"orchestrators side by side ({cycles} cycles; the same scripted answers):")
    print(f"  {'orchestrator':<14} {'overhead/cycle':>14} {'input c1':>9} {'input cN':>9} {'ratio':>6} "
          f"{'orch. req/cycle':>15} {'all req/cycle':>13} {'side':>5}")  # fmt: skip
    for choice, (one, multi) in rows.items():
        per_cycle = ((multi.wall - multi.critical_path()[0]) - (one.wall - one.critical_path()[0])) / (cycles - 1)
        tokens, ratio = context_ratio(multi)
        asked = [r for r in multi.answered if r.role == "orchestrator"]
        print(
            f"  {choice:<14} {per_cycle:13.2f}s {max(tokens[min(tokens)]):9d} {max(tokens[max(tokens)]):9d} "
            f"{ratio:6.2f} {len(asked) / cycles:15.1f} {len(multi.answered) / cycles:13.1f} {multi.side:5d}"
        )


def report_multi(m: Measured, cycles: int, overhead_1: float) -> dict[str, float]:
    """Prints run 2; returns its figures for the issue's table (``FIGURES``)."""
    crit, _ = m.critical_path()
    overhead = m.wall - crit
    per_cycle = (overhead - overhead_1) / (cycles - 1)
    per_run = overhead_1 - per_cycle
    outcome = m.extra.get("outcome", f"exit {m.exit_code}")
    print(f"run 2: {cycles} cycles: outcome {outcome}; wall {m.wall:.2f} s, critical path {crit:.2f} s")
    print(f"  overhead                       {overhead:6.2f} s")
    print(f"  overhead per cycle             {per_cycle:6.2f} s  (target <= 0.5: {verdict_of(per_cycle <= 0.5)})")
    print(f"  overhead per run               {per_run:6.2f} s  (target <= 3: {verdict_of(per_run <= 3.0)})")
    steady = sorted(steady_cycles(m))
    if steady:
        print(
            f"  overhead of cycles 2-{cycles - 1} each     {median(steady):6.2f} s median "
            f"({steady[0]:.2f}-{steady[-1]:.2f}; the check on the line above)"
        )
    tokens, ratio = context_ratio(m)
    first, last = min(tokens), max(tokens)
    print(f"  orchestrator input tokens: cycle {first} {tokens[first]}, cycle {last} {tokens[last]}")
    print(f"  context ratio cycle {last}/cycle {first}     {ratio:6.2f}   (target <= 1.2: {verdict_of(ratio <= 1.2)})")
    print(f"  peak RSS (kodo-bot process)    {rss_line(m)}")
    print(f"  Claude Code CLI processes      {m.clis}  (the worker's one session, then one per verifier)")
    cold, *warm = delegation_waits(m)
    if warm:
        print(
            f"  delegation -> worker's request {cold:6.2f} s in cycle 1 (its CLI starts), then "
            f"{min(warm):.2f}-{max(warm):.2f} s (its session stays warm)"
        )
    print(f"  processes running after exit   {len(m.leftovers)}")
    if m.complete:
        print(f"  SCENARIO NOT COMPLETE: {m.complete}")
    figures = {"overhead per cycle": per_cycle, "overhead per run": per_run, "context ratio": ratio}
    figures["peak RSS"] = m.peak_rss_mb
    if steady:
        figures["steady cycle"] = median(steady)
    return figures


#: the issue's figures, as ``report_one``/``report_multi`` name them: (label, target or None, unit)
FIGURES: list[tuple[str, float | None, str]] = [
    ("start-up", 1.0, "s"),
    ("done -> tester", 0.3, "s"),
    ("done -> architect", 0.3, "s"),
    ("teardown", 0.3, "s"),
    ("overhead per run", 3.0, "s"),
    ("overhead per cycle", 0.5, "s"),
    ("steady cycle", 0.5, "s"),  # the check on "overhead per cycle": the median of cycles 2 to N-1
    ("peak RSS", 150.0, "MB"),  # the larger of the two runs'
    ("context ratio", 1.2, ""),
]


def report_figures(runs: list[dict[str, float]], loads: list[tuple[float, float]]) -> None:
    """Each figure of issue 11: the median over the runs (and the spread), its target, met or not."""
    load = ", ".join(f"{a:.1f}/{b:.1f}" for a, b in loads)
    print(f"issue 11 figures, median of {len(runs)} run(s); load average (1 min) before/after each: {load}")
    for label, target, unit in FIGURES:
        values = sorted(run[label] for run in runs if label in run)
        if not values:
            continue
        mid = median(values)
        spread = f"  ({values[0]:.2f}-{values[-1]:.2f})" if len(values) > 1 else ""
        met = f"target <= {target:g}{unit and ' ' + unit}: {verdict_of(mid <= target)}" if target is not None else ""
        print(f"  {label:<22} {mid:7.2f} {unit:<2}{spread:<16} {met}")


def print_timeline(m: Measured) -> None:
    rows = [(r.time, f"request {r.role} #{r.step} (answer takes {m.delay(r):g} s)") for r in m.answered]
    rows += [(e["_t"], f"event {e['type']}") for e in m.events]
    rows += [(m.ended, "process exited")]
    for t, what in sorted(rows):
        print(f"  {t - m.started:7.3f}  {what}")


# --------------------------------------------------------------------------- imports
#: what a `kodo-bot run` imports in all (the agents' backend after its first request)
RUN_MODULES = ("kodo_bot.cli", "kodo_bot.compose", "kodo_bot.engine.launch", "kodo_bot.orchestrators.anthropic")
RUN_PATH = "import " + ", ".join((*RUN_MODULES, "kodo_bot.agents.claude", "kodo_bot.agents._claude_session"))


def report_imports() -> None:
    print("imports (python -X importtime, cumulative):")
    for label, code in (("import kodo_bot.cli", "import kodo_bot.cli"), ("the run's path", RUN_PATH)):
        argv = [sys.executable, "-X", "importtime", "-c", code]
        done = subprocess.run(argv, capture_output=True, text=True, env=HERE)
        if done.returncode:
            print(f"  {label:<22} failed: {done.stderr.strip().splitlines()[-1]}")
            continue
        rows = [_import_row(line) for line in done.stderr.splitlines() if line.startswith("import time:")]
        rows = [r for r in rows if r is not None]
        total = sum(cum for cum, name, depth in rows if depth == 0)
        heavy = sorted(((cum, name) for cum, name, depth in rows if depth <= 1 and cum >= 40_000), reverse=True)
        names = ", ".join(f"{name} {cum / 1e6:.2f}" for cum, name in heavy[:8])
        print(f"  {label:<22} {total / 1e6:5.2f} s   ({names})")
    heavy_sdks = "{'anthropic', 'claude_agent_sdk', 'github', 'mcp', 'httpx', 'httpx2'}"
    probe = f"import sys, kodo_bot.cli; print(sorted({{m.split('.')[0] for m in sys.modules}} & {heavy_sdks}))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=HERE)
    print(f"  heavy SDKs loaded by `import kodo_bot.cli`: {done.stdout.strip()}")


def _import_row(line: str) -> tuple[int, str, int] | None:
    """``import time: self | cumulative | name`` (the name indented two spaces per level)."""
    fields = line.split("|")
    if len(fields) != 3 or not fields[1].strip().isdigit():
        return None
    name = fields[2].rstrip()
    return int(fields[1]), name.strip(), (len(name) - len(name.lstrip()) - 1) // 2


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=float, default=1.0, help="seconds per scripted model answer")
    parser.add_argument("--cycles", type=int, default=10, help="cycles of run 2 (context growth, per cycle)")
    parser.add_argument("--skip-multi", action="store_true", help="only run 1 and the imports")
    parser.add_argument("--repeat", type=int, default=1, help="play the runs this many times; medians at the end")
    parser.add_argument("--timeline", action="store_true", help="print run 1's requests and events in time order")
    parser.add_argument(
        "--orchestrator",
        action="append",
        help="api:anthropic, api:gemini, claude-code (repeatable) or all: both runs with each, side by side",
    )
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="kodo-bench-engine-"))
    if args.orchestrator:
        choices = ["api:anthropic", "api:gemini", "claude-code"] if "all" in args.orchestrator else args.orchestrator
        rows = {}
        for choice in choices:
            print(f"== orchestrator {choice}")
            one = measure(1, args.latency, root, choice)
            overhead_1 = report_one(one, args.latency)["overhead 1"]
            multi = measure(args.cycles, args.latency, root, choice)
            report_multi(multi, args.cycles, overhead_1)
            rows[choice] = (one, multi)
        side_by_side(rows, args.cycles)
        print(f"(run directories under {root})")
        return
    runs, loads = [], []
    for n in range(args.repeat):
        before = os.getloadavg()[0]
        print(f"== repetition {n + 1} of {args.repeat} (load average {before:.2f})")
        one = measure(1, args.latency, root / f"r{n}")
        figures = report_one(one, args.latency)
        if args.timeline:
            print_timeline(one)
        if not args.skip_multi:
            multi = report_multi(measure(args.cycles, args.latency, root / f"r{n}"), args.cycles, figures["overhead 1"])
            figures |= {**multi, "peak RSS": max(figures["peak RSS"], multi["peak RSS"])}
        runs.append(figures)
        loads.append((before, os.getloadavg()[0]))
    report_imports()
    report_figures(runs, loads)
    print(f"(run directories under {root})")


if __name__ == "__main__":
    main()
