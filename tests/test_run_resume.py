"""Checkpoints and resume, in process: the demo story (in shell) crashed at every checkpoint write, just
before it and just after it, then resumed; and SIGTERM in the middle of an agent call.

A crash here is ``CrashAt(kill=False)``: the run dies with ``Crashed`` at the chosen write, saving nothing on
its way out, as after SIGKILL. The resume gets a fresh script holding what is left: every role's calls
minus those the crashed run recorded as finished (in its log, or in the checkpoint's outbox the resume will
tell). So a finished call run again, or an unfinished one skipped, leaves the script short (``UnexpectedCall``)
or with steps unplayed (``assert_complete``).
"""

from __future__ import annotations

import os
import signal
import threading
from collections import Counter
from typing import Any

import git
import pytest

from kodo_bot.engine import events as ev
from kodo_bot.engine.models import Outcome
from kodo_bot.engine.state import CrashAt, Crashed
from kodo_bot.engine.team import default_team
from kodo_bot.errors import UserError
from kodo_bot.sandbox.scenario import Scenario, Step
from kodo_bot.sandbox.scripted import Script
from kodo_bot.sandbox.stories import bash, delegate, done, verdict

#: checkpoint writes of one uninterrupted run of the shell demo story (``test_the_matrix_covers_every_write``)
SAVES = 22
RUN_ID = "run-1"


def start_demo(rehearsal, story, script: Script, crash) -> None:
    rehearsal.start(
        script, goal=story.goal, checks=story.check_commands, team=default_team(), crash=crash, run_id=RUN_ID
    )


def cycle_trees(rehearsal, branch: str) -> list[tuple[str, str]]:
    """What each cycle committed: its Kodo-Cycle trailer and the tree (the files), not the sha (the time)."""
    return [(c.message.split("Kodo-Cycle: ")[1].strip(), c.tree.hexsha) for c in rehearsal.commits(branch)]


@pytest.fixture(scope="module")
def reference(shell_demo_run) -> dict[str, Any]:
    """The story run without a crash: its checkpoint writes and what each cycle committed."""
    assert shell_demo_run.played.end.outcome is Outcome.accepted
    return {
        "saves": shell_demo_run.writes,
        "trees": cycle_trees(shell_demo_run.rehearsal, shell_demo_run.played.end.branch),
    }


def test_the_matrix_covers_every_write(reference):
    assert reference["saves"] == SAVES, f"the story now makes {reference['saves']} writes: set SAVES to it"


# ----------------------------------------------------------------- what is left to play after a crash
def calls(role: str, steps: list[Step]) -> list[list[Step]]:
    """A role's steps as calls: each orchestrator step is one; an agent's call ends with a step without tools."""
    out: list[list[Step]] = [[]]
    for step in steps:
        out[-1].append(step)
        if role == "orchestrator" or not step.tool_calls:
            out.append([])
    return [c for c in out if c]


def told(rehearsal, run_id: str) -> list[ev.Event]:
    """What a crashed run has told or will tell: its log, and the checkpoint's outbox the resume delivers."""
    return list({e.seq: e for e in [*rehearsal.events(run_id), *rehearsal.store.load(run_id).outbox]}.values())


def recorded(events: list[ev.Event]) -> Counter:
    """Calls per role recorded as finished."""
    roles: Counter = Counter()
    for e in events:
        if isinstance(e, ev.OrchestratorReplied):
            roles["orchestrator"] += 1
        elif isinstance(e, ev.AgentCallFinished):
            roles[e.result.agent] += 1
        elif isinstance(e, ev.VerdictReceived):
            roles[f"verifier/{e.verdict.verifier}"] += 1
    return roles


def remaining(scenario: Scenario, done_calls: Counter) -> Script:
    roles = {
        role: [s for call in calls(role, steps)[done_calls[role] :] for s in call]
        for role, steps in scenario.roles.items()
    }
    return Script(Scenario(roles={role: steps for role, steps in roles.items() if steps}))


def started_after_resume(events: list[ev.Event]) -> set[str]:
    """The agent calls the resumed run started (none when the resume only told the end)."""
    resumed = [i for i, e in enumerate(events) if isinstance(e, ev.RunStarted) and e.resumed]
    return {e.call_id for e in events[resumed[-1] :] if isinstance(e, ev.AgentCallStarted)} if resumed else set()


def assert_told_once(events: list[ev.Event]) -> None:
    """Strictly increasing seq numbers, and no finished call or verdict told twice."""
    seqs = [e.seq for e in events]
    assert seqs == sorted(set(seqs)), seqs
    finished = Counter(e.call_id for e in events if isinstance(e, ev.AgentCallFinished))
    verdicts = Counter((e.round, e.verdict.verifier) for e in events if isinstance(e, ev.VerdictReceived))
    assert max(finished.values()) == 1 and max(verdicts.values()) == 1, (finished, verdicts)
    assert (len(finished), len(verdicts)) == (2, 4)  # two worker calls, two verifiers in two rounds
    assert [e.outcome for e in events if isinstance(e, ev.RunFinished)][-1] is Outcome.accepted


def test_a_crash_before_the_first_write_leaves_nothing_to_resume(shell_demo):
    rehearsal, story = shell_demo
    with pytest.raises(Crashed):
        start_demo(rehearsal, story, Script(story.scenario), CrashAt(save=1, before=True, kill=False))

    assert rehearsal.store.list() == [] and [h.name for h in git.Repo(rehearsal.project).heads] == ["main"]
    with pytest.raises(UserError, match=f"no run '{RUN_ID}'"):
        rehearsal.resume(RUN_ID, {})


#: every write, crashed just after it and just before it (before the first one, see the test above)
WINDOWS = [
    pytest.param(n, before, id=f"{'before' if before else 'after'}-{n}")
    for n in range(1, SAVES + 1)
    for before in (False, True)
    if (n, before) != (1, True)
]


@pytest.mark.parametrize(("save", "before"), WINDOWS)
def test_a_crash_at_any_checkpoint_write_resumes_to_the_same_result(shell_demo, reference, save, before):
    rehearsal, story = shell_demo
    with pytest.raises(Crashed):
        start_demo(rehearsal, story, Script(story.scenario), CrashAt(save=save, before=before, kill=False))
    before_crash = told(rehearsal, RUN_ID)
    left = remaining(story.scenario, recorded(before_crash))

    resumed = rehearsal.resume(RUN_ID, left)

    resumed.script.assert_complete()  # with UnexpectedCall: no finished call ran again, no unfinished one was lost
    finished = {e.call_id for e in before_crash if isinstance(e, ev.AgentCallFinished)}
    assert not started_after_resume(resumed.events) & finished
    assert resumed.result.outcome is Outcome.accepted and resumed.result.cycles == 2
    assert cycle_trees(rehearsal, resumed.result.branch) == reference["trees"]
    assert_told_once(resumed.events)


class CrashWhenTheLastCycleCloses:
    """Crashes just after the write that closes the last cycle allowed, before the run ends at the limit:
    the window in which a resumed run once started a cycle more than allowed."""

    def __init__(self, rehearsal) -> None:
        self.store = rehearsal.store

    def __call__(self, count: int, *, written: bool) -> None:
        s = self.store.load(RUN_ID) if written else None
        if s and s.cycle == s.settings.max_cycles and not s.cycle_open and s.verifying is None and not s.finishing:
            raise Crashed(f"crashed after checkpoint write {count}, the last cycle closed")


def test_a_crash_as_the_last_allowed_cycle_closes_resumes_to_the_limit_not_another_cycle(rehearsal):
    rejects = [bash("cat greeting.txt"), verdict(False, "Say it louder.", checks=[("cat greeting.txt", 0)])]
    scenario = Script(
        {
            "roles": {
                "orchestrator": [delegate(("worker", "Write greeting.txt saying hello.")), done("Added greeting.txt.")],
                "worker": rehearsal.greets(),
                "verifier/tester": rejects,
            }
        }
    ).scenario
    with pytest.raises(Crashed):
        rehearsal.start(Script(scenario), crash=CrashWhenTheLastCycleCloses(rehearsal), max_cycles=1)
    left = remaining(scenario, recorded(told(rehearsal, RUN_ID)))
    assert left.left() == {}  # every call was recorded: a cycle more would ask the orchestrator, UnexpectedCall

    resumed = rehearsal.resume(RUN_ID, left)

    assert resumed.result.outcome is Outcome.max_cycles and resumed.result.cycles == 1
    assert len(resumed.of(ev.CycleStarted)) == 1 and len(rehearsal.commits(resumed.result.branch)) == 1


# ----------------------------------------------------------------- SIGTERM
class TerminateDuringAgentCall(ev.EventSink):
    """Sends this process SIGTERM just after the first agent call starts, as a cancelled Actions job would."""

    def __init__(self) -> None:
        self.timer: threading.Timer | None = None

    def handle(self, event: ev.Event) -> None:
        if isinstance(event, ev.AgentCallStarted) and self.timer is None:
            self.timer = threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGTERM))
            self.timer.start()


def test_sigterm_saves_the_run_as_interrupted_and_it_resumes_to_acceptance(rehearsal):
    roles = {
        "orchestrator": [delegate(("worker", "Write greeting.txt saying hello.")), done("Added greeting.txt.")],
        "worker": rehearsal.greets(),
        "verifier/tester": rehearsal.passes(),
    }
    slow = {**roles, "worker": [{**roles["worker"][0], "delay_s": 30}, *roles["worker"][1:]]}
    terminate = TerminateDuringAgentCall()  # SIGTERM arrives while the worker waits on its slow first step
    with pytest.raises(KeyboardInterrupt):
        rehearsal.run(slow, sinks=[terminate])
    terminate.timer.join()

    [run] = rehearsal.store.list()
    assert run.outcome is Outcome.interrupted and "kodo-bot resume" in run.reason
    assert rehearsal.events(run.run_id)[-1].outcome is Outcome.interrupted
    left = remaining(Script({"roles": roles}).scenario, recorded(told(rehearsal, run.run_id)))
    assert len(left.scenario.roles["worker"]) == 3  # the cut call was not recorded as finished: it runs again

    resumed = rehearsal.resume(run.run_id, left)

    resumed.script.assert_complete()
    assert resumed.result.outcome is Outcome.accepted
    assert [set(c.stats.files) for c in rehearsal.commits(resumed.result.branch)] == [{"greeting.txt"}]
    assert len(resumed.of(ev.AgentCallFinished)) == 1
