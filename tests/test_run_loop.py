"""The run loop, in process on a script: cycles and their commits, how a cycle ends, the orchestrator's tools,
concurrent delegations, the orchestrator's bounded context, and the limits that end a run (cycles, cost,
time, a sink's stop request). Real git, real files; no CLI and no model server, so each run takes a fraction
of a second."""

from __future__ import annotations

import json
import time
from typing import Any

import git
import pytest

from kodo_bot.engine import events as ev
from kodo_bot.engine.models import Outcome
from kodo_bot.engine.team import Agent, Team
from kodo_bot.errors import UserError
from kodo_bot.sandbox.scripted import Script
from kodo_bot.sandbox.stories import bash, delegate, done, say, verdict, write_file


def trailers(commit) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in commit.message.splitlines() if line.startswith("Kodo-"))


def changed(commit) -> set[str]:
    return set(commit.stats.files)


def test_every_cycle_commits_once_on_the_run_branch(rehearsal):
    roles = {
        "orchestrator": [
            delegate(("worker", "Write part one.")),
            say("Part one is written."),  # cycle 1: the turn ends
            say("Nothing to do this cycle."),  # cycle 2: no change
            delegate(("worker", "Write greeting.txt saying hello.")),
            done("Added greeting.txt."),  # cycle 3
        ],
        "worker": [write_file("part1.txt", "one\n"), say("Wrote part1.txt."), *rehearsal.greets()],
        "verifier/tester": rehearsal.passes(),
    }
    played = rehearsal.run(roles)

    played.script.assert_complete()
    assert played.result.outcome is Outcome.accepted and played.result.cycles == 3
    commits = rehearsal.commits(played.result.branch)
    run_id = played.result.run_id
    assert [trailers(c) for c in commits] == [{"Kodo-Run": run_id, "Kodo-Cycle": str(n)} for n in (1, 2, 3)]
    assert [changed(c) for c in commits] == [{"part1.txt"}, set(), {"greeting.txt"}]
    assert played.result.head_sha == commits[-1].hexsha
    assert [(e.cycle, e.reason) for e in played.of(ev.CycleEnded)] == [
        (1, "the orchestrator ended its turn"),
        (2, "the orchestrator ended its turn"),
    ]
    # the user's own checkout is not touched
    user = git.Repo(rehearsal.project)
    assert user.active_branch.name == "main" and user.head.commit.summary == "Initial commit"
    assert not (rehearsal.project / "part1.txt").exists()


def test_the_exchange_limit_closes_the_cycle_and_the_next_one_goes_on(rehearsal):
    roles = {
        "orchestrator": [
            delegate(("worker", "Write greeting.txt saying hello.")),
            delegate(("worker", "Write part two."), text="Working on part two."),
            done("Greeting and part two are in."),  # cycle 2
        ],
        "worker": [*rehearsal.greets(), write_file("part2.txt", "two\n"), say("Wrote part2.txt.")],
        "verifier/tester": rehearsal.passes(),
    }
    played = rehearsal.start(Script({"roles": roles}), max_exchanges=2)

    played.script.assert_complete()
    assert played.end.outcome is Outcome.accepted
    assert [(e.cycle, e.reason) for e in played.of(ev.CycleEnded)] == [(1, "exchange limit")]
    before_cycle_2 = played.script.asked("orchestrator").index(played.opening(2))
    assert before_cycle_2 == 2  # cycle 1 asked the orchestrator exactly max_exchanges times
    assert "Working on part two." in played.opening(2).prompt
    assert [changed(c) for c in rehearsal.commits(played.end.branch)] == [{"greeting.txt", "part2.txt"}, set()]


@pytest.fixture(scope="module")
def gave_up(tmp_path_factory, rehearsal_in):
    """A run whose orchestrator calls done(success=false) after the worker wrote the greeting."""
    rehearsal = rehearsal_in(tmp_path_factory.mktemp("gave-up"))
    roles = {
        "orchestrator": [
            delegate(("worker", "Write greeting.txt saying hello.")),
            done("greeting.txt is written, but the goal needs a decision on the wording.", success=False),
        ],
        "worker": rehearsal.greets(),
    }  # no verifier role: asking one would raise UnexpectedCall and end the run in error
    played = rehearsal.run(roles)
    played.script.assert_complete()
    return rehearsal, played


def test_done_without_success_ends_needing_a_person_without_verification(gave_up):
    rehearsal, played = gave_up
    assert played.result.outcome is Outcome.needs_human and played.result.reason == "the orchestrator gave up"
    assert played.of(ev.VerificationStarted) == [] and played.of(ev.ChecksFinished) == []
    assert "needs a decision on the wording" in played.end.handoff
    assert f"Branch `{played.result.branch}` holds every cycle's commit" in played.end.handoff
    assert [changed(c) for c in rehearsal.commits(played.result.branch)] == [{"greeting.txt"}]


def test_a_run_that_gave_up_reports_the_summary_it_gave_up_with(gave_up):
    """RunResult.summary, RunFinished.summary (the report, the GitHub end comment): the last cycle's summary.
    Fails: the engine does not record a give-up's summary (runner.py, ``_loop``), so this run reports none."""
    _, played = gave_up
    assert "needs a decision on the wording" in played.end.summary
    assert played.result.summary == played.end.summary


class OffersMore:
    """An orchestrator model that may call tools it was not offered, as real models sometimes do: the script
    behind it is told of ``extra`` tools, the engine is not."""

    def __init__(self, inner, extra: list[str]) -> None:
        self.inner, self.extra = inner, extra
        self.model, self.fix = inner.model, inner.fix

    def missing(self) -> str | None:
        return None

    async def reply(self, system: str, messages: list[dict[str, Any]], tool_defs: list[dict[str, Any]], **kw: Any):
        return await self.inner.reply(system, messages, [*tool_defs, *({"name": n} for n in self.extra)], **kw)

    async def close(self) -> None:
        await self.inner.close()


def test_bad_tool_calls_are_answered_with_errors_the_orchestrator_sees(rehearsal):
    confused = {
        "tool_calls": [
            {"name": "delegate_worker", "input": {"task": "   "}},
            {"name": "delegate_ghost", "input": {"task": "Haunt the repository."}},
            {"name": "shell", "input": {"command": "ls"}},
            {"name": "done", "input": {"summary": "All done?"}},
        ]
    }
    roles = {
        "orchestrator": [
            confused,
            delegate(("worker", "Write greeting.txt saying hello.")),
            done("Added greeting.txt."),
        ],
        "worker": rehearsal.greets(),
        "verifier/tester": rehearsal.passes(),
    }
    script = Script({"roles": roles})
    played = rehearsal.run(script, orchestrator=OffersMore(script.orchestrator(), ["delegate_ghost", "shell"]))

    played.script.assert_complete()
    answers = played.script.asked("orchestrator")[1].messages[-1]["content"]
    assert [(a["is_error"], a["content"]) for a in answers] == [
        (True, "A delegation needs a non-empty `task` string."),
        (True, "Unknown tool 'delegate_ghost'. Use the delegate_* tools or done."),
        (True, "Unknown tool 'shell'. Use the delegate_* tools or done."),
        (True, "done needs `summary` (string) and `success` (boolean)."),
    ]
    # nothing ran for the bad calls: the worker's only task is the good one, and the cycle went on to acceptance
    assert [r.messages[0]["content"] for r in played.script.asked("worker")][0] == "Write greeting.txt saying hello."
    assert [e.agent for e in played.of(ev.AgentCallStarted)] == ["worker"]
    assert played.result.outcome is Outcome.accepted and played.result.cycles == 1


def slow(step: dict[str, Any], seconds: float) -> dict[str, Any]:
    return {**step, "delay_s": seconds}


def test_delegations_of_one_turn_run_concurrently_but_one_agent_takes_one_task_at_a_time(rehearsal):
    team = Team(name="two", agents={**rehearsal.TEAM.agents, "scribe": Agent(name="scribe", prompt="You write notes.")})
    first, second, notes = "Write greeting.txt saying hello.", "Write more.txt.", "Write notes.txt."
    roles = {
        "orchestrator": [delegate(("worker", first), ("scribe", notes), ("worker", second)), done("All three files.")],
        "worker": [
            slow(write_file("greeting.txt", "hello\n"), 0.3),
            say("Wrote greeting.txt."),
            write_file("more.txt", "more\n"),
            say("Wrote more.txt."),
        ],
        "scribe": [slow(write_file("notes.txt", "notes\n"), 0.3), say("Wrote notes.txt.")],
        "verifier/tester": rehearsal.passes(),
    }
    played = rehearsal.run(roles, team=team)

    played.script.assert_complete()
    worker, scribe = played.script.asked("worker"), played.script.asked("scribe")
    # the scribe started while the worker's first step was still on its way (it is 0.3 s slow)
    assert scribe[0].at < worker[1].at and worker[0].at < scribe[1].at
    # the worker's two tasks ran one after the other, never interleaved in its one session
    assert [r.messages[0]["content"] for r in worker] == [first, first, second, second]
    assert {r.result.agent for r in played.of(ev.AgentCallFinished)} == {"worker", "scribe"}
    assert [changed(c) for c in rehearsal.commits(played.result.branch)] == [{"greeting.txt", "more.txt", "notes.txt"}]


def test_the_orchestrator_context_does_not_grow_with_the_cycles(rehearsal):
    cycles, report = 6, "x" * 3000  # a long agent report, the kind that would pile up in a growing context
    orchestrator, worker = [], []
    for n in range(1, cycles + 1):
        orchestrator.append(delegate(("worker", f"Write part {n}.")))
        worker += [bash(f"echo {n} > part{n}.txt"), say(f"{report} (part {n} written)")]
        orchestrator.append(done("Parts so far are written.") if n == 3 else say(f"Part {n} is written."))
    finding = {"severity": "medium", "file": "part3.txt", "line": 1, "message": "part three says 3, not three"}
    roles = {
        "orchestrator": orchestrator,
        "worker": worker,
        "verifier/tester": [
            bash("cat part3.txt"),
            verdict(False, "Part three is wrong.", checks=[("cat part3.txt", 0)], findings=[finding]),
        ],
    }
    played = rehearsal.run(roles, checks=["cat part1.txt"], max_cycles=cycles)

    played.script.assert_complete()
    assert played.result.outcome is Outcome.max_cycles and played.result.cycles == cycles
    openings = [played.opening(n) for n in range(1, cycles + 1)]
    assert all(len(o.messages) == 1 for o in openings)  # a fresh conversation each cycle
    for n, opening in enumerate(openings[1:], start=2):
        assert "# Greet the reader" in opening.prompt
        previous = "Parts so far are written." if n == 4 else f"Part {n - 1} is written."
        assert previous in opening.prompt and report not in opening.prompt
        assert ("part three says 3, not three" in opening.prompt) is (n > 3)  # the last findings carry over
    size = [len(json.dumps(o.messages)) for o in openings]
    assert max(size[4:]) - min(size[4:]) <= 2  # after the rejection, every opening is the same size
    assert size[-1] < size[0] + 1000  # while the reports of the cycles before total 15,000 characters


# ----------------------------------------------------------------- limits
def idle_cycle(n: int) -> dict[str, Any]:
    return say(f"Looked around in cycle {n}.")


def test_max_cycles_ends_the_run_and_a_raised_limit_lets_it_go_on(rehearsal):
    played = rehearsal.run({"orchestrator": [idle_cycle(1), idle_cycle(2)]}, max_cycles=2)

    played.script.assert_complete()
    assert played.result.outcome is Outcome.max_cycles and played.result.reason == "reached the limit of 2 cycles"
    assert "Looked around in cycle 2." in played.end.handoff
    assert len(rehearsal.commits(played.result.branch)) == 2
    with pytest.raises(UserError, match="max_cycles"):
        rehearsal.resume(played.result.run_id, {})

    resumed = rehearsal.resume(played.result.run_id, rehearsal.accepted_roles(), max_cycles=3)

    resumed.script.assert_complete()
    assert resumed.result.outcome is Outcome.accepted and resumed.result.cycles == 3
    assert [changed(c) for c in rehearsal.commits(played.result.branch)] == [set(), set(), {"greeting.txt"}]


def test_the_api_cost_limit_stops_the_run_and_keeps_the_work(rehearsal):
    expensive = {**delegate(("worker", "Write greeting.txt saying hello.")), "usage": {"input_tokens": 1_000_000}}
    played = rehearsal.run({"orchestrator": [expensive], "worker": rehearsal.greets()}, max_cost_usd=1.0)

    played.script.assert_complete()  # the orchestrator was not asked again once the budget was spent
    assert played.result.outcome is Outcome.budget_exhausted
    reason = played.result.reason
    assert reason.startswith("API spend $3.0") and reason.endswith("reached the limit $1.00")
    assert played.result.cost.api_usd >= 3.0  # a million input tokens at the default $3 per million
    [commit] = rehearsal.commits(played.result.branch)
    assert commit.summary.startswith("Work in progress when the run stopped (budget_exhausted)")
    assert changed(commit) == {"greeting.txt"}


def test_the_time_limit_cuts_a_slow_step_short(rehearsal):
    stalls = slow(delegate(("worker", "Write greeting.txt saying hello.")), 30)
    started = time.monotonic()
    played = rehearsal.run({"orchestrator": [stalls]}, max_minutes=0.005)

    assert time.monotonic() - started < 10  # not the 30 s the orchestrator would have taken
    assert played.result.outcome is Outcome.budget_exhausted
    assert played.result.reason == "the run reached its limit of 0.005 minutes"
    assert played.of(ev.OrchestratorReplied) == []


class StopAfterFirstCycle(ev.EventSink):
    """A sink whose person closed the issue while the first cycle ran."""

    def __init__(self) -> None:
        self.reason: str | None = None

    def handle(self, event: ev.Event) -> None:
        if isinstance(event, ev.CycleStarted):
            self.reason = "the issue was closed"

    def stop_requested(self) -> str | None:
        return self.reason


def test_a_sinks_stop_request_ends_the_run_at_the_cycle_end(rehearsal):
    roles = {
        "orchestrator": [delegate(("worker", "Write greeting.txt saying hello.")), say("The greeting is written.")],
        "worker": rehearsal.greets(),
    }  # a second cycle would ask the orchestrator again: UnexpectedCall
    played = rehearsal.run(roles, sinks=[StopAfterFirstCycle()])

    played.script.assert_complete()
    assert played.result.outcome is Outcome.stopped and played.result.reason == "the issue was closed"
    assert played.result.cycles == 1 and "The greeting is written." in played.end.handoff
    assert [changed(c) for c in rehearsal.commits(played.result.branch)] == [{"greeting.txt"}]
