"""A made-up run's event log, of any length, with every event type: for the viewer's tests and benchmark.

Each cycle: the orchestrator delegates to two agents at once (their calls overlap), an agent works alone
after, the cycle is committed, checks and two verifiers judge it; every cycle but the last is rejected and
opens the next with steering and a notice. ``hostile`` is put into everything an agent or a person writes,
to show that the page treats it as text.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from kodo_bot.engine import events as ev
from kodo_bot.engine.models import (
    AgentCost,
    AgentResult,
    CheckResult,
    CostReport,
    Evidence,
    Finding,
    Outcome,
    ReviewPoint,
    Steering,
    ToolCall,
    Usage,
    Verdict,
)

RUN_ID = "20261203-000000-demo"
TEAM = ["architect", "worker_smart", "worker_fast", "tester", "tester_browser"]


class _Clock:
    def __init__(self) -> None:
        self.at = datetime(2026, 12, 3, 1, 0, tzinfo=UTC)

    def after(self, seconds: float) -> datetime:
        self.at += timedelta(seconds=seconds)
        return self.at


def sample_events(min_events: int = 40, *, hostile: str = "", seed: int = 7, tool_calls: int = 6) -> list[ev.Event]:
    """At least ``min_events`` events (whole cycles, then the run's end), numbered from 1."""
    rnd = random.Random(seed)
    clock = _Clock()
    out: list[ev.Event] = []

    def emit(event: ev.Event) -> None:
        out.append(event.model_copy(update={"seq": len(out) + 1}))

    emit(
        ev.RunStarted(
            run_id=RUN_ID,
            at=clock.at,
            goal_title="Add multiplication " + hostile,
            project="/nowhere",
            branch="kodo/run-demo",
            worktree="/nowhere/.kodo/wt",
            team=TEAM,
            max_cycles=999,
        )
    )
    emit(ev.Notice(run_id=RUN_ID, at=clock.after(0.2), level="info", message="sandbox on " + hostile))
    cycle = 0
    while True:
        cycle += 1
        last = len(out) >= min_events - 20
        _cycle(emit, clock, rnd, cycle, hostile, tool_calls, accepted=last)
        if last:
            break
    cost = CostReport(
        api_usd=0.01 * cycle,
        subscription_usd=0.2 * cycle,
        by_agent={
            "orchestrator": AgentCost(bucket="api", usd=0.01 * cycle, calls=3 * cycle),
            "worker_fast": AgentCost(bucket="subscription", usd=0.1 * cycle, calls=2 * cycle),
        },
    )
    emit(
        ev.RunFinished(
            run_id=RUN_ID,
            at=clock.after(0.5),
            outcome=Outcome.accepted,
            reason="verification passed",
            summary="Done " + hostile,
            cycles=cycle,
            rounds=cycle,
            cost=cost,
            duration_s=(clock.at - out[0].at).total_seconds(),
            branch="kodo/run-demo",
            head_sha="f" * 40,
            handoff="Nothing left " + hostile,
        )
    )
    return out


def _cycle(
    emit: Callable[[ev.Event], None],
    clock: _Clock,
    rnd: random.Random,
    n: int,
    hostile: str,
    tool_calls: int,
    *,
    accepted: bool,
) -> None:
    emit(ev.CycleStarted(run_id=RUN_ID, at=clock.after(1), cycle=n))
    if n > 1:
        point = ReviewPoint(id="p1", author="maintainer", text="Handle zero " + hostile, file="calc.py", line=3)
        emit(
            ev.SteeringTaken(
                run_id=RUN_ID,
                at=clock.after(0.1),
                cycle=n,
                steering=[Steering(id=f"s{n}", text="Review " + hostile, points=(point,))],
            )
        )
    emit(_reply(clock, n, 1, ["delegate_worker_fast", "delegate_worker_smart"], hostile))
    started = clock.at
    for i, agent in enumerate(("worker_fast", "worker_smart")):
        emit(
            ev.AgentCallStarted(
                run_id=RUN_ID,
                at=clock.after(0.05),
                cycle=n,
                call_id=f"c{n}-{i}",
                agent=agent,
                task=f"Part {i} of the work " + hostile,
            )
        )
    for i, agent in enumerate(("worker_fast", "worker_smart")):
        took = 20 + 15 * i + rnd.random() * 10
        emit(
            ev.AgentCallFinished(
                run_id=RUN_ID,
                at=max(clock.at, started + timedelta(seconds=took)),
                cycle=n,
                call_id=f"c{n}-{i}",
                result=_result(agent, took, rnd, hostile, tool_calls),
            )
        )
        clock.at = max(clock.at, started + timedelta(seconds=took))
    emit(_reply(clock, n, 2, ["delegate_tester"], hostile))
    emit(
        ev.AgentCallStarted(
            run_id=RUN_ID,
            at=clock.after(0.05),
            cycle=n,
            call_id=f"c{n}-t",
            agent="tester",
            task="Run the tests " + hostile,
        )
    )
    emit(
        ev.AgentCallFinished(
            run_id=RUN_ID,
            at=clock.after(12),
            cycle=n,
            call_id=f"c{n}-t",
            result=_result("tester", 12, rnd, hostile, tool_calls),
        )
    )
    emit(_reply(clock, n, 3, ["done"], hostile))
    sha = f"{n:04x}" + "a" * 36
    emit(
        ev.CycleCommitted(
            run_id=RUN_ID,
            at=clock.after(0.5),
            cycle=n,
            sha=sha,
            branch="kodo/run-demo",
            summary="Cycle work " + hostile,
            files_changed=["calc.py", "test_calc.py"],
        )
    )
    check = CheckResult(command="python3 -m pytest -q", exit_code=0, output_tail="3 passed " + hostile, duration_s=2)
    emit(ev.ChecksFinished(run_id=RUN_ID, at=clock.after(2), cycle=n, round=n, sha=sha, results=[check], passed=True))
    emit(
        ev.VerificationStarted(
            run_id=RUN_ID, at=clock.after(0.1), cycle=n, round=n, sha=sha, verifiers=["tester", "architect"]
        )
    )
    verdicts = [_verdict("tester", accepted, hostile), _verdict("architect", True, hostile)]
    for v in verdicts:
        emit(
            ev.VerdictReceived(
                run_id=RUN_ID, at=clock.after(8 + rnd.random() * 4), cycle=n, round=n, sha=sha, verdict=v
            )
        )
    emit(
        ev.VerificationFinished(
            run_id=RUN_ID,
            at=clock.after(0.1),
            cycle=n,
            round=n,
            sha=sha,
            accepted=accepted,
            checks=[check],
            verdicts=verdicts,
            wall_s=20,
        )
    )
    if not accepted:
        emit(
            ev.CycleEnded(
                run_id=RUN_ID,
                at=clock.after(0.1),
                cycle=n,
                reason="verification rejected",
                summary="Rejected " + hostile,
            )
        )
        emit(ev.Notice(run_id=RUN_ID, at=clock.after(0.1), level="warning", message="model API retry " + hostile))


def _reply(clock: _Clock, n: int, exchange: int, tools: list[str], hostile: str) -> ev.OrchestratorReplied:
    return ev.OrchestratorReplied(
        run_id=RUN_ID,
        at=clock.after(3),
        cycle=n,
        exchange=exchange,
        text="Next: " + ", ".join(tools) + " " + hostile,
        tool_calls=tools,
        usage=Usage(input_tokens=3000, output_tokens=200),
        cost_usd=0.004,
        wait_s=2.5,
    )


def _result(agent: str, took: float, rnd: random.Random, hostile: str, tool_calls: int) -> AgentResult:
    calls = tuple(
        ToolCall(
            tool_use_id=f"t{i}",
            name="Bash",
            input={"command": f"python3 -m pytest -q -k case{i}"},
            output=("collected 12 items\n" + "." * rnd.randint(0, 400) + "\n12 passed " + hostile),
            exit_code=0 if i % 5 else 1,
        )
        for i in range(tool_calls)
    )
    return AgentResult(
        agent=agent,
        text="I did it. " + hostile,
        turns=tool_calls + 1,
        cost_usd=0.05,
        usage=Usage(input_tokens=20000, output_tokens=900),
        tool_calls=calls,
        duration_s=took,
    )


def _verdict(verifier: str, passed: bool, hostile: str) -> Verdict:
    findings = () if passed else (Finding(severity="high", file="calc.py", line=3, message="Zero fails " + hostile),)
    evidence = (
        Evidence(command="python3 -m pytest -q", exit_code=0 if passed else 1, output_tail="out " + hostile, edited=""),
    )
    return Verdict(
        verifier=verifier,
        passed=passed,
        summary="Checked " + hostile,
        findings=findings,
        evidence=evidence,
        engine_note=None if passed else "a test failed " + hostile,
        cost_usd=0.03,
    )
